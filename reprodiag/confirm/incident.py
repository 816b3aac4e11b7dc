"""What an investigation starts from: the incident, a request for retrains, the arm names.

The input records of the investigation policy (policy.py) and the constants its plan is built
on; no statistics here beyond the gap's sign.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from reprodiag.manifest.model import Axis
from reprodiag.noise.counterfactual import DEFAULT_RHO
from reprodiag.noise.sequential import LOOKS
from reprodiag.noise.stats import Direction

CANDIDATE_BAND = "candidate_band"
BASELINE_BAND = "baseline_band"
SEED_REPLAY = "seed_replay"
RESERVED_ARMS = (CANDIDATE_BAND, BASELINE_BAND, SEED_REPLAY)
FIRST_ROUND = LOOKS[0]
MAX_ARM = LOOKS[-1]
FAILS_IN_A_ROW = 3  # an arm whose last 3 retrains failed gets no more
IMPLAUSIBLE_TOP = 0.001  # a "lucky" seed rarer than 1 in 1000 points to an unrecorded change
SMOKE_WHY = (
    "the smoke check: one seed of the candidate pipeline shows the trainer works before the "
    "budget is spent"
)
SMOKE_ENSEMBLE_WHY = (
    "the smoke check, as the candidate band's first look in one ensemble: the trainer trains "
    "these seeds at once for about the cost of one fit, so they show the trainer works as "
    "cheaply as one seed would, and a trainer that fails stops everything after them"
)
SMOKE_REPLAY_WHY = (
    "the smoke check, which is also the seed replay: the band store already holds the candidate "
    "band's first look, so the first retrain is the seed replay; it shows the trainer works here "
    "before the budget is spent"
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
    # Why the baseline pipeline cannot be retrained, and what would make it so, in words
    # (arms.incident_for); None when it can be, or when nothing is known of why not.
    baseline_why: str | None = None
    # The swap arm whose pipeline IS the baseline's (exactly one axis differs and putting it back
    # gives the baseline pipeline): its seeds serve as the baseline band, never run twice.
    baseline_arm: str | None = None
    identical_pipelines: bool = False
    stored_band: tuple[float, ...] = ()
    # The trainer trains seeds as one ensemble (about the cost of one fit): see smoke_seeds.
    ensembles: bool = False

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
    def smoke_seeds(self) -> int:
        """Candidate-band seeds the smoke check runs: 1; with ensembles, the seeds the band's
        first look still needs beyond the stored ones."""
        return max(1, FIRST_ROUND - len(self.stored_band)) if self.ensembles else 1

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
    smoke: bool = False  # the smoke check: the first retrain, alone, before the budget is spent
