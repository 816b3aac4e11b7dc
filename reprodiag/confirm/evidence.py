"""What the retrains of one incident recorded, and the decisions they froze.

The evidence an Investigation (policy.py) plans from and concludes on: each arm's runs, the facts
derived from them (the gap's size, the finished values of an arm, abandoned arms), the sequential
decisions frozen when first reached, the swap judgements, and what the seed replay showed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from reprodiag.confirm.incident import (
    BASELINE_BAND,
    CANDIDATE_BAND,
    FAILS_IN_A_ROW,
    FIRST_ROUND,
    SEED_REPLAY,
    Incident,
)
from reprodiag.confirm.outcomes import ReplayFinding
from reprodiag.manifest.model import Axis
from reprodiag.noise.counterfactual import (
    BaselinePercentile,
    SwapJudgement,
    baseline_percentile,
    format_number,
    judge_swap,
    toward_baseline,
    within_resolution,
)
from reprodiag.noise.sequential import Decision, decide_single, decide_two_sample
from reprodiag.noise.stats import NoiseSampleError, TwoSample


def _clean(value: float | None) -> float | None:
    # A NaN or infinite metric is a failed retrain: it must never be judged as a number.
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


class Evidence:
    """The runs recorded for one incident's arms, and the decisions frozen from them."""

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        arms = [CANDIDATE_BAND, SEED_REPLAY, BASELINE_BAND, *incident.swaps.values()]
        self.runs: dict[str, list[float | None]] = {arm: [] for arm in arms}
        self._stored = [float(v) for v in incident.stored_band if _clean(v) is not None]
        self.frozen: dict[str, SwapJudgement] = {}
        self.band: Decision | None = None
        self.pipes: Decision | None = None
        # Judgements depend only on the runs recorded: memoised until the next add(), since
        # planning asks for them many times per step.
        self._memo: dict[str, SwapJudgement | None] = {}
        self.judge()

    def add(self, arm: str, values: Sequence[float | None]) -> None:
        """Record one round of `arm` (None, NaN or inf: a failed retrain); call judge() next."""
        self.runs[arm].extend(_clean(v) for v in values)
        self._memo.clear()

    # ------------------------------------------------------------------ facts

    @property
    def size(self) -> float:
        """The gap's size in the metric's units (always ≥ 0)."""
        return abs(self.incident.gap)

    @property
    def margin(self) -> float:
        """ρ·gap: a check is excluded only when it explains less than this."""
        return self.incident.rho * self.size

    @property
    def toward(self) -> float:
        """The sign that turns a raw metric difference into points toward the baseline."""
        return toward_baseline(self.incident.gap, self.incident.direction)

    @property
    def zero_gap(self) -> bool:
        """The two values agree to the metric's resolution: nothing to explain."""
        inc = self.incident
        return within_resolution(inc.baseline, inc.candidate, inc.resolution)

    @property
    def spent(self) -> int:
        """Retrains run so far, failed ones included."""
        return sum(len(v) for v in self.runs.values())

    @property
    def budget_left(self) -> int:
        """Retrains the budget still allows."""
        return max(0, self.incident.budget - self.spent)

    def ok(self, arm: str) -> list[float]:
        """The finished values of one arm (the candidate band includes the stored seeds; the
        baseline band is the baseline arm's seeds when a swap arm is the baseline pipeline)."""
        if arm == BASELINE_BAND and self.incident.baseline_arm is not None:
            arm = self.incident.baseline_arm
        mine = [v for v in self.runs[arm] if v is not None]
        return self._stored + mine if arm == CANDIDATE_BAND else mine

    def num(self, value: float) -> str:
        """A metric value written to the digits the gap needs."""
        return format_number(value, self.size or abs(self.incident.baseline) or 1.0)

    @property
    def has_baseline_band(self) -> bool:
        """The baseline pipeline can be retrained (or a swap arm is it) and differs."""
        inc = self.incident
        retrainable = inc.baseline_retrainable or inc.baseline_arm is not None
        return retrainable and not inc.identical_pipelines

    @property
    def smoke_arm(self) -> str:
        """The arm whose first retrain is the smoke check: the seed replay when one is planned
        and the band store already holds the candidate band's first look (a band seed would add
        nothing the first look needs); else the candidate band."""
        if self.incident.seed_replay and len(self._stored) >= FIRST_ROUND:
            return SEED_REPLAY
        return CANDIDATE_BAND

    @property
    def smoke_failed(self) -> bool:
        """The smoke check failed: every retrain of its round (the smoke arm's first one, or
        its first `incident.smoke_seeds` band seeds) failed. One diverged seed of an ensemble
        smoke round is a failed seed, not a trainer that does not work."""
        arm = self.smoke_arm
        size = self.incident.smoke_seeds if arm == CANDIDATE_BAND else 1
        first = self.runs[arm][:size]
        return bool(first) and all(v is None for v in first)

    def abandoned(self, arm: str) -> bool:
        """The arm gets no more retrains: its first round failed, or its last few did."""
        runs = self.runs[arm]
        first = 1 if arm in (CANDIDATE_BAND, SEED_REPLAY) else FIRST_ROUND
        if not self.ok(arm) and len(runs) >= first:
            return True
        tail = runs[-FAILS_IN_A_ROW:]
        return len(tail) == FAILS_IN_A_ROW and all(v is None for v in tail)

    def axis_of(self, arm: str) -> Axis:
        """The axis a swap arm puts back."""
        return next(axis for axis, name in self.incident.swaps.items() if name == arm)

    # ------------------------------------------------------------------ judging

    def judge(self) -> None:
        """Freeze every decision the data now reach: decided checks stay decided."""
        if self.zero_gap:
            return
        inc, band = self.incident, self.ok(CANDIDATE_BAND)
        if self.band is None and len(band) >= FIRST_ROUND:
            decision = decide_single(inc.baseline, band, direction=inc.direction)
            self.band = decision if decision.stop else None
        base = self.ok(BASELINE_BAND)
        if self.has_baseline_band and self.pipes is None and min(len(base), len(band)) >= 3:
            decision = decide_two_sample(base, band, delta=self.margin)
            self.pipes = decision if decision.stop else None
        for arm in inc.swaps.values():
            if arm not in self.frozen:
                judgement = self.judge_arm(arm)
                if judgement is not None and judgement.outcome != "cant_tell":
                    self.frozen[arm] = judgement

    def judge_arm(self, arm: str) -> SwapJudgement | None:
        """The swap arm judged against the candidate band now (None: not judgeable yet)."""
        if arm not in self._memo:
            self._memo[arm] = self._judge_arm_now(arm)
        return self._memo[arm]

    def _judge_arm_now(self, arm: str) -> SwapJudgement | None:
        band, swapped = self.ok(CANDIDATE_BAND), self.ok(arm)
        if not swapped or len(band) < 2:
            return None
        inc = self.incident
        try:
            return judge_swap(
                band,
                swapped,
                inc.gap,
                inc.direction,
                baseline=inc.baseline,
                rho=inc.rho,
                resolution=inc.resolution,
                metric=inc.metric,
            )
        except NoiseSampleError:
            return None

    def replay_finding(self) -> ReplayFinding | None:
        """What the seed replay showed, or None when it was not (yet) run."""
        inc, runs = self.incident, self.runs[SEED_REPLAY]
        if not runs:
            return None
        value = runs[0]
        if value is None:
            return ReplayFinding(None, "cant_tell", False, "can't tell yet: its retrain failed")
        v, a = self.num(value), self.num(inc.baseline)
        match = within_resolution(value, inc.baseline, inc.resolution)
        if match and inc.deterministic:
            words = (
                f"the seed replay reproduces the baseline exactly ({v} against {a}, training "
                "recorded as deterministic): the gap is the seed"
            )
            return ReplayFinding(value, "explains", True, words)
        return ReplayFinding(value, "cant_tell", False, _replay_doubt(inc, v, a, match))

    def percentile(self) -> BaselinePercentile | None:
        """The baseline's place in its own pipeline's seeds, where those seeds are known."""
        replay = self.replay_finding()
        inc = self.incident
        if inc.identical_pipelines or (replay is not None and replay.exact):
            seeds = self.ok(CANDIDATE_BAND)
        elif self.has_baseline_band:
            seeds = self.ok(BASELINE_BAND)
        else:
            return None
        if len(seeds) < 2:
            return None
        return baseline_percentile(inc.baseline, seeds, inc.direction, inc.resolution)

    def pipes_same(self) -> bool:
        """The baseline's own band matches the candidate's, or scores worse: the gap is a seed."""
        d = self.pipes
        if d is None or not isinstance(d.test, TwoSample):
            return False
        if d.outcome == "consistent with noise":
            return True
        return d.outcome == "beyond noise" and self.toward * d.test.diff <= 0


def _replay_doubt(inc: Incident, v: str, a: str, match: bool) -> str:
    """Why a seed replay that is no exact, deterministic reproduction settles nothing."""
    if match:
        words = (
            f"can't tell yet: the seed replay matches the baseline ({v} against {a}), but "
            "training is not recorded as deterministic, so the match may be chance; record "
            "the determinism flags to make it proof"
        )
    elif inc.deterministic and inc.identical_pipelines:
        words = (
            f"can't tell yet: training is recorded as deterministic and the pipelines as "
            f"identical but for seeds, yet the replay scores {v}, not {a}: something "
            "unrecorded differs between the runs, or determinism is incomplete"
        )
    elif inc.deterministic:
        words = (
            f"can't tell yet: with the baseline's seeds the candidate pipeline scores {v} "
            f"against the baseline's {a}: at that seed the other changes move the metric; one "
            "run cannot say by how much on average"
        )
    else:
        words = (
            f"can't tell yet: training is not recorded as deterministic, so the replay ({v}) "
            "is one more draw of the candidate pipeline; it cannot exclude anything"
        )
    return words
