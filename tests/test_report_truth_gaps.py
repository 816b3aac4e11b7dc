"""Words that must stay true when the manifests leave something out. Which code a retrain runs is
named by the commit and the diff digest: a code axis that left
only other fields unrecorded (a shell `capture` records no entrypoint) still lets the baseline
pipeline be retrained, and when it cannot be, the report says why instead of a bare "cannot"."""

from __future__ import annotations

import dataclasses

from reprodiag.confirm.arms import _baseline_why, code_same_for_retrains
from reprodiag.diagnosis.engine import diagnose
from reprodiag.manifest.model import Skipped
from tests.helpers.manifests import example_manifest


def _code_axis(**code: object):  # the diff's code axis for a baseline/candidate pair
    base = example_manifest()
    cand = example_manifest(seed=99, run_id="run-b")
    base = dataclasses.replace(base, code=dataclasses.replace(base.code, **code))
    cand = dataclasses.replace(cand, code=dataclasses.replace(cand.code, **code))
    d = diagnose(base, cand)
    return base, d, next(a for a in d.diff.axes if a.axis == "code")


def test_an_unrecorded_entrypoint_with_the_same_commit_is_the_same_code_for_retrains() -> None:
    _, _, axis = _code_axis(entrypoint=Skipped("not given", "not_given"))
    assert axis.status == "unversioned"
    assert code_same_for_retrains(axis)


def test_an_unrecorded_commit_is_not_and_the_reason_names_it() -> None:
    base, d, axis = _code_axis(commit=Skipped("git failed", "failed"))
    assert axis.status == "unversioned"
    assert not code_same_for_retrains(axis)
    axes = {a.axis: a for a in d.diff.axes}
    why = _baseline_why(base, axes, d)
    assert why is not None and why.startswith("its code is not identified: code.commit")


def test_the_same_code_axis_is_the_same_code() -> None:
    _, _, axis = _code_axis()
    assert axis.status == "same" and code_same_for_retrains(axis)


def test_a_data_check_the_retrains_did_not_need_is_not_called_unconfirmable() -> None:
    import dataclasses as dc

    from reprodiag.diagnosis.engine import NOT_RUN, open_questions
    from tests.helpers.manifests import example_snapshot

    base = example_manifest()
    cand = example_manifest(seed=99, run_id="run-b")
    cand = dc.replace(cand, data=dc.replace(cand.data, train=example_snapshot(4)))
    d = diagnose(base, cand)
    pinned = next(c for c in d.checks if c.key == "pinned_snapshot")
    stopped = dc.replace(pinned, status="skipped", observed=f"{NOT_RUN}no retrain needed")
    checks = [stopped if c.key == "pinned_snapshot" else c for c in d.checks]
    text = " ".join(open_questions(d.ranking, checks))
    assert "Whether data explains the gap stays open: not run: no retrain needed." in text
    assert "would measure it" in text and "cannot be confirmed by a retrain" not in text
    unpinned = dc.replace(pinned, status="skipped", observed="the baseline read unpinned data")
    checks = [unpinned if c.key == "pinned_snapshot" else c for c in d.checks]
    assert "cannot be confirmed by a retrain" in " ".join(open_questions(d.ranking, checks))


def test_a_refused_smoke_retrain_is_not_called_a_trainer_that_does_not_work() -> None:
    # The smoke retrain ran, but its manifest showed another environment than the pipeline's
    # (confirm.identity): the trainer works, the retrain here is not the pipeline.
    from types import SimpleNamespace

    from reprodiag.confirm.findings import _sentence
    from reprodiag.confirm.policy import CANDIDATE_BAND, Incident, investigate
    from reprodiag.retrain.seed_result import SeedResult

    incident = Incident(baseline=0.9, candidate=0.8, swaps={"data": "pinned_snapshot"})
    f = investigate(incident, lambda request: [None] * request.count)
    refused = "not the pipeline it stands for: code.lock.sha256 is sha256:aa, the pipeline's is bb"
    arms = SimpleNamespace(results={CANDIDATE_BAND: [SeedResult(10_000, None, "failed", refused)]})
    words = _sentence(f, arms)  # type: ignore[arg-type]
    assert words.startswith("the smoke retrain was refused, not the pipeline it stands for")
    assert "does not work" not in words and "fix the trainer" not in words
    boom = SeedResult(10_000, None, "failed", "boom")
    words = _sentence(f, SimpleNamespace(results={CANDIDATE_BAND: [boom]}))  # type: ignore[arg-type]
    assert "the trainer does not work" in words
    assert words.endswith(". The smoke retrain's error: boom")
