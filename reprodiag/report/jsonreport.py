"""The JSON report: the Diagnosis itself, in the versioned `reprodiag.diagnosis/v2` format.

reprodiag.diagnosis.codec owns that format (the encoding, the strict reader, the versions it
reads); this renderer writes the codec's data as canonical JSON, the same bytes as
`write_diagnosis`.
"""

from __future__ import annotations

from reprodiag.diagnosis import codec
from reprodiag.diagnosis.codec import load_diagnosis
from reprodiag.diagnosis.model import Diagnosis
from reprodiag.manifest.codec import canonical_json

__all__ = ["JsonRenderer", "diagnosis_to_json", "load_diagnosis"]


def diagnosis_to_json(diagnosis: Diagnosis) -> str:
    """The diagnosis as canonical JSON text (sorted keys, 2-space indent, trailing newline)."""
    return canonical_json(codec.diagnosis_to_json(diagnosis))


class JsonRenderer:
    """Renders a Diagnosis as its versioned JSON (reprodiag.diagnosis/v2)."""

    format = "json"
    suffix = ".json"

    def render(self, diagnosis: Diagnosis) -> str:
        """The canonical JSON text of `diagnosis`, as `write_diagnosis` writes it."""
        return diagnosis_to_json(diagnosis)
