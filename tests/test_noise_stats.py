"""The seed-noise statistics against shared/STATS.md's figures and against scipy.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from reprodiag.noise import (
    NoiseSampleError,
    band_k,
    min_detectable_effect,
    rank_text,
    seeds_per_arm,
    sigma_interval,
    single_baseline,
    welch_tost,
)
from reprodiag.noise.stats import _two_sample_power


@pytest.mark.parametrize(("n", "k"), [(3, 4.97), (5, 3.04), (10, 2.37), (20, 2.15)])
def test_band_k_matches_stats_md(n: int, k: float) -> None:
    # To 2 decimals; STATS.md's 2.15 at n = 20 is 2.1447 rounded twice (2.145, then 2.15).
    assert band_k(n) == pytest.approx(k, abs=0.006)


def test_band_k_is_the_t_prediction_interval() -> None:
    for n in (3, 7, 40):
        expected = stats.t.ppf(0.975, n - 1) * math.sqrt(1 + 1 / n)
        assert band_k(n) == pytest.approx(expected, rel=1e-10)
    assert band_k(10, alpha=0.10) < band_k(10)


@pytest.mark.parametrize(
    ("n", "low", "high"), [(5, 0.60, 2.87), (10, 0.69, 1.83), (20, 0.76, 1.46)]
)
def test_sigma_interval_matches_stats_md(n: int, low: float, high: float) -> None:
    lo, hi = sigma_interval(1.0, n)
    assert (round(lo, 2), round(hi, 2)) == (low, high)
    lo2, hi2 = sigma_interval(2.5, n)
    assert (lo2, hi2) == pytest.approx((2.5 * lo, 2.5 * hi))


@pytest.mark.parametrize(("d", "n"), [(1.0, 17), (1.5, 9), (2.0, 6), (3.0, 4)])
def test_seeds_per_arm_matches_stats_md(d: float, n: int) -> None:
    assert seeds_per_arm(d) == n


def test_two_sample_power_agrees_with_scipy_noncentral_t() -> None:
    for n, d in [(4, 3.0), (9, 1.5), (17, 1.0)]:
        df, ncp = 2 * n - 2, d * math.sqrt(n / 2)
        crit = stats.t.ppf(0.975, df)
        expected = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
        assert _two_sample_power(n, d, 0.05) == pytest.approx(expected, rel=1e-8)
        assert _two_sample_power(n, d, 0.05) >= 0.8 > _two_sample_power(n - 1, d, 0.05)


def test_seeds_per_arm_rejects_a_zero_effect() -> None:
    with pytest.raises(ValueError, match="positive"):
        seeds_per_arm(0.0)


def test_min_detectable_effect_formula_and_the_3_sigma_floor() -> None:
    for n in (3, 5, 20):
        q = stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)
        assert min_detectable_effect(2.0, n) == pytest.approx(q * 2.0 * math.sqrt(1 + 1 / n))
    # STATS.md: one baseline value cannot resolve shifts under about 3σ, however many retrains.
    assert min_detectable_effect(1.0, 20) == pytest.approx(3.03, abs=0.01)
    floor = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert min_detectable_effect(1.0, 10_000) == pytest.approx(floor, abs=0.01)
    mdes = [min_detectable_effect(1.0, n) for n in (3, 5, 8, 12, 20, 100)]
    assert mdes == sorted(mdes, reverse=True)
    assert min(mdes) > 2.8


def test_single_baseline_statistics() -> None:
    seeds = [0.912, 0.905, 0.915, 0.909, 0.907]
    res = single_baseline(0.94, seeds)
    y = np.array(seeds)
    t = (0.94 - y.mean()) / (y.std(ddof=1) * math.sqrt(1 + 1 / 5))
    assert (res.n, res.df) == (5, 4)
    assert res.mean == pytest.approx(y.mean())
    assert res.std == pytest.approx(y.std(ddof=1))
    assert res.t == pytest.approx(t)
    assert res.p == pytest.approx(2 * stats.t.sf(abs(t), 4))
    assert (res.low, res.high) == pytest.approx(
        (y.mean() - res.k * res.std, y.mean() + res.k * res.std)
    )
    assert res.k == pytest.approx(band_k(5))
    assert res.min_detectable_effect == pytest.approx(min_detectable_effect(res.std, 5))
    assert (res.sigma_low, res.sigma_high) == pytest.approx(sigma_interval(res.std, 5))


def test_band_covers_95_percent_of_new_draws() -> None:
    rng = np.random.default_rng(11)
    y, a = rng.normal(size=(4000, 5)), rng.normal(size=4000)
    k = band_k(5)
    m, s = y.mean(axis=1), y.std(axis=1, ddof=1)
    coverage = np.mean(np.abs(a - m) <= k * s)
    assert coverage == pytest.approx(0.95, abs=0.01)


def test_rank_counts_in_the_metric_direction() -> None:
    seeds = [0.90, 0.91, 0.92, 0.93]
    assert single_baseline(0.925, seeds).rank == 2  # higher is better: only 0.93 beats it
    assert single_baseline(0.925, seeds, direction="lower").rank == 4
    assert single_baseline(0.95, seeds).rank == 1
    assert single_baseline(0.95, seeds, direction="lower").rank == 5
    assert single_baseline(0.92, seeds).rank == 2  # a tied seed does not push it down


def test_rank_text_distribution_free_coverage() -> None:
    seeds19 = list(np.linspace(0.0, 1.0, 19))
    assert rank_text(1.5, seeds19) == (
        "the baseline is above all 19 seed retrains: outside [min, max], a 90 % "
        "distribution-free prediction interval"
    )
    assert "below all 39 seed retrains" in rank_text(-1.0, list(range(39)))
    assert "a 95 % distribution-free" in rank_text(-1.0, list(range(39)))
    assert "a 66.7 % distribution-free" in rank_text(9.0, [1, 2, 3, 4, 5])
    inside = single_baseline(0.52, seeds19).rank_text
    assert inside.startswith("the baseline lies within [min, max] of the 19 seed retrains")
    assert "9 above it, 10 below it" in inside


def test_identical_seeds_do_not_crash() -> None:
    # Deterministic CPU training on identical data: every seed gives the same metric.
    same = single_baseline(0.1, [0.1, 0.1, 0.1])
    assert (same.std, same.t, same.p) == (0.0, 0.0, 1.0)
    assert same.mean == 0.1  # exactly, though np.mean([0.1] * 3) is not
    assert (same.low, same.high, same.sigma_high, same.min_detectable_effect) == (
        0.1,
        0.1,
        0.0,
        0.0,
    )
    assert "equals all 3" in same.rank_text
    above, below = single_baseline(0.2, [0.1] * 4), single_baseline(0.0, [0.1] * 4)
    assert (above.t, above.p) == (math.inf, 0.0)
    assert (below.t, below.p) == (-math.inf, 0.0)


@pytest.mark.parametrize(
    ("baseline", "seeds", "message"),
    [
        (0.9, [0.9, 0.91], "2 value\\(s\\) given, at least 3"),
        (0.9, [], "0 value\\(s\\) given"),
        (0.9, [0.9, float("nan"), 0.91], "finite"),
        (0.9, [0.9, float("inf"), 0.91], "finite"),
        (float("nan"), [0.9, 0.91, 0.92], "baseline metric must be finite"),
    ],
)
def test_single_baseline_rejects_bad_input(
    baseline: float, seeds: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        single_baseline(baseline, seeds)
    assert isinstance(info.value, NoiseSampleError)


@pytest.mark.parametrize("seed", range(5))
def test_welch_agrees_with_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, size=int(rng.integers(3, 20)))
    b = rng.normal(0.7, 2.0, size=int(rng.integers(3, 20)))
    res = welch_tost(a, b, delta=0.5)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert res.t == pytest.approx(ref.statistic, rel=1e-10)
    assert res.p == pytest.approx(ref.pvalue, rel=1e-8)
    assert res.df == pytest.approx(ref.df, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-8)
    assert res.diff == pytest.approx(a.mean() - b.mean())


@pytest.mark.parametrize(("seed", "delta"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0)])
def test_tost_is_the_larger_one_sided_welch_p(seed: int, delta: float) -> None:
    rng = np.random.default_rng(100 + seed)
    a, b = rng.normal(0.0, 1.0, size=12), rng.normal(0.2, 1.0, size=9)
    res = welch_tost(a, b, delta=delta)
    # H0 diff <= -delta, i.e. a - (b - delta) <= 0; H0 diff >= delta, i.e. a - (b + delta) >= 0.
    p_lower = stats.ttest_ind(a, b - delta, equal_var=False, alternative="greater").pvalue
    p_upper = stats.ttest_ind(a, b + delta, equal_var=False, alternative="less").pvalue
    assert res.tost_p == pytest.approx(max(p_lower, p_upper), rel=1e-8)
    assert res.equivalent == (res.tost_p < 0.05)


def test_tost_calls_close_arms_equivalent_and_far_arms_not() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0.0, 0.1, size=20), rng.normal(0.01, 0.1, size=20)
    assert welch_tost(a, b, delta=0.2).equivalent
    assert not welch_tost(a, b + 1.0, delta=0.2).equivalent


def test_welch_with_constant_arms() -> None:
    same = welch_tost([0.1] * 3, [0.1] * 4, delta=0.01)
    assert (same.t, same.p, same.tost_p, same.equivalent) == (0.0, 1.0, 0.0, True)
    apart = welch_tost([0.2] * 3, [0.1] * 4, delta=0.01)
    assert (apart.t, apart.p, apart.equivalent) == (math.inf, 0.0, False)


@pytest.mark.parametrize(
    ("a", "b", "delta", "message"),
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], 1.0, "arm a: 2 value"),
        ([1.0, 2.0, 3.0], [1.0, float("nan"), 3.0], 1.0, "arm b: values must be finite"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.0, "tolerance delta must be positive"),
    ],
)
def test_welch_rejects_bad_input(
    a: list[float], b: list[float], delta: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        welch_tost(a, b, delta=delta)
