"""Confirmation by retrains: the investigation policy driven with real retrains, within a budget.

`confirm()` takes a manifest-only Diagnosis and investigates it: reprodiag.confirm.policy says
which arm to retrain next and why (the smoke check, the candidate band, the seed replay, the
baseline band, the swap arms replicated over seeds), reprodiag.confirm.arms runs those retrains,
and reprodiag.confirm.findings writes what they showed back into the Diagnosis. Every check ends
in one of three outcomes (explains / excluded / can't tell yet, STATS.md); a zero gap runs no
retrain at all; a trainer that fails its smoke check stops the investigation at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from reprodiag.confirm.arms import Arms, arm_spec, incident_for
from reprodiag.confirm.findings import apply_findings
from reprodiag.confirm.options import RetrainOptions
from reprodiag.confirm.policy import CANDIDATE_BAND, Findings, Investigation
from reprodiag.confirm.progress import Progress, investigation_plan, prior_from
from reprodiag.diagnosis.model import Bar, Conclusion, Diagnosis, Gap
from reprodiag.errors import InputError
from reprodiag.manifest.model import Manifest
from reprodiag.noise.counterfactual import count_words
from reprodiag.retrain.ensemble import has_ensemble_form


def metric_values(gap: Gap) -> tuple[float, float]:
    """The baseline's and the candidate's metric values (one derived from --gap when needed)."""
    sign = 1.0 if gap.direction == "higher" else -1.0
    if gap.baseline is not None and gap.candidate is not None:
        return gap.baseline, gap.candidate
    if gap.candidate is not None:  # only --gap was given: the baseline is that far better
        return gap.candidate + sign * gap.worse_by, gap.candidate
    if gap.baseline is not None:
        return gap.baseline, gap.baseline - sign * gap.worse_by
    raise InputError(
        "retrains need the metric's value on at least one side",
        hint="record the metric in the manifests, or pass --metric and --gap "
        "with a manifest that holds the metric",
    )


def confirm(
    baseline: Manifest,
    candidate: Manifest,
    diagnosis: Diagnosis,
    options: RetrainOptions,
    *,
    prior: Sequence[str] | None = None,
) -> Diagnosis:
    """Investigate the diagnosis with retrains within the budget; the diagnosis with the verdicts.

    A diagnosis whose gap is zero is returned as it is: there is nothing to explain.
    """
    if diagnosis.conclusion is not None and diagnosis.conclusion.kind == "reproduces":
        return diagnosis
    try:
        values = metric_values(diagnosis.gap)
        # Building one spec checks that the candidate can be retrained at all (a trainer, pinned
        # or readable data) before anything runs.
        spec = arm_spec(baseline, candidate, "candidate_band", 0, diagnosis.gap.metric, options)
    except InputError as exc:  # no trainer, unpinned candidate data: keep the free diagnosis
        return cannot_retrain(diagnosis, exc.message, hint=exc.hint)
    planned = frozenset(c.key for c in diagnosis.checks if c.status == "planned")
    # the estimate until a retrain has finished (not `prior`: that name is the axes' order)
    estimate, estimate_source = prior_from(candidate)
    progress = Progress(
        total=options.max_retrains,
        max_minutes=options.max_minutes,
        say=options.say,
        prior=estimate,
        prior_source=estimate_source,
    )
    options = dataclasses.replace(options, on_result=progress.chain(options.on_result))
    arms = Arms(baseline, candidate, diagnosis.gap.metric, options, planned)
    incident = incident_for(baseline, candidate, diagnosis, arms, values)
    if options.ensemble and has_ensemble_form(spec.trainer):  # the smoke check as one ensemble
        incident = dataclasses.replace(incident, ensembles=True)
    stored = arms.results.get(CANDIDATE_BAND, [])
    progress.recorded = tuple(r.seconds for r in stored if r.seconds is not None)
    investigation = Investigation(incident)
    while batch := investigation.next_batch():
        if investigation.spent == 0 and progress.finished == 0:
            progress.tell(investigation_plan(incident, len(stored), progress))
        for request in batch:
            if not progress.fits(request.count):
                what = f"{count_words(request.count, 'retrain')} of {request.arm}"
                investigation.stop(progress.out_of_time(what, request.count))
                break
            results = arms.run(request.arm, request.count)
            investigation.record(
                request.arm, [r.metric if r.status == "ok" else None for r in results]
            )
            if request.smoke and any(r.status == "ok" for r in results):
                first = "the smoke retrain"
                if request.count > 1:
                    first = f"the smoke check ({request.count} seeds as one ensemble)"
                progress.tell(progress.timed_note(first))
    findings = investigation.findings()
    if progress.ran_out is not None:
        findings = _out_of_time(findings, progress.ran_out)
    return apply_findings(diagnosis, findings, arms, incident, prior)


def _out_of_time(findings: Findings, why: str) -> Findings:
    """A "can't tell yet" conclusion says that the time budget, not the evidence, stopped it."""
    verdict = findings.conclusion
    if verdict.kind != "can't tell yet":
        return findings
    sentence = f"{verdict.sentence}; {why}"
    return dataclasses.replace(findings, conclusion=dataclasses.replace(verdict, sentence=sentence))


def cannot_retrain(diagnosis: Diagnosis, why: str, *, hint: str | None = None) -> Diagnosis:
    """The manifest-only diagnosis with every planned retrain marked as not runnable, and why:
    its conclusion is "no retrain ran", with the reason and (`hint`) what would make the
    candidate retrainable."""
    why = why.removeprefix("cannot retrain: ")
    bar = diagnosis.bar
    if bar is not None and bar.level == "undetermined":
        bar = Bar("undetermined", f"no retrain could run ({why}): the seed noise is unmeasured")
    checks = tuple(
        dataclasses.replace(c, status="skipped", observed=f"cannot retrain: {why}")
        if c.status == "planned"
        else c
        for c in diagnosis.checks
    )
    skipped = sum(1 for c in diagnosis.checks if c.status == "planned" and c.retrains > 0)
    sentence = (
        f"retrains were asked for, but none could run: {why.rstrip('.')}. "
        + (
            f"{count_words(skipped, 'planned retrain check')} "
            f"{'stays' if skipped == 1 else 'stay'} unmeasured and "
            if skipped
            else ""
        )
        + "every placement comes from the manifests alone"
        + (f"; to retrain it: {hint.rstrip('.')}" if hint else "")
    )
    # The free diagnosis' last sentence offers the plan ("No retrain was run: confirm with …
    # (plan below)."); none of it can run now.
    head, found, _ = diagnosis.summary.rpartition("No retrain was run")
    summary = f"{head}No retrain could run: the conclusion says why." if found else None
    return dataclasses.replace(
        diagnosis,
        checks=checks,
        bar=bar,
        summary=summary or diagnosis.summary,
        conclusion=Conclusion("no retrain ran", sentence),
        stop_reason=f"no retrain could run: {why}",
        conclusion_open=diagnosis.conclusion_open
        + (f"No retrain could run ({why}); every placement comes from the manifests alone.",),
    )
