"""Counterfactual checks judged as two pipelines: explains, excluded, can't tell yet.

A counterfactual is the candidate pipeline with one axis swapped back to the baseline's (pinned
snapshot, intent, code or environment swap), replicated over seeds. It is compared with the
candidate's own seed band as the difference of two pipelines (shared/STATS.md "Counterfactual
checks"): e = mean(swapped) − mean(band), oriented so that e > 0 moves the metric toward the
baseline, with a Welch interval [lo, hi]. With one swap run the band's s stands for both arms.

* **explains** when lo > 0; it "closes the gap" when hi reaches the baseline's distance from the
  band mean (the swapped pipeline is consistent with scoring the baseline's value).
* **excluded** only by equivalence: hi < ρ·gap (ρ = 0.25 by default, stated in every sentence).
* **can't tell yet** otherwise, with n ≈ 2·(z + z₀.₈)²·σ²/(ρ·gap)² seeds per arm to settle it.

Interval level. Checks are re-judged after every batch (the band grows for all of them), so one
check sees up to about ten looks, not the five the Pocock constants were built for. In the
simulation of tests/test_confirm_policy.py (budget 24, 600 incidents per class, seed 7), 99 %
intervals at every look (α = 0.01, one-sided 0.5 %) judged 1.1 % of zero-effect axes "explains"
and 0 % of axes whose true effect is at least half the gap "excluded" (targets 2 % and 5 %); the
Pocock two-sample level (α = 0.0158) gave 2.0 % false "explains", at the target's edge. The
seeds-to-settle figure uses the same z (z₀.₉₉₅ = 2.58, not z₀.₉₇₅ = 1.96): "about k more
retrains" is what this rule needs, about 1.5 times the 95 % figure of STATS.md.

The baseline's percentile in its own pipeline's seed distribution is t-predictive: the share of
new seeds that would score better than the baseline, P(Y > a) with (Y − ȳ)/(s·√(1 + 1/n)) ~
t(n − 1). Everything here is pure: numbers in, frozen records with numbers and words out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import special

from reprodiag.noise.stats import Direction, NoiseSampleError, SeedValues

SwapOutcome = Literal["explains", "excluded", "cant_tell"]
DEFAULT_RHO = 0.25
LOOK_ALPHA = 0.01  # two-sided, at every look: see the module docstring for the figures
POWER = 0.8
LUCKY_TOP = 0.10  # a baseline in the top 10 % of its pipeline's seeds is called lucky
MAX_SETTLE = 100_000


def format_number(value: float, scale: float) -> str:
    """`value` to 3 digits of `scale` (the gap): 0.0249 → "0.0249", 0.8 → "0.800"."""
    if not math.isfinite(value):
        return str(value)
    size = abs(scale) if scale and math.isfinite(scale) else abs(value) or 1.0
    decimals = min(8, max(0, 2 - math.floor(math.log10(size))))
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def count_words(n: int, noun: str) -> str:
    """'1 retrain', '3 retrains': the count and the noun, singular or plural."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def percent(share: float) -> str:
    """A share as a percentage with sensible precision: 0.042 → '4.2 %', 0.78 → '78 %'."""
    value = 100.0 * share
    if abs(value) < 0.001:  # 1e-15 % is rounding, not a share
        return "under 0.001 %" if value > 1e-9 else "0 %"
    return f"{value:.2g} %" if abs(value) < 10 else f"{value:.0f} %"


def within_resolution(a: float, b: float, resolution: float) -> bool:
    """Whether two metric values are equal to the metric's resolution (0: exactly equal)."""
    # A few ulps of slack: 0.1 + 0.2 against 0.3 is a reproduction, not a gap.
    slack = 4 * math.ulp(max(abs(a), abs(b), 1.0))
    return abs(a - b) <= max(resolution, 0.0) + slack


def _values(values: SeedValues, what: str) -> list[float]:
    # Plain floats: arms hold 1 to 20 values, where Python sums beat numpy's per-call overhead.
    raw = values.ravel().tolist() if isinstance(values, np.ndarray) else values
    out = [float(v) for v in raw]
    if not all(math.isfinite(v) for v in out):
        raise NoiseSampleError(f"{what}: values must be finite, got {out!r}")
    return out


def _mean_var(arr: list[float]) -> tuple[float, float | None]:
    if not arr:
        raise NoiseSampleError("an arm needs at least one finished retrain")
    if min(arr) == max(arr):  # identical seeds: their value exactly, and no spread
        return arr[0], 0.0 if len(arr) > 1 else None
    mean = math.fsum(arr) / len(arr)
    return mean, math.fsum((v - mean) ** 2 for v in arr) / (len(arr) - 1)


@dataclass(frozen=True)
class Difference:
    """mean(swapped) − mean(reference), oriented toward the baseline, with its (1 − α) interval.

    `sigma` is the seed std used for both arms (pooled when both have one), `df` the Welch
    degrees of freedom (the band's n − 1 when one swap run borrows the band's s).
    """

    points: float
    low: float
    high: float
    se: float
    df: float
    sigma: float
    n_reference: int
    n_swapped: int
    level: float


def _se_df(n_r: int, v_r: float | None, n_s: int, v_s: float | None) -> tuple[float, float, float]:
    if v_r is None and v_s is None:
        raise NoiseSampleError("two single runs have no seed spread: retrain one arm twice")
    if v_s is None or v_r is None:  # one run on one side: the other arm's s stands for both
        v = v_r if v_s is None else v_s
        assert v is not None
        df = float((n_r if v_s is None else n_s) - 1)
        return math.sqrt(v * (1.0 / n_r + 1.0 / n_s)), df, math.sqrt(v)
    a, b = v_r / n_r, v_s / n_s
    pooled = math.sqrt(((n_r - 1) * v_r + (n_s - 1) * v_s) / (n_r + n_s - 2))
    if a + b == 0.0:
        return 0.0, float(n_r + n_s - 2), 0.0
    df = (a + b) ** 2 / (a**2 / (n_r - 1) + b**2 / (n_s - 1))
    return math.sqrt(a + b), df, pooled


def difference(
    reference: SeedValues, swapped: SeedValues, *, toward: float, alpha: float = LOOK_ALPHA
) -> Difference:
    """Welch difference of two arms, times `toward` (+1 or −1: the sign toward the baseline)."""
    ref, swp = _values(reference, "reference arm"), _values(swapped, "swapped arm")
    (m_r, v_r), (m_s, v_s) = _mean_var(ref), _mean_var(swp)
    se, df, sigma = _se_df(len(ref), v_r, len(swp), v_s)
    points = toward * (m_s - m_r)
    half = float(special.stdtrit(df, 1.0 - alpha / 2.0)) * se if se > 0 else 0.0
    return Difference(
        points=points,
        low=points - half,
        high=points + half,
        se=se,
        df=df,
        sigma=sigma,
        n_reference=len(ref),
        n_swapped=len(swp),
        level=1.0 - alpha,
    )


def linear_half_width(
    terms: Sequence[tuple[float, SeedValues]],
    *,
    alpha: float = LOOK_ALPHA,
    sigma: float | None = None,
    sigma_df: int = 1,
) -> float | None:
    """Half-width of the (1 − α) interval of Σ cᵢ·mean(armᵢ) over independent arms.

    Var = Σ cᵢ²·sᵢ²/nᵢ; an arm of one value borrows `sigma` (the band's s, on `sigma_df` degrees
    of freedom); df is the smallest nᵢ − 1 among the arms, a conservative stand-in for
    Welch–Satterthwaite. None when an arm has no spread and no `sigma` is given.
    """
    var, dfs = 0.0, []
    for coef, values in terms:
        arr = _values(values, "an arm")
        if coef == 0.0 or not arr:
            continue
        spread = _mean_var(arr)[1]
        if spread is None:
            if sigma is None:
                return None
            spread, df = sigma * sigma, sigma_df
        else:
            df = len(arr) - 1
        dfs.append(max(1, df))
        var += coef * coef * spread / len(arr)
    if not dfs:
        return 0.0
    return float(special.stdtrit(min(dfs), 1.0 - alpha / 2.0)) * math.sqrt(var)


def seeds_to_settle(
    sigma: float, margin: float, alpha: float = LOOK_ALPHA, power: float = POWER
) -> int:
    """Seeds per arm to tell an effect of `margin` from none: 2·(z_{1−α/2} + z_power)²·σ²/margin².

    STATS.md gives the 95 % version (z₀.₉₇₅); this uses the level the checks are judged at.
    """
    if not (math.isfinite(margin) and margin > 0):
        raise NoiseSampleError(f"the margin must be a positive number of points, got {margin!r}")
    z = float(special.ndtri(1.0 - alpha / 2.0)) + float(special.ndtri(power))
    need = 2.0 * z * z * sigma * sigma / (margin * margin)
    return int(min(MAX_SETTLE, max(2, math.ceil(need))))


@dataclass(frozen=True)
class SwapJudgement:
    """What one counterfactual arm shows against the candidate band, in numbers and words.

    `points` [`low`, `high`] is e at the `level` interval, in the metric's units, oriented toward
    the baseline; `share*` divide them by `gap` (the positive gap between baseline and candidate).
    `margin` = ρ·gap is the equivalence bound for "excluded". `closes_gap`: explains and `high`
    reaches the baseline. `minor`: explains, yet less than the margin. `more_per_arm` (can't tell
    yet only) is about how many more retrains per arm would settle it at σ ≈ `sigma`.
    """

    outcome: SwapOutcome
    points: float
    low: float
    high: float
    share: float
    share_low: float
    share_high: float
    gap: float
    margin: float
    rho: float
    level: float
    n_reference: int
    n_swapped: int
    sigma: float
    closes_gap: bool
    minor: bool
    more_per_arm: int | None
    words: str


def toward_baseline(gap: float, direction: Direction) -> float:
    """+1 or −1: the sign that turns a raw metric difference into points toward the baseline.

    `gap` is how much better the baseline scores than the candidate, in the metric's better
    direction (negative when the candidate scores better).
    """
    better = 1.0 if direction == "higher" else -1.0
    return better if gap >= 0 else -better


def _outcome(d: Difference, margin: float) -> SwapOutcome:
    if d.low > 0:
        return "explains"
    return "excluded" if d.high < margin else "cant_tell"


def _snap(d: Difference, resolution: float) -> Difference:
    # With no seed spread at all (deterministic arms), a difference under the resolution is none.
    if d.se == 0.0 and abs(d.points) <= resolution:
        return Difference(0.0, 0.0, 0.0, 0.0, d.df, d.sigma, d.n_reference, d.n_swapped, d.level)
    return d


def judge_swap(
    reference: SeedValues,
    swapped: SeedValues,
    gap: float,
    direction: Direction,
    *,
    baseline: float | None = None,
    rho: float = DEFAULT_RHO,
    alpha: float = LOOK_ALPHA,
    resolution: float = 0.0,
    metric: str = "",
) -> SwapJudgement:
    """Judge one counterfactual arm (`swapped`) against the candidate band (`reference`).

    `gap`: how much better the baseline scores than the candidate (metric's better direction).
    `baseline`: the baseline's value, for "closes the gap" (without it, the gap itself is used).
    """
    if not (math.isfinite(gap) and gap != 0.0):
        raise NoiseSampleError(f"a swap needs a non-zero gap to explain, got {gap!r}")
    if not 0.0 < rho < 1.0:
        raise NoiseSampleError(f"rho must lie strictly between 0 and 1, got {rho!r}")
    toward = toward_baseline(gap, direction)
    d = _snap(difference(reference, swapped, toward=toward, alpha=alpha), resolution)
    reach = abs(gap)  # how far the band mean is from the baseline, toward it
    if baseline is not None:
        reach = toward * (baseline - _mean_var(_values(reference, "reference arm"))[0])
    closes = d.high >= reach or within_resolution(d.high, reach, resolution)
    return _with_words(_judgement(d, abs(gap), rho, closes, alpha), metric)


def _judgement(d: Difference, size: float, rho: float, closes: bool, alpha: float) -> SwapJudgement:
    margin = rho * size
    outcome = _outcome(d, margin)
    more = None
    if outcome == "cant_tell":
        need = seeds_to_settle(d.sigma, margin, alpha)
        more = max(1, need - min(d.n_reference, d.n_swapped))
    return SwapJudgement(
        outcome=outcome,
        points=d.points,
        low=d.low,
        high=d.high,
        share=d.points / size,
        share_low=d.low / size,
        share_high=d.high / size,
        gap=size,
        margin=margin,
        rho=rho,
        level=d.level,
        n_reference=d.n_reference,
        n_swapped=d.n_swapped,
        sigma=d.sigma,
        closes_gap=outcome == "explains" and closes,
        minor=outcome == "explains" and d.high < margin,
        more_per_arm=more,
        words="",
    )


def rho_words(rho: float) -> str:
    """ρ in words, before 'the gap': 'a quarter of' for the default, else '0.1 of'."""
    return "a quarter of" if rho == DEFAULT_RHO else f"{rho:g} of"


def _with_words(j: SwapJudgement, metric: str) -> SwapJudgement:
    def num(x: float) -> str:
        return format_number(x, j.gap)

    of_gap = f"of the {num(j.gap)} gap" + (f" in {metric}" if metric else "")
    level = f"{100 * j.level:g} %"
    measured = (
        f"{num(j.points)} {of_gap} ({percent(j.share)}), {level} interval "
        f"[{num(j.low)}, {num(j.high)}]; {count_words(j.n_swapped, 'swapped run')} against "
        f"{count_words(j.n_reference, 'band seed')}"
    )
    bound = f"{num(j.margin)} ({rho_words(j.rho)} the gap)"
    if j.outcome == "explains":
        words = f"explains {measured}"
        if j.closes_gap:
            words += "; it closes the gap: the interval reaches the baseline"
        if j.minor:
            words += f"; a minor share: with {level} confidence less than {bound}"
    elif j.outcome == "excluded":
        words = f"excluded: it explains {measured}; with {level} confidence less than {bound}"
        if j.high < 0:
            words += "; it moves the metric away from the baseline"
    else:
        more = j.more_per_arm or 0
        words = (
            f"can't tell yet: it explains {measured}; the interval holds both 0 and {bound}; "
            f"about {count_words(more, 'more retrain')} per arm would settle it "
            f"(σ ≈ {num(j.sigma)})"
        )
    return replace(j, words=words)


@dataclass(frozen=True)
class BaselinePercentile:
    """Where one value sits in its own pipeline's seed distribution (t-predictive).

    `top_share` is the share of new seeds of that pipeline that would score better than `value`
    (0.04: the value is in the top 4 %); `lucky` is top_share ≤ LUCKY_TOP.
    """

    value: float
    n: int
    mean: float
    std: float
    top_share: float
    lucky: bool
    words: str


def _top_share(value: float, mean: float, std: float, n: int, direction: Direction) -> float:
    better = 1.0 if direction == "higher" else -1.0
    if std == 0.0:
        return 0.5 if value == mean else (0.0 if better * (value - mean) > 0 else 1.0)
    t = better * (value - mean) / (std * math.sqrt(1.0 + 1.0 / n))
    return float(special.stdtr(n - 1, -t))


def baseline_percentile(
    value: float, seeds: SeedValues, direction: Direction, resolution: float = 0.0
) -> BaselinePercentile:
    """The share of its pipeline's seeds that would beat `value`, from n ≥ 2 seeds of it."""
    arr = _values(seeds, "the baseline pipeline's seeds")
    if len(arr) < 2:
        raise NoiseSampleError(f"a percentile needs at least 2 seeds, got {len(arr)}")
    mean, var = _mean_var(arr)
    std = math.sqrt(var or 0.0)
    if std == 0.0 and within_resolution(value, mean, resolution):
        value_for_rank = mean
    else:
        value_for_rank = value
    top = _top_share(value_for_rank, mean, std, len(arr), direction)
    scale = std or abs(mean) or 1.0
    basis = (
        f"t-predictive from {count_words(len(arr), 'seed')}, mean "
        f"{format_number(mean, scale)}, s {format_number(std, scale)}"
    )
    words = _percentile_words(top, basis)
    return BaselinePercentile(
        value=float(value),
        n=len(arr),
        mean=mean,
        std=std,
        top_share=top,
        lucky=top <= LUCKY_TOP,
        words=words,
    )


def _percentile_words(top: float, basis: str) -> str:
    if top <= LUCKY_TOP:
        return (
            f"the baseline was a lucky seed: it lies in the top {percent(top)} of its "
            f"pipeline's seed distribution ({basis})"
        )
    if top <= 0.5:
        return (
            f"the baseline lies in the top {percent(top)} of its pipeline's seed distribution "
            f"({basis}): an ordinary draw"
        )
    return (
        f"the baseline lies in the bottom {percent(1.0 - top)} of its pipeline's seed "
        f"distribution ({basis}): if anything an unlucky draw"
    )
