"""The overall conclusion of an investigation, and the findings reconciled with it, in words.

Functions of the Evidence (evidence.py): the verdict from the decisions frozen so far (see
policy.py's docstring for the plan), the short state of each check, what is known of the
baseline's own seed spread, and the check, band and pipeline findings that must agree with the
verdict (a band "beyond noise" is an unusual baseline draw when the gap is the seed).
"""

from __future__ import annotations

import math

from reprodiag.confirm.evidence import Evidence
from reprodiag.confirm.incident import (
    BASELINE_BAND,
    CANDIDATE_BAND,
    FIRST_ROUND,
    IMPLAUSIBLE_TOP,
    SMOKE_FAILED,
)
from reprodiag.confirm.outcomes import (
    TERMINAL,
    BandFinding,
    BandOutcome,
    CheckFinding,
    Conclusion,
    ConclusionKind,
    PipelineFinding,
    PipelinesOutcome,
)
from reprodiag.manifest.model import Axis
from reprodiag.noise.counterfactual import SwapOutcome, count_words
from reprodiag.noise.sequential import decide_single, decide_two_sample
from reprodiag.noise.stats import TwoSample


def conclude(ev: Evidence) -> Conclusion:
    """The overall verdict from the decisions frozen so far (see policy.py's docstring)."""
    if ev.zero_gap:
        return Conclusion("reproduces", _reproduces_words(ev), False)
    if ev.smoke_failed:
        return Conclusion("trainer failed", SMOKE_FAILED, False)
    replay = ev.replay_finding()
    if replay is not None and replay.exact:
        return _seed_conclusion(ev, replay.words)
    explaining = [a for a in ev.incident.swaps.values() if _outcome(ev, a) == "explains"]
    if explaining:
        return _explained(ev, explaining)
    if ev.incident.identical_pipelines:
        return _identical(ev)
    if ev.pipes_same():
        assert ev.pipes is not None
        return _seed_conclusion(
            ev,
            f"the baseline pipeline's own seeds do not score better than the candidate's "
            f"({ev.pipes.reason})",
        )
    if ev.band is not None and ev.band.outcome == "consistent with noise":
        sentence = f"the gap lies inside the candidate's seed band ({ev.band.reason})"
        if ev.incident.swaps:
            sentence += (
                "; seeds alone can produce it, so the swaps were not pursued further: this "
                "shows no large change, and excludes no small one"
            )
        return Conclusion("within noise", sentence, False)
    return _cant_tell(ev)


def _outcome(ev: Evidence, arm: str) -> SwapOutcome:
    judgement = ev.frozen.get(arm)
    return judgement.outcome if judgement is not None else "cant_tell"


def _reproduces_words(ev: Evidence) -> str:
    inc = ev.incident
    bar = "metric-exact" if inc.baseline == inc.candidate else "within the metric's resolution"
    return (
        f"the candidate reproduces the baseline ({ev.num(inc.candidate)} against "
        f"{ev.num(inc.baseline)} {inc.metric}, {bar}): no retrain is needed"
    )


def _seed_conclusion(ev: Evidence, why: str) -> Conclusion:
    # `why` may already end "the gap is the seed" (the replay's words): said once.
    why = why.removesuffix(": the gap is the seed")
    pct = ev.percentile()
    if pct is None:
        return Conclusion("within noise", f"{why}: the gap is the seed, not a change", False)
    kind: ConclusionKind = "lucky baseline" if pct.lucky else "within noise"
    return Conclusion(kind, f"{why}: the gap is the seed, not a change; {pct.words}", False)


def _identical(ev: Evidence) -> Conclusion:
    pct, d = ev.percentile(), ev.band
    same = "the manifests record the same pipeline but for its seeds"
    if d is None or pct is None:
        n = len(ev.ok(CANDIDATE_BAND))
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


def _explained(ev: Evidence, arms: list[str]) -> Conclusion:
    judged = sorted(((ev.frozen[a], a) for a in arms), key=lambda p: -p[0].points)
    main = "; ".join(f"the {ev.axis_of(a)} change ({a}) {j.words}" for j, a in judged)
    others = [a for a in ev.incident.swaps.values() if a not in arms]
    sentence = f"the gap is explained: {main}"
    if others:
        short = ", ".join(f"{ev.axis_of(a)}: {_short(ev, a)}" for a in others)
        sentence += f". Other recorded changes: {short}"
    return Conclusion("explained", sentence, True)


def _short(ev: Evidence, arm: str) -> str:
    judgement = ev.frozen.get(arm) or ev.judge_arm(arm)
    if judgement is None:
        return "can't tell yet (not measured)" if not ev.ok(arm) else "can't tell yet"
    if judgement.outcome == "excluded":
        return f"excluded (less than {ev.num(judgement.margin)})"
    if judgement.outcome == "explains":
        return f"explains {ev.num(judgement.points)}"
    more = count_words(judgement.more_per_arm or 0, "more retrain")
    return f"can't tell yet (about {more} per arm)"


def _cant_tell(ev: Evidence) -> Conclusion:
    parts: list[str] = []
    claims = False
    d = ev.pipes
    if ev.abandoned(CANDIDATE_BAND):
        parts.append("the candidate band's retrains failed, so nothing can be judged")
    if d is not None and d.outcome == "beyond noise":  # toward the baseline: Evidence.pipes_same
        parts.append(
            f"the baseline pipeline's own seeds score better than the candidate's beyond seed "
            f"noise ({d.reason}): a real change, not yet attributed to a recorded axis"
        )
        claims = True
    elif ev.band is not None:
        label = (
            "the baseline lies beyond the candidate's seed band"
            if ev.band.outcome == "beyond noise"
            else "the candidate's seed band has not told whether the baseline lies within it"
        )
        parts.append(f"{label} ({ev.band.reason})")
    else:
        n = len(ev.ok(CANDIDATE_BAND))
        parts.append(f"the candidate's seed band has not decided yet (n = {n})")
    parts.append(baseline_spread(ev))
    parts.extend(f"{ev.axis_of(a)}: {_short(ev, a)}" for a in ev.incident.swaps.values())
    return Conclusion("can't tell yet", "; ".join(parts), claims)


def baseline_spread(ev: Evidence) -> str:
    """What is known of the baseline pipeline's own seed spread, and what would settle it."""
    inc = ev.incident
    replay = ev.replay_finding()
    if inc.identical_pipelines:
        return "the pipelines are the same but for seeds: the candidate band is the baseline's own"
    if replay is not None and replay.exact:
        return "the seed replay shows the baseline is a draw of the candidate pipeline"
    if ev.has_baseline_band:
        base, band = ev.ok(BASELINE_BAND), ev.ok(CANDIDATE_BAND)
        state = "decided" if ev.pipes is not None else "not told apart yet"
        return (
            f"the baseline pipeline's own band has {count_words(len(base), 'seed')} against "
            f"{len(band)} of the candidate's: the two seed distributions are {state}"
        )
    # Never advise retraining what was just said cannot be retrained: say why it cannot, what
    # would make it possible, and the other way to settle it (a swap that explains the gap).
    why = inc.baseline_why or "no retrain here reproduces it"
    other = (
        "; meanwhile a swap that explains the gap would settle it another way" if inc.swaps else ""
    )
    return (
        f"the baseline pipeline cannot be retrained: {why}. So its own seed spread is unknown, "
        "and from one value a lucky baseline and a real change look alike; once it can be "
        f"retrained, {FIRST_ROUND} of its seeds give a first look{other}"
    )


def gap_words(ev: Evidence) -> str:
    """The gap in words: which run scores better, by how much, in which metric."""
    inc = ev.incident
    side = "worse" if inc.gap >= 0 else "better"
    return (
        f"the candidate scores {ev.num(ev.size)} {side} in {inc.metric} than the baseline "
        f"(candidate {ev.num(inc.candidate)}, baseline {ev.num(inc.baseline)}; "
        f"{inc.direction} is better)"
    )


def check_finding(ev: Evidence, axis: Axis, arm: str, verdict: Conclusion) -> CheckFinding:
    """One swap arm's check, and why it is not pursued where the verdict does not need it."""
    runs = ev.runs[arm]
    failed = sum(v is None for v in runs)
    judgement = ev.frozen.get(arm) or ev.judge_arm(arm)
    if judgement is not None:
        words = judgement.words
        if judgement.outcome == "cant_tell" and verdict.kind in TERMINAL:
            words += f"; not pursued: the conclusion ({verdict.kind}) does not depend on it"
        return CheckFinding(axis, arm, judgement.outcome, judgement, len(runs), failed, words)
    if runs and not ev.ok(arm):
        words = f"can't tell yet: its retrains failed ({failed} of {len(runs)})"
    elif verdict.kind in TERMINAL:
        words = f"can't tell yet: not run, the conclusion ({verdict.kind}) does not need it"
    else:
        words = "can't tell yet: not run (the budget ran out before it)"
    return CheckFinding(axis, arm, "cant_tell", None, len(runs), failed, words)


def band_finding(ev: Evidence, verdict: Conclusion) -> BandFinding:
    """The candidate band's single-number decision, reconciled with the verdict."""
    band, inc = ev.ok(CANDIDATE_BAND), ev.incident
    mean = sum(band) / len(band) if band else None
    std = None
    if len(band) >= 2 and mean is not None:
        std = math.sqrt(sum((v - mean) ** 2 for v in band) / (len(band) - 1))
    d = ev.band
    if d is None and len(band) >= FIRST_ROUND and not ev.zero_gap:
        d = decide_single(inc.baseline, band, direction=inc.direction)
    if ev.band is None:
        words = d.reason if d is not None else f"{count_words(len(band), 'seed')}: no look yet"
        idle = band_idle_why(ev, verdict)
        if idle is not None and d is not None:
            words += f"; not continued: {idle}"
        return BandFinding("undecided", len(band), mean, std, d, words)
    outcome: BandOutcome = ev.band.outcome or "inconclusive"
    words = ev.band.reason
    seed_case = verdict.kind in ("lucky baseline", "within noise")
    if outcome == "beyond noise" and seed_case:
        outcome = "unusual baseline draw"
        words += (
            "; yet the baseline's own pipeline scores no better: the baseline is an unusual "
            "draw of it, not evidence of a regression"
        )
    elif outcome == "beyond noise" and not (ev.has_baseline_band or inc.identical_pipelines):
        words += "; with the baseline's own spread unknown this alone shows no regression"
    return BandFinding(outcome, len(band), mean, std, ev.band, words)


def band_idle_why(ev: Evidence, verdict: Conclusion) -> str | None:
    """Why the candidate band's own test of the baseline value is not grown, in words; None when
    the investigation still needs it (the policy grows it while it is needed and budget is left)
    or stopped for a reason of its own (the budget: the stop reason says so).

    The band's single-number test asks whether seed noise alone could give the gap. Two other
    pieces of evidence answer that question better, and the policy stops growing the band once
    either exists: the baseline pipeline's own seeds (two distributions compared), and a swap
    that explains the gap (the band is then that swap's reference arm)."""
    if ev.incident.identical_pipelines:
        return None
    if verdict.kind in TERMINAL:
        return f"the conclusion ({verdict.kind}) cannot change"
    if ev.has_baseline_band and len(ev.ok(BASELINE_BAND)) >= FIRST_ROUND:
        return (
            "the baseline pipeline's own seeds answer whether the seed explains the gap "
            "(baseline band, check 12)"
        )
    if verdict.kind == "explained":
        return "a swap explains the gap; the band serves as that swap's reference arm"
    return None


def pipeline_finding(ev: Evidence) -> PipelineFinding | None:
    """The two pipelines' seed distributions compared (None: the baseline has no band)."""
    if not ev.has_baseline_band:
        return None
    base, band = ev.ok(BASELINE_BAND), ev.ok(CANDIDATE_BAND)
    d = ev.pipes
    if d is None and min(len(base), len(band)) >= 3:
        d = decide_two_sample(base, band, delta=ev.margin)
    if d is None or not isinstance(d.test, TwoSample):
        words = f"not judged yet ({len(base)} baseline and {len(band)} candidate seeds)"
        return PipelineFinding("undecided", None, None, None, None, words)
    t, k = d.test, ev.toward
    low, high = sorted((k * t.ci_low, k * t.ci_high))
    outcome: PipelinesOutcome = "undecided"
    if ev.pipes is not None and ev.pipes.outcome == "beyond noise":
        outcome = "differ"
    elif ev.pipes is not None and ev.pipes.outcome == "consistent with noise":
        outcome = "equivalent"
    elif ev.pipes is not None:
        outcome = "inconclusive"
    return PipelineFinding(outcome, k * t.diff, low, high, d, d.reason)
