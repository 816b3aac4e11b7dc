"""Sequential stopping: the decision rules, and their simulated operating characteristics.

The simulations feed numpy-drawn incidents through the real `decide_single` / `decide_two_sample`
and print a table of what they did next to shared/STATS.md's figures. Only the naive
"p < 0.05 at every look" rule, which reprodiag does not offer, runs through a vectorised twin,
and a test checks that twin against `decide_single` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import special

from reprodiag.noise import (
    LOOKS,
    POCOCK_SINGLE,
    Decision,
    SingleBaseline,
    TwoSample,
    decide_single,
    decide_two_sample,
    next_look,
)

INCIDENTS = 6000
TWIN_INCIDENTS = 20_000
MAX_N = LOOKS[-1]


def _unit_normal(n: int, seed: int = 0) -> np.ndarray:
    """n seeds with mean exactly 0 and std exactly 1, so T is easy to set by hand."""
    z = np.random.default_rng(seed).normal(size=n)
    return (z - z.mean()) / z.std(ddof=1)


# ---------------------------------------------------------------- rules, case by case


def test_next_look() -> None:
    assert [next_look(n) for n in (0, 3, 4, 5, 12, 19, 20, 30)] == [3, 5, 5, 8, 20, 20, None, None]


def test_beyond_noise_states_t_p_and_the_band() -> None:
    d = decide_single(2.0, [0.0, 0.1, -0.1, 0.05, -0.05])
    assert (d.outcome, d.n, d.stop, d.next_n) == ("beyond noise", 5, True, None)
    assert isinstance(d.test, SingleBaseline)
    assert re.fullmatch(
        r"n = 5: T = \d+\.\d\d, p = \S+ < 0\.0175 \(Pocock boundary\): the "
        r"baseline lies beyond the seed-noise band \[\S+, \S+\]",
        d.reason,
    )


def test_futility_from_n_5_only() -> None:
    at5 = decide_single(0.3, _unit_normal(5))
    assert at5.outcome == "consistent with noise"
    assert at5.reason == (
        "n = 5: |T| = 0.27 < 1: futility: consistent with noise "
        "(no evidence of a shift of about 3σ or more)"
    )
    at3 = decide_single(0.3, _unit_normal(3))
    assert (at3.outcome, at3.stop, at3.next_n) == (None, False, 5)
    assert "futility not yet checked: continue to n = 5" in at3.reason


def test_twenty_seeds_undecided_is_inconclusive_with_the_mde() -> None:
    d = decide_single(1.8, _unit_normal(20))  # T = 1.76, p = 0.0951
    assert (d.outcome, d.stop, d.next_n) == ("inconclusive", True, None)
    assert d.reason.startswith("n = 20 reached undecided: inconclusive (T = 1.76, p = 0.0951)")
    # Not "3.03 points": the decision does not know the metric, and "1 points" reads broken.
    assert "the minimum detectable effect is 3.03 in the metric's units" in d.reason


def test_between_looks_keeps_going() -> None:
    d = decide_single(5.0, _unit_normal(6))
    assert (d.outcome, d.stop, d.next_n) == (None, False, 8)
    assert d.reason == "n = 6: between looks; next look at n = 8"
    assert isinstance(d.test, SingleBaseline) and d.test.n == 6


def test_final_decides_with_what_there_is() -> None:
    assert decide_single(0.3, _unit_normal(6), final=True).outcome == "consistent with noise"
    d = decide_single(2.5, _unit_normal(8), final=True)
    assert d.outcome == "inconclusive"
    assert d.reason.startswith("n = 8 (no more seeds: budget spent or retrains failed) undecided")
    assert decide_single(9.0, _unit_normal(4), final=True).outcome == "beyond noise"


def test_past_the_last_look_decides() -> None:
    assert decide_single(1.8, _unit_normal(25)).outcome == "inconclusive"


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_few_seeds(n: int) -> None:
    waiting = decide_single(0.9, [0.9] * n)
    assert (waiting.outcome, waiting.stop, waiting.next_n, waiting.test) == (None, False, 3, None)
    final = decide_single(0.9, [0.9] * n, final=True)
    assert (final.outcome, final.stop, final.test) == ("inconclusive", True, None)
    assert final.reason == f"only {n} seed(s) finished: at least 3 are needed"


def test_identical_seeds_decide_at_once() -> None:
    same = decide_single(0.1, [0.1, 0.1, 0.1])
    assert (same.outcome, same.n) == ("consistent with noise", 3)
    assert "gave exactly the baseline value 0.1 (s = 0)" in same.reason
    moved = decide_single(0.12, [0.1, 0.1, 0.1])
    assert moved.outcome == "beyond noise"
    assert "T = inf, p = 0" in moved.reason


def test_two_sample_rules() -> None:
    base = _unit_normal(5)
    far = decide_two_sample(base, base + 6.0, delta=1.0)
    assert far.outcome == "beyond noise" and isinstance(far.test, TwoSample)
    assert re.match(
        r"n = 5 per arm: Welch t = -\d+\.\d\d \(df 8\.0\), p = \S+ < 0\.0158 "
        r"\(Pocock boundary\)",
        far.reason,
    )
    close = decide_two_sample(_unit_normal(12, 1), _unit_normal(12, 2) + 0.05, delta=1.5)
    assert close.outcome == "consistent with noise"
    assert "equivalent within ±1.5" in close.reason
    undecided = decide_two_sample(_unit_normal(20, 1), _unit_normal(20, 2) + 0.5, delta=0.3)
    assert undecided.outcome == "inconclusive"
    assert "n = 20 per arm reached undecided" in undecided.reason
    assert "minimum detectable difference" in undecided.reason


def test_two_sample_looks_follow_the_smaller_arm() -> None:
    d = decide_two_sample(_unit_normal(8), _unit_normal(4), delta=0.1)
    assert (d.n, d.outcome, d.next_n) == (4, None, 5)
    assert decide_two_sample(_unit_normal(8), [0.0, 1.0], delta=0.1, final=True).reason == (
        "only 2 seed(s) finished: at least 3 are needed"
    )


# ---------------------------------------------------------------- simulated incidents


@dataclass(frozen=True)
class Scenario:
    name: str
    shift: float  # in units of the seed σ
    noise: str  # "normal" or "t3"
    seed: int


@dataclass(frozen=True)
class Operating:
    scenario: str
    incidents: int
    beyond: float  # share of incidents called "beyond noise"
    mean_seeds: float
    stats_md: str


SCENARIOS = (
    Scenario("no shift", 0.0, "normal", 1),
    Scenario("shift 3σ", 3.0, "normal", 2),
    Scenario("shift 6σ", 6.0, "normal", 3),
    Scenario("shift 10σ", 10.0, "normal", 4),
    Scenario("no shift, t3 noise", 0.0, "t3", 5),
)
STATS_MD = {
    "no shift": "5.1 %, 8.8 seeds",
    "shift 3σ": "70 %",
    "shift 6σ": "99.9 %, 4.7 seeds",
    "shift 10σ": "100 %, 3.5 seeds",
    "no shift, t3 noise": "7.8 %",
}


def _incidents(sc: Scenario, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Baselines (count,) and 20 seed retrains each (count, 20), in units of the seed σ."""
    rng = np.random.default_rng(sc.seed)
    if sc.noise == "t3":
        return rng.standard_t(3, size=count) + sc.shift, rng.standard_t(3, size=(count, MAX_N))
    return rng.normal(size=count) + sc.shift, rng.normal(size=(count, MAX_N))


def _run_single(baseline: float, seeds: np.ndarray) -> Decision:
    for n in LOOKS:
        decision = decide_single(float(baseline), seeds[:n])
        if decision.stop:
            return decision
    raise AssertionError("decide_single did not stop at n = 20")


def _operating(sc: Scenario) -> Operating:
    baselines, seeds = _incidents(sc, INCIDENTS)
    decisions = [_run_single(a, y) for a, y in zip(baselines, seeds, strict=True)]
    beyond = np.mean([d.outcome == "beyond noise" for d in decisions])
    return Operating(
        sc.name,
        INCIDENTS,
        float(beyond),
        float(np.mean([d.n for d in decisions])),
        STATS_MD[sc.name],
    )


def _twin(
    baselines: np.ndarray, seeds: np.ndarray, boundary: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised decide_single at each look: outcome code (b/c/i) and seeds used per incident."""
    outcome = np.full(baselines.size, "", dtype="<U1")
    used = np.zeros(baselines.size, dtype=int)
    for n in LOOKS:
        y = seeds[:, :n]
        t = (baselines - y.mean(axis=1)) / (y.std(axis=1, ddof=1) * np.sqrt(1 + 1 / n))
        p = 2 * special.stdtr(n - 1, -np.abs(t))
        open_ = outcome == ""
        beyond = open_ & (p < boundary)
        futile = open_ & ~beyond & (n >= 5) & (np.abs(t) < 1)
        last = open_ & ~beyond & ~futile & (n == MAX_N)
        for code, mask in (("b", beyond), ("c", futile), ("i", last)):
            outcome[mask], used[mask] = code, n
    return outcome, used


@pytest.fixture(scope="module")
def operating() -> dict[str, Operating]:
    return {sc.name: _operating(sc) for sc in SCENARIOS}


@pytest.fixture(scope="module")
def naive() -> Operating:
    baselines, seeds = _incidents(Scenario("naive", 0.0, "normal", 6), TWIN_INCIDENTS)
    outcome, used = _twin(baselines, seeds, boundary=0.05)
    return Operating(
        "no shift, naive p < 0.05 (twin)",
        TWIN_INCIDENTS,
        float(np.mean(outcome == "b")),
        float(used.mean()),
        "12.3 %",
    )


@pytest.fixture(scope="module")
def two_sample_null() -> Operating:
    rng = np.random.default_rng(7)
    count, decisions = 2000, []
    a, b = rng.normal(size=(count, MAX_N)), rng.normal(size=(count, MAX_N))
    for xa, xb in zip(a, b, strict=True):
        for n in LOOKS:
            d = decide_two_sample(xa[:n], xb[:n], delta=1.0)
            if d.stop:
                break
        decisions.append(d)
    beyond = np.mean([d.outcome == "beyond noise" for d in decisions])
    return Operating(
        "two-sample, no shift, δ = 1σ",
        count,
        float(beyond),
        float(np.mean([d.n for d in decisions])),
        "≈ 5 %",
    )


def _half_ci(r: Operating) -> float:
    return 1.96 * float(np.sqrt(r.beyond * (1 - r.beyond) / r.incidents))


def test_print_operating_characteristics(
    operating: dict[str, Operating],
    naive: Operating,
    two_sample_null: Operating,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [*operating.values(), naive, two_sample_null]
    lines = [
        f"{'scenario':<34}{'incidents':>10}{'beyond noise (95 % CI)':>24}"
        f"{'mean seeds':>12}   STATS.md"
    ]
    lines += [
        f"{r.scenario:<34}{r.incidents:>10}{r.beyond:>11.1%} ± {_half_ci(r):>4.1%}"
        f"{'':>4}{r.mean_seeds:>12.2f}   {r.stats_md}"
        for r in rows
    ]
    with capsys.disabled():
        print(
            "\nSequential seed-noise decisions, simulated (beyond noise = false alarm when "
            "there is no shift):\n" + "\n".join(lines)
        )


def test_no_shift_false_alarms_hold_near_5_percent(operating: dict[str, Operating]) -> None:
    null = operating["no shift"]
    assert null.beyond <= 0.06
    assert null.mean_seeds == pytest.approx(8.8, abs=0.5)


def test_large_shifts_are_found_fast(operating: dict[str, Operating]) -> None:
    six, ten = operating["shift 6σ"], operating["shift 10σ"]
    assert six.beyond >= 0.99 and six.mean_seeds < 5.5
    assert ten.beyond >= 0.999 and ten.mean_seeds < 4.0


def test_a_3_sigma_shift_is_found_about_70_percent(operating: dict[str, Operating]) -> None:
    assert operating["shift 3σ"].beyond == pytest.approx(0.70, abs=0.05)


def test_two_sample_false_alarms_hold_near_5_percent(two_sample_null: Operating) -> None:
    assert two_sample_null.beyond <= 0.06


def test_naive_p_005_at_every_look_inflates_false_alarms(naive: Operating) -> None:
    # Why the Pocock boundary exists: five looks at 0.05 each more than double the error rate.
    assert naive.beyond > 0.09


def test_twin_agrees_with_decide_single() -> None:
    rng = np.random.default_rng(42)
    count = 240
    shifts = rng.uniform(0.0, 8.0, size=count) * rng.choice([-1.0, 1.0], size=count)
    scale = rng.uniform(0.001, 5.0, size=count)[:, None]
    noise = np.where(
        rng.random((count, 1)) < 0.5,
        rng.normal(size=(count, MAX_N + 1)),
        rng.standard_t(3, size=(count, MAX_N + 1)),
    )
    baselines, seeds = (noise[:, 0] + shifts) * scale[:, 0], noise[:, 1:] * scale
    outcome, used = _twin(baselines, seeds, boundary=POCOCK_SINGLE)
    codes = {"beyond noise": "b", "consistent with noise": "c", "inconclusive": "i"}
    real = [_run_single(a, y) for a, y in zip(baselines, seeds, strict=True)]
    assert [codes[str(d.outcome)] for d in real] == outcome.tolist()
    assert [d.n for d in real] == used.tolist()
    assert set(outcome.tolist()) == {"b", "c", "i"}  # every branch exercised


def test_two_sample_words_give_both_arm_sizes_when_they_differ() -> None:
    rng = np.random.default_rng(3)
    a, b = list(rng.normal(0.0, 1.0, 5)), list(rng.normal(9.0, 1.0, 3))
    words = decide_two_sample(a, b, delta=0.5).reason
    assert words.startswith("n = 5 and 3 (the look is set by the smaller arm): Welch t"), words
    same = decide_two_sample(a[:3], b, delta=0.5).reason
    assert same.startswith("n = 3 per arm: Welch t"), same
