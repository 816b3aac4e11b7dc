"""The classified diff: statuses, unversioned sides, noise kept apart, notes, the family check."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reprodiag.diagnosis.diff import diff_manifests, fields_by_path
from reprodiag.diagnosis.model import ManifestDiff
from reprodiag.manifest.model import AXES, Skipped, SnapshotRef
from tests.helpers.manifests import example_manifest, example_snapshot


def _pair(**candidate_axes: Any) -> ManifestDiff:
    base = example_manifest(run_id="run-a")
    cand = (
        replace(example_manifest(run_id="run-b"), **candidate_axes)
        if candidate_axes
        else example_manifest(run_id="run-b")
    )
    return diff_manifests(base, cand)


def _axis(diff: ManifestDiff, name: str) -> str:
    return next(a.status for a in diff.axes if a.axis == name)


def test_identical_runs_are_same_on_every_axis_and_noise_is_kept_apart() -> None:
    diff = _pair()
    assert [a.axis for a in diff.axes] == list(AXES)
    assert {a.status for a in diff.axes} == {"same"}
    assert {f.path for f in diff.noise} == {"run.run_id", "run.output_dir", "intent.run_name"}
    axis_paths = {f.path for a in diff.axes for f in a.fields}
    assert not axis_paths & {"run.run_id", "intent.run_name", "environment.hostname"}
    assert not any(p.startswith(("run.", "results.")) for p in axis_paths)
    assert diff.same_family and diff.family_note is None


def test_gpu_facts_skipped_for_the_same_reason_on_both_sides_are_not_applicable() -> None:
    row = fields_by_path(_pair())["environment.gpu_name"]
    assert row.status == "same"
    assert row.note and "not applicable on either side" in row.note


def test_not_applicable_is_decided_by_the_kind_of_the_skip_not_its_words() -> None:
    base = example_manifest()
    no_gpu = Skipped("NVML sees no device here", "not_applicable")  # no word the old rule knew
    unread = Skipped("no NVIDIA driver: NVML library not found", "failed")  # the old words
    given = Skipped("nobody wrote one down", "not_given")
    manifest = replace(
        base,
        environment=replace(base.environment, gpu_name=no_gpu, driver=unread),
        intent=replace(base.intent, hypothesis=given),
    )
    rows = fields_by_path(diff_manifests(manifest, replace(manifest)))
    assert rows["environment.gpu_name"].status == "same"
    assert rows["environment.gpu_name"].note == f"not applicable on either side: {no_gpu.reason}"
    assert rows["environment.driver"].status == "unversioned"
    assert rows["intent.hypothesis"].status == "same"


def test_hostname_change_is_noise_never_an_environment_difference() -> None:
    base = example_manifest()
    diff = _pair(environment=replace(base.environment, hostname="trainer-9"))
    assert _axis(diff, "environment") == "same"
    assert "environment.hostname" in {f.path for f in diff.noise}


def test_snapshot_read_as_latest_is_unversioned_even_with_the_same_uri() -> None:
    base = example_manifest()
    assert isinstance(base.data.train, SnapshotRef)
    latest = replace(base.data.train, version=Skipped("read as latest"))
    diff = diff_manifests(replace(base, data=replace(base.data, train=latest)), base)
    row = fields_by_path(diff)["data.train.version"]
    assert (row.status, row.unversioned_side) == ("unversioned", "baseline")
    assert fields_by_path(diff)["data.train.uri"].status == "same"
    assert _axis(diff, "data") == "unversioned"
    assert row.note and "read as latest" in row.note


def test_pinned_snapshots_at_different_versions_differ_with_the_distance() -> None:
    base = example_manifest()
    diff = _pair(data=replace(base.data, train=example_snapshot(7)))
    row = fields_by_path(diff)["data.train.version"]
    assert (row.status, row.baseline, row.candidate) == ("differs", 3, 7)
    assert row.note and "4 versions apart" in row.note
    assert _axis(diff, "data") == "differs"


def test_a_whole_snapshot_skipped_on_one_side_is_one_unversioned_row() -> None:
    base = example_manifest()
    diff = _pair(data=replace(base.data, train=Skipped("no training snapshot given to capture")))
    row = fields_by_path(diff)["data.train"]
    assert (row.status, row.unversioned_side) == ("unversioned", "candidate")
    assert row.candidate == {"skipped": "no training snapshot given to capture"}
    assert row.baseline["uri"] == "/data/events"
    assert not any(p.startswith("data.train.") for p in fields_by_path(diff))


def test_files_snapshot_pinned_by_fingerprint_has_no_version_to_compare() -> None:
    files = SnapshotRef(
        format="files",
        uri="/data/csv",
        version=Skipped("plain files have no versions"),
        table_id=Skipped("plain files have no table id"),
        fingerprint="sha256:" + "1" * 64,
    )
    base = example_manifest()
    pinned = replace(base, data=replace(base.data, train=files))
    diff = diff_manifests(pinned, replace(pinned, run=replace(pinned.run, run_id="b")))
    assert fields_by_path(diff)["data.train.version"].status == "same"
    assert _axis(diff, "data") == "same"


def test_eval_set_moving_is_a_data_change_with_a_note() -> None:
    base = example_manifest()
    diff = _pair(data=replace(base.data, eval=example_snapshot(2, "/data/eval", "eval")))
    row = fields_by_path(diff)["data.eval.version"]
    assert row.status == "differs"
    assert row.note and "the evaluation set moved" in row.note and "data change" in row.note


def test_params_are_diffed_per_key_and_an_added_param_differs() -> None:
    base = example_manifest()
    diff = _pair(intent=replace(base.intent, params={"lr": 0.01, "epochs": 8, "dropout": 0.1}))
    fields = fields_by_path(diff)
    assert (fields["intent.params.lr"].status, fields["intent.params.lr"].candidate) == (
        "differs",
        0.01,
    )
    assert fields["intent.params.epochs"].status == "same"
    assert (fields["intent.params.dropout"].status, fields["intent.params.dropout"].baseline) == (
        "differs",
        None,
    )


def test_a_library_recorded_on_one_side_only_is_unversioned() -> None:
    base = example_manifest()
    diff = _pair(
        environment=replace(
            base.environment, libraries={**base.environment.libraries, "scipy": "1.15.0"}
        )
    )
    row = fields_by_path(diff)["environment.libraries.scipy"]
    assert (row.status, row.unversioned_side) == ("unversioned", "baseline")


def test_version_aware_notes_for_torch_threads_precision_and_dirty_tree() -> None:
    base = example_manifest()
    env = replace(base.environment, torch_version="2.12.0+cpu", threads=16, tf32_matmul=True)
    code = replace(base.code, dirty=True)
    fields = fields_by_path(_pair(environment=env, code=code))
    assert "torch 2.13 → 2.12" in (fields["environment.torch_version"].note or "")
    assert "thread count (8 → 16)" in (fields["environment.threads"].note or "")
    assert "precision" in (fields["environment.tf32_matmul"].note or "")
    assert "uncommitted changes on the candidate" in (fields["code.dirty"].note or "")


def test_nondeterministic_kernels_are_noted_even_when_equal() -> None:
    base = example_manifest()
    off = replace(base.randomness, deterministic_algorithms=False)
    diff = diff_manifests(
        replace(base, randomness=off), example_manifest(run_id="b", randomness=off)
    )
    row = fields_by_path(diff)["randomness.deterministic_algorithms"]
    assert row.status == "same"
    assert row.note and "off on both sides" in row.note


def test_different_model_family_is_flagged_with_the_reason() -> None:
    base = example_manifest()
    diff = _pair(intent=replace(base.intent, family="fraud-gbm"))
    assert diff.same_family is False
    assert diff.family_note and "intent.family differs: ctr-mlp vs fraud-gbm" in diff.family_note


def test_other_tables_for_both_train_and_eval_are_another_family() -> None:
    base = example_manifest()
    other = replace(
        base.data,
        train=example_snapshot(3, "/data/clicks", "clicks"),
        eval=example_snapshot(0, "/data/clicks-eval", "clicks-eval"),
    )
    diff = _pair(data=other)
    assert diff.same_family is False
    assert "training table and the evaluation table" in (diff.family_note or "")


def test_a_moved_training_table_alone_is_still_one_family() -> None:
    base = example_manifest()
    diff = _pair(data=replace(base.data, train=example_snapshot(3, "/data/clicks", "clicks")))
    assert diff.same_family is True


def test_a_real_cpu_capture_diffed_with_itself_has_no_unversioned_gpu_fact(tmp_path) -> None:
    """The real probes mark a GPU-less host's GPU facts not_applicable, so they are not holes."""
    import reprodiag
    from reprodiag.diagnosis.diff import diff_manifests
    from reprodiag.manifest import load_manifest

    with reprodiag.capture(
        tmp_path / "m.json", code_root=tmp_path, seeds=reprodiag.deterministic_seeds(3)
    ):
        pass
    manifest = load_manifest(tmp_path / "m.json")
    env = next(a for a in diff_manifests(manifest, manifest).axes if a.axis == "environment")
    gpu_rows = [
        f
        for f in env.fields
        if f.path.split(".")[1]
        in ("cuda", "cudnn", "nccl", "gpu_name", "gpu_count", "gpu_uuids", "driver", "cuda_driver")
    ]
    if all(
        isinstance(getattr(manifest.environment, f.path.split(".")[1]), reprodiag.manifest.Skipped)
        for f in gpu_rows
    ):
        assert gpu_rows and all(f.status == "same" for f in gpu_rows), [
            (f.path, f.status, f.baseline) for f in gpu_rows if f.status != "same"
        ]
