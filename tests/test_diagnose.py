"""diagnose(): ranking, reasons, checks, plan, fixes, policy, gap conventions, the JSON codec."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from reprodiag.diagnosis import (
    DiagnosisError,
    diagnose,
    diagnosis_from_json,
    diagnosis_to_json,
    load_diagnosis,
    write_diagnosis,
)
from reprodiag.diagnosis.model import Diagnosis
from reprodiag.errors import InputError
from reprodiag.manifest.model import Manifest, Metric, Results, Skipped, SnapshotRef
from tests.helpers.manifests import example_manifest, example_snapshot

NOW = "2026-11-25T12:00:00+00:00"
NOT_RECORDED = Skipped("not recorded")


def _diagnose(base: Manifest, cand: Manifest, **kwargs: object) -> Diagnosis:
    kwargs.setdefault("check_snapshots", False)
    return diagnose(base, cand, now=lambda: NOW, **kwargs)  # type: ignore[arg-type]


def monday_wednesday() -> tuple[Manifest, Manifest]:
    """Modelled on fixture (a): the baseline read the table as latest, recorded only the torch
    seed and part of the environment; the candidate is fully captured and scores 4 points lower."""
    base = example_manifest(auc=80.0, run_id="monday")
    latest = SnapshotRef(
        format="delta",
        uri="s3://ml-data/ctr/events",
        version=Skipped("read as latest; no version recorded"),
        table_id="5f0c8a1e",
        fingerprint=Skipped("not computed"),
    )
    randomness = replace(
        base.randomness,
        python_seed=NOT_RECORDED,
        numpy_seed=NOT_RECORDED,
        cuda_seed=NOT_RECORDED,
        deterministic_algorithms=NOT_RECORDED,
        cudnn_deterministic=NOT_RECORDED,
    )
    env = replace(base.environment, threads=NOT_RECORDED, container_image=NOT_RECORDED)
    base = replace(
        base, data=replace(base.data, train=latest), randomness=randomness, environment=env
    )
    cand = example_manifest(auc=76.0, run_id="wednesday")
    cand = replace(
        cand,
        data=replace(
            cand.data,
            train=replace(example_snapshot(41, "s3://ml-data/ctr/events"), table_id="5f0c8a1e"),
        ),
    )
    return base, cand


def _rank(d: Diagnosis) -> list[tuple[str, str]]:
    return [(r.axis, r.status) for r in d.ranking]


def _check(d: Diagnosis, key: str):  # type: ignore[no-untyped-def]
    return next(c for c in d.checks if c.key == key)


def test_fixture_a_ranks_data_then_randomness_then_environment() -> None:
    d = _diagnose(*monday_wednesday())
    assert _rank(d)[:3] == [
        ("data", "unversioned"),
        ("randomness", "unversioned"),
        ("environment", "unversioned"),
    ]
    assert [r.rank for r in d.ranking] == [1, 2, 3, 4, 5]
    assert {a for a, s in _rank(d)[3:]} == {"code", "intent"}
    data, randomness, environment = d.ranking[:3]
    assert "the baseline read unpinned data" in data.reason
    assert "training set cannot be identified or re-read" in data.reason
    assert "data.train.version" in data.evidence
    assert "only the torch seed was recorded" in randomness.reason
    assert "python, numpy and cuda seeds were not" in randomness.reason
    assert "container_image" in environment.reason and "threads" in environment.reason
    assert (d.gap.metric, d.gap.baseline, d.gap.candidate, d.gap.worse_by) == (
        "auc",
        80.0,
        76.0,
        4.0,
    )
    assert d.summary.startswith("The candidate scores 4.00 auc points lower than the baseline.")
    assert "Data ranks first" in d.summary and "noise band" in d.summary


def test_fixture_a_plan_skips_the_pinned_retrain_and_says_what_stays_open() -> None:
    d = _diagnose(*monday_wednesday())
    assert [c.order for c in d.checks] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(c.status == "done" and c.cost == "free" for c in d.checks[:5])
    pinned = _check(d, "pinned_snapshot")
    assert pinned.status == "skipped"
    assert pinned.observed == "the baseline read unpinned data: there is no snapshot to retrain on"
    assert _check(d, "noise_band").status == "planned"
    assert _check(d, "noise_band").retrains == 20
    assert any("Whether data explains the gap stays open" in t for t in d.conclusion_open)
    data_check = _check(d, "data")
    assert data_check.verdict == "unversioned" and "read as latest" in (data_check.observed or "")
    assert [f.axis for f in d.fixes] == ["data", "randomness", "environment"]
    assert "pinned snapshots" in d.fixes[0].fix and "keep_versions" in d.fixes[0].cost
    assert {r.tier for r in d.policy} == {"shipped", "experimental", "debug"}
    shipped = next(r for r in d.policy if r.tier == "shipped")
    assert set(shipped.axes) == {"data", "code", "environment", "randomness", "intent"}


def test_every_free_check_states_expected_falsified_and_observed() -> None:
    d = _diagnose(*monday_wednesday())
    for check in d.checks:
        assert check.expected and check.falsified_by
        assert (check.observed is None) == (check.status == "planned")


def test_code_check_names_the_commits() -> None:
    base = example_manifest()
    cand = example_manifest(
        auc=78.0, run_id="b", code=replace(base.code, commit="9a8b7c6" + "0" * 33)
    )
    d = _diagnose(base, cand)
    code = _check(d, "code")
    assert code.verdict == "candidate"
    assert "code.commit 4f1c2e9 → 9a8b7c6" in (code.observed or "")
    assert "lock.sha256 same" in (code.observed or "")
    assert _rank(d)[0] == ("code", "candidate")
    assert [f.axis for f in d.fixes] == ["code"] and d.fixes[0].cost == "free: hashes"


def test_all_axes_pinned_and_equal_are_ruled_out_and_only_seeds_differ() -> None:
    d = _diagnose(example_manifest(seed=1234), example_manifest(seed=99, auc=79.0, run_id="b"))
    assert _rank(d)[0] == ("randomness", "candidate")
    assert all(status == "ruled_out" for _, status in _rank(d)[1:])
    reason = d.ranking[0].reason
    assert "the seeds differ: 1234 vs 99" in reason
    assert "noise band needed" in reason
    assert _check(d, "seed_replay").status == "planned"
    assert _check(d, "pinned_snapshot").status == "skipped"  # same pinned snapshot on both sides
    assert [f.axis for f in d.fixes] == ["randomness"]
    assert "throughput" in d.fixes[0].cost


def test_equal_recorded_seeds_with_deterministic_kernels_rule_randomness_out() -> None:
    base = example_manifest()
    cand = example_manifest(
        auc=78.0, run_id="b", intent=replace(base.intent, params={"lr": 0.01, "epochs": 8})
    )
    d = _diagnose(base, cand)
    assert dict(_rank(d))["randomness"] == "ruled_out"
    assert _rank(d)[0] == ("intent", "candidate")
    assert "intent.params.lr 0.001 → 0.01" in d.ranking[0].reason
    swap = _check(d, "intent_swap")  # replicated over seeds, up to the last look (20)
    assert (swap.status, swap.order, swap.retrains) == ("planned", 9, 20)
    assert "lr 0.001" in swap.expected


def test_equal_seeds_but_nondeterministic_kernels_keep_randomness_a_candidate() -> None:
    base = example_manifest()
    off = replace(base.randomness, deterministic_algorithms=False)
    d = _diagnose(
        replace(base, randomness=off), example_manifest(auc=79.0, run_id="b", randomness=off)
    )
    rank = next(r for r in d.ranking if r.axis == "randomness")
    assert rank.status == "candidate"
    assert "nondeterministic kernels allowed" in rank.reason


def test_gpu_and_torch_change_rank_environment_with_the_version_notes() -> None:
    base = example_manifest()
    a100 = replace(base.environment, gpu_name="NVIDIA A100-SXM4-80GB", torch_version="2.12.1+cu128")
    h100 = replace(
        base.environment,
        gpu_name="NVIDIA H100 80GB HBM3",
        torch_version="2.13.0+cu128",
        hostname="gpu-h100-03",
    )
    d = _diagnose(
        replace(base, environment=a100), example_manifest(auc=79.0, run_id="b", environment=h100)
    )
    assert _rank(d)[0] == ("environment", "candidate")
    reason = d.ranking[0].reason
    assert "environment.gpu_name" in reason and "environment.torch_version" in reason
    assert "GPU generation" in reason and "torch 2.12 → 2.13" in reason
    assert "hostname" not in reason  # noise is never a cause


def test_noise_fields_never_appear_as_causes() -> None:
    base = example_manifest()
    cand = example_manifest(
        auc=79.0, run_id="other-run", environment=replace(base.environment, hostname="elsewhere")
    )
    d = _diagnose(base, cand)
    assert all(status == "ruled_out" for _, status in _rank(d))
    for rank in d.ranking:
        assert not any(
            p.startswith(("run.", "results.")) or p in ("environment.hostname", "intent.run_name")
            for p in rank.evidence
        )
    assert {f.path for f in d.diff.noise} >= {"run.run_id", "environment.hostname"}
    assert d.fixes == ()


def test_prior_order_is_configurable_for_unversioned_axes() -> None:
    d = _diagnose(*monday_wednesday(), prior=("environment", "randomness"))
    assert [a for a, _ in _rank(d)[:3]] == ["environment", "randomness", "data"]
    with pytest.raises(InputError, match="unknown axis"):
        _diagnose(*monday_wednesday(), prior=("weather",))


def test_candidates_outrank_unversioned_axes_and_break_ties_by_the_prior() -> None:
    base, cand = monday_wednesday()
    cand = replace(
        cand,
        code=replace(cand.code, commit="9a8b7c6" + "0" * 33),
        intent=replace(cand.intent, params={"lr": 0.01, "epochs": 8}),
    )
    d = _diagnose(base, cand)
    assert _rank(d) == [
        ("code", "candidate"),
        ("intent", "candidate"),
        ("data", "unversioned"),
        ("randomness", "unversioned"),
        ("environment", "unversioned"),
    ]


def test_different_family_is_a_warning_not_an_error() -> None:
    base = example_manifest()
    d = _diagnose(
        base,
        example_manifest(auc=70.0, run_id="b", intent=replace(base.intent, family="fraud-gbm")),
    )
    assert d.diff.same_family is False
    assert any("intent.family differs: ctr-mlp vs fraud-gbm" in w for w in d.warnings)


def _with_metrics(m: Manifest, **metrics: Metric) -> Manifest:
    return replace(m, results=replace(m.results, metrics=metrics))


def test_missing_metric_names_the_file_and_lists_each_sides_metrics() -> None:
    base = _with_metrics(example_manifest(), auc=Metric(80.0), loss=Metric(0.3, "lower"))
    cand = _with_metrics(example_manifest(run_id="b"), loss=Metric(0.4, "lower"))
    with pytest.raises(InputError) as err:
        _diagnose(base, cand, metric="auc", candidate_path="runs/wed.json")
    message = str(err.value)
    assert "runs/wed.json lacks the metric 'auc'" in message
    assert "has auc, loss" in message and "runs/wed.json has loss" in message
    # the default metric is the one both sides hold
    assert _diagnose(base, cand).gap.metric == "loss"


def test_default_metric_is_the_first_shared_one_sorted() -> None:
    base = _with_metrics(example_manifest(), f1=Metric(0.7), auc=Metric(80.0))
    cand = _with_metrics(example_manifest(run_id="b"), f1=Metric(0.6), auc=Metric(78.0))
    assert _diagnose(base, cand).gap.metric == "auc"


def test_lower_is_better_metric_counts_a_higher_candidate_as_worse() -> None:
    base = _with_metrics(example_manifest(), loss=Metric(0.30, "lower"))
    cand = _with_metrics(example_manifest(run_id="b"), loss=Metric(0.35, "lower"))
    gap = _diagnose(base, cand).gap
    assert gap.direction == "lower" and gap.worse_by == pytest.approx(0.05)
    assert gap.delta == pytest.approx(0.05)


def test_gap_with_the_wrong_sign_is_refused_with_the_convention() -> None:
    base, cand = example_manifest(auc=80.0), example_manifest(auc=82.0, run_id="b")
    with pytest.raises(InputError) as err:
        _diagnose(base, cand, gap=2.0)
    assert "--gap 2 says the candidate is worse" in str(err.value)
    assert "positive = worse" in str(err.value)


def test_gap_option_is_used_when_a_side_lacks_the_metric() -> None:
    base = _with_metrics(example_manifest(), auc=Metric(80.0))
    cand = _with_metrics(example_manifest(run_id="b"))
    gap = _diagnose(base, cand, gap=3.0).gap
    assert (gap.source, gap.worse_by, gap.delta, gap.candidate) == ("option", 3.0, -3.0, None)


def test_a_better_candidate_is_still_diagnosed_with_a_warning() -> None:
    d = _diagnose(example_manifest(auc=80.0), example_manifest(auc=81.0, run_id="b"))
    assert d.gap.worse_by == -1.0
    assert any("the candidate is better" in w for w in d.warnings)


def test_snapshot_readability_not_checked_for_paths_absent_here() -> None:
    d = diagnose(*_pinned_pair("/no/such/table"), now=lambda: NOW)
    assert "not checked: /no/such/table does not exist on this machine" in (
        _check(d, "data").observed or ""
    )
    assert _check(d, "pinned_snapshot").status == "planned"
    d = diagnose(*_pinned_pair("s3://bucket/table"), now=lambda: NOW)
    assert "not a local path" in (_check(d, "data").observed or "")


def _pinned_pair(uri: str) -> tuple[Manifest, Manifest]:
    base = example_manifest()
    base = replace(base, data=replace(base.data, train=example_snapshot(3, uri)))
    cand = replace(
        base,
        run=replace(base.run, run_id="b"),
        data=replace(base.data, train=example_snapshot(5, uri)),
        results=Results({"auc": Metric(77.0)}, "finished", "t0", "t1"),
    )
    return base, cand


def test_an_unreadable_baseline_snapshot_skips_the_pinned_retrain(tmp_path: Path) -> None:
    from reprodiag.snapshots.interface import SnapshotVacuumed

    def vacuumed(ref: SnapshotRef) -> None:
        raise SnapshotVacuumed(
            f"delta {ref.uri} v{ref.version}: files vacuumed",
            hint="keep pinned versions with vacuum(keep_versions=[3])",
        )

    def readable(ref: SnapshotRef) -> None:
        return None

    pair = _pinned_pair(str(tmp_path))
    d = diagnose(*pair, now=lambda: NOW, snapshot_probe=vacuumed)
    assert "not readable: delta" in (_check(d, "data").observed or "")
    assert "keep_versions" in (_check(d, "data").observed or "")
    assert _check(d, "pinned_snapshot").status == "skipped"
    d = diagnose(*pair, now=lambda: NOW, snapshot_probe=readable)
    assert "readable: delta" in (_check(d, "data").observed or "")
    assert _check(d, "pinned_snapshot").status == "planned"


def test_codec_round_trip_is_equal(tmp_path: Path) -> None:
    d = _diagnose(*monday_wednesday(), title="Monday vs Wednesday")
    doc = diagnosis_to_json(d)
    assert doc["format"] == "reprodiag.diagnosis/v2"
    assert json.loads(json.dumps(doc)) == doc
    assert diagnosis_from_json(doc, "mem.json") == d
    path = write_diagnosis(d, tmp_path / "out" / "diagnosis.json")
    assert load_diagnosis(path) == d
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_codec_refuses_unknown_versions_and_names_the_json_path() -> None:
    doc = diagnosis_to_json(_diagnose(*monday_wednesday()))
    with pytest.raises(
        DiagnosisError,
        match=r"d\.json: \$\.format: expected one of "
        r"reprodiag\.diagnosis/v1, reprodiag\.diagnosis/v2",
    ):
        diagnosis_from_json({**doc, "format": "reprodiag.diagnosis/v9"}, "d.json")
    bad = json.loads(json.dumps(doc))
    bad["ranking"][1]["status"] = "maybe"
    with pytest.raises(DiagnosisError, match=r"\$\.ranking\[1\]\.status: expected one of"):
        diagnosis_from_json(bad, "d.json")
    bad = json.loads(json.dumps(doc))
    bad["gap"]["worse_by"] = "four"
    with pytest.raises(DiagnosisError, match=r"\$\.gap\.worse_by: expected a number"):
        diagnosis_from_json(bad, "d.json")
    bad = json.loads(json.dumps(doc))
    del bad["summary"]
    with pytest.raises(DiagnosisError, match=r"\$\.summary"):
        diagnosis_from_json(bad, "d.json")


def _with_outputs(manifest: Manifest, weights: str) -> Manifest:
    from reprodiag.manifest.model import OutputDigests

    outputs = OutputDigests(weights=weights, predictions="sha256:" + "b" * 64)
    return replace(manifest, results=replace(manifest.results, outputs=outputs))


def test_a_zero_gap_reproduces_at_a_named_bar_and_plans_no_retrain() -> None:
    """Issue 12: an identical re-run needs no retrain; the bar says how far it reproduces."""
    base = example_manifest(auc=80.0, run_id="a")
    same = example_manifest(auc=80.0, run_id="b")
    d = _diagnose(base, same)
    assert d.conclusion is not None and d.conclusion.kind == "reproduces"
    assert d.bar is not None and d.bar.level == "metric-exact"
    assert "no output digests" in d.bar.reason or "neither run" in d.bar.reason
    assert not [c for c in d.checks if c.status == "planned"]  # nothing left to run
    band = next(c for c in d.checks if c.key == "noise_band")
    assert band.status == "skipped" and "not needed: the gap is zero" in (band.observed or "")
    assert "reproduces the baseline" in d.summary and "No retrain is needed" in d.summary
    digest = "sha256:" + "a" * 64
    bit = _diagnose(_with_outputs(base, digest), _with_outputs(same, digest))
    assert bit.bar is not None and bit.bar.level == "bit-exact"
    other = _diagnose(_with_outputs(base, digest), _with_outputs(same, "sha256:" + "c" * 64))
    assert other.bar is not None and other.bar.level == "metric-exact"
    assert "weights" in other.bar.reason


def test_a_metric_resolution_makes_a_tiny_gap_zero() -> None:
    base = example_manifest(auc=80.0, run_id="a")
    close = example_manifest(auc=80.004, run_id="b")
    assert _diagnose(base, close).conclusion is None  # 0.004 is a real gap without a resolution
    metric = replace(close.results.metrics["auc"], resolution=0.01)
    coarse = replace(close, results=replace(close.results, metrics={"auc": metric}))
    d = _diagnose(base, coarse)
    assert d.conclusion is not None and d.conclusion.kind == "reproduces"
    assert "resolution 0.01" in d.bar.reason  # type: ignore[union-attr]


def test_a_shared_side_of_the_acceptance_threshold_is_conclusion_equivalent() -> None:
    base, cand = example_manifest(auc=84.0, run_id="a"), example_manifest(auc=82.0, run_id="b")
    assert _diagnose(base, cand).bar.level == "undetermined"  # type: ignore[union-attr]
    d = _diagnose(base, cand, threshold=80.0)
    assert d.bar is not None and d.bar.level == "conclusion-equivalent"
    assert "both runs pass the acceptance threshold 80" in d.bar.reason
    assert _diagnose(base, cand, threshold=83.0).bar.level == "undetermined"  # type: ignore[union-attr]
