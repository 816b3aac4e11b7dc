"""Write reprodiag's records back onto an MLflow run: artifacts under ``reprodiag/`` and tags.

Artifacts: ``reprodiag/manifest.json`` (canonical manifest JSON) and ``reprodiag/diagnosis.json``
(the versioned diagnosis JSON). Tags, so runs can be searched in the MLflow UI
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

from reprodiag.diagnosis.codec import diagnosis_to_json
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
) -> None:
    """Log a manifest and/or a diagnosis onto the MLflow run ``run_id``.

    The tracking URI is ``tracking_uri``, else MLFLOW_TRACKING_URI, else MLflow's default.
    Raises InputError when neither record is given or the run does not exist.
    """
    if manifest is None and diagnosis is None:
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
    if diagnosis is not None:
        client.log_text(
            run_id, canonical_json(diagnosis_to_json(diagnosis)), f"{ARTIFACT_DIR}/diagnosis.json"
        )


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
