"""What retrains showed, as records the ranking and the report read.

`AxisVerdict` carries one axis' outcome (explains → confirmed, excluded, can't tell yet, or within
the noise band) and its words; `noise_band_record` turns the candidate band into the Diagnosis'
NoiseBand, with the single-number test's outcome as the investigation reconciled it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from reprodiag.diagnosis.model import Attribution, AxisStatus, BandOutcome, Gap, NoiseBand
from reprodiag.noise.sequential import Decision
from reprodiag.noise.stats import SingleBaseline
from reprodiag.retrain.seed_result import SeedResult


@dataclasses.dataclass(frozen=True)
class AxisVerdict:
    """One axis as the retrains left it; the ranking puts `reason` before the manifest facts."""

    axis: str
    status: AxisStatus
    reason: str
    attribution: Attribution | None = None


def noise_band_record(
    decision: Decision | None,
    seeds: Sequence[SeedResult],
    gap: Gap,
    outcome: BandOutcome,
    words: str,
) -> NoiseBand | None:
    """The candidate band as the report shows it; None before three seeds finished."""
    test = decision.test if decision is not None else None
    if not isinstance(test, SingleBaseline):  # None before 3 seeds; the band is a single-value test
        return None
    failed = sum(1 for s in seeds if s.status == "failed")
    notes = [words]
    if failed:
        notes.append(f"{failed} seed retrain(s) failed and are not counted: n = {test.n}")
    return NoiseBand(
        metric=gap.metric,
        n=test.n,
        mean=test.mean,
        std=test.std,
        low=test.low,
        high=test.high,
        k=test.k,
        outcome=outcome,
        statistic=_finite(test.t),
        p_value=_finite(test.p),
        baseline_rank=test.rank_text,
        min_detectable_effect=_finite(test.min_detectable_effect),
        seeds=tuple(seeds),
        note="; ".join(notes),
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
