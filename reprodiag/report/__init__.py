"""Reports: a Diagnosis laid out as HTML, Markdown and JSON (DESIGN.md "Reports").

One renderer per format, listed in RENDERERS (explicit; no import-time registry); `write_reports`
writes them atomically into a folder.
"""

from __future__ import annotations

from reprodiag.errors import InputError
from reprodiag.report.html import HtmlRenderer
from reprodiag.report.interface import REPORT_FORMAT, Renderer, RenderError
from reprodiag.report.jsonreport import JsonRenderer, diagnosis_to_json, load_diagnosis
from reprodiag.report.markdown import MarkdownRenderer
from reprodiag.report.view import ReportView, build_view
from reprodiag.report.write import FILE_NAMES, write_reports

RENDERERS: tuple[Renderer, ...] = (HtmlRenderer(), MarkdownRenderer(), JsonRenderer())


def renderer_for(format: str) -> Renderer:
    """The renderer for html, md or json; InputError for any other name."""
    for renderer in RENDERERS:
        if renderer.format == format:
            return renderer
    known = ", ".join(r.format for r in RENDERERS)
    raise InputError(f"unknown report format {format!r}", hint=f"choose one of: {known}")


__all__ = [
    "FILE_NAMES",
    "REPORT_FORMAT",
    "RENDERERS",
    "HtmlRenderer",
    "JsonRenderer",
    "MarkdownRenderer",
    "RenderError",
    "Renderer",
    "ReportView",
    "build_view",
    "diagnosis_to_json",
    "load_diagnosis",
    "renderer_for",
    "write_reports",
]
