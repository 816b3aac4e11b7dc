"""The run manifest: five axes, results, canonical JSON, a versioned JSON Schema."""

from reprodiag.manifest.codec import canonical_json, iter_facts, to_jsonable, write_manifest
from reprodiag.manifest.load import ManifestError, load_manifest, manifest_from_json
from reprodiag.manifest.model import (
    AXES,
    NOISE_FIELDS,
    READABLE_SCHEMAS,
    SCHEMA_ID,
    CodeAxis,
    DataAxis,
    EnvironmentAxis,
    IntentAxis,
    LockRef,
    Manifest,
    Metric,
    RandomnessAxis,
    Results,
    RunInfo,
    Skipped,
    SnapshotRef,
    is_known,
)

__all__ = [
    "AXES", "NOISE_FIELDS", "READABLE_SCHEMAS", "SCHEMA_ID", "CodeAxis", "DataAxis",
    "EnvironmentAxis", "IntentAxis", "LockRef", "Manifest", "ManifestError", "Metric",
    "RandomnessAxis", "Results", "RunInfo", "Skipped", "SnapshotRef", "canonical_json",
    "is_known", "iter_facts", "load_manifest", "manifest_from_json", "to_jsonable",
    "write_manifest",
]
