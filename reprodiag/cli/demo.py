"""`reprodiag demo`: the lesson's incident on the embedded default."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--out", default="reports/demo", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the manifests, data and report.")
@click.option("--rows-per-day", default=4_000, show_default=True, type=click.IntRange(200, 1_000_000))
def demo(out: str, rows_per_day: int) -> None:
    """Generate a Delta table, train Monday and Wednesday, compare them, write the report."""
    from reprodiag.demo import DemoSettings, run_demo

    result = run_demo(Path(out), DemoSettings(rows_per_day=rows_per_day),
                      progress=lambda line: click.echo(f"- {line}"))
    gap = result.diagnosis.gap
    click.echo(f"\n{gap.metric}: Monday {gap.baseline:.2f}, Wednesday {gap.candidate:.2f} "
               f"({gap.worse_by:+.2f} points worse)")
    for rank in result.diagnosis.ranking:
        click.echo(f"  {rank.rank}. {rank.axis:<12} {rank.status:<12} {rank.reason}")
    click.echo(f"\nmanifests: {result.monday}  {result.wednesday}")
    for path in result.reports:
        click.echo(f"report:    {path}")
