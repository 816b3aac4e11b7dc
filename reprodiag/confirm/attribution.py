"""How the gap is accounted for: points per recorded axis, the two runs' own seeds, a remainder.

Functions of the Evidence (evidence.py). The rows and the remainder, oriented toward the
baseline, sum to the gap's size; each row carries an interval where its seeds allow one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from reprodiag.confirm.evidence import Evidence
from reprodiag.confirm.incident import BASELINE_BAND, CANDIDATE_BAND
from reprodiag.confirm.outcomes import AttributionRow, CheckFinding
from reprodiag.manifest.model import Axis
from reprodiag.noise.counterfactual import difference, linear_half_width, percent


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
    swapped = [ev.ok(c.arm) for c in checks if ev.ok(c.arm)]
    # R = toward·(a or ȳ_baseline + (K − 1)·ȳ − Σ mean(swap k)): only the means are random.
    # With identical pipelines ȳ_baseline is ȳ itself, so its coefficients add up (to 0).
    identical = inc.identical_pipelines and len(band) >= 2
    terms: list[tuple[float, Sequence[float]]] = [(len(swapped) - 1.0 + identical, band)]
    terms += [(-1.0, arm) for arm in swapped]
    base = ev.ok(BASELINE_BAND)
    with_base = identical or (ev.has_baseline_band and len(base) >= 2)
    if with_base and not identical:
        terms.append((1.0, base))
    mean_band = sum(band) / len(band)
    s_band = math.sqrt(sum((v - mean_band) ** 2 for v in band) / (len(band) - 1))
    half = linear_half_width(terms, sigma=s_band, sigma_df=len(band) - 1)
    points = size - sum(r.points for r in rows)
    label = "interaction between axes, changes no swap covers"
    label += "" if with_base else ", the baseline's own seed"
    if identical:
        label = "nothing: the two runs are draws of one pipeline"
    rest = _row(ev, label, None, points, half, "remainder")
    return tuple(rows), rest, _remainder_words(ev, rest)


def _remainder_words(ev: Evidence, rest: AttributionRow) -> str:
    num, gap = ev.num, ev.num(ev.size)
    interval = (
        "" if rest.low is None or rest.high is None else f" [{num(rest.low)}, {num(rest.high)}]"
    )
    left = f"{num(rest.points)}{interval} ({percent(rest.share)}) is left: {rest.label}"
    if rest.low is not None and rest.high is not None and (rest.low > 0 or rest.high < 0):
        return f"the measured rows do not add up to the {gap} gap: {left}"
    if abs(rest.points) <= ev.margin:
        return f"the measured rows add up to the {gap} gap within noise: {left}"
    return f"the measured rows add up to the {gap} gap only loosely: {left}, not yet told from 0"
