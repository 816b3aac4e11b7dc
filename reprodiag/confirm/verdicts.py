"""What a retrain showed, in numbers and words, judged against the seed-noise band.

A counterfactual retrain is one run of the candidate pipeline with one axis swapped back to the
baseline's. Its value m is compared with the band of n seed retrains (mean ȳ, std s) through the
prediction interval of one new run: half-width h = t(0.975, n−1)·s·√(1 + 1/n). In the metric's
"better" direction, the points it recovers are r = m − ȳ, the gap to explain is g = a − ȳ:
- r − h > 0 and |a − m| ≤ h: the swap closes the gap to within the band → confirmed, r points;
- r − h > 0: it explains part of the gap → confirmed (partial), r points;
- r + h < 0: it moves the metric away from the baseline → ruled out;
- else (the interval holds 0) it explains none of the gap → ruled out.
A swap must recover points clearly (r − h > 0) to confirm anything: landing inside the band is
not enough when the baseline itself lies inside the band.
"""

from __future__ import annotations

import dataclasses
import math

from reprodiag.diagnosis.model import (
    Attribution,
    AxisStatus,
    Check,
    CheckVerdict,
    Gap,
    NoiseBand,
)
from reprodiag.noise.sequential import Decision
from reprodiag.noise.stats import SingleBaseline
from reprodiag.retrain.seed_result import SeedResult
from reprodiag.retrain.spec import RetrainResult

WORDS = {
    "seed_replay": "seed replay",
    "pinned_snapshot": "pinned-snapshot retrain",
    "intent_swap": "intent swap",
}


@dataclasses.dataclass(frozen=True)
class AxisVerdict:
    axis: str
    status: AxisStatus
    reason: str  # the retrain's finding; the ranking prefixes it to the manifest reason
    attribution: Attribution | None = None


def _sign(gap: Gap) -> float:
    return 1.0 if gap.direction == "higher" else -1.0


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def judge_counterfactual(
    check: Check, result: RetrainResult, band: NoiseBand | None, gap: Gap, baseline_value: float
) -> tuple[Check, AxisVerdict | None]:
    """Turn one counterfactual RetrainResult into a done Check and, when judged, an axis verdict."""
    what = WORDS.get(check.key, check.key)
    evidence = tuple(p for p in (result.manifest_path,) if p)
    if result.status != "ok" or result.metric_value is None:
        observed = f"the {what} failed: {result.reason}; this check stays open"
        return _done(check, observed, "inconclusive", evidence), None
    m = float(result.metric_value)
    if band is None or band.n < 3:
        observed = (
            f"the {what} scored {_fmt(m)} {gap.metric}; no noise band of at least 3 seeds "
            "finished, so it cannot be judged"
        )
        return _done(check, observed, "inconclusive", evidence), None
    sgn, h = _sign(gap), band.k * band.std  # the band's k = t(0.975, n−1)·√(1 + 1/n)
    recovered, total = (m - band.mean) * sgn, (baseline_value - band.mean) * sgn
    interval = f"[{_fmt(recovered - h)}, {_fmt(recovered + h)}]"
    head = (
        f"the {what} scored {_fmt(m)} {gap.metric} against the band mean {_fmt(band.mean)} "
        f"(n = {band.n}, s = {_fmt(band.std)}): it recovers {_fmt(recovered)} {interval} of "
        f"the {_fmt(total)} points between the pipeline and the baseline"
    )
    attribution = Attribution(
        axis=check.axis, points=recovered, low=recovered - h, high=recovered + h, check=check.key
    )
    if recovered - h > 0 and abs(baseline_value - m) <= h:
        verdict = AxisVerdict(
            check.axis,
            "confirmed",
            f"the {what} closes the gap to within the noise band",
            attribution,
        )
        return _done(
            check, head + "; it closes the gap to within the band", "confirms", evidence
        ), verdict
    if recovered - h > 0:
        verdict = AxisVerdict(
            check.axis,
            "confirmed",
            f"the {what} explains {_fmt(recovered)} of {_fmt(total)} points",
            attribution,
        )
        return _done(check, head + "; it explains part of the gap", "confirms", evidence), verdict
    if recovered + h < 0:
        # Swapping this axis back moves the metric further from the baseline: whatever it does,
        # it does not explain the regression.
        verdict = AxisVerdict(
            check.axis,
            "ruled_out",
            f"the {what} moves the metric away from the baseline "
            f"({_fmt(recovered)} {interval}): it explains none of the gap",
        )
        return _done(
            check, head + "; it moves the metric away from the baseline", "rules_out", evidence
        ), verdict
    verdict = AxisVerdict(
        check.axis,
        "ruled_out",
        f"the {what} explains none of the gap ({_fmt(recovered)} {interval})",
    )
    return _done(
        check, head + "; the interval holds 0: it explains none of the gap", "rules_out", evidence
    ), verdict


def _done(check: Check, observed: str, verdict: CheckVerdict, evidence: tuple[str, ...]) -> Check:
    return dataclasses.replace(
        check,
        status="done",
        observed=observed,
        verdict=verdict,
        evidence=check.evidence + evidence,
    )


def noise_band_record(decision: Decision, seeds: list[SeedResult], gap: Gap) -> NoiseBand | None:
    test = decision.test
    if not isinstance(test, SingleBaseline):  # None before 3 seeds; the band is a single-value test
        return None
    failed = sum(1 for s in seeds if s.status == "failed")
    note = f"{failed} seed retrain(s) failed and are not counted: n = {test.n}" if failed else None
    return NoiseBand(
        metric=gap.metric,
        n=test.n,
        mean=test.mean,
        std=test.std,
        low=test.low,
        high=test.high,
        k=test.k,
        outcome=decision.outcome or "inconclusive",
        statistic=_finite(test.t),
        p_value=_finite(test.p),
        baseline_rank=test.rank_text,
        min_detectable_effect=_finite(test.min_detectable_effect),
        seeds=tuple(seeds),
        note=note,
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def band_verdict(decision: Decision, check: Check) -> tuple[Check, AxisVerdict]:
    """The noise band's Check and what it says of the randomness axis."""
    outcome = decision.outcome or "inconclusive"
    result: CheckVerdict
    if outcome == "consistent with noise":
        verdict = AxisVerdict(
            "randomness",
            "noise",
            "the gap lies inside the seed-noise band: randomness alone can "
            f"explain it ({decision.reason})",
        )
        result = "confirms"
    elif outcome == "beyond noise":
        verdict = AxisVerdict(
            "randomness",
            "ruled_out",
            "the gap is beyond the seed-noise band: randomness alone cannot "
            f"explain it ({decision.reason})",
        )
        result = "rules_out"
    else:
        verdict = AxisVerdict(
            "randomness", "candidate", f"the noise band is inconclusive ({decision.reason})"
        )
        result = "inconclusive"
    return _done(check, decision.reason, result, ()), verdict
