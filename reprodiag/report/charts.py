"""Each chart's text alternative: its title, a one-paragraph description and a small data table.

The HTML report puts these in the SVG's <title>/<desc> and in a table beside it; the Markdown report
shows them instead of the picture. Plain text here; each renderer escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprodiag.diagnosis.model import Attribution, AxisRank, Diagnosis, Gap, NoiseBand
from reprodiag.report import formatting as fmt


@dataclass(frozen=True)
class ChartText:
    """A chart's words: title, description and the verdict it draws, for a text alternative."""

    key: str  # the chart's id prefix in the page: axes, attribution, noise-band
    title: str
    desc: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str  # how to read the picture: what each mark means


@dataclass(frozen=True)
class Remainder:
    """The part of the gap no measured axis explains, judged against the band's half-width."""

    points: float
    half_width: float | None  # k·s of the noise band; None without a band

    @property
    def within_noise(self) -> bool | None:
        """Whether the gap lies within the band's half-width (None without a band)."""
        return None if self.half_width is None else abs(self.points) <= self.half_width

    def verdict(self) -> str:
        """The chart's reading in one sentence, for screen readers and the Markdown report."""
        if self.half_width is None:
            return "no noise band measured to judge it against"
        side = "inside" if self.within_noise else "beyond"
        return f"{side} the band half-width \u00b1{fmt.number(self.half_width, 2)}: " + (
            "seed noise can explain it" if self.within_noise else "something else moved"
        )


def attributed(ranking: tuple[AxisRank, ...]) -> list[tuple[AxisRank, Attribution]]:
    """Axes a retrain measured, in rank order."""
    return [
        (r, r.attribution)
        for r in sorted(ranking, key=lambda r: r.rank)
        if r.attribution is not None
    ]


def attributable_gap(d: Diagnosis) -> float:
    """The gap the retrains explain: from the band mean to the baseline (a − ȳ, in the metric's
    better direction), since every counterfactual is measured against the band mean; without a
    band, the gap between the two recorded runs."""
    if d.band is None or d.gap.baseline is None:
        return d.gap.worse_by
    sign = 1.0 if d.gap.direction == "higher" else -1.0
    return (d.gap.baseline - d.band.mean) * sign


def remainder(d: Diagnosis) -> Remainder:
    """The part of the gap no measured axis accounts for, with the words for it."""
    # Only confirmed axes explain points; a swap that was ruled out explains none of the gap.
    explained = sum(a.points for r, a in attributed(d.ranking) if r.status == "confirmed")
    half = (d.band.high - d.band.low) / 2 if d.band is not None else None
    return Remainder(round(attributable_gap(d) - explained, 10), half)


def _where(value: float | None, band: NoiseBand) -> str:
    if value is None:
        return "not recorded"
    if value > band.high:
        return "above the band"
    if value < band.low:
        return "below the band"
    return "inside the band"


def axes_text(ranking: tuple[AxisRank, ...]) -> ChartText:
    """The axes chart's text: each axis with its rank and status, in words."""
    rows = tuple(
        (
            fmt.ordinal(r.rank),
            fmt.axis_title(r.axis),
            fmt.status(fmt.AXIS_STATUS, r.status).label,
            SHAPE_WORDS.get(r.status, "dot"),
        )
        for r in sorted(ranking, key=lambda r: r.rank)
    )
    desc = "Most likely cause first: " + "; ".join(f"{o} {a}, {s}" for o, a, s, _ in rows) + "."
    return ChartText(
        "axes",
        "The five axes, most likely cause first",
        desc,
        ("rank", "axis", "status", "mark"),
        rows,
        "Marks: filled circle, confirmed cause; triangle, candidate; dashed square, "
        "unversioned (cannot be ruled out); diamond, within the noise band; open circle "
        "with a bar, can't tell yet; crossed square, excluded by a retrain; crossed circle, "
        "ruled out by the manifests.",
    )


def attribution_text(d: Diagnosis) -> ChartText | None:
    """The attribution chart's text, or None when no retrain measured an axis."""
    rows_in = attributed(d.ranking)
    if not rows_in:
        return None
    rest = remainder(d)
    rows = tuple(
        (
            fmt.axis_title(r.axis),
            fmt.status(fmt.AXIS_STATUS, r.status).label,
            fmt.points(a.points, signed=False),
            f"{fmt.number(a.low, 2)} to {fmt.number(a.high, 2)}",
        )
        for r, a in rows_in
    )
    rows += (
        ("Unexplained remainder", rest.verdict(), fmt.points(rest.points, signed=False), fmt.DASH),
    )
    whole = fmt.points(attributable_gap(d), signed=False)
    parts = [f"{axis} explains {pts} ({interval})" for axis, _, pts, interval in rows[:-1]]
    desc = (
        f"Gap from the band mean to the baseline {whole}. " + "; ".join(parts) + f". The remaining "
        f"{fmt.points(rest.points, signed=False)} lies {rest.verdict()}."
    )
    return ChartText(
        "attribution",
        f"Points of the {d.gap.metric} gap explained per axis",
        desc,
        ("axis", "status", "explains", "interval"),
        rows,
        "Bars: points of the gap each axis explains when swapped back to the "
        "baseline; whiskers: the interval. Dashed outline: the unexplained remainder. "
        "Shaded: \u00b1 the noise band's half-width around zero. Dashed vertical "
        "line: the whole gap.",
    )


def band_text(band: NoiseBand, gap: Gap) -> ChartText:
    """The noise-band chart's text: the band, the seeds and where the baseline lies."""
    failed = [s for s in band.seeds if s.status == "failed"]
    rows: list[tuple[str, str, str]] = [
        ("baseline", fmt.number(gap.baseline), _where(gap.baseline, band)),
        ("candidate", fmt.number(gap.candidate), _where(gap.candidate, band)),
        (
            "band",
            f"{fmt.number(band.low)} to {fmt.number(band.high)}",
            f"mean {fmt.number(band.mean)} \u00b1 {fmt.number(band.k, 2)}\u00b7std",
        ),
    ]
    rows += [(f"seed {s.seed}", "failed", s.reason or "no reason recorded") for s in failed]
    desc = (
        f"{band.n} seed retrains: mean {fmt.number(band.mean)}, band {fmt.number(band.low)} "
        f"to {fmt.number(band.high)}. Baseline {fmt.number(gap.baseline)} lies "
        f"{_where(gap.baseline, band)}; candidate {fmt.number(gap.candidate)} lies "
        f"{_where(gap.candidate, band)}. Outcome: {band.outcome}."
    )
    if failed:
        desc += f" {len(failed)} seed{'s' if len(failed) > 1 else ''} failed and are not drawn."
    return ChartText(
        "noise-band",
        f"Seed-noise band of {band.metric}",
        desc,
        ("mark", band.metric, "where"),
        tuple(rows),
        "Points: seed retrains. Shaded: the band. Dashed line: baseline. Solid line: candidate.",
    )


# The shape that marks each axis status in the axes chart, in words (status is never colour alone).
SHAPE_WORDS = {
    "confirmed": "filled circle",
    "candidate": "triangle",
    "unversioned": "dashed square",
    "noise": "diamond",
    "ruled_out": "crossed circle",
}
