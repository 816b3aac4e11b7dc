"""Confirmation by retrains: checks 6 to 9 in cost order, each judged against the noise band.

`confirm()` takes a manifest-only Diagnosis and runs what its plan lists, within a budget:
- the counterfactual retrains first (1 retrain each: seed replay, pinned-snapshot retrain, intent
  swap), each the candidate pipeline with ONE axis swapped back to the baseline's;
- then the noise band: seed retrains of the candidate pipeline with sequential looks at
  n = 3, 5, 8, 12, 20 (STATS.md), reusing and extending the band store.
Three retrains are always reserved for the band: without a band no retrain can be judged.
Attribution is by swapping one axis at a time and measuring against the same band (DESIGN.md),
never by comparing variances.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from reprodiag.confirm.band import ok_values, run_seeds, stored_results
from reprodiag.confirm.options import RetrainOptions
from reprodiag.confirm.verdicts import (
    AxisVerdict,
    band_verdict,
    judge_counterfactual,
    noise_band_record,
)
from reprodiag.diagnosis.engine import open_questions, summarize
from reprodiag.diagnosis.fixes import structural_fixes
from reprodiag.diagnosis.model import Check, Diagnosis, Gap
from reprodiag.diagnosis.ranking import DEFAULT_PRIOR, rank_axes
from reprodiag.errors import InputError
from reprodiag.manifest.model import Manifest, SnapshotRef
from reprodiag.noise.sequential import LOOKS, Decision, decide_single, next_look
from reprodiag.retrain.seed_result import SeedResult
from reprodiag.retrain.spec import RetrainResult, RetrainSpec, spec_from_manifest

COUNTERFACTUALS = ("seed_replay", "pinned_snapshot", "intent_swap")
BAND_RESERVE = 3


@dataclasses.dataclass
class _Budget:
    left: int

    def take(self, n: int) -> int:
        n = max(0, min(n, self.left))
        self.left -= n
        return n


def _spec(
    candidate: Manifest,
    options: RetrainOptions,
    *,
    key: str,
    seed: int,
    metric: str,
    train: SnapshotRef | None = None,
    eval_ref: SnapshotRef | None = None,
    params: Mapping[str, Any] | None = None,
) -> RetrainSpec:
    label = f"{key.replace('_', '-')}-seed-{seed}"
    return spec_from_manifest(
        candidate,
        seed=seed,
        label=label,
        out_dir=options.workdir / label,
        train=train,
        eval=eval_ref,
        params=params,
        trainer=options.trainer,
        metric=metric,
        device=options.device,
        timeout_s=options.timeout_s,
    )


def _baseline_seed(baseline: Manifest) -> int | None:
    rnd = baseline.randomness
    for value in (rnd.torch_seed, rnd.python_seed, rnd.numpy_seed):
        if isinstance(value, int):
            return value
    return None


def _counterfactual_specs(
    baseline: Manifest,
    candidate: Manifest,
    checks: Sequence[Check],
    options: RetrainOptions,
    metric: str,
) -> list[tuple[Check, RetrainSpec]]:
    seed = _candidate_seed(candidate)
    out: list[tuple[Check, RetrainSpec]] = []
    for check in checks:
        if check.status != "planned" or check.key not in COUNTERFACTUALS:
            continue
        if check.key == "seed_replay":
            replay = _baseline_seed(baseline)
            if replay is None:
                continue
            spec = _spec(candidate, options, key=check.key, seed=replay, metric=metric)
            out.append((check, spec))
        elif check.key == "pinned_snapshot" and isinstance(baseline.data.train, SnapshotRef):
            # The whole data axis goes back: training set and, when it is pinned, evaluation set
            # (an evaluation set that moved is a data change too).
            eval_ref = (
                baseline.data.eval
                if isinstance(baseline.data.eval, SnapshotRef) and baseline.data.eval.pinned
                else None
            )
            out.append(
                (
                    check,
                    _spec(
                        candidate,
                        options,
                        key=check.key,
                        seed=seed,
                        metric=metric,
                        train=baseline.data.train,
                        eval_ref=eval_ref,
                    ),
                )
            )
        elif check.key == "intent_swap":
            out.append(
                (
                    check,
                    _spec(
                        candidate,
                        options,
                        key=check.key,
                        seed=seed,
                        metric=metric,
                        params=dict(baseline.intent.params),
                    ),
                )
            )
    return out


def _candidate_seed(candidate: Manifest) -> int:
    seed = _baseline_seed(candidate)
    return seed if seed is not None else 0


def run_band(
    candidate: Manifest,
    baseline_value: float,
    metric: str,
    options: RetrainOptions,
    budget: _Budget,
    direction: Literal["higher", "lower"] = "higher",
) -> tuple[Decision, list[SeedResult]]:
    """Seed retrains of the candidate pipeline until the sequential rule decides."""
    seen = stored_results(candidate, metric, options)
    while True:
        ok = ok_values(seen)
        n = len(ok)
        if n >= LOOKS[-1] or budget.left == 0:
            return decide_single(baseline_value, ok, final=True, direction=direction), seen
        if n in LOOKS:
            decision = decide_single(baseline_value, ok, direction=direction)
            if decision.stop:
                return decision, seen
        if n == 0 and _failed_in_a_row(seen) >= LOOKS[0]:
            # A trainer that fails every seed (an import error, a bad path) would otherwise burn
            # the whole budget on worker start-ups: stop after one look's worth of failures.
            return decide_single(baseline_value, ok, final=True, direction=direction), seen
        target = next_look(n) or LOOKS[-1]
        seen.extend(run_seeds(candidate, metric, options, budget.take(target - n), seen))


def _failed_in_a_row(results: Sequence[SeedResult]) -> int:
    count = 0
    for result in reversed(results):
        if result.status != "failed":
            break
        count += 1
    return count


def baseline_value(gap: Gap) -> float:
    if gap.baseline is not None:
        return gap.baseline
    if gap.candidate is not None:  # only --gap was given: the baseline is that far better
        sign = 1.0 if gap.direction == "higher" else -1.0
        return gap.candidate + sign * gap.worse_by
    raise InputError(
        "retrains need the baseline's metric value",
        hint="record the metric in the baseline manifest, or pass --metric and --gap "
        "with a candidate manifest that holds the metric",
    )


def confirm(
    baseline: Manifest,
    candidate: Manifest,
    diagnosis: Diagnosis,
    options: RetrainOptions,
    *,
    prior: Sequence[str] | None = None,
) -> Diagnosis:
    """Run the planned retrains within the budget and return the diagnosis with what they showed."""
    try:
        a = baseline_value(diagnosis.gap)
        _spec(candidate, options, key="noise_band", seed=0, metric=diagnosis.gap.metric)
    except InputError as exc:  # no trainer, unpinned candidate data: keep the free diagnosis
        return cannot_retrain(diagnosis, exc.message)
    gap = diagnosis.gap
    budget = _Budget(options.max_retrains)
    planned = _counterfactual_specs(baseline, candidate, diagnosis.checks, options, gap.metric)
    room = max(0, budget.left - BAND_RESERVE)
    count = budget.take(min(room, len(planned)))
    ran: list[tuple[Check, RetrainResult]] = [
        (check, options.executor.run([spec], on_result=options.on_result)[0])
        for check, spec in planned[:count]
    ]
    decision, seeds = run_band(candidate, a, gap.metric, options, budget, gap.direction)
    band = noise_band_record(decision, seeds, gap)
    checks = {c.key: c for c in diagnosis.checks}
    verdicts: dict[str, AxisVerdict] = {}
    if "noise_band" in checks:
        checks["noise_band"], verdicts["randomness"] = band_verdict(decision, checks["noise_band"])
        failures = [f"seed {r.seed}: {r.reason}" for r in seeds if r.status == "failed"]
        if failures:
            checks["noise_band"] = dataclasses.replace(
                checks["noise_band"],
                observed=f"{checks['noise_band'].observed}; "
                f"{len(failures)} failed seed(s): " + "; ".join(failures[:5]),
            )
    for check, result in ran:
        checks[check.key], verdict = judge_counterfactual(check, result, band, gap, a)
        if verdict is not None:
            verdicts[check.axis] = _merge(verdicts.get(check.axis), verdict)
    not_run = [c for c, _ in planned[len(ran) :]]
    for check in not_run:
        checks[check.key] = dataclasses.replace(
            check,
            status="skipped",
            observed=f"not run: the budget of {options.max_retrains} "
            "retrains was kept for the noise band",
        )
    ranking = rank_axes(diagnosis.diff, prior=prior or DEFAULT_PRIOR, verdicts=verdicts)
    ordered = tuple(sorted(checks.values(), key=lambda c: (c.status != "done", c.order)))
    return dataclasses.replace(
        diagnosis,
        checks=ordered,
        ranking=ranking,
        band=band,
        fixes=structural_fixes(diagnosis.diff, ranking),
        summary=summarize(gap, ranking, ordered),
        conclusion_open=open_questions(ranking, ordered),
        stop_reason=_stop_reason(
            decision, options.max_retrains - budget.left, options.max_retrains, not_run
        ),
    )


def cannot_retrain(diagnosis: Diagnosis, why: str) -> Diagnosis:
    """The manifest-only diagnosis with every planned retrain marked as not runnable, and why."""
    checks = tuple(
        dataclasses.replace(c, status="skipped", observed=f"cannot retrain: {why}")
        if c.status == "planned"
        else c
        for c in diagnosis.checks
    )
    return dataclasses.replace(
        diagnosis,
        checks=checks,
        stop_reason=f"no retrain could run: {why}",
        conclusion_open=diagnosis.conclusion_open
        + (f"No retrain could run ({why}); every placement comes from the manifests alone.",),
    )


def _merge(earlier: AxisVerdict | None, later: AxisVerdict) -> AxisVerdict:
    """Two findings on one axis (the band and the seed replay): a confirmation wins the status,
    both keep their words."""
    if earlier is None:
        return later
    if later.status == "confirmed" and earlier.status == "ruled_out":
        # The band says seed noise cannot reach the baseline, yet the baseline's own seeds
        # reproduce it: the baseline was an unusual draw, and its seeds are the explanation.
        return dataclasses.replace(
            later,
            reason=f"{later.reason}: the baseline's own seeds reproduce it, although it "
            "lies outside the band of other seeds (an unusual draw; see the noise band check)",
        )
    first, second = (later, earlier) if later.status == "confirmed" else (earlier, later)
    return dataclasses.replace(
        first,
        reason=f"{first.reason}; {second.reason}",
        attribution=first.attribution or second.attribution,
    )


def _stop_reason(decision: Decision, used: int, budget: int, not_run: Sequence[Check]) -> str:
    words = f"{used} of {budget} retrains used; {decision.reason}"
    if decision.outcome == "inconclusive" and used >= budget:
        words += f"; the budget (--max-retrains {budget}) was spent before the band decided"
    if not_run:
        titles = ", ".join(c.title.split(":")[0] for c in not_run)
        words += f"; not run for lack of budget: {titles}"
    return words
