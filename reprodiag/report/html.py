"""The self-contained HTML report: one file, inline CSS and SVG, nothing fetched from anywhere."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import jinja2
from markupsafe import Markup

from reprodiag.diagnosis.model import Diagnosis
from reprodiag.report.interface import RenderError
from reprodiag.report.svg import attribution_svg, axes_svg, noise_band_svg
from reprodiag.report.view import build_view

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Autoescape everything (the diagnosis holds user strings: run names, params, reasons) and fail
    # on a missing name instead of printing nothing (StrictUndefined).
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reprodiag.report", "templates"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "j2"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


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
                        noise_band_svg(diagnosis.band, diagnosis.gap, band)
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
