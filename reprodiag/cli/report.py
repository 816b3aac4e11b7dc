"""`reprodiag report`: re-render the incident report from a saved diagnosis."""

from __future__ import annotations

from pathlib import Path

import click


def report_formats(values: tuple[str, ...]) -> tuple[str, ...]:
    """--format values as every command takes them (repeatable, comma-separated); a bad one is
    a usage error (exit 2) naming the option and the formats there are."""
    from reprodiag.errors import InputError
    from reprodiag.report.write import split_formats

    try:
        return split_formats(values)
    except InputError as exc:
        raise click.BadParameter(f"{exc.message}; {exc.hint}", param_hint="--format") from None


@click.command("report")
@click.argument("diagnosis_file", metavar="DIAGNOSIS.json", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "formats",
    multiple=True,
    help="Report formats: html, md, json; comma-separated or repeated (--format html "
    "--format md), as compare takes them. Default: html,md. Report files of other formats in "
    "the folder stay only when they were rendered from this same diagnosis.",
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
    kinds = report_formats(formats) or ("html", "md")
    for path in write_reports(diagnosis, folder, kinds):
        click.echo(f"wrote {path}")
