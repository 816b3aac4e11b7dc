"""`reprodiag report`: re-render the incident report from a saved diagnosis."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("diagnosis_file", metavar="DIAGNOSIS.json", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["html", "md", "json"]),
    help="Report format; repeat for several. Default: html and md.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder to write into (created). Default: the folder of DIAGNOSIS.json.",
)
@click.option("--title", help="Incident title shown at the top, e.g. 'Churn model lost 4 pts'.")
@click.option("--owner", help="Incident owner (person or team).")
@click.option(
    "--timeline",
    "timeline",
    multiple=True,
    metavar="'WHEN WHAT'",
    help="A timeline line, e.g. '2026-11-25 09:00 retrain scored 4 pts lower'; "
    "repeat in order. Replaces any timeline saved in the diagnosis.",
)
def report(
    diagnosis_file: str,
    formats: tuple[str, ...],
    out_dir: str | None,
    title: str | None,
    owner: str | None,
    timeline: tuple[str, ...],
) -> None:
    """Write the incident report (html, md, json) for DIAGNOSIS.json.

    Incident title, owner and timeline are stored in the diagnosis' incident record, so a JSON
    report written with them (--format json) keeps them for the next re-render.
    """
    import dataclasses

    from reprodiag.diagnosis.model import IncidentInfo
    from reprodiag.report import load_diagnosis, write_reports

    diagnosis = load_diagnosis(diagnosis_file)
    given = diagnosis.incident or IncidentInfo()
    incident = IncidentInfo(
        title=title if title is not None else given.title,
        owner=owner if owner is not None else given.owner,
        timeline=timeline or given.timeline,
    )
    if incident != IncidentInfo():
        diagnosis = dataclasses.replace(diagnosis, incident=incident)
    folder = Path(out_dir) if out_dir else Path(diagnosis_file).parent
    for path in write_reports(diagnosis, folder, formats or ("html", "md")):
        click.echo(f"wrote {path}")
