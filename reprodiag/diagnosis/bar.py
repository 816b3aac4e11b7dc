"""The reproducibility bar a pair meets, and whether its gap is zero (DESIGN.md "Reports").

The lesson asks "reproducible to what bar: bit-exact, statistically equivalent, or
conclusion-equivalent?". From the manifests alone:
- a gap within the metric's resolution (or exactly zero) is "reproduces": *bit-exact* when every
  output digest both runs recorded is equal, else *metric-exact* (same metric, outputs unknown or
  different);
- a gap beyond the resolution cannot be placed without retrains, except *conclusion-equivalent*
  when the user's acceptance threshold is given and both runs fall on the same side of it;
- anything else is *undetermined* until retrains measure the seed noise (reprodiag.confirm then
  places it: statistically equivalent, or not reproduced).
"""

from __future__ import annotations

import math

from reprodiag.diagnosis.gap import metric_resolution
from reprodiag.diagnosis.model import Bar, Gap
from reprodiag.diagnosis.outputs import compare_outputs
from reprodiag.manifest.model import Manifest

# Two metric values this close (relative to their size) are the same number written twice:
# a float round trip through JSON, never a real difference.
_FLOAT_TOLERANCE = 1e-12


def resolution(baseline: Manifest, candidate: Manifest, metric: str) -> float:
    """The coarser of the two runs' recorded resolutions for `metric`; 0 when none was given."""
    given = [metric_resolution(m, metric) for m in (baseline, candidate)]
    return max((r for r in given if r is not None), default=0.0)


def is_zero_gap(gap: Gap, resolution: float) -> bool:
    """True when the two values differ by no more than the resolution (or a float's rounding)."""
    if gap.baseline is None or gap.candidate is None:
        return False  # a gap stated with --gap is a real gap by the user's word
    scale = max(1.0, abs(gap.baseline), abs(gap.candidate))
    return abs(gap.delta) <= max(resolution, _FLOAT_TOLERANCE * scale)


def reproduces_bar(baseline: Manifest, candidate: Manifest, gap: Gap, resolution: float) -> Bar:
    """The bar of a zero gap: bit-exact when the output digests agree, else metric-exact."""
    outputs = compare_outputs(baseline, candidate)
    to = f" (to its resolution {resolution:g})" if resolution > 0 else ""
    same = f"both runs score {gap.baseline:.6g} {gap.metric}{to}"
    if outputs.bit_exact:
        return Bar("bit-exact", f"{same}, and {outputs.reason}")
    return Bar("metric-exact", f"{same}; {outputs.reason}")


def threshold_words(gap: Gap) -> str | None:
    """`both pass the acceptance threshold 80 auc` when both runs fall on the same side of it."""
    threshold = gap.threshold
    if threshold is None or gap.baseline is None or gap.candidate is None:
        return None
    if not math.isfinite(threshold):
        return None

    def passes(value: float) -> bool:
        return value >= threshold if gap.direction == "higher" else value <= threshold

    b, c = passes(gap.baseline), passes(gap.candidate)
    if b != c:
        return None
    verb = "pass" if b else "fail"
    return f"both runs {verb} the acceptance threshold {threshold:g} {gap.metric}"


def manifest_bar(baseline: Manifest, candidate: Manifest, gap: Gap, resolution: float) -> Bar:
    """The bar from the manifests alone (no retrain has run)."""
    if is_zero_gap(gap, resolution):
        return reproduces_bar(baseline, candidate, gap, resolution)
    same_side = threshold_words(gap)
    if same_side:
        return Bar(
            "conclusion-equivalent",
            f"{same_side}; whether the gap is within seed noise needs the noise band",
        )
    return Bar(
        "undetermined",
        "the metric differs and no retrain has measured the seed noise: run "
        "`reprodiag compare --retrain` to place the pair (statistically equivalent or not "
        "reproduced)",
    )
