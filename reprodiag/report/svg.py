"""Inline SVG charts for the HTML report, drawn from numbers only; no script, nothing fetched.

Any text that comes from the diagnosis (a metric, axis name or failure reason) goes through
markupsafe.escape; the rest is numbers and fixed words. Colours are the Okabe-Ito palette
(colour-blind safe, https://jfly.uni-koeln.de/color/) and every mark also carries a word or a shape,
so nothing is told by colour alone. Each chart is labelled by its <title> and <desc>
(aria-labelledby), whose text comes from reprodiag.report.charts.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from reprodiag.diagnosis.model import AxisRank, Diagnosis, Gap, NoiseBand
from reprodiag.report import formatting as fmt
from reprodiag.report.charts import (
    ArmValues,
    ChartText,
    attributable_gap,
    attributed,
    refused,
    remainder,
)

INK, GREY, LIGHT = "#1a1a1a", "#555555", "#d0d0d0"
BLUE, SKY, GREEN, ORANGE, VERMILLION, PURPLE = (
    "#0072B2",
    "#56B4E9",
    "#009E73",
    "#E69F00",
    "#D55E00",
    "#CC79A7",
)
_W, _LEFT, _RIGHT = 640, 150, 560  # plot area spans x = _LEFT.._RIGHT; labels either side


class _Scale:
    def __init__(self, values: Iterable[float]) -> None:
        vals = list(values)
        lo, hi = min(vals), max(vals)
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.01, 1e-6)
        self.lo, self.hi = lo - pad, hi + pad

    def x(self, value: float) -> float:
        return round(_LEFT + (value - self.lo) / (self.hi - self.lo) * (_RIGHT - _LEFT), 1)


def _svg(text: ChartText, height: int, body: list[str]) -> Markup:
    key = text.key
    head = (
        f'<svg class="chart" id="{key}-chart" role="img" viewBox="0 0 {_W} {height}" '
        f'width="{_W}" height="{height}" aria-labelledby="{key}-title {key}-desc" '
        'font-family="system-ui, sans-serif">'
        f'<title id="{key}-title">{escape(text.title)}</title>'
        f'<desc id="{key}-desc">{escape(text.desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every user string is escaped


def _text(
    x: float,
    y: float,
    words: str,
    size: int = 12,
    anchor: str = "start",
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
        f'font-weight="{weight}">{escape(words)}</text>'
    )


# ---- the axes strip -------------------------------------------------------------------------


def _marker(status: str, cx: float, cy: float) -> str:
    """Each status its own shape (and colour on top): readable in greyscale and to every eye."""
    if status == "confirmed":
        return f'<circle cx="{cx}" cy="{cy}" r="10" fill="{VERMILLION}"/>'
    if status == "candidate":
        return (
            f'<polygon points="{cx},{cy - 11} {cx + 11},{cy + 9} {cx - 11},{cy + 9}" '
            f'fill="{ORANGE}" stroke="{INK}" stroke-width="1"/>'
        )
    if status == "unversioned":
        return (
            f'<rect x="{cx - 9}" y="{cy - 9}" width="18" height="18" fill="none" '
            f'stroke="{PURPLE}" stroke-width="2.5" stroke-dasharray="4 2"/>'
        )
    if status == "noise":
        return (
            f'<polygon points="{cx},{cy - 11} {cx + 11},{cy} {cx},{cy + 11} {cx - 11},{cy}" '
            f'fill="{SKY}" stroke="{BLUE}" stroke-width="1.5"/>'
        )
    if status == "ruled_out":
        return (
            f'<circle cx="{cx}" cy="{cy}" r="9" fill="none" stroke="{GREEN}" '
            f'stroke-width="2"/><path d="M{cx - 6} {cy - 6}L{cx + 6} {cy + 6}M{cx + 6} '
            f'{cy - 6}L{cx - 6} {cy + 6}" stroke="{GREEN}" stroke-width="2"/>'
        )
    if status == "excluded":  # a retrain showed it explains under a quarter of the gap
        return (
            f'<rect x="{cx - 9}" y="{cy - 9}" width="18" height="18" fill="none" '
            f'stroke="{GREEN}" stroke-width="2"/><path d="M{cx - 6} {cy - 6}L{cx + 6} '
            f'{cy + 6}M{cx + 6} {cy - 6}L{cx - 6} {cy + 6}" stroke="{GREEN}" stroke-width="2"/>'
        )
    if status == "cant_tell":  # a retrain ran and could not decide yet
        return (
            f'<circle cx="{cx}" cy="{cy}" r="9" fill="none" stroke="{ORANGE}" '
            f'stroke-width="2.5"/><path d="M{cx - 5} {cy}L{cx + 5} {cy}" stroke="{INK}" '
            'stroke-width="2"/>'
        )
    return f'<circle cx="{cx}" cy="{cy}" r="5" fill="{GREY}"/>'


_SHORT = {
    "confirmed": "confirmed",
    "candidate": "candidate",
    "unversioned": "unversioned",
    "noise": "within noise",
    "ruled_out": "ruled out",
    "excluded": "excluded",
    "cant_tell": "can't tell yet",
}


def axes_svg(ranking: tuple[AxisRank, ...], text: ChartText) -> Markup:
    """The five axes left to right, most likely cause first: rank, shape, name, status."""
    rows = sorted(ranking, key=lambda r: r.rank)
    cell = _W / max(len(rows), 1)
    body = [
        f'<line x1="10" x2="{_W - 10}" y1="112" y2="112" stroke="{LIGHT}"/>',
        _text(10, 128, "most likely cause", 11, fill=GREY),
        _text(_W - 10, 128, "least likely", 11, "end", GREY),
    ]
    for i, r in enumerate(rows):
        cx = round(cell * i + cell / 2, 1)
        body += [
            _text(cx, 16, fmt.ordinal(r.rank), 12, "middle", GREY),
            _marker(r.status, cx, 40),
            _text(cx, 76, fmt.axis_title(r.axis), 14, "middle", weight="600"),
            _text(cx, 96, _SHORT.get(r.status, r.status.replace("_", " ")), 12, "middle"),
        ]
    return _svg(text, 136, body)


# ---- attribution ----------------------------------------------------------------------------


def attribution_svg(d: Diagnosis, text: ChartText) -> Markup:
    """Points each measured axis explains (bar, interval whisker), then the unexplained remainder
    against the band's half-width around zero, all against the whole gap."""
    rows = attributed(d.ranking)
    rest = remainder(d)
    half = rest.half_width or 0.0
    gap = attributable_gap(d)
    scale = _Scale(
        [0.0, gap, rest.points, -half, half, *(a.low for _, a in rows), *(a.high for _, a in rows)]
    )
    top, step = 34, 36
    height = top + step * (len(rows) + 1) + 30
    zero, whole = scale.x(0.0), scale.x(gap)
    body = [
        _text(
            whole,
            14,
            f"the gap {fmt.points(gap, signed=False)}",
            12,
            "middle",
            VERMILLION,
        )
    ]
    if rest.half_width is not None:  # the noise zone: what seed noise alone can move
        body += [
            f'<rect x="{scale.x(-half)}" y="{top - 8}" '
            f'width="{round(scale.x(half) - scale.x(-half), 1)}" '
            f'height="{step * (len(rows) + 1) + 4}" fill="{SKY}" fill-opacity="0.3"/>',
            _text(zero, height - 8, f"noise \u00b1{fmt.number(half, 2)}", 11, "middle", BLUE),
        ]
    body += [
        f'<line x1="{zero}" x2="{zero}" y1="{top - 10}" y2="{height - 22}" stroke="{GREY}"/>',
        f'<line x1="{whole}" x2="{whole}" y1="20" y2="{height - 22}" stroke="{VERMILLION}" '
        'stroke-width="2" stroke-dasharray="6 3"/>',
    ]
    for i, (r, a) in enumerate(rows):
        y = top + i * step
        left, right = sorted((zero, scale.x(a.points)))
        lo, hi = scale.x(a.low), scale.x(a.high)
        body += [
            _text(10, y + 14, fmt.axis_title(r.axis), 13, weight="600"),
            f'<rect x="{left}" y="{y}" width="{round(right - left, 1)}" height="20" '
            f'fill="{BLUE}"/>',
            f'<path d="M{lo} {y + 10}H{hi}M{lo} {y + 3}V{y + 17}M{hi} {y + 3}V{y + 17}" '
            f'stroke="{INK}" stroke-width="1.5" fill="none"/>',
            _text(_RIGHT + 8, y + 14, fmt.points(a.points, signed=False), 12),
        ]
    y = top + len(rows) * step
    left, right = sorted((zero, scale.x(rest.points)))
    body += [
        _text(10, y + 14, "unexplained", 13, weight="600"),
        f'<rect x="{left}" y="{y}" width="{round(right - left, 1)}" height="20" '
        f'fill="#ffffff" stroke="{INK}" stroke-width="1.5" stroke-dasharray="3 2"/>',
        _text(_RIGHT + 8, y + 14, fmt.points(rest.points, signed=False), 12),
    ]
    return _svg(text, height, body)


# ---- the noise band -------------------------------------------------------------------------


_ROW = 24  # the height of one counterfactual arm's row under the band


def _arm_mark(kind: str, cx: float, cy: float) -> str:
    """Each kind of arm its own shape (colour on top): swap, replay, baseline, bisection."""
    if kind == "replay":
        return (
            f'<polygon points="{cx},{cy - 6} {cx + 6},{cy + 5} {cx - 6},{cy + 5}" '
            f'fill="{ORANGE}" stroke="{INK}" stroke-width="1"/>'
        )
    if kind == "baseline":
        return (
            f'<rect x="{cx - 4.5}" y="{cy - 4.5}" width="9" height="9" fill="{GREEN}" '
            'stroke="#ffffff" stroke-width="1"/>'
        )
    if kind == "bisection":
        return (
            f'<circle cx="{cx}" cy="{cy}" r="3.5" fill="{PURPLE}" stroke="{INK}" '
            'stroke-width="0.5"/>'
        )
    return (
        f'<polygon points="{cx},{cy - 6} {cx + 6},{cy} {cx},{cy + 6} {cx - 6},{cy}" '
        f'fill="{ORANGE}" stroke="{INK}" stroke-width="1"/>'
    )


def noise_band_svg(
    band: NoiseBand, gap: Gap, text: ChartText, arms: tuple[ArmValues, ...] = ()
) -> Markup:
    """Seed metrics as points, the band shaded, baseline and candidate as labelled lines; under
    it one row per counterfactual retrain arm (its seeds, a tick at their mean), read against the
    same band and lines; failed seeds listed under the plot."""
    seeds = [s.metric for s in band.seeds if s.status == "ok" and s.metric is not None]
    failed = [s for s in band.seeds if s.status == "failed"]
    marks = [
        (v, name, colour, dash)
        for v, name, colour, dash in (
            (gap.baseline, "baseline", GREEN, "6 3"),
            (gap.candidate, "candidate", VERMILLION, ""),
        )
        if v is not None
    ]
    arm_values = [v for a in arms for v in a.values]
    scale = _Scale([band.low, band.high, band.mean, *seeds, *(m[0] for m in marks), *arm_values])
    low, high, mean = scale.x(band.low), scale.x(band.high), scale.x(band.mean)
    bottom = 110 + _ROW * len(arms)  # the plot's lower edge: the band, then one row per arm
    body = [
        f'<rect x="{low}" y="40" width="{round(high - low, 1)}" height="{bottom - 40}" '
        f'fill="{SKY}" fill-opacity="0.35" stroke="{BLUE}" stroke-width="1"/>',
        f'<line x1="{mean}" x2="{mean}" y1="40" y2="110" stroke="{BLUE}" stroke-width="1"/>',
        _text(10, 72, f"{'candidate band' if arms else 'seeds'} (n = {band.n})", 12, fill=GREY),
        _text(10, 88, f"band k = {fmt.number(band.k, 2)}", 11, fill=GREY),
        _text(low, bottom + 15, fmt.number(band.low), 11, "end"),
        _text(high, bottom + 15, fmt.number(band.high), 11, "start"),
    ]
    for i, value in enumerate(seeds):
        y = 55 + (i % 5) * 10  # a fixed stagger so equal seeds stay visible
        body.append(
            f'<circle cx="{scale.x(value)}" cy="{y}" r="4" fill="{BLUE}" '
            f'stroke="#ffffff" stroke-width="1"/>'
        )
    for row, arm in enumerate(arms):
        y = 110 + _ROW * row + _ROW // 2
        body += [
            f'<line x1="10" x2="{_RIGHT}" y1="{110 + _ROW * row}" y2="{110 + _ROW * row}" '
            f'stroke="{LIGHT}"/>',
            _text(10, y + 4, _short_label(arm), 10),
        ]
        for i, value in enumerate(arm.values):
            body.append(_arm_mark(arm.kind, scale.x(value), y + (i % 3 - 1) * 3))
        if len(arm.values) > 1 and arm.mean is not None:
            x = scale.x(arm.mean)
            body.append(
                f'<line x1="{x}" x2="{x}" y1="{y - 9}" y2="{y + 9}" stroke="{INK}" '
                'stroke-width="2"/>'
            )
        if arm.failed:
            lost = len(arm.failed)
            word = "refused" if all(refused(r) for r in arm.failed) else "failed"
            body.append(_text(_RIGHT + 8, y + 4, f"{lost} {word}", 11, fill=GREY))
    for row, (value, name, colour, dash) in enumerate(marks):
        x = scale.x(value)
        body.append(
            f'<line x1="{x}" x2="{x}" y1="25" y2="{bottom + 5}" stroke="{colour}" '
            f'stroke-width="2.5" stroke-dasharray="{dash or "none"}"/>'
        )
        label_y = 14 if row == 0 else bottom + 34
        body.append(_text(x, label_y, f"{name} {fmt.number(value)}", 12, "middle", colour, "600"))
    height = bottom + 50
    if failed:
        listed = ", ".join(f"{s.seed} ({s.reason or 'no reason recorded'})" for s in failed)
        body.append(_text(10, height + 6, f"failed, not drawn: {listed}", 11, fill=GREY))
        height += 16
    return _svg(text, height, body)


def _short_label(arm: ArmValues) -> str:
    """An arm's row label, cut to fit left of the plot (the data table has it whole): the
    check's name, or a bisection point's name."""
    words = f"{arm.key.removesuffix('_bisection')}: {arm.point}" if arm.point else arm.label
    return words if len(words) <= 24 else words[:23] + "\u2026"
