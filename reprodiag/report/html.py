"""The self-contained HTML report: one file, inline CSS and SVG, nothing fetched from anywhere."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import jinja2
from markupsafe import Markup, escape

from reprodiag.diagnosis.model import Diagnosis
from reprodiag.report.charts import arm_rows
from reprodiag.report.interface import RenderError
from reprodiag.report.svg import attribution_svg, axes_svg, noise_band_svg
from reprodiag.report.view import build_view

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
# A Markdown code span in prose ("run `reprodiag check --tier shipped` in CI"): a run of
# backticks, text on one line, and a run of the same length (a span may hold shorter runs).
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)([^\n]+?)(?<!`)\1(?!`)")


def code_spans(text: object) -> Markup:
    """Prose as HTML: every `code span` (the Markdown convention the diagnosis' sentences use
    for commands) as <code>, its backticks dropped; everything else, and the span's own text,
    escaped. A lone backtick stays a backtick."""
    words = str(text)
    parts: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(words):
        inner = match.group(2).strip() or match.group(2)
        parts.append(escape(words[last : match.start()]))
        parts.append(Markup("<code>{}</code>").format(inner))
        last = match.end()
    parts.append(escape(words[last:]))
    return Markup("").join(parts)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Autoescape everything (the diagnosis holds user strings: run names, params, reasons) and fail
    # on a missing name instead of printing nothing (StrictUndefined).
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("reprodiag.report", "templates"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "j2"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["prose"] = code_spans  # `code` in a sentence shown as <code>
    return environment


@lru_cache(maxsize=1)
def _stylesheet() -> Markup:
    # Our own file, shipped in the package: trusted, so it is inlined as markup.
    folder = resources.files("reprodiag.report").joinpath("templates")
    text = folder.joinpath(STYLESHEET).read_text("utf-8")
    return Markup(text)  # noqa: S704


class HtmlRenderer:
    """Renders a Diagnosis as one self-contained HTML page (no network, inline SVG charts)."""

    format = "html"
    suffix = ".html"

    def render(self, diagnosis: Diagnosis) -> str:
        """The HTML text of `diagnosis`, every value escaped."""
        view = build_view(diagnosis)
        band, attribution = view.band_chart, view.attribution_chart
        try:
            return (
                _environment()
                .get_template(TEMPLATE)
                .render(
                    view=view,
                    css=_stylesheet(),
                    axes_svg=axes_svg(diagnosis.ranking, view.axes_chart),
                    attribution_svg=attribution_svg(diagnosis, attribution)
                    if attribution
                    else None,
                    band_svg=(
                        noise_band_svg(diagnosis.band, diagnosis.gap, band, arm_rows(diagnosis))
                        if band and diagnosis.band
                        else None
                    ),
                )
            )
        except jinja2.TemplateError as exc:
            raise RenderError(
                f"cannot render the HTML report: {exc}",
                hint="this is a bug in reprodiag; the JSON report still works: --format json",
            ) from exc
