"""`reprodiag compare`: diagnose a regressed run against its baseline and write the reports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reprodiag.cli.app import FiniteFloat
from reprodiag.cli.retrain_options import (
    RetrainSettings,
    build_options,
    needs_consent,
    retrain_options,
    run_warnings,
)
from reprodiag.cli.storage import parse_storage_options
from reprodiag.manifest.model import AXES

if TYPE_CHECKING:
    from collections.abc import Callable

    from reprodiag.diagnosis.model import Check, Diagnosis
    from reprodiag.manifest.model import Manifest, SnapshotRef

FORMATS = ("html", "md", "json")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@click.command("compare")
@click.argument("baseline", type=click.Path(dir_okay=False))
@click.argument("candidate", type=click.Path(dir_okay=False))
@click.option(
    "--metric",
    help="Metric to diagnose (default: the baseline's recorded primary metric, else the "
    "candidate's, else the first, sorted, both runs have).",
)
@click.option(
    "--gap",
    type=FiniteFloat(),
    help="How much worse the candidate is, in the metric's units (positive = worse).",
)
@click.option(
    "--accept-at",
    "threshold",
    type=FiniteFloat(),
    help="Your acceptance threshold in the metric's units: when both runs fall on the same side "
    "of it, the pair is at least conclusion-equivalent.",
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Report folder (default reports/NAME)."
)
@click.option(
    "--name", help="Report name (default: the candidate's run name); [A-Za-z0-9._-] only."
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    default=("html,md,json",),
    show_default=True,
    help="Report formats: html, md, json; comma-separated or repeated (--format html "
    "--format md). The folder holds exactly this set: report files of other formats from an "
    "earlier diagnosis are removed.",
)
@click.option(
    "--prior",
    default="data,randomness,environment,code,intent",
    show_default=True,
    help="Prior order placing unversioned axes; axes left out follow in this order.",
)
@click.option(
    "--no-snapshot-check",
    is_flag=True,
    help="Do not check that the baseline's snapshot can still be read.",
)
@click.option(
    "--label-column",
    help="The label column of the training table, for the data content diff's label rate of "
    "each version (default: the runs' intent.params.label_column, else a column named 'label').",
)
@click.option(
    "--allow-other-family",
    is_flag=True,
    help="Diagnose even when the runs look like different model families.",
)
@click.option(
    "--retrain",
    is_flag=True,
    help="Investigate with retrains: a smoke check, the noise band, the seed replay, the "
    "baseline's own band and the swaps replicated over seeds; each check explains, is excluded "
    "or can't tell yet. Exit 5 when the trainer fails its smoke retrain, 7 when no retrain can "
    "run at all (the report's conclusion says why).",
)
@click.option(
    "--max-retrains",
    type=click.IntRange(3, 200),
    default=24,
    show_default=True,
    help="Retrain budget; a smaller one gives more 'can't tell yet', never another verdict.",
)
@retrain_options
def compare(
    baseline: str,
    candidate: str,
    metric: str | None,
    gap: float | None,
    threshold: float | None,
    out: str | None,
    name: str | None,
    formats: tuple[str, ...],
    prior: str,
    no_snapshot_check: bool,
    label_column: str | None,
    allow_other_family: bool,
    retrain: bool,
    max_retrains: int,
    settings: RetrainSettings,
) -> None:
    """Rank why CANDIDATE no longer reproduces BASELINE, from their manifests; plan the retrains
    that would confirm it (or run them with --retrain); write the report (html, md, json)."""
    import dataclasses
    import time

    from reprodiag.cli.provenance import command_args, provenance
    from reprodiag.cli.report import report_formats
    from reprodiag.diagnosis import diagnose
    from reprodiag.diagnosis.content import ContentOptions
    from reprodiag.errors import InputError
    from reprodiag.manifest import load_manifest

    started = time.monotonic()
    kinds = report_formats(formats)
    order = _split(prior, "--prior", AXES)
    if name is not None and not _safe_name(name):
        raise click.BadParameter(
            "use only letters, digits, '.', '_' and '-', without '..'", param_hint="--name"
        )
    b, c = load_manifest(baseline), load_manifest(candidate)
    storage = parse_storage_options(settings.storage_options)
    result = diagnose(
        b,
        c,
        metric=metric,
        gap=gap,
        baseline_path=baseline,
        candidate_path=candidate,
        prior=order,
        check_snapshots=not no_snapshot_check,
        threshold=threshold,
        content=ContentOptions(label_column=label_column, storage_options=storage),
        snapshot_probe=_snapshot_probe(storage),
    )
    if not result.diff.same_family and not allow_other_family:
        raise InputError(
            f"{candidate} is not a retrain of {baseline}: {result.diff.family_note}",
            hint=f"`reprodiag diff {baseline} {candidate}` shows every difference; "
            "pass --allow-other-family to diagnose anyway",
        )
    folder = (
        Path(out)
        if out
        else Path("reports") / (name or slug(result.candidate.run_name or result.candidate.run_id))
    )
    blocked = needs_consent(settings, [b.code.entrypoint, c.code.entrypoint]) if retrain else []
    if retrain and not blocked:
        from reprodiag.confirm import confirm

        options = build_options(
            settings, default_workdir=folder / "retrains", max_retrains=max_retrains
        )
        result = confirm(b, c, result, options, prior=order)
        notes = run_warnings(options)  # the store's skipped rows, the Ray executor's retries
        if notes:
            result = dataclasses.replace(result, warnings=result.warnings + tuple(notes))
    ran = retrain and not blocked
    trainer, budget, executor = _retrain_provenance(settings, max_retrains, b, ran)
    result = dataclasses.replace(
        result,
        provenance=provenance(
            result,
            command_args(click.get_current_context()),
            time.monotonic() - started,
            trainer=trainer,
            budget=budget,
            executor=executor,
        ),
    )
    written, note = write(result, folder, kinds)
    for warning in result.warnings + ((note,) if note else ()):
        click.echo(f"warning: {warning}", err=True)
    for line in summary_lines(result) + ["", "Wrote:"] + [f"  {p}" for p in written]:
        click.echo(line)
    if blocked:
        from reprodiag.retrain.trust import consent_error

        raise consent_error(blocked, plan=str(folder))
    if result.conclusion is not None and result.conclusion.kind == "trainer failed":
        from reprodiag.errors import RetrainsFailed

        raise RetrainsFailed(
            f"the trainer failed its smoke retrain: {result.conclusion.sentence}",
            hint="fix the trainer (run it by hand on one seed), then run compare --retrain again",
        )
    if result.conclusion is not None and result.conclusion.kind == "retrain refused":
        from reprodiag.errors import NoRetrainRan

        raise NoRetrainRan(
            f"{result.conclusion.sentence} (the report in {folder} says so)",
            hint="run compare --retrain where the candidate's code and environment are (its "
            "commit, its locked packages, its Python): the message names the fields that differ",
        )
    if result.conclusion is not None and result.conclusion.kind == "no retrain ran":
        from reprodiag.errors import NoRetrainRan

        raise NoRetrainRan(
            f"{result.conclusion.sentence} (the report in {folder} says so)",
            hint="make the candidate retrainable as the sentence says, or pass --trainer, "
            "--repo or --command, then run compare --retrain again",
        )


def _snapshot_probe(storage: dict[str, str]) -> Callable[[SnapshotRef], object] | None:
    """With --storage-option, the baseline snapshot check reopens object-store snapshots with
    those options (without them it says an object store was not checked)."""
    if not storage:
        return None

    def probe(ref: SnapshotRef) -> object:
        from reprodiag.snapshots import reopen

        return reopen(ref, storage)

    return probe


def _split(text: str, option: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    items = tuple(i.strip() for i in text.split(",") if i.strip())
    bad = [i for i in items if i not in allowed]
    if bad or not items or len(set(items)) != len(items):
        raise click.BadParameter(
            f"{text!r}: give each of {', '.join(allowed)} at most once, comma-separated",
            param_hint=option,
        )
    return items


def _safe_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and ".." not in name and name != "."


def _retrain_provenance(
    settings: RetrainSettings, max_retrains: int, baseline: Manifest, ran: bool
) -> tuple[str | None, int | None, str | None]:
    """The trainer, budget and executor the retrains ran with, in words (None when none ran)."""
    if not ran:
        return None, None, None
    entry = baseline.code.entrypoint
    trainer = settings.command or settings.trainer or (entry if isinstance(entry, str) else None)
    executor = settings.executor
    if settings.executor == "processes" and settings.workers:
        executor = f"processes ({settings.workers} workers)"
    elif settings.executor == "ray":
        executor = f"ray ({settings.address or 'local'})"
    return trainer, max_retrains, executor


def slug(text: str) -> str:
    """A folder name from a run name: only [A-Za-z0-9._-], no `..`, never empty."""
    cleaned = re.sub(r"[.-]{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", text)).strip(".-")
    return cleaned or "diagnosis"


def write(
    result: Diagnosis, folder: Path, formats: tuple[str, ...]
) -> tuple[list[Path], str | None]:
    """The reports, through reprodiag.report."""
    from reprodiag.report import write_reports

    return list(write_reports(result, folder, formats=formats)), None


def _verdict_and_observed(check: Check) -> str:
    """A check's verdict in words, then what it observed (once, when that already begins with
    the verdict's words)."""
    from reprodiag.diagnosis.engine import VERDICT_WORDS

    verdict = VERDICT_WORDS.get(check.verdict, check.verdict.replace("_", " "))
    observed = check.observed or ""
    return observed if observed.startswith(verdict) else f"{verdict}: {observed}"


def summary_lines(result: Diagnosis) -> list[str]:
    """Title, summary, the ranked axes, and the paid checks still to run."""
    lines = [result.title, "", result.summary, ""]
    if result.conclusion is not None:
        lines += [f"Conclusion: {result.conclusion.line}"]
    if result.bar is not None:
        lines += [f"Reproducibility bar: {result.bar.level}: {result.bar.reason}"]
    if result.conclusion is not None or result.bar is not None:
        lines += [""]
    lines += ["Ranking:"]
    lines += [f"  {r.rank}. {r.axis:<12} {r.status:<12} {r.reason}" for r in result.ranking]
    paid = [c for c in result.checks if c.retrains > 0]
    done = [c for c in paid if c.status == "done"]
    if done:
        lines += ["", "Retrains:"]
        lines += [f"  {c.order}. {c.title}: {_verdict_and_observed(c)}" for c in done]
    rest = [c for c in paid if c.status != "done"]
    if rest:
        lines += ["", "Still to run:" if not done else "Not run:"]
        lines += [
            f"  {c.order}. {c.title} ({c.cost})"
            if c.status == "planned"
            else f"  {c.order}. {c.title}: skipped, {c.observed}"
            for c in rest
        ]
    if result.band is not None:
        band = result.band
        lines += [
            "",
            f"Noise band: {band.metric} {band.mean:.4g} ± {band.k:.3g}·{band.std:.3g} "
            f"= [{band.low:.4g}, {band.high:.4g}] (n = {band.n}): {band.outcome}",
        ]
    if result.stop_reason:
        lines += [f"Stopped: {result.stop_reason}"]
    return lines
