"""`reprodiag diff`: the classified diff of two manifests, axis by axis."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
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
def diff(baseline: str, candidate: str, as_json: bool, show_noise: bool, show_all: bool) -> None:
    """Diff two manifests along the five axes: same, differs, or unversioned on one side or both.

    Noise fields (run ids, timestamps, output folders, hostnames) are never causes; they are
    hidden unless --show-noise is given. Exits 0 whatever differs.
    """
    from reprodiag.diagnosis.diff import diff_manifests
    from reprodiag.manifest import canonical_json, load_manifest

    result = diff_manifests(load_manifest(baseline), load_manifest(candidate))
    if as_json:
        click.echo(canonical_json(result if show_noise else replace(result, noise=())), nl=False)
        return
    for line in diff_lines(result, show_noise=show_noise, show_all=show_all):
        click.echo(line)


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
