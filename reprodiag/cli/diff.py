"""`reprodiag diff`: the classified diff of two manifests, axis by axis."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import click

from reprodiag.cli.storage import parse_storage_options, storage_option

if TYPE_CHECKING:
    from reprodiag.diagnosis.content import ContentDiff
    from reprodiag.diagnosis.model import FieldDiff, ManifestDiff


@click.command("diff")
@click.argument("baseline", type=click.Path(dir_okay=False))
@click.argument("candidate", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the diff as canonical JSON.")
@click.option(
    "--show-noise",
    is_flag=True,
    help="Also list the noise fields that differ (run ids, times, hostnames).",
)
@click.option("--all", "show_all", is_flag=True, help="Also list the fields that are the same.")
@click.option(
    "--no-content",
    is_flag=True,
    help="Skip what changed inside the axes (patches, packages, table versions); reads no table.",
)
@click.option("--patch", "show_patch", is_flag=True, help="Print each dirty side's patch in full.")
@click.option(
    "--label-column",
    help="The label column of the training table, for the label rate of each data version "
    "(default: the runs' intent.params.label_column, else a column named 'label').",
)
@storage_option
def diff(
    baseline: str,
    candidate: str,
    as_json: bool,
    show_noise: bool,
    show_all: bool,
    no_content: bool,
    show_patch: bool,
    label_column: str | None,
    storage_options: tuple[str, ...],
) -> None:
    """Diff two manifests along the five axes: same, differs, or unversioned on one side or both.

    Noise fields (run ids, timestamps, output folders, hostnames) are never causes; they are
    hidden unless --show-noise is given. Then what changed inside: each dirty side's patch, the
    packages whose locked version changed, and for a table pinned at two versions the commits in
    between, rows added and removed, column changes and the label rate (a scan capped at
    1,000,000 rows per version; a part it cannot compute says why). Exits 0 whatever differs.
    """
    from reprodiag.diagnosis.content import ContentOptions, content_diff
    from reprodiag.diagnosis.diff import diff_manifests
    from reprodiag.manifest import canonical_json, load_manifest

    b, c = load_manifest(baseline), load_manifest(candidate)
    result = diff_manifests(b, c)
    if as_json:
        click.echo(canonical_json(result if show_noise else replace(result, noise=())), nl=False)
        return
    for line in diff_lines(result, show_noise=show_noise, show_all=show_all):
        click.echo(line)
    if no_content:
        return
    options = ContentOptions(
        label_column=label_column, storage_options=parse_storage_options(storage_options)
    )
    content = content_diff(b, c, options)
    if content is not None:
        for line in content_text(content, show_patch=show_patch):
            click.echo(line)


def content_text(content: ContentDiff, *, show_patch: bool = False) -> list[str]:
    """What changed inside the axes, one indented block per axis; the patches with --patch."""
    from reprodiag.diagnosis.content import content_lines

    lines = ["", "what changed inside:"]
    for axis, found in content_lines(content).items():
        lines.extend(f"  {axis if i == 0 else '':<12} {line}" for i, line in enumerate(found))
    patches = content.code.patches if content.code is not None else ()
    if patches and not show_patch:
        lines.append("  (--patch prints the patch)")
    for patch in patches if show_patch else ():
        lines += ["", f"{patch.side} patch ({patch.size:,} bytes, {patch.sha256[:19]}):"]
        lines += patch.text.rstrip("\n").split("\n")
        if patch.truncated:
            lines.append(
                f"[cut after {len(patch.text):,} characters: see the manifest's code.patch]"
            )
    return lines


def diff_lines(
    result: ManifestDiff, *, show_noise: bool = False, show_all: bool = False
) -> list[str]:
    """The plain-text table: a row per axis, then its fields; unversioned rows show the reason."""
    from reprodiag.diagnosis.notes import show

    rows = [("axis", "field", "status", "baseline → candidate", "note")]
    for axis in result.axes:
        rows.append((axis.axis, "", axis.status, "", f"{len(axis.fields)} fields"))
        rows.extend(
            (
                "",
                f.path.split(".", 1)[1],
                _status(f),
                f"{show(f.baseline)} → {show(f.candidate)}",
                f.note or "",
            )
            for f in axis.fields
            if show_all or f.status != "same"
        )
    if show_noise:
        rows.extend(
            (
                "noise",
                f.path,
                "differs",
                f"{show(f.baseline)} → {show(f.candidate)}",
                "differs by nature: never a cause",
            )
            for f in result.noise
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"warning: {result.family_note}"] if not result.same_family else []
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows
    )
    return [line.rstrip() for line in lines]


def _status(field: FieldDiff) -> str:
    return f"unversioned ({field.unversioned_side})" if field.unversioned_side else field.status
