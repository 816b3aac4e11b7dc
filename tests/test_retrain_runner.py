"""The retrain runner: specs as JSON, the worker, and executors, on real subprocesses and torch.

The reference family trains on a small real Delta table (2 days x 600 rows, 2 epochs); faults are
the small trainers in tests/helpers/trainers.py, each in its own worker process.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reprodiag.errors import InputError
from reprodiag.manifest import Manifest, SnapshotRef, load_manifest
from reprodiag.retrain import (
    InProcessExecutor,
    RetrainFailed,
    RetrainResult,
    RetrainSpec,
    RetrainSpecError,
    SerialExecutor,
    slug,
    spec_from_manifest,
)
from reprodiag.retrain.worker import STORAGE_OPTIONS_ENV, check_metrics, storage_options_from_env
from reprodiag.snapshots import open_snapshot, unversioned_ref

ROOT = Path(__file__).resolve().parents[1]
MLP = {"entrypoint": "reprodiag.family.mlp:train"}


@dataclasses.dataclass(frozen=True)
class World:
    root: Path
    manifest: Manifest
    manifest_path: Path

    @property
    def train(self) -> SnapshotRef:
        assert isinstance(self.manifest.data.train, SnapshotRef)
        return self.manifest.data.train


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A real table and a captured source run of the reference family (its metric logged, not
    trained: the source run's own training is not what these tests exercise)."""
    import reprodiag
    from reprodiag.family import create_table, eval_table_path, train_table_path

    root = tmp_path_factory.mktemp("retrain-world")
    create_table(root, days=2, rows_per_day=600, seed=7, eval_rows=400)
    path = root / "monday.json"
    with reprodiag.capture(
        path,
        train=open_snapshot(train_table_path(root)),
        eval=open_snapshot(eval_table_path(root)),
        params={"epochs": 2},
        family="reference-mlp",
        experiment="ctr",
        run_name="monday",
        tags={"team": "ranking"},
        entrypoint="reprodiag.family.mlp:train",
        code_root=root,
    ) as run:
        run.log_metrics({"auc": 60.0, "log_loss": 0.5}, {"log_loss": "lower"})
    return World(root, load_manifest(path), path)


def executor(tmp: Path) -> SerialExecutor:
    # cwd outside any repository keeps the code probe cheap; the repo root holds tests.helpers.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return SerialExecutor(tmp / "work", cwd=tmp, env={"PYTHONPATH": path})


def spec(
    world: World, out: Path, label: str, seed: int = 11, trainer: Any = None, **kwargs: Any
) -> RetrainSpec:
    return spec_from_manifest(
        world.manifest,
        seed=seed,
        label=label,
        out_dir=out / slug(label),
        metric="auc",
        trainer=trainer or {"entrypoint": "tests.helpers.trainers:fast"},
        device="auto",
        source=str(world.manifest_path),
        **kwargs,
    )


# --- specs -------------------------------------------------------------------------------------


def test_spec_from_manifest_keeps_the_pipeline_and_swaps_one_axis(
    world: World, tmp_path: Path
) -> None:
    s = spec_from_manifest(
        world.manifest, seed=1003, label="noise band seed 1003", out_dir=tmp_path, metric="log_loss"
    )
    assert s.trainer == MLP and s.params == {"epochs": 2} and s.seed == 1003
    assert s.train == world.manifest.data.train and s.eval == world.manifest.data.eval
    assert s.direction == "lower" and s.directions == {"auc": "higher", "log_loss": "lower"}
    assert s.run_name == "retrain:noise-band-seed-1003" and s.family == "reference-mlp"
    assert s.tags == {"team": "ranking"} and "tier" not in json.loads(s.to_json())
    assert Path(s.manifest_out) == tmp_path / "manifest.json"
    assert Path(s.output_dir) == tmp_path / "output"
    swapped = spec_from_manifest(
        world.manifest,
        seed=5,
        label="hp",
        out_dir=tmp_path,
        metric="auc",
        params={"epochs": 3, "lr": 0.01},
    )
    assert swapped.params == {"epochs": 3, "lr": 0.01} and swapped.train == s.train


def test_spec_round_trips_through_json(world: World, tmp_path: Path) -> None:
    s = spec(world, tmp_path, "pinned-snapshot retrain", timeout_s=30.0)
    assert RetrainSpec.from_json(s.to_json()) == s
    result = RetrainResult(
        label="x",
        seed=3,
        status="ok",
        metrics={"auc": 1.5},
        metric_value=1.5,
        reason=None,
        seconds=0.2,
        manifest_path="m.json",
    )
    assert RetrainResult.from_json(result.to_json()) == result
    seed_result = result.to_seed_result()
    assert (seed_result.seed, seed_result.metric, seed_result.status) == (3, 1.5, "ok")


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("seed", "abc", "field 'seed'"),
        ("timeout_s", -1, "field 'timeout_s'"),
        ("trainer", {"entrypoint": "no_colon"}, "trainer.entrypoint"),
        ("trainer", {"command": ["python", "{sede}"]}, "unknown placeholder {sede}"),
        ("colour", "blue", "field 'colour'"),
        ("format", "reprodiag.retrain-spec/v9", "field 'format'"),
    ],
)
def test_bad_spec_files_name_the_field(
    world: World, tmp_path: Path, field: str, value: Any, expected: str
) -> None:
    raw = json.loads(spec(world, tmp_path, "x").to_json())
    raw[field] = value
    with pytest.raises(InputError, match="spec.json") as info:
        RetrainSpec.from_json(json.dumps(raw), "spec.json")
    assert expected in str(info.value)
    raw = json.loads(spec(world, tmp_path, "x").to_json())
    del raw["seed"]
    with pytest.raises(RetrainSpecError, match="seed"):
        RetrainSpec.from_json(json.dumps(raw))


def test_unpinned_training_data_cannot_be_retrained(world: World, tmp_path: Path) -> None:
    latest = unversioned_ref(world.root / "events", "read with pandas, as latest")
    unpinned = dataclasses.replace(
        world.manifest, data=dataclasses.replace(world.manifest.data, train=latest)
    )
    with pytest.raises(InputError) as info:
        spec_from_manifest(
            unpinned,
            seed=1,
            label="seed replay",
            out_dir=tmp_path,
            metric="auc",
            source="wednesday.json",
        )
    message = str(info.value)
    assert (
        "cannot retrain: wednesday.json's training data was not pinned (read as latest)" in message
    )
    assert "open_snapshot" in message
    # Swapping the data axis to a pinned snapshot is allowed.
    pinned = spec_from_manifest(
        unpinned, seed=1, label="pinned", out_dir=tmp_path, metric="auc", train=world.train
    )
    assert pinned.train.pinned


def test_a_manifest_without_a_python_entrypoint_asks_for_a_trainer(
    world: World, tmp_path: Path
) -> None:
    shell_run = dataclasses.replace(
        world.manifest, code=dataclasses.replace(world.manifest.code, entrypoint="bash train.sh")
    )
    with pytest.raises(InputError, match="--trainer module:function") as info:
        spec_from_manifest(
            shell_run, seed=1, label="x", out_dir=tmp_path, metric="auc", source="run.json"
        )
    assert "--command" in str(info.value) and "run.json" in str(info.value)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ({"acc": 1.0}, "returned no 'auc' metric (it returned: acc)"),
        ({"auc": "81.2"}, "returned str '81.2' for auc, not a number"),
        ({"auc": True}, "not a number"),
        ({"auc": float("nan")}, "returned NaN for auc: the run diverged"),
        ({"auc": -math.inf}, "returned -inf for auc: the run diverged"),
        ([81.2], "returned list, not a mapping"),
    ],
)
def test_unusable_metrics_are_failures_with_their_reason(raw: Any, reason: str) -> None:
    with pytest.raises(RetrainFailed) as info:
        check_metrics(raw, "auc")
    assert reason in info.value.message


def test_numpy_metrics_count_and_non_finite_side_metrics_are_dropped() -> None:
    metrics, value = check_metrics({"auc": np.float32(0.75), "loss": float("inf")}, "auc")
    assert value == 0.75 and metrics == {"auc": 0.75}


def test_storage_options_travel_in_the_environment_never_in_the_spec(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = {"AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    ex = SerialExecutor(tmp_path, storage_options=secret)
    assert json.loads(ex._worker_env()[STORAGE_OPTIONS_ENV]) == secret
    assert "s3cr3t" not in spec(world, tmp_path, "x").to_json()
    monkeypatch.setenv(STORAGE_OPTIONS_ENV, json.dumps(secret))
    assert storage_options_from_env() == secret
    assert STORAGE_OPTIONS_ENV not in os.environ  # the trainer never sees it


# --- executors ---------------------------------------------------------------------------------


@pytest.fixture
def restore_torch_flags() -> Iterator[None]:
    """The in-process executor seeds this process: put torch's deterministic mode back."""
    import torch

    flags = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    yield
    torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])


# Every executor runs the same contract; the serial one starts one warm worker (~4 s) for all specs.
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(executor, marks=pytest.mark.slow, id="serial"),
        pytest.param(lambda tmp: InProcessExecutor(), id="in-process"),
    ],
)
def test_executor_contract(
    world: World, tmp_path: Path, make: Any, restore_torch_flags: None
) -> None:
    specs = [
        spec(
            world,
            tmp_path,
            "returns_nan",
            trainer={"entrypoint": "tests.helpers.trainers:returns_nan"},
        ),
        spec(world, tmp_path, "seed 1003", seed=1003),
    ]
    started: list[str] = []
    finished: list[RetrainResult] = []
    results = make(tmp_path).run(
        specs, on_result=finished.append, on_start=lambda s: started.append(s.label)
    )
    assert started == ["returns_nan", "seed 1003"] and finished == results
    nan, ok = results
    assert (nan.status, nan.seed, nan.metric_value) == ("failed", 11, None)
    assert nan.reason == "returned NaN for auc: the run diverged"
    failed = load_manifest(str(nan.manifest_path))  # a failed retrain still leaves its record
    assert failed.results.status == "failed" and failed.results.error is not None
    assert failed.results.metrics["accuracy"].value == 50.0
    assert (ok.status, ok.seed, ok.metric_value, ok.reason) == ("ok", 1003, 70.03, None)
    assert ok.metrics == {"auc": 70.03, "rows": 1200.0, "log_loss": 0.5}
    manifest = load_manifest(str(ok.manifest_path))
    assert manifest.intent.run_name == "retrain:seed-1003"
    assert manifest.results.metrics["log_loss"].direction == "lower"
    assert manifest.randomness.python_seed == 1003


@pytest.mark.slow
def test_reference_family_retrains_are_deterministic(world: World, tmp_path: Path) -> None:
    specs = [
        spec(world, tmp_path, "seed 11 first", trainer=MLP),
        spec(world, tmp_path, "seed 11 again", trainer=MLP),
        spec(world, tmp_path, "seed 12", seed=12, trainer=MLP),
    ]
    first, again, other = executor(tmp_path).run(specs)
    assert [r.status for r in (first, again, other)] == ["ok"] * 3, [
        r.reason for r in (first, again, other)
    ]
    assert first.metrics == again.metrics  # same seed, same data, same CPU: the same bits
    assert first.metric_value != other.metric_value
    assert set(first.metrics) == {"auc", "accuracy", "log_loss"}
    for result, s in zip((first, again, other), specs, strict=True):
        manifest = load_manifest(str(result.manifest_path))
        assert manifest.results.status == "finished"
        assert manifest.randomness.python_seed == s.seed == result.seed
        assert manifest.randomness.deterministic_algorithms is True
        assert manifest.data.train == world.train and world.train.version == 1
        assert manifest.data.eval == world.manifest.data.eval
        assert manifest.intent.params == {"epochs": 2} and manifest.intent.family == "reference-mlp"
        assert manifest.code.entrypoint == "reprodiag.family.mlp:train"
        assert manifest.results.metrics["auc"].value == result.metric_value
        assert (Path(s.output_dir) / "model.pt").is_file()


@pytest.mark.slow
def test_faults_are_failed_seeds_and_the_other_specs_still_finish(
    world: World, tmp_path: Path
) -> None:
    def fixture(name: str, **kwargs: Any) -> RetrainSpec:
        return spec(
            world,
            tmp_path,
            name,
            trainer={"entrypoint": f"tests.helpers.trainers:{name}"},
            **kwargs,
        )

    specs = [
        fixture("raises"),
        fixture("sleeps", timeout_s=2),
        fixture("crashes"),
        fixture("fast", seed=1003),
    ]
    recorded: list[RetrainResult] = []
    results = executor(tmp_path).run(specs, on_result=recorded.append)
    assert recorded == results
    raises, sleeps, crash, fast = results
    assert [r.status for r in results] == ["failed"] * 3 + ["ok"]
    assert raises.reason == "ValueError: boom: the trainer failed on purpose"
    traceback_file = tmp_path / "work" / "000-raises.result.traceback.txt"
    assert "tests/helpers/trainers.py" in traceback_file.read_text()
    assert load_manifest(str(raises.manifest_path)).results.error == (
        "ValueError: boom: the trainer failed on purpose"
    )
    assert sleeps.reason == "timed out after 2 s" and 2 <= sleeps.seconds < 15
    assert crash.reason is not None and crash.reason.startswith("worker exited with code 137")
    assert "about to crash hard" in crash.reason and crash.manifest_path is None
    assert fast.metric_value == 70.03
    assert [r.to_seed_result().status for r in results] == ["failed"] * 3 + ["ok"]


def test_a_vanished_snapshot_is_a_failed_seed(
    world: World, tmp_path: Path, restore_torch_flags: None
) -> None:
    gone = dataclasses.replace(world.train, uri=str(tmp_path / "no-such-table"))
    (result,) = InProcessExecutor().run([spec(world, tmp_path, "gone", train=gone)])
    assert result.status == "failed" and "no-such-table" in str(result.reason)
