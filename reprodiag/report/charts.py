"""Each chart's text alternative: its title, a one-paragraph description and a small data table.

The HTML report puts these in the SVG's <title>/<desc> and in a table beside it; the Markdown report
shows them instead of the picture. Plain text here; each renderer escapes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reprodiag.confirm.attribution import Unexplained, unexplained
from reprodiag.confirm.identity import NOT_THE_PIPELINE
from reprodiag.diagnosis.model import (
    Attribution,
    AxisRank,
    Check,
    Diagnosis,
    Gap,
    NoiseBand,
    RetrainRun,
)
from reprodiag.noise.counterfactual import LOOK_ALPHA
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
    """The part of the gap no confirmed cause explains, for the attribution chart: the report's
    one remainder (reprodiag.confirm.attribution.Unexplained), judged against the band."""

    points: float
    half_width: float | None  # k·s of the noise band; None without a band
    rest: Unexplained | None = None  # the quantity itself; None without a band

    @property
    def within_noise(self) -> bool | None:
        """Whether seed noise can account for it (None without a band)."""
        return None if self.rest is None else self.rest.within_noise

    def verdict(self) -> str:
        """The chart's reading in one sentence, for screen readers and the Markdown report."""
        if self.rest is None or self.half_width is None:
            return "no noise band measured to judge it against"
        side = "within" if self.within_noise else "beyond"
        return f"{side} the seed noise (band half-width \u00b1{self.rest.num(self.half_width)})"


def attributed(ranking: tuple[AxisRank, ...]) -> list[tuple[AxisRank, Attribution]]:
    """Axes a retrain measured, in rank order."""
    return [
        (r, r.attribution)
        for r in sorted(ranking, key=lambda r: r.rank)
        if r.attribution is not None
    ]


def attributable_gap(d: Diagnosis) -> float:
    """The whole gap the chart measures the causes against: the gap between the two recorded
    runs, as every sentence of the report states it (a swap's points are its move against the
    band mean; the two runs' own seed draws are part of the remainder)."""
    return d.gap.worse_by


def remainder(d: Diagnosis) -> Remainder:
    """The part of the gap no confirmed cause accounts for (one quantity for the whole report)."""
    rest = unexplained(d)
    if rest is None:
        explained = sum(a.points for r, a in attributed(d.ranking) if r.status == "confirmed")
        return Remainder(round(attributable_gap(d) - explained, 10), None)
    return Remainder(rest.points, rest.half_width, rest)


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
    u = rest.rest
    rows += (
        (
            "Unexplained remainder",
            rest.verdict(),
            f"{u.num(u.points)} pts" if u is not None else fmt.points(rest.points, signed=False),
            f"{u.num(u.low)} to {u.num(u.high)}" if u is not None and u.causes else fmt.DASH,
        ),
    )
    whole = fmt.points(attributable_gap(d), signed=False)
    parts = [
        f"{axis} explains {pts} ({interval})"
        if status == fmt.status(fmt.AXIS_STATUS, "confirmed").label
        else f"{axis} ({status}) moves {pts} ({interval}), not counted as explained"
        for axis, status, pts, interval in rows[:-1]
    ]
    desc = f"The gap between the two runs: {whole}. " + "; ".join(parts) + "."
    desc += f" {u.sentence()}" if u is not None and u.causes else ""
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


@dataclass(frozen=True)
class ArmValues:
    """One row of the noise-band chart: an arm's retrains (a swap, the seed replay, the baseline
    band, one bisection point) with their finished values and the ones that failed."""

    key: str  # the check's key: pinned_snapshot, seed_replay, baseline_band, data_bisection
    label: str  # "pinned-snapshot retrain", "data bisection at v5"
    kind: str  # swap, replay, baseline, bisection: the row's mark
    values: tuple[float, ...]
    failed: tuple[RetrainRun, ...]
    point: str | None = None  # a bisection point's name

    @property
    def mean(self) -> float | None:
        """The mean of the finished values (None when none finished)."""
        return math.fsum(self.values) / len(self.values) if self.values else None


_KINDS = {"seed_replay": "replay", "baseline_band": "baseline"}


def arm_rows(d: Diagnosis) -> tuple[ArmValues, ...]:
    """The counterfactual retrains of a diagnosis, one row per arm (per point of a bisection),
    in the cost order of their checks."""
    rows: list[ArmValues] = []
    for check in sorted(d.checks, key=lambda c: c.order):
        if not check.runs:
            continue
        if check.bisection is not None or any(r.point for r in check.runs):
            points = list(dict.fromkeys(r.point or "" for r in check.runs))
            for point in points:
                runs = [r for r in check.runs if (r.point or "") == point]
                label = f"{check.name} at {point}" if point else check.name
                rows.append(_arm(check, label, "bisection", runs, point or None))
            continue
        rows.append(_arm(check, check.name, _KINDS.get(check.key, "swap"), list(check.runs)))
    return tuple(rows)


def _arm(
    check: Check, label: str, kind: str, runs: list[RetrainRun], point: str | None = None
) -> ArmValues:
    ok = tuple(r.metric for r in runs if r.status == "ok" and r.metric is not None)
    failed = tuple(r for r in runs if r.status != "ok" or r.metric is None)
    return ArmValues(check.key, label, kind, ok, failed, point)


def refused(run: RetrainRun) -> bool:
    """Whether a failed retrain was refused by the identity check (not the pipeline it stands
    for) rather than failing by itself."""
    return run.status != "ok" and (run.reason or "").startswith(NOT_THE_PIPELINE)


def band_text(band: NoiseBand, gap: Gap, arms: tuple[ArmValues, ...] = ()) -> ChartText:
    """The noise-band chart's text: the band, the seeds, where the baseline lies, and each
    counterfactual retrain's values against the band."""
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
    for arm in arms:
        values = ", ".join(fmt.number(v) for v in arm.values) or "none finished"
        mean = f"mean {fmt.number(arm.mean)}: " if len(arm.values) > 1 else ""
        rows.append(
            (
                f"{arm.label} (n = {len(arm.values)})",
                values,
                mean + (_where(arm.mean, band) if arm.values else fmt.DASH),
            )
        )
        rows += [
            (
                f"{arm.label}, seed {r.seed}",
                "refused" if refused(r) else "failed",
                r.reason or "no reason recorded",
            )
            for r in arm.failed
        ]
    desc = (
        f"{band.n} seed retrains: mean {fmt.number(band.mean)}, band {fmt.number(band.low)} "
        f"to {fmt.number(band.high)}. Baseline {fmt.number(gap.baseline)} lies "
        f"{_where(gap.baseline, band)}; candidate {fmt.number(gap.candidate)} lies "
        f"{_where(gap.candidate, band)}. Outcome: {band.outcome}."
    )
    if failed:
        desc += f" {len(failed)} seed{'s' if len(failed) > 1 else ''} failed and are not drawn."
    drawn = [a for a in arms if a.values]
    if drawn:
        desc += " Counterfactual retrains: " + "; ".join(
            f"{a.label} mean {fmt.number(a.mean)} over {len(a.values)} "
            f"seed{'s' if len(a.values) != 1 else ''}, {_where(a.mean, band)}"
            for a in drawn
        )
        desc += "."
    lost = sum(len(a.failed) for a in arms)
    if lost:
        desc += (
            f" {lost} counterfactual retrain{'s' if lost != 1 else ''} failed or "
            f"{'were' if lost != 1 else 'was'} refused."
        )
    caption = (
        "Points: seed retrains. Shaded: the band. Dashed line: baseline. Solid line: candidate."
    )
    if arms:
        caption = (
            "Top row: the candidate band's seeds; shaded down every row: the band. Below: one "
            "row per counterfactual arm (diamond: a swap; triangle: the seed replay; square: the "
            "baseline pipeline; small circle: a bisection point), a tick at its mean. Dashed "
            "line: baseline; solid: candidate."
        )
    return ChartText(
        "noise-band",
        f"Seed-noise band of {band.metric}",
        desc,
        ("mark", band.metric, "where"),
        tuple(rows),
        caption,
    )


# ---- the unexplained remainder, in words ----------------------------------------------------


def _checked_out(d: Diagnosis, rank: AxisRank) -> str:
    """Why an axis that may hold the rest could not be checked, in a few words."""
    skipped = [
        c
        for c in sorted(d.checks, key=lambda c: c.order)
        if c.axis == rank.axis and c.retrains > 0 and c.status != "done" and c.observed
    ]
    if skipped:
        return f"the {skipped[0].name} did not run: {skipped[0].observed}"
    status = fmt.status(fmt.AXIS_STATUS, rank.status).label
    reason = rank.reason.rstrip(".")
    if reason[:2].istitle():  # "The baseline ..." inside a sentence
        reason = reason[0].lower() + reason[1:]
    # A reason that opens with its own status ("can't tell yet: n = 3 ...") says it once.
    reason = reason.removeprefix(f"{status}: ")
    if "cannot be ruled out" in status:  # the label says it: the reason's clause would repeat it
        reason = "; ".join(c for c in reason.split("; ") if "cannot be ruled out" not in c)
    return f"{status}: {reason}" if reason else status


def unexplained_words(d: Diagnosis) -> tuple[str, ...]:
    """What part of the gap the confirmed causes explain (with their interval), and what the
    rest could be: the seed noise, or an axis that could not be checked. The remainder is the
    report's one (reprodiag.confirm.attribution.Unexplained), in the same words as the summary.
    Empty without a band (no retrain measured anything) and for a gap that is not worse."""
    rest = unexplained(d)
    if rest is None:
        return ()
    metric = d.gap.metric
    confirmed = [(r, a) for r, a in attributed(d.ranking) if r.status == "confirmed"]
    whole = f"{rest.num(rest.gap)} pts"
    kind = d.conclusion.kind if d.conclusion is not None else None
    if not confirmed and kind in _SEED_KINDS:
        said = (
            "is that the gap is the seed"
            if kind == "lucky baseline"
            else "is that seeds alone can produce the gap; a small effect of a change is not "
            "excluded"
        )
        return (
            f"No recorded change explains any of the gap of {whole} in {metric}: the "
            f"conclusion ({kind}) {said}.",
        )
    sentences: list[str] = []
    if confirmed:
        names = [f"the {r.axis} change ({_check_name(d, a.check)})" for r, a in confirmed]
        many = len(confirmed) > 1
        share = f"{100 * rest.explained / rest.gap:.0f} %"
        ends = f"{rest.num(rest.explained_low)} to {rest.num(rest.explained_high)}"
        sentences.append(
            f"The confirmed cause{'s' if many else ''}, {_join(names)}, explain"
            f"{'' if many else 's'} {rest.num(rest.explained)} of the {whole} gap in {metric} "
            f"({share}), "
            + (
                f"interval {ends} (their {100 * (1 - LOOK_ALPHA):g} % intervals added: at least "
                f"{100 * rest.level:g} % confidence)."
                if many
                else f"{100 * rest.level:g} % interval {ends}."
            )
        )
        sentences.append(rest.sentence())
    else:
        sentences.append(
            f"No confirmed cause explains any of the gap of {whole} in {metric}: all of it is "
            "left unexplained by a change."
        )
    open_axes = [r for r in sorted(d.ranking, key=lambda r: r.rank) if r.status in _UNCHECKED]
    if open_axes:
        sentences.append(
            "It may lie in an axis that could not be checked: "
            + "; ".join(
                f"{fmt.axis_title(r.axis).lower()} ({_checked_out(d, r)})" for r in open_axes
            )
            + "."
        )
    elif confirmed:
        sentences.append(
            "Every other axis was checked (ruled out, excluded or within the noise): none is left "
            "to hold it."
        )
    measured = any(c.key == "baseline_band" and c.status == "done" for c in d.checks)
    if confirmed and not measured:
        sentences.append(
            "The baseline's own seed draw is part of it too: the baseline pipeline's spread was "
            "not measured (no baseline band ran)."
        )
    return tuple(sentences)


_SEED_KINDS = ("lucky baseline", "within noise")
_UNCHECKED = ("candidate", "unversioned", "cant_tell")


def _check_name(d: Diagnosis, key: str) -> str:
    check = next((c for c in d.checks if c.key == key), None)
    return check.name if check is not None else key.replace("_", " ")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# The shape that marks each axis status in the axes chart, in words (status is never colour alone).
SHAPE_WORDS = {
    "confirmed": "filled circle",
    "candidate": "triangle",
    "unversioned": "dashed square",
    "noise": "diamond",
    "ruled_out": "crossed circle",
}
