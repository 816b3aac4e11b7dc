"""A Diagnosis to and from JSON: the versioned `reprodiag.diagnosis/v1` format.

The JSON is the record's fields as they are (tuples as lists), in canonical sorted-key form;
reprodiag/_records.py writes and reads it from the records' type hints, so an error names the file,
the JSON path, what was expected and what was found, and an unknown format version is refused with
the versions read here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reprodiag._atomic import atomic_write_text
from reprodiag._records import RecordError, RecordFormat, canonical_json
from reprodiag.diagnosis.model import DIAGNOSIS_FORMAT, Diagnosis
from reprodiag.manifest.load import read_json_file

READABLE_FORMATS = (DIAGNOSIS_FORMAT,)


class DiagnosisError(RecordError):
    """A diagnosis file that cannot be read or does not follow its format."""


# reprodiag.diagnosis/v1: the Diagnosis record of diagnosis/model.py as it is.
FORMAT = RecordFormat(
    DIAGNOSIS_FORMAT,
    Diagnosis,
    readable=READABLE_FORMATS,
    hint="this reprodiag reads "
    + ", ".join(READABLE_FORMATS)
    + "; upgrade reprodiag to read a newer diagnosis, or re-run `reprodiag compare`",
    error=DiagnosisError,
)


def diagnosis_to_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """Plain JSON data (tuples become lists); `canonical_json` turns it into text."""
    return FORMAT.to_json(diagnosis)


def write_diagnosis(diagnosis: Diagnosis, path: str | os.PathLike[str]) -> Path:
    """Write a diagnosis as canonical JSON, atomically."""
    return atomic_write_text(path, canonical_json(diagnosis_to_json(diagnosis)))


def load_diagnosis(path: str | os.PathLike[str]) -> Diagnosis:
    """Read a diagnosis.json strictly (no duplicate keys, no NaN) and rebuild the record."""
    return diagnosis_from_json(read_json_file(path), str(path))


def diagnosis_from_json(doc: Any, file: str = "<diagnosis>") -> Diagnosis:
    """Rebuild a Diagnosis from parsed JSON; DiagnosisError names the file and JSON path."""
    return FORMAT.from_json(doc, file=file)
