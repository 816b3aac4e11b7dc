"""What every report renderer is, and the error a renderer raises."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from reprodiag.diagnosis.model import Diagnosis
from reprodiag.errors import ReprodiagError

# The version of the human-readable layouts (html, md). Bumped when a section is added, removed or
# renamed, so a reader of an old report knows what layout it has; the JSON form is versioned by
# Diagnosis.format instead.
REPORT_FORMAT = "reprodiag.report/v1"


class RenderError(ReprodiagError):
    """A diagnosis cannot be rendered in the format asked for."""


@runtime_checkable
class Renderer(Protocol):
    """Lays out a Diagnosis as text; decides nothing (the Diagnosis is already complete)."""

    format: str  # the name given to --format: html, md, json
    suffix: str  # the file suffix, with its dot

    def render(self, diagnosis: Diagnosis) -> str:
        """The report's text for `diagnosis`; raises RenderError when it cannot be rendered."""
