"""What an investigation found: the frozen records of its findings, in numbers and words.

Each check, the candidate band, the two pipelines, the seed replay, the attribution rows, the
conclusion and the retrains spent; built by policy.py, read by the confirmation layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reprodiag.confirm.incident import Request
from reprodiag.manifest.model import Axis
from reprodiag.noise.counterfactual import BaselinePercentile, SwapJudgement, SwapOutcome
from reprodiag.noise.sequential import Decision

ConclusionKind = Literal[
    "reproduces", "explained", "within noise", "lucky baseline", "can't tell yet", "trainer failed"
]
BandOutcome = Literal[
    "beyond noise", "consistent with noise", "inconclusive", "undecided", "unusual baseline draw"
]
PipelinesOutcome = Literal["differ", "equivalent", "inconclusive", "undecided"]
ReplayOutcome = Literal["explains", "cant_tell"]

TERMINAL: tuple[ConclusionKind, ...] = (
    "reproduces",
    "trainer failed",
    "lucky baseline",
    "within noise",
)


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
    smoke_arm: str  # whose first retrain was the smoke check (the candidate band, or the replay)
