"""The statistics of "verdicts that are true" (issue 12): counterfactual judgements and the policy.

Unit tests of reprodiag/noise/counterfactual.py and reprodiag/confirm/policy.py, then a
simulation that drives `Investigation` with synthetic normal draws and checks its operating
characteristics. Print the simulation's table with:

    .venv/bin/python -m pytest -q -s tests/test_confirm_policy.py -k simulation
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from reprodiag.confirm.policy import (
    BASELINE_BAND,
    CANDIDATE_BAND,
    SEED_REPLAY,
    Axis,
    Findings,
    Incident,
    Investigation,
    PolicyError,
    Request,
    investigate,
)
from reprodiag.noise.counterfactual import (
    LOOK_ALPHA,
    baseline_percentile,
    count_words,
    format_number,
    judge_swap,
    linear_half_width,
    percent,
    seeds_to_settle,
    within_resolution,
)
from reprodiag.noise.stats import NoiseSampleError

# ---------------------------------------------------------------- counterfactual.py

BAND = [0.80, 0.82, 0.78, 0.81, 0.79]  # mean 0.80, s ≈ 0.0158


def test_explains_with_points_interval_and_closing_the_gap() -> None:
    j = judge_swap(
        BAND, [0.87, 0.89, 0.88, 0.86, 0.90], 0.08, "higher", baseline=0.88, metric="acc"
    )
    assert j.outcome == "explains" and j.low > 0 and j.closes_gap and not j.minor
    assert j.points == pytest.approx(0.08) and j.share == pytest.approx(1.0)
    assert j.words.startswith("explains 0.0800 of the 0.0800 gap in acc (100 %), 99 % interval [")
    assert "it closes the gap" in j.words and j.more_per_arm is None


def test_excluded_only_by_equivalence_and_says_rho() -> None:
    swapped = [v + 0.001 for v in BAND * 4]
    j = judge_swap(BAND * 4, swapped, 0.08, "higher")
    assert j.outcome == "excluded" and j.high < j.margin == pytest.approx(0.02)
    assert "less than 0.0200 (a quarter of the gap)" in j.words and "99 %" in j.words
    other = judge_swap(BAND * 4, swapped, 0.08, "higher", rho=0.1)
    assert "(0.1 of the gap)" in other.words


def test_issue_12_single_run_interval_holding_0_and_the_gap_is_cant_tell() -> None:
    # The issue's case: one swap run, interval [-0.36, 2.59] holds both 0 and the 0.80 gap.
    band = [0.0, 0.5, -0.5]
    j = judge_swap(band, [1.1], 0.80, "higher")
    assert j.low < 0 < 0.80 < j.high and j.outcome == "cant_tell"
    assert j.words.startswith("can't tell yet") and "ruled out" not in j.words
    assert f"about {j.more_per_arm} more retrains per arm would settle it" in j.words
    # With one swap run the band's s stands for both arms: t(n − 1)·s·√(1/n + 1).
    half = 9.925 * 0.5 * math.sqrt(1 / 3 + 1)  # t(0.995, 2) = 9.925
    assert j.high - j.points == pytest.approx(half, rel=1e-3)


def test_direction_lower_and_a_candidate_that_scores_better() -> None:
    lower = judge_swap([0.5, 0.52, 0.48], [0.30, 0.31, 0.29], 0.2, "lower")  # loss: lower wins
    assert lower.outcome == "explains" and lower.points == pytest.approx(0.2)
    flipped = judge_swap([0.5, 0.52, 0.48], [0.30, 0.31, 0.29], -0.2, "higher")
    assert flipped.outcome == "explains" and flipped.points == pytest.approx(0.2)


def test_deterministic_arms_judged_to_the_resolution() -> None:
    same = judge_swap([0.9] * 3, [0.9 + 1e-7] * 3, 0.05, "higher", resolution=1e-6)
    assert same.outcome == "excluded" and same.points == 0.0
    moved = judge_swap([0.9] * 3, [0.95] * 3, 0.05, "higher", resolution=1e-6)
    assert moved.outcome == "explains" and moved.closes_gap


def test_seeds_to_settle_matches_the_formula() -> None:
    # 2·(1.96 + 0.84)²/1² = 15.7 → 16 at 95 %; STATS.md's exact-t table says 17 for d = 1.
    assert seeds_to_settle(1.0, 1.0, alpha=0.05) == 16
    assert seeds_to_settle(1.0, 1.0) == 24  # 2·(2.576 + 0.842)² = 23.4 at the 99 % looks
    assert seeds_to_settle(2.0, 0.5, alpha=0.05) == 252
    with pytest.raises(NoiseSampleError):
        seeds_to_settle(1.0, 0.0)


def test_baseline_percentile_in_the_better_direction() -> None:
    lucky = baseline_percentile(0.84, BAND, "higher")
    assert lucky.lucky and lucky.top_share < 0.1
    assert lucky.words.startswith("the baseline was a lucky seed: it lies in the top ")
    assert baseline_percentile(0.76, BAND, "lower").top_share == pytest.approx(lucky.top_share)
    ordinary = baseline_percentile(0.80, BAND, "higher")
    assert ordinary.top_share == pytest.approx(0.5) and "an ordinary draw" in ordinary.words
    assert "bottom" in baseline_percentile(0.70, BAND, "higher").words
    assert baseline_percentile(0.9, [0.9, 0.9], "higher").top_share == 0.5


def test_words_helpers() -> None:
    assert within_resolution(0.1 + 0.2, 0.3, 0.0) and not within_resolution(0.80, 0.81, 0.005)
    assert within_resolution(0.80, 0.804, 0.005)
    assert (count_words(1, "retrain"), count_words(2, "retrain")) == ("1 retrain", "2 retrains")
    assert format_number(0.0249, 0.0249) == "0.0249" and format_number(0.8, 0.8) == "0.800"
    assert format_number(-1e-9, 0.8) == "0.000" and format_number(12.345, 4.0) == "12.35"
    assert (percent(0.042), percent(0.78), percent(-1e-17)) == ("4.2 %", "78 %", "0 %")


def test_linear_half_width() -> None:
    # Σ over one arm: the mean's own t interval.
    assert linear_half_width([(1.0, [0.0, 1.0, 2.0])]) == pytest.approx(9.925 / math.sqrt(3), 1e-3)
    assert linear_half_width([(1.0, [1.0])]) is None
    borrowed = linear_half_width([(1.0, [1.0]), (0.0, [1.0, 2.0])], sigma=1.0, sigma_df=2)
    assert borrowed == pytest.approx(9.925, 1e-3)


# ---------------------------------------------------------------- policy.py


def _streams(means: Mapping[str, float], seed: int = 0, sd: float = 1.0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {arm: list(rng.normal(mean, sd, size=40)) for arm, mean in means.items()}


def _from_streams(streams: Mapping[str, Sequence[float | None]]):
    """A retrainer that hands out each arm's stream in order: the same values at every budget."""
    used: Counter[str] = Counter()

    def retrain(request: Request) -> list[float | None]:
        start = used[request.arm]
        used[request.arm] += request.count
        return list(streams[request.arm][start : start + request.count])

    return retrain


def test_zero_and_tiny_gaps_stop_at_once() -> None:
    for candidate in (0.91, 0.9100004):
        inv = Investigation(Incident(baseline=0.91, candidate=candidate, resolution=1e-6))
        assert inv.next_batch() == ()
        f = inv.findings()
        assert (f.conclusion.kind, f.retrains, f.checks) == ("reproduces", 0, ())
        assert "no retrain is needed" in f.conclusion.sentence
    exact = Investigation(Incident(baseline=0.91, candidate=0.91)).findings()
    assert "metric-exact" in exact.conclusion.sentence


def test_smoke_failure_stops_at_once() -> None:
    incident = Incident(baseline=0.9, candidate=0.8, swaps={"data": "pinned_snapshot"})
    f = investigate(incident, lambda request: [None] * request.count)
    assert f.conclusion.kind == "trainer failed" and f.retrains == 1
    assert f.log == (f.log[0],) and f.log[0].arm == CANDIDATE_BAND and "smoke" in f.log[0].why


def test_a_check_whose_retrains_all_failed_is_never_judged() -> None:
    streams = _streams({CANDIDATE_BAND: 0.0}) | {"pinned_snapshot": [None] * 40}
    incident = Incident(baseline=3.0, candidate=0.0, swaps={"data": "pinned_snapshot"})
    f = investigate(incident, _from_streams(streams))
    (check,) = f.checks
    assert check.outcome == "cant_tell" and check.judgement is None
    assert check.words == "can't tell yet: its retrains failed (3 of 3)"
    assert sum(r.arm == "pinned_snapshot" for r in f.log) == 1  # abandoned after its round
    assert math.isnan(float("nan")) and _clean_is_failure()


def _clean_is_failure() -> bool:
    inv = Investigation(Incident(baseline=3.0, candidate=0.0))
    inv.next_batch()
    inv.record(CANDIDATE_BAND, [float("nan")])
    return inv.findings().conclusion.kind == "trainer failed"


def test_exact_seed_replay_means_the_seed_never_beyond_noise() -> None:
    # Best of 10 seeds against the worst, all else identical, deterministic training: the band
    # alone (n = 3) says "beyond noise"; the seed replay reproduces the baseline exactly.
    incident = Incident(
        baseline=0.9,
        candidate=0.78,
        identical_pipelines=True,
        seed_replay=True,
        deterministic=True,
    )
    streams = {CANDIDATE_BAND: [0.80, 0.81, 0.79], SEED_REPLAY: [0.9]}
    f = investigate(incident, _from_streams(streams))
    assert f.band.decision is not None and f.band.decision.outcome == "beyond noise"
    assert (
        f.band.outcome == "unusual baseline draw" and "not evidence of a regression" in f.band.words
    )
    assert f.replay is not None and f.replay.exact and f.replay.outcome == "explains"
    assert f.conclusion.kind == "lucky baseline" and not f.conclusion.claims_regression
    assert "the gap is the seed" in f.conclusion.sentence and "lucky seed" in f.conclusion.sentence
    assert f.retrains == 4 and [r.points for r in f.attribution] == [pytest.approx(0.12)]


def test_identical_pipelines_band_beyond_noise_is_a_lucky_draw_or_unrecorded() -> None:
    incident = Incident(baseline=0.9, candidate=0.78, identical_pipelines=True)
    lucky = investigate(incident, _from_streams({CANDIDATE_BAND: [0.80, 0.81, 0.79]}))
    assert lucky.conclusion.kind == "lucky baseline"
    assert lucky.band.outcome == "unusual baseline draw"
    assert lucky.remainder.points == pytest.approx(0.0, abs=1e-12) and lucky.remainder.high == 0.0
    assert [r.label.split(" (")[0] for r in lucky.attribution] == [
        "the candidate run's own seed",
        "the baseline run's own seed",
    ]
    far = investigate(incident, _from_streams({CANDIDATE_BAND: [0.800, 0.801, 0.799]}))
    assert far.conclusion.kind == "can't tell yet" and "unrecorded" in far.conclusion.sentence
    assert far.band.outcome == "beyond noise"


def test_stored_band_inside_decides_without_retrains() -> None:
    stored = (0.80, 0.82, 0.78, 0.81, 0.79)
    incident = Incident(
        baseline=0.805, candidate=0.78, identical_pipelines=True, stored_band=stored
    )
    inv = Investigation(incident)
    assert inv.next_batch() == ()
    f = inv.findings()
    assert f.conclusion.kind == "within noise" and f.retrains == 0
    assert f.stop_reason is not None and f.stop_reason.startswith("no retrain needed")


def test_stored_first_look_makes_the_seed_replay_the_smoke_check() -> None:
    """With the candidate band's first look in the store, the first retrain is the seed replay,
    and it is the smoke check: no band seed runs that the first look does not need (the demo's
    unpinned scenario used to run one, then report n = 3 beside 4 band rows)."""
    stored = (0.700, 0.702, 0.698)  # the baseline 0.80 lies far beyond: decided at n = 3
    incident = Incident(baseline=0.80, candidate=0.70, seed_replay=True, stored_band=stored)
    inv = Investigation(incident)
    (first,) = inv.next_batch()
    assert (first.arm, first.count, first.smoke) == (SEED_REPLAY, 1, True)
    assert "also the seed replay" in first.why and "baseline's seeds" in first.why
    inv.record(SEED_REPLAY, [0.701])
    while batch := inv.next_batch():
        for request in batch:
            assert request.arm != CANDIDATE_BAND, request
            inv.record(request.arm, [0.70] * request.count)
    f = inv.findings()
    assert f.smoke_arm == SEED_REPLAY
    assert not [a for a in f.spent if a.arm == CANDIDATE_BAND]  # no band seed was run
    assert f.band.n == 3 and f.band.outcome == "beyond noise"


def test_a_failed_seed_replay_smoke_stops_as_trainer_failed() -> None:
    stored = (0.700, 0.702, 0.698)
    incident = Incident(baseline=0.80, candidate=0.70, seed_replay=True, stored_band=stored)
    f = investigate(incident, lambda request: [None] * request.count)
    assert f.conclusion.kind == "trainer failed" and f.retrains == 1
    assert [(a.arm, a.retrains, a.failed) for a in f.spent] == [(SEED_REPLAY, 1, 1)]
    assert f.stop_reason is not None and "smoke retrain failed" in f.stop_reason


def test_the_smoke_check_stays_a_band_seed_below_the_first_look() -> None:
    for stored in ((), (0.70,), (0.70, 0.702)):
        incident = Incident(baseline=0.80, candidate=0.70, seed_replay=True, stored_band=stored)
        (first,) = Investigation(incident).next_batch()
        assert (first.arm, first.count, first.smoke) == (CANDIDATE_BAND, 1, True), stored
    # the first look stored but no seed replay possible: the smoke check is one more band seed
    incident = Incident(baseline=0.80, candidate=0.70, stored_band=(0.70, 0.702, 0.698))
    (first,) = Investigation(incident).next_batch()
    assert (first.arm, first.smoke) == (CANDIDATE_BAND, True)


def test_an_ensemble_smoke_check_is_the_first_look_and_fails_only_as_a_whole() -> None:
    """A trainer with an ensemble form: the smoke check is the band's first look, trained as one
    ensemble; one diverged seed is a failed seed, all of them failed is a trainer that fails."""
    incident = Incident(baseline=0.80, candidate=0.70, seed_replay=True, ensembles=True)
    inv = Investigation(incident)
    (first,) = inv.next_batch()
    assert (first.arm, first.count, first.smoke) == (CANDIDATE_BAND, 3, True)
    assert "one ensemble" in first.why
    inv.record(CANDIDATE_BAND, [0.70, None, 0.701])  # one replica diverged
    (second,) = inv.next_batch()
    assert (second.arm, second.count, second.smoke) == (CANDIDATE_BAND, 1, False)
    assert inv.conclusion().kind != "trainer failed"

    failed = investigate(incident, lambda request: [None] * request.count)
    assert failed.conclusion.kind == "trainer failed" and failed.retrains == 3
    assert failed.stop_reason is not None and "smoke retrain failed" in failed.stop_reason
    # a budget smaller than the first look: the smoke check fits the budget
    small = Incident(baseline=0.80, candidate=0.70, ensembles=True, budget=2)
    (only,) = Investigation(small).next_batch()
    assert (only.arm, only.count) == (CANDIDATE_BAND, 2)


def test_the_stop_reason_names_a_baseline_that_cannot_be_retrained() -> None:
    """The demo's unpinned scenario: beyond the candidate's band, the baseline pipeline cannot
    be retrained, nothing else to run. The stop reason said only "every check the conclusion
    rests on is decided" beside a "can't tell yet"; it now names what a retrain cannot reach."""
    incident = Incident(
        baseline=0.85, candidate=0.80, seed_replay=True, baseline_why="its data was unpinned"
    )
    f = investigate(incident, lambda request: [0.800, 0.802, 0.798][: request.count])
    assert f.conclusion.kind == "can't tell yet"
    assert f.stop_reason is not None
    assert "the baseline pipeline, whose own seeds would say more, cannot be retrained here" in (
        f.stop_reason
    )
    # a baseline that can be retrained keeps the plain words
    retrainable = Incident(baseline=0.85, candidate=0.80, identical_pipelines=True)
    g = investigate(retrainable, lambda request: [0.800, 0.802, 0.798][: request.count])
    assert g.stop_reason is not None and "cannot be retrained" not in g.stop_reason


def test_explained_and_the_shares_add_up() -> None:
    means = {CANDIDATE_BAND: 0.0, "pinned_snapshot": 3.0, "intent_swap": 0.0}
    incident = Incident(
        baseline=3.0, candidate=0.0, swaps={"data": "pinned_snapshot", "intent": "intent_swap"}
    )
    f = investigate(incident, _from_streams(_streams(means, seed=3, sd=0.2)))
    outcomes = {c.axis: c.outcome for c in f.checks}
    assert outcomes == {"data": "explains", "intent": "excluded"}
    assert f.conclusion.kind == "explained" and f.conclusion.claims_regression
    assert f.conclusion.sentence.startswith("the gap is explained: the data change")
    assert "intent: excluded" in f.conclusion.sentence
    total = sum(r.points for r in f.attribution) + f.remainder.points
    assert total == pytest.approx(abs(f.gap))
    assert "add up to the 3.00 gap" in f.attribution_words


def test_remainder_said_when_the_rows_do_not_add_up() -> None:
    # The baseline pipeline is 3σ better, yet neither swap moves anything: an interaction.
    means = {CANDIDATE_BAND: 0.0, BASELINE_BAND: 3.0, "pinned_snapshot": 0.0, "intent_swap": 0.0}
    incident = Incident(
        baseline=3.0,
        candidate=0.0,
        swaps={"data": "pinned_snapshot", "intent": "intent_swap"},
        baseline_retrainable=True,
    )
    f = investigate(incident, _from_streams(_streams(means, seed=5, sd=0.2)))
    assert f.pipelines is not None and f.pipelines.outcome == "differ"
    assert f.conclusion.kind == "can't tell yet" and f.conclusion.claims_regression
    assert "not yet attributed" in f.conclusion.sentence
    assert f.attribution_words.startswith("the measured rows do not add up to the 3.00 gap")


def test_rows_add_up_exactly_when_the_swap_arm_is_the_baseline_pipeline() -> None:
    # The demo's shape: data is the only change, so the pinned-snapshot arm is the baseline
    # pipeline; its coefficients cancel and the remainder is 0 by construction (it was a float's
    # 1e-16, printed as "do not add up: 0.00 [0.00, 0.00]").
    means = {CANDIDATE_BAND: 80.0, "pinned_snapshot": 85.0}
    incident = Incident(
        baseline=85.15,
        candidate=80.04,
        swaps={"data": "pinned_snapshot"},
        baseline_arm="pinned_snapshot",
    )
    for seed in range(20):
        f = investigate(incident, _from_streams(_streams(means, seed=seed, sd=0.7)))
        assert f.conclusion.kind == "explained"
        assert f.remainder.points == 0.0
        assert "do not add up" not in f.attribution_words, f.attribution_words


def test_lucky_baseline_from_the_baselines_own_band() -> None:
    means = {CANDIDATE_BAND: 0.0, BASELINE_BAND: 0.0, "pinned_snapshot": 0.0}
    incident = Incident(
        baseline=0.25,
        candidate=-0.05,
        swaps={"data": "pinned_snapshot"},
        baseline_retrainable=True,
        budget=60,
    )
    f = investigate(incident, _from_streams(_streams(means, seed=11, sd=0.1)))
    assert f.pipelines is not None and f.pipelines.outcome == "equivalent"
    assert f.conclusion.kind == "lucky baseline" and not f.conclusion.claims_regression
    assert f.percentile is not None and f.percentile.lucky
    assert "the baseline was a lucky seed: it lies in the top" in f.conclusion.sentence


def test_one_value_baseline_beyond_the_band_is_not_a_regression() -> None:
    means = {CANDIDATE_BAND: 0.0, "pinned_snapshot": 0.0}
    incident = Incident(baseline=1.0, candidate=0.0, swaps={"data": "pinned_snapshot"})
    f = investigate(incident, _from_streams(_streams(means, seed=2, sd=0.1)))
    assert f.band.outcome == "beyond noise" and f.checks[0].outcome == "excluded"
    assert f.conclusion.kind == "can't tell yet" and not f.conclusion.claims_regression
    assert "its own seed spread is unknown" in f.conclusion.sentence
    assert f.percentile is None and "cannot be retrained" in f.baseline_spread


def test_every_request_says_why_and_the_budget_goes_to_the_most_open_check() -> None:
    means = {CANDIDATE_BAND: 0.0, "pinned_snapshot": 1.0, "intent_swap": 0.0}
    incident = Incident(
        baseline=1.0, candidate=0.0, swaps={"data": "pinned_snapshot", "intent": "intent_swap"}
    )
    f = investigate(incident, _from_streams(_streams(means, seed=4)))
    assert f.retrains <= 24 and all(r.why for r in f.log)
    growth = [r for r in f.log if "could explain the most" in r.why]
    assert growth and all("grows to the next look" in r.why for r in growth)
    assert f.stop_reason is not None and sum(s.retrains for s in f.spent) == f.retrains


def test_record_out_of_order_is_refused() -> None:
    inv = Investigation(Incident(baseline=1.0, candidate=0.0))
    with pytest.raises(PolicyError):
        inv.record(CANDIDATE_BAND, [0.1])
    (request,) = inv.next_batch()
    assert inv.next_batch() == (request,)  # pending until recorded
    with pytest.raises(PolicyError):
        inv.record(CANDIDATE_BAND, [0.1, 0.2])
    with pytest.raises(PolicyError):
        Incident(baseline=1.0, candidate=0.0, swaps={"data": CANDIDATE_BAND})


def _random_incident(rng: np.random.Generator, budget: int) -> tuple[Incident, dict]:
    effects = {"data": float(rng.choice([0.0, 1.0, 3.0])), "intent": float(rng.choice([0.0, 2.0]))}
    identical = bool(rng.random() < 0.2)
    base_mean = 0.0 if identical else sum(effects.values())
    incident = Incident(
        baseline=float(rng.normal(base_mean)),
        candidate=float(rng.normal()),
        budget=budget,
        swaps={} if identical else {"data": "pinned_snapshot", "intent": "intent_swap"},
        seed_replay=bool(rng.random() < 0.5),
        baseline_retrainable=bool(rng.random() < 0.5),
        identical_pipelines=identical,
    )
    means = {CANDIDATE_BAND: 0.0, SEED_REPLAY: 0.0, BASELINE_BAND: base_mean}
    means |= {"pinned_snapshot": effects["data"], "intent_swap": effects["intent"]}
    return incident, means


def test_a_smaller_budget_gives_more_cant_tell_never_another_verdict() -> None:
    rng = np.random.default_rng(99)
    for case in range(40):
        incident, means = _random_incident(rng, budget=24)
        streams = _streams(means, seed=case)
        full = investigate(incident, _from_streams(streams))
        for budget in (1, 4, 7, 10, 13, 16, 20):
            small_incident = Incident(**{**incident.__dict__, "budget": budget})
            small = investigate(small_incident, _from_streams(streams))
            assert small.conclusion.kind in (full.conclusion.kind, "can't tell yet"), case
            for mine, theirs in zip(small.checks, full.checks, strict=True):
                assert mine.outcome in (theirs.outcome, "cant_tell"), case


def test_the_words_are_true_on_random_incidents() -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        incident, means = _random_incident(rng, budget=int(rng.integers(0, 30)))
        f = investigate(incident, _from_streams(_streams(means, seed=int(rng.integers(1e6)))))
        for check in f.checks:
            j = check.judgement
            if check.outcome == "explains":
                assert j is not None and j.low > 0 and check.words.startswith("explains")
            elif check.outcome == "excluded":
                assert j is not None and j.high < j.margin and check.words.startswith("excluded")
            else:
                assert check.words.startswith("can't tell yet")
        if f.attribution:
            total = sum(r.points for r in f.attribution) + f.remainder.points
            assert total == pytest.approx(abs(f.gap))
        text = " ".join([f.conclusion.sentence, f.attribution_words, *(r.why for r in f.log)])
        assert not re.search(r"\b1 (retrains|seeds|runs|swapped runs|band seeds)\b", text)
        assert not re.search(rf"{incident.metric} points", text)
        if f.conclusion.kind in ("lucky baseline", "within noise"):
            assert not any(c.outcome == "explains" for c in f.checks)
            assert not f.conclusion.claims_regression
        # A stop that says every check is settled names the band when its own test is not
        if f.stop_reason and f.stop_reason.startswith("every check"):
            if f.band.outcome == "undecided":
                assert "candidate band's own test of the baseline value stays undecided" in (
                    f.stop_reason
                ), f.stop_reason
                assert "not continued: " in f.band.words, f.band.words
            else:
                assert "stays undecided" not in f.stop_reason


# ---------------------------------------------------------------- the simulation

SIM_INCIDENTS = 300
SIM_BUDGET = 24
SIM_SEED = 20240612
SCALE, OFFSET, RESOLUTION = 0.02, 0.85, 1e-6  # an accuracy-like metric, σ = 0.02


@dataclass(frozen=True)
class SimClass:
    """One kind of incident: each recorded axis's true effect in σ (baseline minus candidate).

    No axis at all means the two pipelines are identical but for seeds. `lucky`: the baseline is
    the best of 10 draws of its pipeline. `zero_gap`: the candidate scores exactly the baseline.
    """

    name: str
    effects: Mapping[Axis, float] = field(default_factory=dict)
    lucky: bool = False
    zero_gap: bool = False


SIM_CLASSES = (
    SimClass("no effect (identical pipelines)"),
    SimClass("lucky baseline (identical)", lucky=True),
    SimClass("lucky baseline + harmless change", {"data": 0.0}, lucky=True),
    SimClass("one axis 0.5σ (+ harmless intent)", {"data": 0.5, "intent": 0.0}),
    SimClass("one axis 1σ (+ harmless intent)", {"data": 1.0, "intent": 0.0}),
    SimClass("one axis 2σ (+ harmless intent)", {"data": 2.0, "intent": 0.0}),
    SimClass("one axis 4σ (+ harmless intent)", {"data": 4.0, "intent": 0.0}),
    SimClass("two axes 1σ + 2σ", {"data": 1.0, "intent": 2.0}),
    SimClass("harmless change", {"data": 0.0}),
    SimClass("zero gap", {"data": 1.0}, zero_gap=True),
)
ARM_OF: dict[Axis, str] = {"data": "pinned_snapshot", "intent": "intent_swap"}


@dataclass
class Tally:
    """What the simulation counted for one class."""

    incidents: int = 0
    retrains: int = 0
    conclusions: Counter[str] = field(default_factory=Counter)
    zero_axes: int = 0
    zero_explains: int = 0
    big_axes: int = 0
    big_excluded: int = 0
    effect_axes: int = 0
    effect_explains: int = 0
    regression_calls: int = 0
    zero_retrain_closes: int = 0


def _incident(sim: SimClass, rng: np.random.Generator) -> tuple[Incident, float, float]:
    """A random incident of the class, and its baseline and candidate values in σ units."""
    base_mean = sum(sim.effects.values())
    a = float(rng.normal(base_mean, 1.0, size=10).max() if sim.lucky else rng.normal(base_mean))
    c = a if sim.zero_gap else float(rng.normal(0.0))
    direction = "higher" if rng.random() < 0.5 else "lower"
    sign = 1.0 if direction == "higher" else -1.0
    incident = Incident(
        baseline=OFFSET + sign * SCALE * a,
        candidate=OFFSET + sign * SCALE * c,
        direction=direction,
        metric="accuracy",
        resolution=RESOLUTION,
        budget=SIM_BUDGET,
        swaps={axis: ARM_OF[axis] for axis in sim.effects},
        seed_replay=bool(rng.random() < 0.5),
        deterministic=bool(rng.random() < 0.5),
        baseline_retrainable=bool(rng.random() < 0.5),
        identical_pipelines=not sim.effects,
    )
    return incident, a, c


def _retrainer(sim: SimClass, incident: Incident, a: float, rng: np.random.Generator):
    """Each arm's draws from the additive model: candidate 0, baseline Σ effects, swap k: k's."""
    sign = 1.0 if incident.direction == "higher" else -1.0
    means = {CANDIDATE_BAND: 0.0, SEED_REPLAY: 0.0, BASELINE_BAND: sum(sim.effects.values())}
    means |= {ARM_OF[axis]: effect for axis, effect in sim.effects.items()}
    exact_replay = incident.identical_pipelines and incident.deterministic

    def retrain(request: Request) -> list[float | None]:
        if request.arm == SEED_REPLAY and exact_replay:
            return [incident.baseline] * request.count
        draws = rng.normal(means[request.arm], 1.0, size=request.count)
        return [OFFSET + sign * SCALE * float(x) for x in draws]

    return retrain


def _tally(tally: Tally, sim: SimClass, findings: Findings, a: float, c: float) -> None:
    tally.incidents += 1
    tally.retrains += findings.retrains
    tally.conclusions[findings.conclusion.kind] += 1
    gap = a - c
    if sim.zero_gap:
        tally.zero_retrain_closes += findings.retrains == 0
    explains_any = False
    for check in findings.checks:
        effect = sim.effects[check.axis] * math.copysign(1.0, gap)  # toward the baseline
        explains_any |= check.outcome == "explains"
        if effect == 0.0:
            tally.zero_axes += 1
            tally.zero_explains += check.outcome == "explains"
        else:
            tally.effect_axes += 1
            tally.effect_explains += check.outcome == "explains"
        if gap != 0.0 and effect >= 0.5 * abs(gap):
            tally.big_axes += 1
            tally.big_excluded += check.outcome == "excluded"
    tally.regression_calls += explains_any or findings.conclusion.claims_regression


def _rate(k: int, n: int) -> str:
    return f"{100.0 * k / n:5.1f} %" if n else "    -  "


def _print_table(tallies: dict[str, Tally], seconds: float) -> None:
    head = (
        f"{'class':36} {'n':>4} {'retrains':>8} {'false expl':>10} {'excl|big':>9} "
        f"{'power':>8} {'regr call':>9}  conclusions"
    )
    print(
        f"\nInvestigation simulation: budget {SIM_BUDGET}, σ = 1, {LOOK_ALPHA=} ({seconds:.0f} s)"
    )
    print(head)
    for name, t in tallies.items():
        kinds = ", ".join(f"{k} {v}" for k, v in t.conclusions.most_common())
        print(
            f"{name:36} {t.incidents:4d} {t.retrains / t.incidents:8.1f} "
            f"{_rate(t.zero_explains, t.zero_axes):>10} {_rate(t.big_excluded, t.big_axes):>9} "
            f"{_rate(t.effect_explains, t.effect_axes):>8} "
            f"{_rate(t.regression_calls, t.incidents):>9}  {kinds}"
        )


def simulate(incidents: int = SIM_INCIDENTS, seed: int = SIM_SEED) -> dict[str, Tally]:
    """Drive `investigate` over every class; one seeded generator makes it reproducible."""
    rng = np.random.default_rng(seed)
    tallies: dict[str, Tally] = {}
    for sim in SIM_CLASSES:
        tally = tallies.setdefault(sim.name, Tally())
        for _ in range(incidents):
            incident, a, c = _incident(sim, rng)
            findings = investigate(incident, _retrainer(sim, incident, a, rng))
            _tally(tally, sim, findings, a, c)
    return tallies


@pytest.mark.slow
def test_simulation_operating_characteristics() -> None:
    """False "explains" ≤ 2 %, "excluded" of a big effect ≤ 5 %, lucky → regression ≤ 6 %,
    zero gaps closed without a retrain: always.

    Print the table: .venv/bin/python -m pytest -q -s tests/test_confirm_policy.py -k simulation
    """
    start = time.perf_counter()
    tallies = simulate()
    _print_table(tallies, time.perf_counter() - start)
    zero_axes = sum(t.zero_axes for t in tallies.values())
    false_explains = sum(t.zero_explains for t in tallies.values())
    big_axes = sum(t.big_axes for t in tallies.values())
    big_excluded = sum(t.big_excluded for t in tallies.values())
    assert zero_axes > 1000 and false_explains / zero_axes <= 0.02
    assert big_axes > 500 and big_excluded / big_axes <= 0.05
    for name, t in tallies.items():
        if name.startswith("lucky"):
            assert t.regression_calls / t.incidents <= 0.06, name
    zero = tallies["zero gap"]
    assert zero.zero_retrain_closes == zero.incidents
    assert zero.conclusions == Counter({"reproduces": zero.incidents})


def test_a_swap_arm_that_is_the_baseline_pipeline_serves_as_its_band() -> None:
    """Intent is the only change: the intent swap IS the baseline pipeline. Its seeds answer both
    questions (does intent explain the gap; is the baseline a lucky draw of its own pipeline), and
    no retrain is spent on a second band of the same pipeline."""
    incident = Incident(
        baseline=0.90,
        candidate=0.80,
        swaps={"intent": "intent_swap"},
        baseline_arm="intent_swap",
        budget=12,
    )
    band = [0.80, 0.81, 0.79, 0.80, 0.805, 0.795]
    swap = [0.90, 0.89, 0.91, 0.905, 0.895, 0.90]
    f = investigate(incident, _from_streams({CANDIDATE_BAND: band, "intent_swap": swap}))
    assert [r.arm for r in f.log if r.arm == BASELINE_BAND] == []
    assert f.checks[0].outcome == "explains" and f.conclusion.kind == "explained"
    assert f.pipelines is not None and f.pipelines.outcome == "differ"
    with pytest.raises(PolicyError):
        Incident(baseline=0.9, candidate=0.8, baseline_arm="intent_swap")  # not a swap arm


def test_a_growing_arm_with_as_many_seeds_as_the_band_is_not_said_to_have_fewer() -> None:
    """The request that grows a swap arm names the seed counts; with 3 against 3 it said "its
    own arm has the fewer seeds" (read on my own scikit-learn incident's report)."""
    means = {CANDIDATE_BAND: 0.0, "intent_swap": 0.6}
    incident = Incident(baseline=1.0, candidate=0.0, swaps={"intent": "intent_swap"})
    grows = []
    for seed in range(40):
        f = investigate(incident, _from_streams(_streams(means, seed=seed, sd=0.5)))
        grows += [r.why for r in f.log if r.arm == "intent_swap" and "next look" in r.why]
    counts = [re.search(r"\((\d+) against (\d+) in the candidate band\)", w) for w in grows]
    equal = [w for w, m in zip(grows, counts, strict=True) if m and m[1] == m[2]]
    fewer = [w for w, m in zip(grows, counts, strict=True) if m and int(m[1]) < int(m[2])]
    assert equal, grows  # the case is reached
    assert all("its own arm has no more seeds" in w for w in equal)
    assert all("its own arm has the fewer seeds" in w for w in fewer)
