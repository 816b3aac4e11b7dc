"""Seed-noise statistics: is an observed metric gap beyond what the seeds alone produce?

Two designs (shared/STATS.md, DESIGN.md "Statistics"):

* single historical baseline: one value ``a`` from the old run, ``n`` seed retrains ``y`` of the
  current pipeline. ``a`` is judged as a new draw from the seeds' distribution (a prediction
  interval): T = (a − ȳ) / (s·√(1 + 1/n)) against Student t(n − 1); the band is ȳ ± k·s.
* both configurations retrainable: Welch's t on the two means plus a TOST equivalence test with a
  tolerance δ.

Quantiles and tail areas come from ``scipy.special`` rather than ``scipy.stats`` distribution
objects: same numbers, about a hundred times less overhead, which keeps the sequential
simulations (tests/test_noise_sequential.py) fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import special

from reprodiag.errors import InputError
from reprodiag.manifest.model import Direction

# Seed metrics as a list, a tuple or a float array (a band-store column).
SeedValues: TypeAlias = Sequence[float] | npt.NDArray[np.floating]
MIN_SEEDS = 3  # below this neither s nor its t quantile says anything useful
MAX_SEEDS_PER_ARM = 100_000


class NoiseSampleError(InputError, ValueError):
    """Seed results that no statistic can be computed from (too few, or not finite)."""


def _t_quantile(q: float, df: float) -> float:
    return float(special.stdtrit(df, q))


def _two_sided_p(t: float, df: float) -> float:
    if math.isinf(t):
        return 0.0
    return float(min(1.0, 2.0 * special.stdtr(df, -abs(t))))


def _check_alpha(alpha: float, name: str = "alpha") -> None:
    if not 0.0 < alpha < 1.0:
        raise NoiseSampleError(f"{name} must lie strictly between 0 and 1, got {alpha!r}")


def _sample(values: SeedValues, what: str, minimum: int = MIN_SEEDS) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size < minimum:
        raise NoiseSampleError(
            f"{what}: {arr.size} value(s) given, at least {minimum} are needed",
            hint=f"retrain at least {minimum} seeds before judging the noise band",
        )
    if not np.all(np.isfinite(arr)):
        raise NoiseSampleError(
            f"{what}: values must be finite, got {arr.tolist()!r}",
            hint="drop failed seed retrains (NaN / inf metrics) before computing the band",
        )
    return arr


def _mean_std(arr: np.ndarray) -> tuple[float, float]:
    # Identical seeds must give s = 0 and their value exactly; np.mean of [0.1]*3 is not 0.1.
    if arr.min() == arr.max():
        return float(arr[0]), 0.0
    return float(arr.mean()), float(arr.std(ddof=1))


def band_k(n: int, alpha: float = 0.05) -> float:
    """Half-width of the prediction band in units of s: k = t_{1−α/2}(n−1)·√(1 + 1/n).

    STATS.md: k = 4.97 (n=3), 3.04 (5), 2.37 (10), 2.15 (20) at α = 0.05.
    """
    if n < 2:
        raise NoiseSampleError(f"the band needs at least 2 seeds, got n = {n}")
    _check_alpha(alpha)
    return _t_quantile(1.0 - alpha / 2.0, n - 1) * math.sqrt(1.0 + 1.0 / n)


def sigma_interval(std: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """(1 − α) CI for the seed σ from (n−1)s²/σ² ~ χ²(n−1).

    STATS.md at α = 0.05: n=5 → [0.60, 2.87]·s, n=10 → [0.69, 1.83]·s, n=20 → [0.76, 1.46]·s.
    """
    if n < 2:
        raise NoiseSampleError(f"a CI for sigma needs at least 2 seeds, got n = {n}")
    _check_alpha(alpha)
    # chdtri(df, q) is the upper-tail quantile: chdtri(df, α/2) is the large one.
    upper_q = float(special.chdtri(n - 1, alpha / 2.0))
    lower_q = float(special.chdtri(n - 1, 1.0 - alpha / 2.0))
    return std * math.sqrt((n - 1) / upper_q), std * math.sqrt((n - 1) / lower_q)


def min_detectable_effect(std: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Shift of a single baseline value that the prediction-interval test detects with `power`.

    MDE = (t_{1−α/2}(n−1) + t_{power}(n−1)) · s · √(1 + 1/n), the usual normal-approximation
    power formula with t quantiles, in the metric's units.

    The √(1 + 1/n) factor never drops below 1: the baseline is a single draw, so its own seed
    noise stays in the comparison however many retrains are run. At n = 20 the MDE is still about
    3σ (STATS.md: one baseline value cannot resolve shifts under about 3σ); retrain the baseline
    configuration (two-sample design, `seeds_per_arm`) when its axes are pinned.
    """
    if n < 2:
        raise NoiseSampleError(f"the minimum detectable effect needs n >= 2, got n = {n}")
    _check_alpha(alpha)
    _check_alpha(power, "power")
    quantiles = _t_quantile(1.0 - alpha / 2.0, n - 1) + _t_quantile(power, n - 1)
    return quantiles * std * math.sqrt(1.0 + 1.0 / n)


def _two_sample_power(n: int, effect_d: float, alpha: float) -> float:
    df = 2 * n - 2
    ncp = effect_d * math.sqrt(n / 2.0)
    crit = _t_quantile(1.0 - alpha / 2.0, df)
    # P(|T'| > crit) for noncentral t; nctdtr(df, nc, t) is its CDF.
    return float(1.0 - special.nctdtr(df, ncp, crit) + special.nctdtr(df, ncp, -crit))


def seeds_per_arm(effect_d: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Smallest seeds per arm for a two-sided two-sample t test to reach `power` at effect d = Δ/σ.

    Exact power from the noncentral t (df = 2n − 2, noncentrality d·√(n/2)), searched upward
    from n = 2. STATS.md at α = 0.05, 80 % power: d = 1 → 17, 1.5 → 9, 2 → 6, 3 → 4.
    """
    if not (math.isfinite(effect_d) and effect_d > 0):
        raise NoiseSampleError(f"effect_d must be a positive number of sigmas, got {effect_d!r}")
    _check_alpha(alpha)
    _check_alpha(power, "power")
    d = abs(effect_d)
    for n in range(2, MAX_SEEDS_PER_ARM + 1):
        if _two_sample_power(n, d, alpha) >= power:
            return n
    raise NoiseSampleError(
        f"effect d = {effect_d} needs more than {MAX_SEEDS_PER_ARM} seeds per arm",
        hint="a shift this small against the seed noise is not worth chasing with retrains",
    )


@dataclass(frozen=True)
class SingleBaseline:
    """One historical baseline value against n seed retrains (prediction-interval test).

    `t` is T = (baseline − mean) / (std·√(1 + 1/n)) on df = n − 1; `p` is two-sided. The band is
    [low, high] = mean ± k·std. `rank` is 1-based among the n seeds plus the baseline, 1 = best in
    the metric's direction ("higher": the largest value ranks 1; "lower": the smallest); seeds
    tied with the baseline do not push it down. `sigma_low`/`sigma_high` is the (1 − α) CI for σ.
    """

    baseline: float
    n: int
    mean: float
    std: float
    t: float
    df: int
    p: float
    k: float
    low: float
    high: float
    rank: int
    rank_text: str
    sigma_low: float
    sigma_high: float
    min_detectable_effect: float
    direction: Direction = "higher"


def _rank(baseline: float, seeds: np.ndarray, direction: Direction) -> int:
    better = seeds > baseline if direction == "higher" else seeds < baseline
    return 1 + int(np.count_nonzero(better))


def _coverage_text(n: int) -> str:
    # [min, max] of n exchangeable draws holds a new draw with probability (n − 1)/(n + 1):
    # 19 seeds → 90 %, 39 → 95 % (STATS.md "Distribution-free companion").
    return f"{100.0 * (n - 1) / (n + 1):.3g} %"


def rank_text(baseline: float, seeds: SeedValues) -> str:
    """The baseline's place among the seeds, with the distribution-free reading of [min, max]."""
    arr = np.asarray(seeds, dtype=float)
    n = arr.size
    lo, hi = float(arr.min()), float(arr.max())
    interval = f"a {_coverage_text(n)} distribution-free prediction interval"
    if baseline > hi:
        return f"the baseline is above all {n} seed retrains: outside [min, max], {interval}"
    if baseline < lo:
        return f"the baseline is below all {n} seed retrains: outside [min, max], {interval}"
    if lo == hi == baseline:
        return f"the baseline equals all {n} seed retrains (every seed gave the same value)"
    above = int(np.count_nonzero(arr > baseline))
    below = int(np.count_nonzero(arr < baseline))
    return (
        f"the baseline lies within [min, max] of the {n} seed retrains "
        f"({above} above it, {below} below it; [min, max] is {interval})"
    )


def _t_statistic(diff: float, scale: float) -> float:
    # s = 0 happens for real: deterministic CPU training on identical data gives identical seeds.
    if scale > 0.0:
        return diff / scale
    if diff == 0.0:
        return 0.0
    return math.copysign(math.inf, diff)


def single_baseline(
    baseline: float,
    seeds: SeedValues,
    alpha: float = 0.05,
    *,
    direction: Direction = "higher",
) -> SingleBaseline:
    """Judge one baseline value against n ≥ 3 finite seed retrains.

    When every seed gave the same value (s = 0, e.g. deterministic CPU training on identical
    data), T is +inf or −inf if the baseline differs from that value (p = 0) and 0 if it equals
    it (p = 1); the band, the σ interval and the MDE are then all zero-width.
    """
    _check_alpha(alpha)
    if not math.isfinite(baseline):
        raise NoiseSampleError(f"baseline metric must be finite, got {baseline!r}")
    y = _sample(seeds, "seed retrains")
    n = int(y.size)
    mean, std = _mean_std(y)
    t = _t_statistic(baseline - mean, std * math.sqrt(1.0 + 1.0 / n))
    k = band_k(n, alpha)
    sigma_low, sigma_high = sigma_interval(std, n, alpha)
    return SingleBaseline(
        baseline=float(baseline),
        n=n,
        mean=mean,
        std=std,
        t=t,
        df=n - 1,
        p=1.0 if t == 0.0 else _two_sided_p(t, n - 1),
        k=k,
        low=mean - k * std,
        high=mean + k * std,
        rank=_rank(baseline, y, direction),
        rank_text=rank_text(baseline, y),
        sigma_low=sigma_low,
        sigma_high=sigma_high,
        min_detectable_effect=min_detectable_effect(std, n, alpha),
        direction=direction,
    )


@dataclass(frozen=True)
class TwoSample:
    """Welch's t and a TOST equivalence test on two arms of seed retrains.

    `diff` = mean_a − mean_b; `t` = diff / se with se = √(s_a²/n_a + s_b²/n_b); `df` is
    Welch–Satterthwaite; `p` is two-sided. TOST tests H0: |diff| ≥ delta; `tost_p` is the larger
    of the two one-sided p values and `equivalent` is tost_p < α. [ci_low, ci_high] is the
    (1 − α) CI of the difference. `min_detectable_effect` is (t_{1−α/2}(df) + t_{0.8}(df))·se.
    """

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    std_a: float
    std_b: float
    diff: float
    t: float
    df: float
    p: float
    delta: float
    tost_p: float
    equivalent: bool
    ci_low: float
    ci_high: float
    min_detectable_effect: float


def _welch_se_df(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    va, vb = _mean_std(a)[1] ** 2 / a.size, _mean_std(b)[1] ** 2 / b.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        # Both arms constant: Welch–Satterthwaite is 0/0; the pooled df is the natural limit.
        return 0.0, float(a.size + b.size - 2)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return se, float(df)


def _tost_p(diff: float, se: float, df: float, delta: float) -> float:
    if se == 0.0:
        return 0.0 if abs(diff) < delta else 1.0
    p_lower = float(special.stdtr(df, -(diff + delta) / se))  # H0: diff ≤ −δ
    p_upper = float(special.stdtr(df, (diff - delta) / se))  # H0: diff ≥ +δ
    return max(p_lower, p_upper)


def welch_tost(a: SeedValues, b: SeedValues, delta: float, alpha: float = 0.05) -> TwoSample:
    """Welch's t test of mean(a) = mean(b) and TOST equivalence within ±delta (arms of n ≥ 3).

    With both arms constant (se = 0) t is ±inf or 0 as in `single_baseline`, and TOST calls the
    arms equivalent exactly when |diff| < delta.
    """
    _check_alpha(alpha)
    if not (math.isfinite(delta) and delta > 0):
        raise NoiseSampleError(f"the TOST tolerance delta must be positive, got {delta!r}")
    xa, xb = _sample(a, "arm a"), _sample(b, "arm b")
    (mean_a, std_a), (mean_b, std_b) = _mean_std(xa), _mean_std(xb)
    diff = mean_a - mean_b
    se, df = _welch_se_df(xa, xb)
    t = _t_statistic(diff, se)
    tost_p = _tost_p(diff, se, df, delta)
    half = _t_quantile(1.0 - alpha / 2.0, df) * se
    return TwoSample(
        n_a=int(xa.size),
        n_b=int(xb.size),
        mean_a=mean_a,
        mean_b=mean_b,
        std_a=std_a,
        std_b=std_b,
        diff=diff,
        t=t,
        df=df,
        p=1.0 if t == 0.0 else _two_sided_p(t, df),
        delta=float(delta),
        tost_p=tost_p,
        equivalent=tost_p < alpha,
        ci_low=diff - half,
        ci_high=diff + half,
        min_detectable_effect=(half + _t_quantile(0.8, df) * se),
    )
