"""How the gap is accounted for: points per recorded axis, the two runs' own seeds, a remainder.

Functions of the Evidence (evidence.py). The rows and the remainder, oriented toward the
baseline, sum to the gap's size; each row carries an interval where its seeds allow one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reprodiag.confirm.evidence import Evidence
from reprodiag.confirm.incident import BASELINE_BAND, CANDIDATE_BAND
from reprodiag.confirm.outcomes import AttributionRow, CheckFinding
from reprodiag.diagnosis.model import Diagnosis
from reprodiag.manifest.model import Axis
from reprodiag.noise.counterfactual import (
    LOOK_ALPHA,
    difference,
    format_number,
    linear_half_width,
    percent,
)

MINUS = "\u2212"
# The words every sentence of a report that states the unexplained remainder opens it with, so
# that reprodiag.confirm.consistency can find each statement of it and compare the values.
LEFT = "left unexplained"


@dataclass(frozen=True)
class Unexplained:
    """What the confirmed causes leave of the gap between the two recorded runs: the one
    remainder every part of a report shows (the summary, the attribution chart, its table and
    text alternative, the words under it), with one interval and one rounding.

    `explained` is the sum of the confirmed causes' points, each measured as a swap's move
    against the candidate band; its interval adds their intervals' ends, which holds with at
    least 1 − K·α confidence for K causes judged at level 1 − α each (the union bound: when every
    interval holds its cause's true value, their sum holds the total). The remainder is the
    recorded gap less `explained`, so its interval is the gap less that interval, reversed.
    """

    gap: float  # how much worse the candidate scores, in the metric's units (> 0)
    explained: float
    explained_low: float
    explained_high: float
    causes: int
    half_width: float | None  # the candidate band's half-width (k·s); None without a band

    @property
    def points(self) -> float:
        """The remainder: the gap less what the confirmed causes explain."""
        return self.gap - self.explained

    @property
    def low(self) -> float:
        """The remainder's interval, low end."""
        return self.gap - self.explained_high

    @property
    def high(self) -> float:
        """The remainder's interval, high end."""
        return self.gap - self.explained_low

    @property
    def level(self) -> float:
        """The confidence the interval holds at least (0.99 for one cause, 0.98 for two)."""
        return max(0.0, 1.0 - max(self.causes, 1) * LOOK_ALPHA)

    @property
    def within_noise(self) -> bool | None:
        """Whether seed noise can account for the remainder: its interval holds 0, or it lies
        inside the band's half-width (None without a band)."""
        if self.half_width is None:
            return None
        return self.low <= 0 <= self.high or abs(self.points) <= self.half_width

    def num(self, value: float) -> str:
        """A number of this remainder, to the digits the gap needs (one rounding everywhere)."""
        text = format_number(value, self.gap)
        return MINUS + text[1:] if text.startswith("-") else text

    def interval_words(self) -> str:
        """`99 % interval −1.60 to 1.70`, or with several causes how the intervals combine."""
        ends = f"{self.num(self.low)} to {self.num(self.high)}"
        level = f"{100 * self.level:g} %"
        if self.causes <= 1:
            return f"{level} interval {ends}"
        return (
            f"interval {ends}: the {self.causes} causes' {100 * (1 - LOOK_ALPHA):g} % intervals "
            f"added, which holds with at least {level} confidence"
        )

    def sentence(self) -> str:
        """`Left unexplained: 0.05 of the 5.43 pts gap (99 % interval −1.60 to 1.70), within
        the seed noise ...`: the remainder, its interval, and what can account for it."""
        where = ""
        if self.within_noise is not None and self.half_width is not None:
            band = f"the band's half-width is \u00b1{self.num(self.half_width)}"
            holds = "its interval holds 0" if self.low <= 0 <= self.high else "it lies inside it"
            where = (
                f", within the seed noise ({band}; {holds}): the two runs' own seed draws can "
                "account for it"
                if self.within_noise
                else f", beyond the seed noise ({band}; its interval excludes 0)"
            )
        return (
            f"Left unexplained: {self.num(self.points)} of the {self.num(self.gap)} pts gap "
            f"({self.interval_words()}){where}."
        )


def unexplained(d: Diagnosis) -> Unexplained | None:
    """The remainder of `d`'s gap after its confirmed causes (module docstring of Unexplained);
    None without a noise band (no retrain measured anything) or for a gap that is not worse."""
    if d.band is None or d.gap.worse_by <= 0:
        return None
    causes = [
        r.attribution for r in d.ranking if r.status == "confirmed" and r.attribution is not None
    ]
    return Unexplained(
        gap=d.gap.worse_by,
        explained=math.fsum(a.points for a in causes),
        explained_low=math.fsum(a.low for a in causes),
        explained_high=math.fsum(a.high for a in causes),
        causes=len(causes),
        half_width=(d.band.high - d.band.low) / 2,
    )


def attribution(
    ev: Evidence, checks: tuple[CheckFinding, ...]
) -> tuple[tuple[AttributionRow, ...], AttributionRow, str]:
    """Per-axis points, the two runs' own seeds, and the remainder: they sum to the gap."""
    size, band = ev.size, ev.ok(CANDIDATE_BAND)
    replay = ev.replay_finding()
    if ev.zero_gap:
        row = AttributionRow("nothing to attribute", None, size, None, None, 1.0, "reproduces")
        return (), row, "the gap is within the metric's resolution: nothing to attribute"
    if replay is not None and replay.exact:
        seed = AttributionRow(
            "the seed (the seed replay reproduces the baseline)",
            "randomness",
            size,
            size,
            size,
            1.0,
            "explains",
        )
        rest = AttributionRow("remainder", None, 0.0, 0.0, 0.0, 0.0, "none")
        return (seed,), rest, "the seed accounts for the whole gap"
    if len(band) < 2:
        rest = AttributionRow("unattributed", None, size, None, None, 1.0, "cant_tell")
        return (), rest, "no band of at least 2 seeds finished: the whole gap is unattributed"
    rows = _rows(ev, checks, band)
    return _with_remainder(ev, rows, checks, band)


def _row(
    ev: Evidence, label: str, axis: Axis | None, points: float, half: float | None, outcome: str
) -> AttributionRow:
    low = None if half is None else points - half
    high = None if half is None else points + half
    return AttributionRow(label, axis, points, low, high, points / ev.size, outcome)


def _rows(
    ev: Evidence, checks: tuple[CheckFinding, ...], band: list[float]
) -> list[AttributionRow]:
    inc, k = ev.incident, ev.toward
    rows = []
    for check in checks:
        arm = ev.ok(check.arm)
        if arm:
            d = difference(band, arm, toward=k)
            label = f"{check.axis} ({check.arm})"
            rows.append(_row(ev, label, check.axis, d.points, d.high - d.points, check.outcome))
    rows.append(_seed_row(ev, "the candidate run's own seed", inc.candidate, band, -k))
    base = ev.ok(BASELINE_BAND) if ev.has_baseline_band else []
    if inc.identical_pipelines:  # the candidate band is the baseline pipeline's own
        base = band
    if len(base) >= 2:
        rows.append(_seed_row(ev, "the baseline run's own seed", inc.baseline, base, k))
    return rows


def _seed_row(ev: Evidence, who: str, value: float, seeds: list[float], k: float) -> AttributionRow:
    """How far one run sits from its pipeline's band mean, as points toward the baseline."""
    points = k * (value - sum(seeds) / len(seeds))
    half = linear_half_width([(1.0, seeds)])
    label = f"{who} (its distance from its band mean)"
    return _row(ev, label, "randomness", points, half, "measured")


def _with_remainder(
    ev: Evidence, rows: list[AttributionRow], checks: tuple[CheckFinding, ...], band: list[float]
) -> tuple[tuple[AttributionRow, ...], AttributionRow, str]:
    size, inc = ev.size, ev.incident
    swapped = [c.arm for c in checks if ev.ok(c.arm)]
    # R = toward·(a or ȳ_baseline + (K − 1)·ȳ − Σ mean(swap k)): only the means are random.
    # With identical pipelines ȳ_baseline is ȳ itself, and when a swap arm is the baseline
    # pipeline (Incident.baseline_arm) ȳ_baseline is that arm's mean: one arm's coefficients add
    # up (to 0 for the baseline arm), never counted as two independent arms.
    identical = inc.identical_pipelines and len(band) >= 2
    coefs: dict[str, float] = {CANDIDATE_BAND: len(swapped) - 1.0 + identical}
    for arm in swapped:
        coefs[arm] = coefs.get(arm, 0.0) - 1.0
    base = ev.ok(BASELINE_BAND)
    with_base = identical or (ev.has_baseline_band and len(base) >= 2)
    if with_base and not identical:
        key = inc.baseline_arm or BASELINE_BAND
        coefs[key] = coefs.get(key, 0.0) + 1.0
    terms: list[tuple[float, Sequence[float]]] = [
        (coef, ev.ok(arm)) for arm, coef in coefs.items() if coef != 0.0
    ]
    mean_band = sum(band) / len(band)
    s_band = math.sqrt(sum((v - mean_band) ** 2 for v in band) / (len(band) - 1))
    half = linear_half_width(terms, sigma=s_band, sigma_df=len(band) - 1) if terms else 0.0
    # Without a random term left (every arm's coefficients cancel: the swap arm is the baseline
    # pipeline) the rows add up to the gap by construction: the remainder is 0, not a float's dust.
    points = size - sum(r.points for r in rows) if terms else 0.0
    label = "interaction between axes, changes no swap covers"
    label += "" if with_base else ", the baseline's own seed"
    if identical:
        label = "nothing: the two runs are draws of one pipeline"
    rest = _row(ev, label, None, points, half, "remainder")
    return tuple(rows), rest, _remainder_words(ev, rest)


def _remainder_words(ev: Evidence, rest: AttributionRow) -> str:
    """Whether the measured rows (the swaps, the two runs' own seed draws) add up to the gap.

    This is not the unexplained remainder of the report (Unexplained: the gap less the confirmed
    causes): it is what is left after the seed draws too, interactions between axes and changes
    no swap covers, so its words never say "left unexplained".
    """
    num, gap = ev.num, ev.num(ev.size)
    interval = (
        "" if rest.low is None or rest.high is None else f" [{num(rest.low)}, {num(rest.high)}]"
    )
    share = f"{num(rest.points)}{interval} ({percent(rest.share)}) not in any row: {rest.label}"
    if rest.low is not None and rest.high is not None and (rest.low > 0 or rest.high < 0):
        return f"the measured rows do not add up to the {gap} gap: {share}"
    if abs(rest.points) <= ev.margin:
        return f"the measured rows add up to the {gap} gap within noise: {share}"
    return f"the measured rows add up to the {gap} gap only loosely: {share}, not yet told from 0"


def rows_add_up(words: str) -> bool:
    """Whether attribution words say the measured rows add up to the gap (within noise)."""
    return "do not add up" not in words
