"""What the investigation showed, written into the Diagnosis: checks, verdicts, band, bar, words.

Every retrain check ends in one of three outcomes (explains / excluded / can't tell yet); the
candidate band's single-number test is shown as the investigation reconciled it, so the band and
a counterfactual never contradict each other in one report; the summary states the conclusion,
the attribution (with what is left over) and why the budget went where it went.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from reprodiag.confirm.arms import Arms
from reprodiag.confirm.attribution import Unexplained, rows_add_up, unexplained
from reprodiag.confirm.bar import retrain_bar
from reprodiag.confirm.bisect import bisect_explained
from reprodiag.confirm.identity import NOT_THE_PIPELINE, identity_warnings, refused_lines
from reprodiag.confirm.policy import CANDIDATE_BAND, CheckFinding, Findings, Incident
from reprodiag.confirm.verdicts import AxisVerdict, noise_band_record
from reprodiag.diagnosis.engine import NOT_RUN, gap_words, open_questions
from reprodiag.diagnosis.fixes import structural_fixes
from reprodiag.diagnosis.model import (
    Attribution,
    AxisRank,
    AxisStatus,
    BandOutcome,
    Bar,
    Check,
    CheckVerdict,
    Conclusion,
    ConclusionKind,
    Diagnosis,
    RetrainRun,
)
from reprodiag.diagnosis.notes import show
from reprodiag.diagnosis.ranking import DEFAULT_PRIOR, rank_axes
from reprodiag.diagnosis.seeds import join_words
from reprodiag.noise.stats import SingleBaseline

CHECK_VERDICT: dict[str, CheckVerdict] = {
    "explains": "explains",
    "excluded": "excluded",
    "cant_tell": "cant_tell",
}
AXIS_STATUS: dict[str, AxisStatus] = {
    "explains": "confirmed",
    "excluded": "excluded",
    "cant_tell": "cant_tell",
}
VERDICT_WORDS = {"explains": "explains", "excluded": "excluded", "cant_tell": "can't tell yet"}
BAND_CHECK_VERDICT: dict[str, CheckVerdict] = {
    # inside the band: seeds alone can produce the gap, which shows no large change and excludes
    # no small one (not "explains"); an unusual baseline draw is the seed's doing
    "consistent with noise": "consistent",
    "unusual baseline draw": "explains",
    "beyond noise": "excluded",
    "inconclusive": "cant_tell",
    "undecided": "cant_tell",
}


def apply_findings(
    diagnosis: Diagnosis,
    findings: Findings,
    arms: Arms,
    incident: Incident,
    prior: Sequence[str] | None,
) -> Diagnosis:
    """The diagnosis with every retrain check judged, the axes re-ranked and the words written."""
    checks = {c.key: c for c in diagnosis.checks}
    verdicts: dict[str, AxisVerdict] = {}
    stopped = findings.stop_reason or "the investigation stopped"
    error = _smoke_error(findings, arms)
    refused = error is not None and error.startswith(NOT_THE_PIPELINE)
    if refused:
        stopped = (
            "the smoke retrain was refused (not the pipeline it stands for), so no budget went "
            "further"
        )
    for key, why in arms.unavailable.items():  # planned, but it could not be prepared
        if key in checks:
            checks[key] = dataclasses.replace(
                checks[key], status="skipped", observed=f"cannot run: {why}"
            )
    for finding in findings.checks:
        check = checks.get(finding.arm)
        if check is None:
            continue
        checks[finding.arm], verdict = _swap_check(check, finding, arms, stopped)
        if verdict is not None:
            verdicts[finding.axis] = verdict
    _replay(checks, findings, stopped, arms)
    band_outcome = _band_outcome(findings)
    _band(checks, findings, band_outcome, stopped)
    if findings.pipelines is not None:
        checks["baseline_band"] = _baseline_band_check(findings, incident.baseline_arm, arms)
    randomness = _randomness(findings, band_outcome)
    if randomness is not None:
        verdicts["randomness"] = randomness
    ranking = rank_axes(diagnosis.diff, prior=prior or DEFAULT_PRIOR, verdicts=verdicts)
    ordered = tuple(sorted(checks.values(), key=lambda c: (c.status != "done", c.order)))
    kind: ConclusionKind = "retrain refused" if refused else findings.conclusion.kind
    conclusion = Conclusion(kind, _sentence(findings, arms))
    band = noise_band_record(
        findings.band.decision,
        arms.results.get(CANDIDATE_BAND, []),
        diagnosis.gap,
        band_outcome,
        findings.band.words,
    )
    judged = dataclasses.replace(
        diagnosis,
        checks=ordered,
        ranking=ranking,
        band=band,
        fixes=structural_fixes(diagnosis.diff, ranking),
        summary=_summary(
            diagnosis,
            findings,
            conclusion,
            unexplained(dataclasses.replace(diagnosis, ranking=ranking, band=band)),
        ),
        conclusion=conclusion,
        conclusion_open=_open(findings, incident, ranking, ordered),
        bar=_nothing_measured_bar(kind, retrain_bar(diagnosis, findings, incident)),
        stop_reason=f"{findings.retrains} of {incident.budget} retrains used; {stopped}",
        spending=tuple(f"{r.count} × {_arm_words(r.arm)}: {r.why}" for r in findings.log)
        + refused_lines(arms.identity),
        warnings=diagnosis.warnings + identity_warnings(arms.identity),
    )
    # Last in cost order: bisect the axes a swap explains, with what is left of the budget.
    return bisect_explained(judged, findings, arms, incident)


def _nothing_measured_bar(kind: ConclusionKind, bar: Bar | None) -> Bar | None:
    """`bar`, unless the smoke check stopped everything and it is undetermined: then why nothing
    was measured (the manifest bar's advice, "run compare --retrain", is what was just done). A
    bar the manifests place (the same side of the acceptance threshold) stays."""
    if bar is not None and bar.level != "undetermined":
        return bar
    if kind == "trainer failed":
        return Bar(
            "undetermined",
            "the smoke retrain failed, so no retrain measured the seed noise; fix the trainer "
            "and run the investigation again to place the pair",
        )
    if kind == "retrain refused":
        return Bar(
            "undetermined",
            "the smoke retrain was refused (not the pipeline it stands for), so no retrain "
            "measured the seed noise; run the investigation from the candidate's code and "
            "environment to place the pair",
        )
    return bar


def _done(check: Check, observed: str, verdict: CheckVerdict, retrains: int) -> Check:
    return dataclasses.replace(
        check,
        status="done",
        observed=observed,
        verdict=verdict,
        cost=f"{retrains} retrain{'s' if retrains != 1 else ''}",
        retrains=max(retrains, check.retrains),
    )


def _not_run(check: Check, why: str) -> Check:
    return dataclasses.replace(check, status="skipped", observed=f"{NOT_RUN}{why}")


def _swap_check(
    check: Check, finding: CheckFinding, arms: Arms, stopped: str
) -> tuple[Check, AxisVerdict | None]:
    if finding.retrains == 0:
        return _not_run(check, stopped), None
    done = _done(check, finding.words, CHECK_VERDICT[finding.outcome], finding.retrains)
    done = dataclasses.replace(
        done,
        evidence=check.evidence + tuple(arms.paths.get(finding.arm, [])[:3]),
        runs=_runs(arms, finding.arm),
    )
    judged = finding.judgement
    attribution = None
    if finding.outcome == "explains" and judged is not None:
        attribution = Attribution(
            axis=finding.axis,
            points=judged.points,
            low=judged.low,
            high=judged.high,
            check=finding.arm,
        )
    status = AXIS_STATUS[finding.outcome]
    what = check.name
    reason = f"the {what}: {finding.words}"
    return done, AxisVerdict(finding.axis, status, reason, attribution)


def _runs(arms: Arms, arm: str) -> tuple[RetrainRun, ...]:
    """Every retrain of `arm`, in the order it ran, failed and refused ones included."""
    return tuple(RetrainRun.of(r) for r in arms.results.get(arm, []))


def _replay(checks: dict[str, Check], findings: Findings, stopped: str, arms: Arms) -> None:
    check = checks.get("seed_replay")
    if check is None or check.status != "planned":
        return
    replay = findings.replay
    if replay is None:
        checks["seed_replay"] = _not_run(check, stopped)
        return
    done = _done(check, replay.words, CHECK_VERDICT[replay.outcome], 1)
    checks["seed_replay"] = dataclasses.replace(done, runs=_runs(arms, "seed_replay"))


def _band_outcome(findings: Findings) -> BandOutcome:
    outcome = findings.band.outcome
    # A band the investigation stopped before its sequential test decided is inconclusive on its
    # own, whatever else settled the conclusion (STATS.md: "consistent with noise" needs the
    # futility rule at n >= 5, or a gap inside stored seeds).
    return "inconclusive" if outcome == "undecided" else outcome


def _band(checks: dict[str, Check], findings: Findings, outcome: BandOutcome, stopped: str) -> None:
    check = checks.get("noise_band")
    if check is None:
        return
    if findings.band.n == 0:
        checks["noise_band"] = _not_run(check, stopped)
        return
    done = _done(check, findings.band.words, BAND_CHECK_VERDICT[outcome], findings.band.n)
    # Seeds read back from the band store are part of the band but cost no retrain now: the
    # check's cost says so, so that it agrees with "N of M retrains used".
    ran = sum(a.retrains - a.failed for a in findings.spent if a.arm == CANDIDATE_BAND)
    stored = findings.band.n - ran
    if stored > 0:
        done = dataclasses.replace(
            done,
            cost=f"{findings.band.n} seeds: {ran} retrained now, {stored} from the band store",
        )
    checks["noise_band"] = done


def _baseline_band_check(findings: Findings, alias: str | None, arms: Arms) -> Check:
    pipelines = findings.pipelines
    assert pipelines is not None  # noqa: S101 - the caller checked
    words = pipelines.words
    if findings.percentile is not None:
        words = f"{words}; {findings.percentile.words}"
    verdict: CheckVerdict = (
        "explains"
        if findings.conclusion.kind == "lucky baseline"
        else "excluded"
        if pipelines.outcome == "differ"
        else "cant_tell"
    )
    arm = alias or "baseline_band"
    runs = next((s.retrains for s in findings.spent if s.arm == arm), 0)
    if alias is not None:  # the swap arm is the baseline pipeline: its seeds, not new ones
        words = f"the {alias.replace('_', ' ')}'s seeds are the baseline pipeline's own: {words}"
    return Check(
        order=12,
        key="baseline_band",
        title="baseline band: the baseline pipeline's own seeds, against the candidate's",
        axis="randomness",
        cost=f"{runs} retrain{'s' if runs != 1 else ''}",
        retrains=runs,
        status="done",
        expected="if the baseline was a lucky seed, the baseline pipeline's own seeds score like "
        "the candidate pipeline's, and the baseline value lies at the top of its own band",
        falsified_by="the two pipelines' seed distributions differ (Welch, sequential looks)",
        observed=words,
        verdict=verdict,
        # the swap arm's seeds are in its own check's runs; a baseline band's own are here
        runs=() if alias is not None else _runs(arms, arm),
    )


def _randomness(findings: Findings, band: BandOutcome) -> AxisVerdict | None:
    kind = findings.conclusion.kind
    sentence = findings.conclusion.sentence
    if kind in ("reproduces", "trainer failed"):
        return None
    if kind == "lucky baseline":
        return AxisVerdict("randomness", "confirmed", sentence)
    if kind == "within noise":
        return AxisVerdict("randomness", "noise", sentence)
    if findings.pipelines is not None and findings.pipelines.outcome == "differ":
        return AxisVerdict(
            "randomness",
            "excluded",
            f"the two pipelines' seed distributions differ: {findings.pipelines.words}",
        )
    if band == "beyond noise" and findings.pipelines is None and kind == "explained":
        return AxisVerdict(
            "randomness",
            "excluded",
            f"seed noise alone cannot explain the gap: {findings.band.words}",
        )
    return AxisVerdict("randomness", "cant_tell", f"can't tell yet: {findings.band.words}")


def _arm_words(arm: str) -> str:
    return arm.replace("_", " ")


def _smoke_error(findings: Findings, arms: Arms) -> str | None:
    """Why the smoke retrain failed, when the conclusion is "trainer failed"."""
    if findings.conclusion.kind != "trainer failed":
        return None
    failed = [r for r in arms.results.get(findings.smoke_arm, []) if r.status == "failed"]
    return failed[0].reason if failed and failed[0].reason else None


def _sentence(findings: Findings, arms: Arms) -> str:
    sentence = findings.conclusion.sentence
    error = _smoke_error(findings, arms)
    if error is not None and error.startswith(NOT_THE_PIPELINE):
        # The trainer ran; this machine's code or environment is not the pipeline's. Saying "the
        # trainer does not work" would send the reader after the wrong thing.
        return (
            f"the smoke retrain was refused, {error}: a retrain here does not run the pipeline "
            "the candidate ran, so no other retrain was run; run the investigation again from "
            "the candidate's code and environment"
        )
    if error is not None:
        sentence = f"{_end(sentence)} The smoke retrain's error: {error}"
    return sentence


def _summary(
    diagnosis: Diagnosis, findings: Findings, conclusion: Conclusion, rest: Unexplained | None
) -> str:
    parts = [f"The candidate scores {gap_words(diagnosis.gap)}.", _end(conclusion.sentence)]
    if any(f.outcome == "explains" for f in findings.checks):
        # The one remainder the report shows everywhere (attribution.Unexplained); the rows'
        # own sum is said only when it shows an interaction, under its own name.
        if rest is not None and rest.causes:
            parts.append(rest.sentence())
        if not rows_add_up(findings.attribution_words):
            parts.append(_end(findings.attribution_words))
    harmless = _harmless(diagnosis, findings)
    if harmless:
        parts.append(harmless)
    decided = [
        f"{(f.arm.replace('_', ' '))} {VERDICT_WORDS[f.outcome]}"
        for f in findings.checks
        if f.retrains > 0
    ]
    if decided:
        parts.append(f"Counterfactual retrains: {'; '.join(decided)}.")
    return " ".join(p for p in parts if p)


def _harmless(diagnosis: Diagnosis, findings: Findings) -> str | None:
    """Name the recorded differences when the gap is within noise (class 4 of issue 12)."""
    if findings.conclusion.kind not in ("within noise", "lucky baseline"):
        return None
    differing = [a for a in diagnosis.diff.axes if a.status == "differs" and a.axis != "randomness"]
    if not differing:
        return None
    named = []
    for axis in differing:
        first = next(f for f in axis.fields if f.status == "differs")
        named.append(f"{first.path} {show(first.baseline, 40)} → {show(first.candidate, 40)}")
    decision = findings.band.decision
    test = decision.test if decision is not None else None
    mde = test.min_detectable_effect if isinstance(test, SingleBaseline) else None
    n = findings.band.n
    limit = (
        f"; effects smaller than about {mde:.3g} {diagnosis.gap.metric} points cannot be "
        f"detected at n = {n}"
        if mde is not None and math.isfinite(mde)
        else ""
    )
    return (
        f"The recorded difference{'s' if len(named) > 1 else ''} ({join_words(named)}) "
        f"show{'' if len(named) > 1 else 's'} no detectable effect: the gap is within the seed "
        f"noise{limit}."
    )


def _end(text: str) -> str:
    """A sentence: capital first letter, full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _open(
    findings: Findings, incident: Incident, ranking: Sequence[AxisRank], checks: Sequence[Check]
) -> tuple[str, ...]:
    found = [
        f"The {f.arm.replace('_', ' ')}: {f.words}"
        for f in findings.checks
        if f.outcome == "cant_tell" and f.retrains > 0
    ]
    # The baseline's own spread is open only when it is unknown: not for two runs of one
    # pipeline (the candidate band is the baseline's own), nor after a baseline band.
    unknown = findings.pipelines is None and not incident.identical_pipelines
    if unknown and findings.conclusion.kind not in ("reproduces", "trainer failed"):
        found.append(findings.baseline_spread)
    rest = list(open_questions(ranking, checks))
    return tuple(dict.fromkeys(found + rest))
