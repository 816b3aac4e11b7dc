"""Which retrain to ask for next, and what the retrains showed: the statistics of issue 12.

Pure policy: numbers in (the incident, then each batch's metric values, None for a failed
retrain), typed records with numbers and words out. No executor, no manifest, no I/O; the
confirmation layer asks `next_batch()`, runs those retrains and hands the values to `record()`.

The plan, step by step:
1. a zero or tiny gap (|gap| ≤ the metric's resolution) stops at once: "reproduces", no retrain;
   stored band seeds that already decide a terminal conclusion stop at once too;
2. one candidate-band seed: the smoke check. If it fails, stop: "trainer failed";
3. the candidate band to its first look (n = 3), then the seed replay once when it is possible;
4. the baseline band's first round (when the baseline pipeline can be retrained and differs),
   then each swap arm's first round (3 seeds), in the incident's order;
5. then the open check whose interval reaches highest into the gap (the one that could most
   change the ranking) grows to its next look (3, 5, 8, 12, 20), on whichever of its two arms
   (its own or the candidate band) has fewer seeds; every request says why, in words.
It stops when the conclusion cannot change (reproduces, trainer failed, lucky baseline, within
noise), when every check is decided, or when the next round does not fit in the budget.

Decisions are frozen when first reached (sequential tests: a check decided at a look stays
decided) and rounds are never cut short to fit the budget, so a run with a smaller budget is a
prefix of a run with a larger one: it ends with more "can't tell yet", never another verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reprodiag.manifest.model import Axis
from reprodiag.noise.counterfactual import (
    DEFAULT_RHO,
    BaselinePercentile,
    SwapJudgement,
    SwapOutcome,
    baseline_percentile,
    count_words,
    difference,
    format_number,
    judge_swap,
    linear_half_width,
    percent,
    toward_baseline,
    within_resolution,
)
from reprodiag.noise.sequential import (
    LOOKS,
    Decision,
    decide_single,
    decide_two_sample,
    next_look,
)
from reprodiag.noise.stats import Direction, NoiseSampleError, TwoSample

ConclusionKind = Literal[
    "reproduces", "explained", "within noise", "lucky baseline", "can't tell yet", "trainer failed"
]
BandOutcome = Literal[
    "beyond noise", "consistent with noise", "inconclusive", "undecided", "unusual baseline draw"
]
PipelinesOutcome = Literal["differ", "equivalent", "inconclusive", "undecided"]
ReplayOutcome = Literal["explains", "cant_tell"]

CANDIDATE_BAND = "candidate_band"
BASELINE_BAND = "baseline_band"
SEED_REPLAY = "seed_replay"
RESERVED_ARMS = (CANDIDATE_BAND, BASELINE_BAND, SEED_REPLAY)
FIRST_ROUND = LOOKS[0]
MAX_ARM = LOOKS[-1]
FAILS_IN_A_ROW = 3  # an arm whose last 3 retrains failed gets no more
IMPLAUSIBLE_TOP = 0.001  # a "lucky" seed rarer than 1 in 1000 points to an unrecorded change
TERMINAL: tuple[ConclusionKind, ...] = (
    "reproduces",
    "trainer failed",
    "lucky baseline",
    "within noise",
)
SMOKE_WHY = (
    "the smoke check: one seed of the candidate pipeline shows the trainer works before the "
    "budget is spent"
)
SMOKE_FAILED = (
    "the smoke retrain failed: the trainer does not work, so no other retrain was run; fix the "
    "trainer and run the investigation again"
)
FIRST_LOOK_WHY = (
    f"the candidate band to its first look (n = {LOOKS[0]}): every other check is judged against it"
)


class PolicyError(ValueError):
    """The investigation was driven out of order (values for an arm nobody asked for)."""


@dataclass(frozen=True)
class Incident:
    """What is known before any retrain: the two values and the facts from the manifests.

    `swaps` maps each axis that differs and can be swapped back to its counterfactual arm's name
    (e.g. {"data": "pinned_snapshot", "intent": "intent_swap"}). `identical_pipelines`: the two
    runs differ only in their seeds. `stored_band`: candidate-band values already in the store.
    """

    baseline: float
    candidate: float
    direction: Direction = "higher"
    metric: str = "metric"
    resolution: float = 0.0
    budget: int = 24
    rho: float = DEFAULT_RHO
    swaps: Mapping[Axis, str] = field(default_factory=dict)
    seed_replay: bool = False
    deterministic: bool = False
    baseline_retrainable: bool = False
    # The swap arm whose pipeline IS the baseline's (exactly one axis differs and putting it back
    # gives the baseline pipeline): its seeds serve as the baseline band, never run twice.
    baseline_arm: str | None = None
    identical_pipelines: bool = False
    stored_band: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("baseline", "candidate", "resolution"):
            if not math.isfinite(getattr(self, name)):
                raise PolicyError(f"{name} must be finite, got {getattr(self, name)!r}")
        if self.resolution < 0 or self.budget < 0 or not 0.0 < self.rho < 1.0:
            raise PolicyError("resolution and budget must be ≥ 0 and rho in (0, 1)")
        arms = list(self.swaps.values())
        if len(set(arms)) != len(arms) or set(arms) & set(RESERVED_ARMS):
            raise PolicyError(f"swap arm names must be distinct and not {RESERVED_ARMS}: {arms}")
        if self.identical_pipelines and self.swaps:
            raise PolicyError("identical pipelines have no axis to swap back")
        if self.baseline_arm is not None and self.baseline_arm not in arms:
            raise PolicyError(f"the baseline arm {self.baseline_arm!r} is not a swap arm")

    @property
    def gap(self) -> float:
        """How much better the baseline scores than the candidate (negative: the candidate wins)."""
        better = 1.0 if self.direction == "higher" else -1.0
        return better * (self.baseline - self.candidate)


@dataclass(frozen=True)
class Request:
    """`count` retrains of `arm`, and why they are the best next use of the budget."""

    arm: str
    count: int
    why: str


@dataclass(frozen=True)
class CheckFinding:
    """One swap arm's check: its outcome, the judgement behind it (None: never judged), why."""

    axis: Axis
    arm: str
    outcome: SwapOutcome
    judgement: SwapJudgement | None
    retrains: int
    failed: int
    words: str


@dataclass(frozen=True)
class BandFinding:
    """The candidate band and the single-number rule (decide_single), reconciled with the rest.

    `outcome` is "unusual baseline draw" where decide_single said "beyond noise" but the seed
    replay, identical pipelines or the baseline's own band show the gap is the baseline's seed.
    """

    outcome: BandOutcome
    n: int
    mean: float | None
    std: float | None
    decision: Decision | None
    words: str


@dataclass(frozen=True)
class PipelineFinding:
    """The two pipelines' seed distributions compared (decide_two_sample), baseline minus band.

    `points` [`low`, `high`] is oriented toward the baseline, at the decision's 95 % interval.
    """

    outcome: PipelinesOutcome
    points: float | None
    low: float | None
    high: float | None
    decision: Decision | None
    words: str


@dataclass(frozen=True)
class ReplayFinding:
    """The seed replay: explains (an exact, deterministic reproduction) or can't tell yet."""

    value: float | None
    outcome: ReplayOutcome
    exact: bool
    words: str


@dataclass(frozen=True)
class AttributionRow:
    """Points of the gap one row accounts for, oriented toward the baseline, with an interval."""

    label: str
    axis: Axis | None
    points: float
    low: float | None
    high: float | None
    share: float
    outcome: str


@dataclass(frozen=True)
class Conclusion:
    """The overall verdict and its sentence; `claims_regression`: it says the pipeline got worse."""

    kind: ConclusionKind
    sentence: str
    claims_regression: bool


@dataclass(frozen=True)
class ArmSpend:
    """Retrains run for one arm in this investigation (stored band values not counted)."""

    arm: str
    retrains: int
    failed: int


@dataclass(frozen=True)
class Findings:
    """Everything the investigation showed, in numbers and words.

    `gap` is signed (how much better the baseline scores; negative: the candidate scores
    better); the attribution rows and the remainder, oriented toward the baseline, sum to |gap|.
    """

    gap: float
    gap_words: str
    conclusion: Conclusion
    checks: tuple[CheckFinding, ...]
    band: BandFinding
    pipelines: PipelineFinding | None
    percentile: BaselinePercentile | None
    baseline_spread: str
    replay: ReplayFinding | None
    attribution: tuple[AttributionRow, ...]
    remainder: AttributionRow
    attribution_words: str
    spent: tuple[ArmSpend, ...]
    retrains: int
    log: tuple[Request, ...]
    stop_reason: str | None


def _clean(value: float | None) -> float | None:
    # A NaN or infinite metric is a failed retrain: it must never be judged as a number.
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


class Investigation:
    """One incident investigated step by step: `next_batch()`, run it, `record()`, repeat.

    `findings()` may be called at any time; it reflects what has been recorded so far.
    """

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        arms = [CANDIDATE_BAND, SEED_REPLAY, BASELINE_BAND, *incident.swaps.values()]
        self._runs: dict[str, list[float | None]] = {arm: [] for arm in arms}
        self._stored = [float(v) for v in incident.stored_band if _clean(v) is not None]
        self._pending: list[Request] = []
        self._log: list[Request] = []
        self._frozen: dict[str, SwapJudgement] = {}
        self._band: Decision | None = None
        self._pipes: Decision | None = None
        self._stop: str | None = None
        # Judgements and the conclusion depend only on the runs recorded: memoised until the
        # next record(), since planning asks for them many times per step.
        self._memo: dict[str, SwapJudgement | None] = {}
        self._verdict: Conclusion | None = None
        self._judge()

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
        return sum(len(v) for v in self._runs.values())

    @property
    def budget_left(self) -> int:
        """Retrains the budget still allows."""
        return max(0, self.incident.budget - self.spent)

    def ok(self, arm: str) -> list[float]:
        """The finished values of one arm (the candidate band includes the stored seeds; the
        baseline band is the baseline arm's seeds when a swap arm is the baseline pipeline)."""
        if arm == BASELINE_BAND and self.incident.baseline_arm is not None:
            arm = self.incident.baseline_arm
        mine = [v for v in self._runs[arm] if v is not None]
        return self._stored + mine if arm == CANDIDATE_BAND else mine

    def _num(self, value: float) -> str:
        return format_number(value, self.size or abs(self.incident.baseline) or 1.0)

    @property
    def _has_baseline_band(self) -> bool:
        inc = self.incident
        retrainable = inc.baseline_retrainable or inc.baseline_arm is not None
        return retrainable and not inc.identical_pipelines

    @property
    def _smoke_failed(self) -> bool:
        runs = self._runs[CANDIDATE_BAND]
        return bool(runs) and runs[0] is None

    def _abandoned(self, arm: str) -> bool:
        runs = self._runs[arm]
        first = 1 if arm in (CANDIDATE_BAND, SEED_REPLAY) else FIRST_ROUND
        if not self.ok(arm) and len(runs) >= first:
            return True
        tail = runs[-FAILS_IN_A_ROW:]
        return len(tail) == FAILS_IN_A_ROW and all(v is None for v in tail)

    # ------------------------------------------------------------------ driving

    def next_batch(self) -> tuple[Request, ...]:
        """The retrains to run next, or () when the investigation is over."""
        if self._pending:
            return tuple(self._pending)
        if self._stop is not None:
            return ()
        plan = self._plan()
        if isinstance(plan, str):
            self._stop = plan
            return ()
        need = sum(r.count for r in plan)
        if need > self.budget_left:
            what = "; ".join(f"{count_words(r.count, 'retrain')} of {r.arm}" for r in plan)
            self._stop = (
                f"stopped with {count_words(self.budget_left, 'retrain')} of the budget of "
                f"{self.incident.budget} left: the next round ({what}) does not fit, and a round "
                "cut short would break the sequential plan"
            )
            return ()
        self._pending = list(plan)
        self._log.extend(plan)
        return tuple(plan)

    def record(self, arm: str, values: Sequence[float | None]) -> None:
        """The results of a requested round of `arm`: metric values, None for a failed retrain."""
        request = next((r for r in self._pending if r.arm == arm), None)
        if request is None:
            raise PolicyError(f"no retrains of {arm!r} are pending: ask next_batch() first")
        if len(values) > request.count:
            raise PolicyError(f"{len(values)} values for {arm!r}, {request.count} were requested")
        self._runs[arm].extend(_clean(v) for v in values)
        self._pending.remove(request)
        self._memo.clear()
        self._verdict = None
        self._judge()

    def _judge(self) -> None:
        """Freeze every decision the data now reach: decided checks stay decided."""
        if self.zero_gap:
            return
        inc, band = self.incident, self.ok(CANDIDATE_BAND)
        if self._band is None and len(band) >= FIRST_ROUND:
            decision = decide_single(inc.baseline, band, direction=inc.direction)
            self._band = decision if decision.stop else None
        base = self.ok(BASELINE_BAND)
        if self._has_baseline_band and self._pipes is None and min(len(base), len(band)) >= 3:
            decision = decide_two_sample(base, band, delta=self.margin)
            self._pipes = decision if decision.stop else None
        for arm in inc.swaps.values():
            if arm not in self._frozen:
                judgement = self._judge_arm(arm)
                if judgement is not None and judgement.outcome != "cant_tell":
                    self._frozen[arm] = judgement

    def _judge_arm(self, arm: str) -> SwapJudgement | None:
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

    # ------------------------------------------------------------------ planning

    def _plan(self) -> list[Request] | str:
        """The next round, or why the investigation stops (a sentence)."""
        inc = self.incident
        if self.zero_gap or not self._runs[CANDIDATE_BAND]:
            verdict = self.conclusion()
            if verdict.kind in TERMINAL:
                return f"no retrain needed: {verdict.sentence}"
            return [Request(CANDIDATE_BAND, 1, SMOKE_WHY)]
        if self._smoke_failed:
            return "the smoke retrain failed: the trainer does not work, so no budget went further"
        if self._abandoned(CANDIDATE_BAND):
            return (
                f"the candidate band's last {FAILS_IN_A_ROW} retrains failed: no check can be "
                "judged further"
            )
        n = len(self.ok(CANDIDATE_BAND))
        if n < FIRST_ROUND:
            return [Request(CANDIDATE_BAND, FIRST_ROUND - n, FIRST_LOOK_WHY)]
        if inc.seed_replay and not self._runs[SEED_REPLAY]:
            return [Request(SEED_REPLAY, 1, self._replay_why())]
        verdict = self.conclusion()
        if verdict.kind in TERMINAL:
            return f"the conclusion cannot change: {verdict.kind}"
        step = self._next_step(verdict)
        if step is None:
            return "every check is decided, failed, or at n = 20 per arm"
        return [step]

    def _replay_why(self) -> str:
        a = self._num(self.incident.baseline)
        if self.incident.deterministic:
            return (
                "the seed replay, once: the candidate pipeline with the baseline's seeds; training "
                f"is recorded as deterministic, so reproducing the baseline's {a} exactly would "
                "show that the gap is the seed"
            )
        return (
            "the seed replay, once: the candidate pipeline with the baseline's seeds; training is "
            f"not recorded as deterministic, so it is one more draw: only an exact {a} would say "
            "something, and it cannot exclude anything"
        )

    def _can_grow(self, arm: str) -> bool:
        if self._abandoned(arm):
            return False
        return len(self.ok(arm)) < MAX_ARM or len(self.ok(CANDIDATE_BAND)) < MAX_ARM

    def _upper_share(self, arm: str) -> float:
        """How much of the gap a check could still explain: its interval's top, over the gap."""
        band, other = self.ok(CANDIDATE_BAND), self.ok(arm)
        if not other:
            return math.inf  # never measured: it could be anything
        judgement = self._judge_arm(arm) if arm != BASELINE_BAND else None
        if judgement is not None:
            return judgement.share_high
        try:
            return difference(band, other, toward=self.toward).high / self.size
        except NoiseSampleError:
            return math.inf

    def _open_checks(self, verdict: Conclusion) -> list[tuple[float, int, str]]:
        """(how much of the gap it could explain, order, arm) for every check worth a round."""
        out: list[tuple[float, int, str]] = []
        aliased = self.incident.baseline_arm is not None  # grown as its swap arm, below
        if self._has_baseline_band and self._pipes is None and verdict.kind != "explained":
            if not aliased and self._can_grow(BASELINE_BAND):
                out.append((self._upper_share(BASELINE_BAND), 0, BASELINE_BAND))
        for order, arm in enumerate(self.incident.swaps.values(), start=1):
            if arm not in self._frozen and self._can_grow(arm):
                out.append((self._upper_share(arm), order, arm))
        band_needed = self.incident.identical_pipelines or (
            not self._has_baseline_band and verdict.kind != "explained"
        )
        if band_needed and self._band is None and len(self.ok(CANDIDATE_BAND)) < MAX_ARM:
            out.append((-math.inf, len(out) + 99, CANDIDATE_BAND))
        return out

    def _next_step(self, verdict: Conclusion) -> Request | None:
        checks = self._open_checks(verdict)
        if not checks:
            return None
        score, _, arm = max(checks, key=lambda c: (c[0], -c[1]))
        if arm == CANDIDATE_BAND:
            return self._grow(CANDIDATE_BAND, self._band_open_why())
        if not self._runs[arm]:
            return Request(arm, FIRST_ROUND, self._first_round_why(arm))
        return self._grow_pair(arm, score)

    def _grow(self, arm: str, why: str) -> Request:
        n = len(self.ok(arm))
        target = next_look(n) or n + 1
        return Request(arm, target - n, f"{why}; it grows to the next look (n = {target})")

    def _grow_pair(self, arm: str, score: float) -> Request:
        n_arm, n_band = len(self.ok(arm)), len(self.ok(CANDIDATE_BAND))
        label = self._label(arm)
        head = (
            f"{label} is the open check that could explain the most of the gap: up to "
            f"{percent(score)} of it"
        )
        if (n_arm <= n_band or n_band >= MAX_ARM) and n_arm < MAX_ARM:
            return self._grow(
                arm,
                f"{head}; its own arm has the fewer seeds ({n_arm} against "
                f"{n_band} in the candidate band)",
            )
        return self._grow(
            CANDIDATE_BAND,
            f"{head}; the candidate band it is judged against has the fewer seeds ({n_band} "
            f"against {n_arm})",
        )

    def _label(self, arm: str) -> str:
        if arm == BASELINE_BAND:
            return "the baseline pipeline's own band"
        return f"the {arm} ({self._axis_of(arm)} swapped back)"

    def _axis_of(self, arm: str) -> Axis:
        return next(axis for axis, name in self.incident.swaps.items() if name == arm)

    def _first_round_why(self, arm: str) -> str:
        if arm == BASELINE_BAND:
            return (
                f"the baseline pipeline's own band, first round ({FIRST_ROUND} seeds): only the "
                "baseline's own seeds can tell a lucky baseline from a real change"
            )
        return (
            f"{self._label(arm)}, first round ({FIRST_ROUND} seeds): a counterfactual is judged "
            "as a pipeline of its own, never from one run"
        )

    def _band_open_why(self) -> str:
        band = self.ok(CANDIDATE_BAND)
        current = decide_single(self.incident.baseline, band, direction=self.incident.direction)
        return f"the candidate band's single-number decision is still open ({current.reason})"

    # ------------------------------------------------------------------ judging

    def replay_finding(self) -> ReplayFinding | None:
        """What the seed replay showed, or None when it was not (yet) run."""
        inc, runs = self.incident, self._runs[SEED_REPLAY]
        if not runs:
            return None
        value = runs[0]
        if value is None:
            return ReplayFinding(None, "cant_tell", False, "can't tell yet: its retrain failed")
        v, a = self._num(value), self._num(inc.baseline)
        match = within_resolution(value, inc.baseline, inc.resolution)
        if match and inc.deterministic:
            words = (
                f"the seed replay reproduces the baseline exactly ({v} against {a}, training "
                "recorded as deterministic): the gap is the seed"
            )
            return ReplayFinding(value, "explains", True, words)
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
        return ReplayFinding(value, "cant_tell", False, words)

    def _percentile(self) -> BaselinePercentile | None:
        """The baseline's place in its own pipeline's seeds, where those seeds are known."""
        replay = self.replay_finding()
        inc = self.incident
        if inc.identical_pipelines or (replay is not None and replay.exact):
            seeds = self.ok(CANDIDATE_BAND)
        elif self._has_baseline_band:
            seeds = self.ok(BASELINE_BAND)
        else:
            return None
        if len(seeds) < 2:
            return None
        return baseline_percentile(inc.baseline, seeds, inc.direction, inc.resolution)

    def _pipes_same(self) -> bool:
        """The baseline's own band matches the candidate's, or scores worse: the gap is a seed."""
        d = self._pipes
        if d is None or not isinstance(d.test, TwoSample):
            return False
        if d.outcome == "consistent with noise":
            return True
        return d.outcome == "beyond noise" and self.toward * d.test.diff <= 0

    def conclusion(self) -> Conclusion:
        """The overall verdict from the decisions frozen so far (see the module docstring)."""
        if self._verdict is None:
            self._verdict = self._conclude()
        return self._verdict

    def _conclude(self) -> Conclusion:
        if self.zero_gap:
            return Conclusion("reproduces", self._reproduces_words(), False)
        if self._smoke_failed:
            return Conclusion("trainer failed", SMOKE_FAILED, False)
        replay = self.replay_finding()
        if replay is not None and replay.exact:
            return self._seed_conclusion(replay.words)
        explaining = [a for a in self.incident.swaps.values() if self._outcome(a) == "explains"]
        if explaining:
            return self._explained(explaining)
        if self.incident.identical_pipelines:
            return self._identical()
        if self._pipes_same():
            assert self._pipes is not None
            return self._seed_conclusion(
                f"the baseline pipeline's own seeds do not score better than the candidate's "
                f"({self._pipes.reason})"
            )
        if self._band is not None and self._band.outcome == "consistent with noise":
            sentence = f"the gap lies inside the candidate's seed band ({self._band.reason})"
            if self.incident.swaps:
                sentence += (
                    "; seeds alone can produce it, so the swaps were not pursued further: this "
                    "shows no large change, and excludes no small one"
                )
            return Conclusion("within noise", sentence, False)
        return self._cant_tell()

    def _outcome(self, arm: str) -> SwapOutcome:
        judgement = self._frozen.get(arm)
        return judgement.outcome if judgement is not None else "cant_tell"

    def _reproduces_words(self) -> str:
        inc = self.incident
        bar = "metric-exact" if inc.baseline == inc.candidate else "within the metric's resolution"
        return (
            f"the candidate reproduces the baseline ({self._num(inc.candidate)} against "
            f"{self._num(inc.baseline)} {inc.metric}, {bar}): no retrain is needed"
        )

    def _seed_conclusion(self, why: str) -> Conclusion:
        # `why` may already end "the gap is the seed" (the replay's words): said once.
        why = why.removesuffix(": the gap is the seed")
        pct = self._percentile()
        if pct is None:
            return Conclusion("within noise", f"{why}: the gap is the seed, not a change", False)
        kind: ConclusionKind = "lucky baseline" if pct.lucky else "within noise"
        return Conclusion(kind, f"{why}: the gap is the seed, not a change; {pct.words}", False)

    def _identical(self) -> Conclusion:
        pct, d = self._percentile(), self._band
        same = "the manifests record the same pipeline but for its seeds"
        if d is None or pct is None:
            n = len(self.ok(CANDIDATE_BAND))
            return Conclusion(
                "can't tell yet",
                f"{same}; its seed band (n = {n}) has not yet decided whether the baseline is an "
                "ordinary or an unusual draw of it",
                False,
            )
        if d.outcome == "consistent with noise":
            inside = f"the baseline lies inside its seed band (n = {d.n})"
            return Conclusion("within noise", f"{same}, and {inside}; {pct.words}", False)
        if min(pct.top_share, 1.0 - pct.top_share) < IMPLAUSIBLE_TOP:
            return Conclusion(
                "can't tell yet",
                f"{same}, yet the baseline is rarer than one seed in a thousand of it ("
                f"{pct.words}): something unrecorded differs between the runs (environment, data "
                "read, nondeterminism); compare their output digests and environment facts",
                False,
            )
        kind: ConclusionKind = "lucky baseline" if pct.lucky else "within noise"
        band = f"its seed band at n = {d.n}: {d.outcome}"
        return Conclusion(kind, f"{same} ({band}): the gap is the seed; {pct.words}", False)

    def _explained(self, arms: list[str]) -> Conclusion:
        judged = sorted(((self._frozen[a], a) for a in arms), key=lambda p: -p[0].points)
        main = "; ".join(f"the {self._axis_of(a)} change ({a}) {j.words}" for j, a in judged)
        others = [a for a in self.incident.swaps.values() if a not in arms]
        sentence = f"the gap is explained: {main}"
        if others:
            short = ", ".join(f"{self._axis_of(a)}: {self._short(a)}" for a in others)
            sentence += f". Other recorded changes: {short}"
        return Conclusion("explained", sentence, True)

    def _short(self, arm: str) -> str:
        judgement = self._frozen.get(arm) or self._judge_arm(arm)
        if judgement is None:
            return "can't tell yet (not measured)" if not self.ok(arm) else "can't tell yet"
        if judgement.outcome == "excluded":
            return f"excluded (less than {self._num(judgement.margin)})"
        if judgement.outcome == "explains":
            return f"explains {self._num(judgement.points)}"
        more = count_words(judgement.more_per_arm or 0, "more retrain")
        return f"can't tell yet (about {more} per arm)"

    def _cant_tell(self) -> Conclusion:
        parts: list[str] = []
        claims = False
        d = self._pipes
        if self._abandoned(CANDIDATE_BAND):
            parts.append("the candidate band's retrains failed, so nothing can be judged")
        if d is not None and d.outcome == "beyond noise":  # toward the baseline: _pipes_same
            parts.append(
                f"the baseline pipeline's own seeds score better than the candidate's beyond seed "
                f"noise ({d.reason}): a real change, not yet attributed to a recorded axis"
            )
            claims = True
        elif self._band is not None:
            label = "lies beyond" if self._band.outcome == "beyond noise" else "is inconclusive"
            parts.append(
                f"against the candidate's seed band the baseline {label} ({self._band.reason})"
            )
        else:
            n = len(self.ok(CANDIDATE_BAND))
            parts.append(f"the candidate's seed band has not decided yet (n = {n})")
        parts.append(self.baseline_spread())
        parts.extend(f"{self._axis_of(a)}: {self._short(a)}" for a in self.incident.swaps.values())
        return Conclusion("can't tell yet", "; ".join(parts), claims)

    def baseline_spread(self) -> str:
        """What is known of the baseline pipeline's own seed spread, and what would settle it."""
        inc = self.incident
        replay = self.replay_finding()
        if inc.identical_pipelines:
            return (
                "the pipelines are the same but for seeds: the candidate band is the baseline's own"
            )
        if replay is not None and replay.exact:
            return "the seed replay shows the baseline is a draw of the candidate pipeline"
        if self._has_baseline_band:
            base, band = self.ok(BASELINE_BAND), self.ok(CANDIDATE_BAND)
            state = "decided" if self._pipes is not None else "not told apart yet"
            return (
                f"the baseline pipeline's own band has {count_words(len(base), 'seed')} against "
                f"{len(band)} of the candidate's: the two seed distributions are {state}"
            )
        return (
            "the baseline pipeline cannot be retrained, so its own seed spread is unknown: from "
            "one value a lucky baseline and a real change look alike; retraining the baseline "
            f"pipeline ({FIRST_ROUND} seeds to a first look) would settle it"
        )

    # ------------------------------------------------------------------ findings

    def findings(self) -> Findings:
        """What the retrains recorded so far show, reconciled into one true account."""
        verdict = self.conclusion()
        checks = tuple(
            self._check_finding(axis, arm, verdict) for axis, arm in self.incident.swaps.items()
        )
        rows, remainder, words = self._attribution(checks)
        spent = tuple(
            ArmSpend(arm, len(runs), sum(v is None for v in runs))
            for arm, runs in self._runs.items()
            if runs
        )
        return Findings(
            gap=self.incident.gap,
            gap_words=self._gap_words(),
            conclusion=verdict,
            checks=checks,
            band=self._band_finding(verdict),
            pipelines=self._pipeline_finding(),
            percentile=self._percentile(),
            baseline_spread=self.baseline_spread(),
            replay=self.replay_finding(),
            attribution=rows,
            remainder=remainder,
            attribution_words=words,
            spent=spent,
            retrains=self.spent,
            log=tuple(self._log),
            stop_reason=self._stop,
        )

    def _gap_words(self) -> str:
        inc = self.incident
        side = "worse" if inc.gap >= 0 else "better"
        return (
            f"the candidate scores {self._num(self.size)} {side} in {inc.metric} than the baseline "
            f"(candidate {self._num(inc.candidate)}, baseline {self._num(inc.baseline)}; "
            f"{inc.direction} is better)"
        )

    def _check_finding(self, axis: Axis, arm: str, verdict: Conclusion) -> CheckFinding:
        runs = self._runs[arm]
        failed = sum(v is None for v in runs)
        judgement = self._frozen.get(arm) or self._judge_arm(arm)
        if judgement is not None:
            words = judgement.words
            if judgement.outcome == "cant_tell" and verdict.kind in TERMINAL:
                words += f"; not pursued: the conclusion ({verdict.kind}) does not depend on it"
            return CheckFinding(axis, arm, judgement.outcome, judgement, len(runs), failed, words)
        if runs and not self.ok(arm):
            words = f"can't tell yet: its retrains failed ({failed} of {len(runs)})"
        elif verdict.kind in TERMINAL:
            words = f"can't tell yet: not run, the conclusion ({verdict.kind}) does not need it"
        else:
            words = "can't tell yet: not run (the budget ran out before it)"
        return CheckFinding(axis, arm, "cant_tell", None, len(runs), failed, words)

    def _band_finding(self, verdict: Conclusion) -> BandFinding:
        band, inc = self.ok(CANDIDATE_BAND), self.incident
        mean = sum(band) / len(band) if band else None
        std = None
        if len(band) >= 2 and mean is not None:
            std = math.sqrt(sum((v - mean) ** 2 for v in band) / (len(band) - 1))
        d = self._band
        if d is None and len(band) >= FIRST_ROUND and not self.zero_gap:
            d = decide_single(inc.baseline, band, direction=inc.direction)
        if self._band is None:
            words = d.reason if d is not None else f"{count_words(len(band), 'seed')}: no look yet"
            return BandFinding("undecided", len(band), mean, std, d, words)
        outcome: BandOutcome = self._band.outcome or "inconclusive"
        words = self._band.reason
        seed_case = verdict.kind in ("lucky baseline", "within noise")
        if outcome == "beyond noise" and seed_case:
            outcome = "unusual baseline draw"
            words += (
                "; yet the baseline's own pipeline scores no better: the baseline is an unusual "
                "draw of it, not evidence of a regression"
            )
        elif outcome == "beyond noise" and not (self._has_baseline_band or inc.identical_pipelines):
            words += "; with the baseline's own spread unknown this alone shows no regression"
        return BandFinding(outcome, len(band), mean, std, self._band, words)

    def _pipeline_finding(self) -> PipelineFinding | None:
        if not self._has_baseline_band:
            return None
        base, band = self.ok(BASELINE_BAND), self.ok(CANDIDATE_BAND)
        d = self._pipes
        if d is None and min(len(base), len(band)) >= 3:
            d = decide_two_sample(base, band, delta=self.margin)
        if d is None or not isinstance(d.test, TwoSample):
            words = f"not judged yet ({len(base)} baseline and {len(band)} candidate seeds)"
            return PipelineFinding("undecided", None, None, None, None, words)
        t, k = d.test, self.toward
        low, high = sorted((k * t.ci_low, k * t.ci_high))
        outcome: PipelinesOutcome = "undecided"
        if self._pipes is not None and self._pipes.outcome == "beyond noise":
            outcome = "differ"
        elif self._pipes is not None and self._pipes.outcome == "consistent with noise":
            outcome = "equivalent"
        elif self._pipes is not None:
            outcome = "inconclusive"
        return PipelineFinding(outcome, k * t.diff, low, high, d, d.reason)

    def _attribution(
        self, checks: tuple[CheckFinding, ...]
    ) -> tuple[tuple[AttributionRow, ...], AttributionRow, str]:
        """Per-axis points, the two runs' own seeds, and the remainder: they sum to the gap."""
        size, band = self.size, self.ok(CANDIDATE_BAND)
        replay = self.replay_finding()
        if self.zero_gap:
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
        rows = self._rows(checks, band)
        return self._with_remainder(rows, checks, band)

    def _row(
        self, label: str, axis: Axis | None, points: float, half: float | None, outcome: str
    ) -> AttributionRow:
        low = None if half is None else points - half
        high = None if half is None else points + half
        return AttributionRow(label, axis, points, low, high, points / self.size, outcome)

    def _rows(self, checks: tuple[CheckFinding, ...], band: list[float]) -> list[AttributionRow]:
        inc, k = self.incident, self.toward
        rows = []
        for check in checks:
            arm = self.ok(check.arm)
            if arm:
                d = difference(band, arm, toward=k)
                label = f"{check.axis} ({check.arm})"
                rows.append(
                    self._row(label, check.axis, d.points, d.high - d.points, check.outcome)
                )
        rows.append(self._seed_row("the candidate run's own seed", inc.candidate, band, -k))
        base = self.ok(BASELINE_BAND) if self._has_baseline_band else []
        if inc.identical_pipelines:  # the candidate band is the baseline pipeline's own
            base = band
        if len(base) >= 2:
            rows.append(self._seed_row("the baseline run's own seed", inc.baseline, base, k))
        return rows

    def _seed_row(self, who: str, value: float, seeds: list[float], k: float) -> AttributionRow:
        """How far one run sits from its pipeline's band mean, as points toward the baseline."""
        points = k * (value - sum(seeds) / len(seeds))
        half = linear_half_width([(1.0, seeds)])
        label = f"{who} (its distance from its band mean)"
        return self._row(label, "randomness", points, half, "measured")

    def _with_remainder(
        self, rows: list[AttributionRow], checks: tuple[CheckFinding, ...], band: list[float]
    ) -> tuple[tuple[AttributionRow, ...], AttributionRow, str]:
        size, inc = self.size, self.incident
        swapped = [self.ok(c.arm) for c in checks if self.ok(c.arm)]
        # R = toward·(a or ȳ_baseline + (K − 1)·ȳ − Σ mean(swap k)): only the means are random.
        # With identical pipelines ȳ_baseline is ȳ itself, so its coefficients add up (to 0).
        identical = inc.identical_pipelines and len(band) >= 2
        terms: list[tuple[float, Sequence[float]]] = [(len(swapped) - 1.0 + identical, band)]
        terms += [(-1.0, arm) for arm in swapped]
        base = self.ok(BASELINE_BAND)
        with_base = identical or (self._has_baseline_band and len(base) >= 2)
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
        rest = self._row(label, None, points, half, "remainder")
        return tuple(rows), rest, self._remainder_words(rest)

    def _remainder_words(self, rest: AttributionRow) -> str:
        num, gap = self._num, self._num(self.size)
        interval = (
            "" if rest.low is None or rest.high is None else f" [{num(rest.low)}, {num(rest.high)}]"
        )
        left = f"{num(rest.points)}{interval} ({percent(rest.share)}) is left: {rest.label}"
        if rest.low is not None and rest.high is not None and (rest.low > 0 or rest.high < 0):
            return f"the measured rows do not add up to the {gap} gap: {left}"
        if abs(rest.points) <= self.margin:
            return f"the measured rows add up to the {gap} gap within noise: {left}"
        return (
            f"the measured rows add up to the {gap} gap only loosely: {left}, not yet told from 0"
        )


def investigate(
    incident: Incident, retrain: Callable[[Request], Sequence[float | None]]
) -> Findings:
    """Drive an Investigation to its end: `retrain` runs one request and returns its values."""
    investigation = Investigation(incident)
    while batch := investigation.next_batch():
        for request in batch:
            investigation.record(request.arm, retrain(request))
    return investigation.findings()
