"""`reprodiag noise-band`: the seed-noise band of a model family."""

from __future__ import annotations

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

if TYPE_CHECKING:
    from reprodiag.confirm.measure import BandReport
    from reprodiag.retrain.seed_result import SeedResult


@click.command("noise-band")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option(
    "--seeds",
    "target",
    type=click.IntRange(3, 200),
    default=5,
    show_default=True,
    help="Seed retrains the band should hold (stored ones count).",
)
@click.option(
    "--metric",
    help="Metric (default: the run's recorded primary metric, else the first, sorted, it holds).",
)
@click.option(
    "--against", type=FiniteFloat(), help="A historical metric value to test against the band."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="reports/noise-band",
    show_default=True,
    help="Folder for the retrains' manifests and models.",
)
@retrain_options
def noise_band(
    manifest: str,
    target: int,
    metric: str | None,
    against: float | None,
    out: str,
    settings: RetrainSettings,
) -> None:
    """Retrain MANIFEST's pipeline with new seeds until the band holds --seeds results.

    Results are kept per seed in the band store: a later run reuses and extends them, and a run
    that was killed resumes where it stopped.
    """
    from reprodiag.confirm.measure import default_metric, measure_band
    from reprodiag.errors import InputError
    from reprodiag.manifest import load_manifest

    run = load_manifest(manifest)
    if metric is None:
        choice = default_metric(run, manifest)
        if choice.warning:
            click.echo(f"warning: {choice.warning}", err=True)
    name = metric or choice.name
    blocked = needs_consent(settings, [run.code.entrypoint])
    if blocked:
        from reprodiag.retrain.trust import consent_error

        raise consent_error(blocked)
    options = build_options(settings, default_workdir=Path(out) / "retrains", max_retrains=target)
    report = measure_band(run, options, seeds=target, metric=name, against=against)
    for line in band_lines(report):
        click.echo(line)
    for note in run_warnings(options):  # the store's skipped rows, the Ray executor's retries
        click.echo(f"warning: {note}", err=True)
    if report.summary is None:
        from reprodiag.errors import RetrainsFailed

        ok = len(report.seeds) - len(report.failed)
        # Seeds failed: the trainer could not run, exit 5 as compare --retrain's smoke check.
        raise (RetrainsFailed if report.failed else InputError)(
            f"only {ok} seed retrain(s) finished ({len(report.failed)} failed): "
            "a band needs at least 3" + (f"; {report.stopped}" if report.stopped else ""),
            hint="raise --max-minutes, or run again: finished seeds are kept in the band store"
            if report.stopped
            else "see the failed seeds' reasons above",
        )


def band_lines(report: BandReport) -> list[str]:
    """The band as terminal lines: every seed, then the summary and the test against a value."""
    ok = len(report.seeds) - len(report.failed)
    lines = [f"{report.metric}: {ok} seed(s) ({report.reused} reused from the band store)"]
    lines += [
        f"  seed {r.seed:<6} "
        + (
            f"{r.metric:.4f}"
            if r.status == "ok" and r.metric is not None
            else f"failed: {r.reason}"
        )
        for r in report.seeds
    ]
    band = report.summary
    if report.stopped:
        lines.append(f"stopped early: {report.stopped}")
    if band is None:
        return lines
    lines.append(
        f"mean {band.mean:.4f}, std {band.std:.4f} "
        f"(95 % CI for σ [{band.sigma_low:.4f}, {band.sigma_high:.4f}])"
    )
    lines.append(
        f"95 % band for one more run: {band.mean:.4f} ± {band.k:.3f}·{band.std:.4f} = "
        f"[{band.low:.4f}, {band.high:.4f}] (k at n = {band.n})"
    )
    test = report.against
    if test is not None:
        lines.append(
            f"against {test.value}: {test.verdict}: T = {test.t:.2f}, p = {test.p:.4g} "
            f"(two-sided, n = {test.n}); {test.rank_text}"
        )
    return lines


def _value(result: SeedResult) -> str:
    if result.status == "ok" and result.metric is not None:
        return f"{result.metric:.4f}"
    return f"failed: {result.reason}"
