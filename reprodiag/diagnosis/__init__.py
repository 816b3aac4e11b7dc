"""The diagnosis engine: classified diff, checks in cost order, ranking, plan, fixes, policy.

`diagnose(baseline, candidate)` returns one `Diagnosis` record; renderers (reprodiag.report) only
lay it out. Nothing here prints.
"""

from reprodiag.diagnosis.codec import (
    READABLE_FORMATS,
    DiagnosisError,
    diagnosis_from_json,
    diagnosis_to_json,
    load_diagnosis,
    write_diagnosis,
)
from reprodiag.diagnosis.diff import diff_manifests, family_check
from reprodiag.diagnosis.engine import diagnose
from reprodiag.diagnosis.model import DIAGNOSIS_FORMAT, Diagnosis, ManifestDiff
from reprodiag.diagnosis.ranking import DEFAULT_PRIOR, rank_axes, resolve_prior

__all__ = [
    "DEFAULT_PRIOR",
    "DIAGNOSIS_FORMAT",
    "READABLE_FORMATS",
    "Diagnosis",
    "DiagnosisError",
    "ManifestDiff",
    "diagnose",
    "diagnosis_from_json",
    "diagnosis_to_json",
    "diff_manifests",
    "family_check",
    "load_diagnosis",
    "rank_axes",
    "resolve_prior",
    "write_diagnosis",
]
