"""Write reprodiag's records back onto an MLflow run: artifacts under ``reprodiag/`` and tags.

Artifacts: ``reprodiag/manifest.json`` (canonical manifest JSON) and ``reprodiag/diagnosis.json``
(the versioned diagnosis JSON); with a report folder (``report_dir``, `reprodiag log mlflow
--report DIR`), every file of its set (report.html, report.md, diagnosis.json, report-set.json,
checked against the set record first, so a half-replaced folder is refused) under
``reprodiag/report/``, and ``reprodiag/verdicts.md``: the ranking and the checks' verdicts as
one Markdown table. Tags, so runs can be searched in the MLflow UI
(``tags.`reprodiag.top_axis` = 'data'``):

| tag | from |
|---|---|
| reprodiag.schema | the manifest's schema id |
| reprodiag.tier | the manifest's tier, when recorded |
| reprodiag.diagnosis_format | the diagnosis format id |
| reprodiag.top_axis | the first-ranked axis of the diagnosis |
| reprodiag.top_axis_status | how it was placed (confirmed, candidate, unversioned, noise, ...) |
| reprodiag.outcome | the noise-band outcome, when a band was measured |
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from reprodiag.diagnosis.codec import diagnosis_to_json, load_diagnosis
from reprodiag.diagnosis.model import Diagnosis
from reprodiag.errors import InputError
from reprodiag.integrations.mlflow_import import get_run, mlflow_client, resolve_tracking_uri
from reprodiag.manifest.codec import canonical_json
from reprodiag.manifest.model import Manifest, is_known

ARTIFACT_DIR = "reprodiag"


def log_to_mlflow(
    run_id: str,
    *,
    manifest: Manifest | None = None,
    diagnosis: Diagnosis | None = None,
    tracking_uri: str | None = None,
    report_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Log a manifest and/or a diagnosis onto the MLflow run ``run_id``.

    The tracking URI is ``tracking_uri``, else MLFLOW_TRACKING_URI, else MLflow's default.
    report_dir: a report folder written by `compare` or `report`: its files are logged as they
    are, and its diagnosis (diagnosis.json) is logged as the diagnosis when none is given.
    Returns the artifact paths logged. Raises InputError when nothing is given, the run does
    not exist, or the report folder is not one consistent set.
    """
    files = report_files(Path(report_dir)) if report_dir is not None else []
    if diagnosis is None and report_dir is not None:
        json_file = Path(report_dir) / "diagnosis.json"
        diagnosis = load_diagnosis(json_file) if json_file.is_file() else None
    if manifest is None and diagnosis is None and not files:
        raise InputError(
            "nothing to log to MLflow", hint="pass manifest=..., diagnosis=... or both"
        )
    uri, source = resolve_tracking_uri(tracking_uri)
    client = mlflow_client(uri, source)
    get_run(client, run_id, uri, source)  # a clear error before anything is written
    for key, value in _tags(manifest, diagnosis).items():
        client.set_tag(run_id, key, value)
    if manifest is not None:
        client.log_text(run_id, canonical_json(manifest), f"{ARTIFACT_DIR}/manifest.json")
    logged: list[str] = []
    if manifest is not None:
        logged.append(f"{ARTIFACT_DIR}/manifest.json")
    if diagnosis is not None:
        client.log_text(
            run_id, canonical_json(diagnosis_to_json(diagnosis)), f"{ARTIFACT_DIR}/diagnosis.json"
        )
        client.log_text(run_id, verdict_table(diagnosis), f"{ARTIFACT_DIR}/verdicts.md")
        logged += [f"{ARTIFACT_DIR}/diagnosis.json", f"{ARTIFACT_DIR}/verdicts.md"]
    for path in files:
        client.log_artifact(run_id, str(path), f"{ARTIFACT_DIR}/report")
        logged.append(f"{ARTIFACT_DIR}/report/{path.name}")
    return logged


def report_files(folder: Path) -> list[Path]:
    """The files of a report folder's set, after checking each against report-set.json."""
    from reprodiag.report.write import SET_FILE

    record_path = folder / SET_FILE
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        listed = dict(record["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{record_path}: not a report set record ({exc})",
            hint="write the folder with `reprodiag compare --out DIR` or `reprodiag report`",
        ) from None
    paths = []
    for name, digest in sorted(listed.items()):
        path = folder / name
        actual = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        if actual != digest:
            raise InputError(
                f"{path}: not the file the set record lists (being replaced, or edited)",
                hint="run the command that writes the folder again, then log it",
            )
        paths.append(path)
    return [*paths, record_path]


def verdict_table(diagnosis: Diagnosis) -> str:
    """The ranking and the checks that ran, as Markdown tables (what a run page shows)."""
    lines = [f"# {diagnosis.title}", ""]
    if diagnosis.conclusion is not None:
        kind, _, rest = diagnosis.conclusion.line.partition(": ")
        lines += [f"**{kind}**: {rest}", ""]
    lines += ["| rank | axis | status | reason |", "|---|---|---|---|"]
    lines += [
        f"| {r.rank} | {r.axis} | {r.status} | {_cell(r.reason)} |" for r in diagnosis.ranking
    ]
    done = [c for c in diagnosis.checks if c.status == "done"]
    if done:
        lines += ["", "| check | verdict | observed |", "|---|---|---|"]
        lines += [f"| {_cell(c.title)} | {c.verdict} | {_cell(c.observed)} |" for c in done]
    return "\n".join(lines) + "\n"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _tags(manifest: Manifest | None, diagnosis: Diagnosis | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    if manifest is not None:
        tags["reprodiag.schema"] = manifest.schema
        if is_known(manifest.intent.tier):
            tags["reprodiag.tier"] = str(manifest.intent.tier)
    if diagnosis is not None:
        tags["reprodiag.diagnosis_format"] = diagnosis.format
        if diagnosis.ranking:
            tags["reprodiag.top_axis"] = diagnosis.ranking[0].axis
            tags["reprodiag.top_axis_status"] = diagnosis.ranking[0].status
        if diagnosis.band is not None:
            tags["reprodiag.outcome"] = diagnosis.band.outcome
    return tags
