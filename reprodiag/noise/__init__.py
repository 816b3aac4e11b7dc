"""Seed-noise statistics: the band, the tests, and sequential stopping (shared/STATS.md)."""

from reprodiag.noise.sequential import (
    FUTILITY_T,
    LOOKS,
    POCOCK_SINGLE,
    POCOCK_TWO_SAMPLE,
    Decision,
    Outcome,
    decide_single,
    decide_two_sample,
    next_look,
)
from reprodiag.noise.stats import (
    NoiseSampleError,
    SingleBaseline,
    TwoSample,
    band_k,
    min_detectable_effect,
    rank_text,
    seeds_per_arm,
    sigma_interval,
    single_baseline,
    welch_tost,
)

__all__ = [
    "FUTILITY_T",
    "LOOKS",
    "POCOCK_SINGLE",
    "POCOCK_TWO_SAMPLE",
    "Decision",
    "NoiseSampleError",
    "Outcome",
    "SingleBaseline",
    "TwoSample",
    "band_k",
    "decide_single",
    "decide_two_sample",
    "min_detectable_effect",
    "next_look",
    "rank_text",
    "seeds_per_arm",
    "sigma_interval",
    "single_baseline",
    "welch_tost",
]
