"""Inline SVG charts for the HTML report, drawn from numbers only.

Any text that comes from the diagnosis (a metric or axis name) goes through markupsafe.escape; the
rest is numbers and fixed words. Colours are the Okabe-Ito palette (colour-blind safe,
https://jfly.uni-koeln.de/color/), and every mark also has a text label, so nothing is told by
colour alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from reprodiag.diagnose.model import AxisRank, Gap, NoiseBand
from reprodiag.report import formatting as fmt

BLUE, SKY, GREEN, VERMILLION, GREY = "#0072B2", "#56B4E9", "#009E73", "#D55E00", "#555555"
_W, _LEFT, _RIGHT = 640, 150, 610  # plot area spans x = _LEFT.._RIGHT


class _Scale:
    def __init__(self, values: Iterable[float]) -> None:
        vals = list(values)
        lo, hi = min(vals), max(vals)
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.01, 1e-6)
        self.lo, self.hi = lo - pad, hi + pad

    def x(self, value: float) -> float:
        return round(_LEFT + (value - self.lo) / (self.hi - self.lo) * (_RIGHT - _LEFT), 1)


def _svg(label: str, title: str, desc: str, height: int, body: list[str], key: str) -> Markup:
    head = (f'<svg class="chart" role="img" viewBox="0 0 {_W} {height}" '
            f'aria-label="{escape(label)}" aria-describedby="{key}-desc">'
            f"<title>{escape(title)}</title><desc id=\"{key}-desc\">{escape(desc)}</desc>")
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every user string is escaped


def _where(value: float | None, band: NoiseBand) -> str:
    if value is None:
        return "not recorded"
    if value > band.high:
        return "above the band"
    if value < band.low:
        return "below the band"
    return "inside the band"


def noise_band_svg(band: NoiseBand, gap: Gap) -> Markup:
    """Seed metrics as points, the band shaded, baseline and candidate marked as labelled lines."""
    seeds = [s.metric for s in band.seeds if s.status == "ok" and s.metric is not None]
    marks = [(v, name, colour, dash) for v, name, colour, dash in (
        (gap.baseline, "baseline", GREEN, "6 3"), (gap.candidate, "candidate", VERMILLION, ""))
        if v is not None]
    scale = _Scale([band.low, band.high, band.mean, *seeds, *(m[0] for m in marks)])
    body = [
        f'<rect x="{scale.x(band.low)}" y="40" width="{scale.x(band.high) - scale.x(band.low)}" '
        f'height="70" fill="{SKY}" fill-opacity="0.35" stroke="{BLUE}" stroke-width="1"/>',
        f'<line x1="{scale.x(band.mean)}" x2="{scale.x(band.mean)}" y1="40" y2="110" '
        f'stroke="{BLUE}" stroke-width="1"/>',
        f'<text x="10" y="79" font-size="12" fill="{GREY}">seeds (n = {band.n})</text>',
        f'<text x="{scale.x(band.low)}" y="125" font-size="11" text-anchor="middle">'
        f"{fmt.number(band.low)}</text>",
        f'<text x="{scale.x(band.high)}" y="125" font-size="11" text-anchor="middle">'
        f"{fmt.number(band.high)}</text>",
    ]
    for i, value in enumerate(seeds):
        y = 55 + (i % 5) * 10  # a fixed stagger so equal seeds stay visible
        body.append(f'<circle cx="{scale.x(value)}" cy="{y}" r="4" fill="{BLUE}"/>')
    for row, (value, name, colour, dash) in enumerate(marks):
        x = scale.x(value)
        body.append(f'<line x1="{x}" x2="{x}" y1="25" y2="115" stroke="{colour}" '
                    f'stroke-width="2.5" stroke-dasharray="{dash or "none"}"/>')
        body.append(f'<text x="{x}" y="{12 + row * 134}" font-size="12" text-anchor="middle" '
                    f'fill="{colour}">{name} {fmt.number(value)}</text>')
    desc = (f"{band.n} seed retrains: mean {fmt.number(band.mean)}, band {fmt.number(band.low)} "
            f"to {fmt.number(band.high)}. Baseline {fmt.number(gap.baseline)} lies "
            f"{_where(gap.baseline, band)}; candidate {fmt.number(gap.candidate)} lies "
            f"{_where(gap.candidate, band)}. Outcome: {band.outcome}.")
    title = f"Seed-noise band of {band.metric}"
    return _svg(title, title, desc, 160, body, "noise-band")


def attribution_svg(ranking: tuple[AxisRank, ...], gap: Gap) -> Markup | None:
    """Points of the gap each axis explains (bars, with their interval), against the whole gap."""
    rows = [r for r in sorted(ranking, key=lambda r: r.rank) if r.attribution is not None]
    if not rows:
        return None
    attrs = [r.attribution for r in rows if r.attribution is not None]
    scale = _Scale([0.0, gap.worse_by, *(a.low for a in attrs), *(a.high for a in attrs)])
    height = 50 + 30 * len(rows)
    zero, whole = scale.x(0.0), scale.x(gap.worse_by)
    body = [
        f'<line x1="{zero}" x2="{zero}" y1="20" y2="{height - 20}" stroke="{GREY}"/>',
        f'<line x1="{whole}" x2="{whole}" y1="20" y2="{height - 20}" stroke="{VERMILLION}" '
        f'stroke-width="2" stroke-dasharray="6 3"/>',
        f'<text x="{whole}" y="14" font-size="12" text-anchor="middle" fill="{VERMILLION}">'
        f"whole gap {fmt.points(gap.worse_by, signed=False)}</text>",
    ]
    parts = []
    for i, (r, a) in enumerate(zip(rows, attrs, strict=True)):
        y = 30 + i * 30
        left, right = sorted((zero, scale.x(a.points)))
        axis = escape(fmt.axis_title(r.axis))
        body += [
            f'<text x="10" y="{y + 14}" font-size="12">{axis}</text>',
            f'<rect x="{left}" y="{y}" width="{round(right - left, 1)}" height="18" '
            f'fill="{BLUE}"/>',
            f'<line x1="{scale.x(a.low)}" x2="{scale.x(a.high)}" y1="{y + 9}" y2="{y + 9}" '
            f'stroke="{GREY}" stroke-width="2"/>',
            f'<text x="{_RIGHT + 4}" y="{y + 14}" font-size="11">'
            f"{fmt.number(a.points, 2)}</text>",
        ]
        parts.append(f"{fmt.axis_title(r.axis)} explains {fmt.points(a.points, signed=False)} "
                     f"({fmt.number(a.low, 2)} to {fmt.number(a.high, 2)})")
    desc = f"Whole gap {fmt.points(gap.worse_by, signed=False)}. " + "; ".join(parts) + "."
    title = f"Points of the {gap.metric} gap explained per axis"
    return _svg(title, title, desc, height, body, "attribution")
