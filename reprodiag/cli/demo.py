"""`reprodiag demo`: the lesson's incident on the embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reprodiag.diagnosis.model import Diagnosis


@click.command("demo")
@click.option(
    "--out",
    default="reports/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the manifests, data and report.",
)
@click.option(
    "--rows-per-day", default=2_000, show_default=True, type=click.IntRange(200, 1_000_000)
)
@click.option("--max-retrains", default=12, show_default=True, type=click.IntRange(3, 100))
def demo(out: str, rows_per_day: int, max_retrains: int) -> None:
    """Generate a Delta table, train Monday and Wednesday, compare them with retrains, write the
    report; then the same incident had Monday not pinned its data."""
    from reprodiag.demo import DemoSettings, run_demo

    result = run_demo(
        Path(out),
        DemoSettings(rows_per_day=rows_per_day, max_retrains=max_retrains),
        progress=lambda line: click.echo(f"- {line}"),
    )
    _verdict("Monday pinned its data", result.diagnosis)
    _verdict("Monday read its data as 'latest'", result.unpinned)
    click.echo(f"\nmanifests: {result.monday}  {result.wednesday}")
    for path in result.reports:
        click.echo(f"report:    {path}")


def _verdict(heading: str, diagnosis: Diagnosis) -> None:
    gap, band = diagnosis.gap, diagnosis.band
    click.echo(
        f"\n{heading}: {gap.metric} {gap.baseline:.2f} → {gap.candidate:.2f} "
        f"({gap.worse_by:.2f} points worse)"
    )
    if diagnosis.conclusion is not None:
        click.echo(f"  conclusion: {diagnosis.conclusion.line}")
    if diagnosis.bar is not None:
        click.echo(f"  reproducibility bar: {diagnosis.bar.level}")
    for rank in diagnosis.ranking:
        click.echo(f"  {rank.rank}. {rank.axis:<12} {rank.status:<12} {rank.reason[:150]}")
    if band is not None:
        click.echo(
            f"  noise band: n = {band.n}, σ = {band.std:.3f}, [{band.low:.2f}, "
            f"{band.high:.2f}]: {band.outcome}"
        )
    for line in diagnosis.conclusion_open:
        click.echo(f"  open: {line}")
