"""Every executor runs the same contract, on real worker processes and a real local Ray.

Serial, processes, Ray and in-process executors each run an ok, a NaN and a raising trainer and
must hand back the same results in spec order. Then what only some of them promise: retrains side
by side, thread budgets, warm workers kept across calls and ended by close(), a dying worker or
Ray actor as a failed seed, Ray leaving the home folder alone, and the CLI's --executor wiring.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reprodiag.cli import main
from reprodiag.errors import InputError
from reprodiag.manifest import Manifest, load_manifest
from reprodiag.retrain import (
    EXECUTORS,
    Executor,
    InProcessExecutor,
    ProcessExecutor,
    RayExecutor,
    RetrainResult,
    RetrainSpec,
    SerialExecutor,
    make_executor,
    slug,
    spec_from_manifest,
    worker_slots,
)
from reprodiag.retrain.pool import default_workers, visible_gpus

ROOT = Path(__file__).resolve().parents[1]  # workers import tests.helpers from here
PYTHONPATH = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
ENV = {"PYTHONPATH": PYTHONPATH}


@dataclasses.dataclass(frozen=True)
class World:
    root: Path
    manifest: Manifest
    path: Path


def _capture(root: Path, name: str, auc: float) -> Path:
    import reprodiag
    from reprodiag.family import eval_table_path, train_table_path
    from reprodiag.snapshots import open_snapshot

    path = root / f"{name}.json"
    with reprodiag.capture(
        path,
        train=open_snapshot(train_table_path(root)),
        eval=open_snapshot(eval_table_path(root)),
        params={"epochs": 1},
        family="executor-tests",
        run_name=name,
        entrypoint="tests.helpers.trainers:fast",
        code_root=root,
    ) as run:
        run.log_metrics({"auc": auc})
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from reprodiag.family import create_table

    root = tmp_path_factory.mktemp("executor-world")
    create_table(root, days=1, rows_per_day=200, seed=7, eval_rows=100)
    path = _capture(root, "monday", 70.0)
    return World(root, load_manifest(path), path)


@pytest.fixture(scope="module")
def fake_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HOME for everything this module starts: Ray must leave it empty (checked below)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def ray_executor(
    tmp_path_factory: pytest.TempPathFactory, fake_home: Path
) -> Iterator[RayExecutor]:
    """A real local Ray (2 CPUs), started by the executor and shut down after the module."""
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    work = tmp_path_factory.mktemp("ray")
    executor = RayExecutor(work / "work", num_cpus=2, cwd=work, env=ENV)
    executor.connect()
    assert executor.started_ray and ray.is_initialized()
    yield executor
    temp_dir = executor._temp_dir
    executor.close()
    assert not ray.is_initialized() and temp_dir is not None and not Path(temp_dir).exists()


def spec(
    world: World, out: Path, label: str, trainer: str, seed: int = 11, **kwargs: Any
) -> RetrainSpec:
    return spec_from_manifest(
        world.manifest,
        seed=seed,
        label=label,
        out_dir=out / slug(label),
        metric="auc",
        trainer={"entrypoint": trainer},
        device="cpu",
        **kwargs,
    )


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


MAKERS: dict[str, Callable[[Path, pytest.FixtureRequest], Executor]] = {
    "serial": lambda tmp, _: SerialExecutor(tmp / "work", cwd=tmp, env=ENV),
    "processes": lambda tmp, _: ProcessExecutor(tmp / "work", workers=2, cwd=tmp, env=ENV),
    "ray": lambda tmp, request: request.getfixturevalue("ray_executor"),
    "in-process": lambda tmp, _: InProcessExecutor(),
}


# --- the contract ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("serial", marks=pytest.mark.slow),
        pytest.param("processes", marks=pytest.mark.slow),
        pytest.param("ray", marks=pytest.mark.slow),
        "in-process",
    ],
)
def test_executor_contract(
    kind: str,
    world: World,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    restore_torch_flags: None,
) -> None:
    specs = [
        spec(world, tmp_path, "fast", "tests.helpers.trainers:fast", seed=1003),
        spec(world, tmp_path, "nan", "tests.helpers.trainers:returns_nan"),
        spec(world, tmp_path, "raises", "tests.helpers.trainers:raises", seed=12),
    ]
    started: list[str] = []
    finished: list[RetrainResult] = []
    results = MAKERS[kind](tmp_path, request).run(
        specs, on_result=finished.append, on_start=lambda s: started.append(s.label)
    )
    assert sorted(started) == ["fast", "nan", "raises"]
    assert len(finished) == 3 and sorted(finished, key=results.index) == results
    assert [(r.label, r.seed, r.status) for r in results] == [
        ("fast", 1003, "ok"),
        ("nan", 11, "failed"),
        ("raises", 12, "failed"),
    ]
    ok, nan, raises = results
    assert (ok.metric_value, ok.reason) == (70.03, None)
    assert ok.metrics == {"auc": 70.03, "rows": 200.0, "log_loss": 0.5}
    manifest = load_manifest(str(ok.manifest_path))
    assert manifest.results.status == "finished" and manifest.randomness.python_seed == 1003
    assert nan.reason == "returned NaN for auc: the run diverged"
    assert raises.reason == "ValueError: boom: the trainer failed on purpose"
    for failed in (nan, raises):  # a failed retrain still leaves its record
        assert load_manifest(str(failed.manifest_path)).results.status == "failed"


# --- processes ---------------------------------------------------------------------------------


def test_worker_slots_split_cores_and_hand_out_gpus() -> None:
    assert worker_slots(2, 16, ["0", "1"]) == [
        worker_slots(1, 8, ["0"])[0],
        dataclasses.replace(worker_slots(1, 8, ["1"])[0], index=1),
    ]
    three = worker_slots(3, 8, ["GPU-a", "GPU-b"])
    assert [(s.threads, s.gpu) for s in three] == [(2, "GPU-a"), (2, "GPU-b"), (2, "GPU-a")]
    assert three[1].env == {
        "OMP_NUM_THREADS": "2",
        "MKL_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
        "CUDA_VISIBLE_DEVICES": "GPU-b",
    }
    assert [s.threads for s in worker_slots(4, 2)] == [1] * 4  # never 0 threads
    assert "CUDA_VISIBLE_DEVICES" not in worker_slots(1, 4)[0].env
    with pytest.raises(ValueError, match="at least 1"):
        worker_slots(0, 4)
    assert (default_workers(16, ["0", "1"]), default_workers(16), default_workers(1, ["0"])) == (
        2,
        16,
        1,
    )


def test_visible_gpus_follow_cuda_visible_devices_then_nvml() -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-x, 1"}) == ["GPU-x", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "0,-1,1"}) == ["0"]  # CUDA stops at -1

    class TwoGpus:
        def nvmlInit(self) -> None: ...
        def nvmlDeviceGetCount(self) -> int:
            return 2

        def nvmlShutdown(self) -> None: ...

    class NoDriver(TwoGpus):
        def nvmlInit(self) -> None:
            raise OSError("NVML Shared Library Not Found")

    assert visible_gpus({}, TwoGpus()) == ["0", "1"]
    assert visible_gpus({}, NoDriver()) == []


@pytest.mark.slow
def test_processes_run_side_by_side_with_their_thread_budget(world: World, tmp_path: Path) -> None:
    specs = [
        spec(
            world, tmp_path, f"sleep {i}", "tests.helpers.executor_trainers:sleeps_briefly", seed=i
        )
        for i in range(4)
    ]
    executor = ProcessExecutor(tmp_path / "work", workers=2, cwd=tmp_path, env=ENV)
    clock = time.monotonic()
    results = executor.run(specs)
    wall = time.monotonic() - clock
    assert [r.status for r in results] == ["ok"] * 4, [r.reason for r in results]
    spans = [(r.metrics["started"], r.metrics["ended"]) for r in results]
    # Four 1 s sleeps, two at a time: exactly 2 overlap at the peak, and they cover less of the
    # clock than 4 s one after another. How much less depends on how far apart two workers
    # finish starting (a few seconds each here, not the executor's doing): on a loaded 2-core
    # machine the skew reached 1.4 s (3.65 s covered), so the bound is "less than serial".
    assert _covered(spans) < 3.9 and _most_at_once(spans) == 2, spans
    print(f"4 x 1 s sleeps, 2 workers: {wall:.1f} s wall, sleeps cover {_covered(spans):.1f} s")

    # The budget comes from the pool size, not from how many specs a call brings: one spec
    # alone still gets floor(cores / 2) threads, and its manifest records that.
    (one,) = executor.run(
        [spec(world, tmp_path, "threads", "tests.helpers.executor_trainers:reports_threads")]
    )
    budget = max(1, len(os.sched_getaffinity(0)) // 2)
    assert (one.metrics["threads"], one.metrics["omp"]) == (budget, budget), one.reason
    assert load_manifest(str(one.manifest_path)).environment.threads == budget


def _covered(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        total += max(0.0, stop - max(start, end))
        end = max(end, stop)
    return total


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


@pytest.mark.slow
def test_a_crashed_or_hung_worker_is_a_failed_seed_in_the_pool(
    world: World, tmp_path: Path
) -> None:
    specs = [
        spec(world, tmp_path, "crashes", "tests.helpers.trainers:crashes"),
        spec(world, tmp_path, "sleeps", "tests.helpers.trainers:sleeps", timeout_s=2),
        spec(world, tmp_path, "fast", "tests.helpers.trainers:fast", seed=1003),
    ]
    results = ProcessExecutor(tmp_path / "work", workers=2, cwd=tmp_path, env=ENV).run(specs)
    crash, hung, fast = results
    assert crash.status == "failed" and crash.manifest_path is None
    assert str(crash.reason).startswith("worker exited with code 137")
    assert "about to crash hard" in str(crash.reason)
    assert hung.reason == "timed out after 2 s" and 2 <= hung.seconds < 15
    assert fast.status == "ok" and fast.metric_value == 70.03


@pytest.mark.slow
def test_pool_workers_stay_warm_across_runs_and_close_ends_them(
    world: World, tmp_path: Path
) -> None:
    def specs(tag: str) -> list[RetrainSpec]:
        trainer = "tests.helpers.warm_trainers:reports_pid"
        return [spec(world, tmp_path, f"{tag} {i}", trainer, seed=i) for i in range(2)]

    with ProcessExecutor(tmp_path / "work", workers=2, cwd=tmp_path, env=ENV) as executor:
        first = executor.run(specs("first"))
        second = executor.run(specs("second"))
    pids = {int(r.metrics["pid"]) for r in first}
    assert [r.status for r in first + second] == ["ok"] * 4
    # One warm worker per slot, both kept for the second call; closing the executor ends them.
    assert len(pids) == 2 and {int(r.metrics["pid"]) for r in second} == pids
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


# --- ray ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_dying_ray_task_is_a_failed_seed_and_home_stays_empty(
    world: World, tmp_path: Path, ray_executor: RayExecutor, fake_home: Path
) -> None:
    import ray

    specs = [
        spec(world, tmp_path, "kills", "tests.helpers.executor_trainers:kills_its_ray_worker"),
        spec(world, tmp_path, "fast", "tests.helpers.trainers:fast", seed=1003),
    ]
    killed, fast = ray_executor.run(specs)
    assert killed.status == "failed" and str(killed.reason).startswith("ray task failed: "), (
        killed.reason
    )
    assert "WorkerCrashed" in str(killed.reason) or "died" in str(killed.reason)
    assert fast.status == "ok" and fast.metric_value == 70.03
    # Ray was started with HOME pointing here: had it written a token, a cache or a log into
    # the home folder, it would be here.
    assert os.environ["HOME"] == str(fake_home)
    assert sorted(p.relative_to(fake_home) for p in fake_home.rglob("*")) == []
    # An executor that joined a running Ray leaves it running.
    joined = RayExecutor(tmp_path / "joined", env=ENV)
    assert joined.run([]) == [] and not joined.started_ray
    joined.close()
    assert ray.is_initialized()


def test_ray_unreachable_or_missing_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = time.monotonic()
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1"):
        with pytest.raises(InputError, match=f"cannot reach the Ray cluster at {address}"):
            RayExecutor(tmp_path, address=address).connect()
    assert time.monotonic() - clock < 10
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as when not installed
    with pytest.raises(InputError, match=r"pip install 'reprodiag\[ray\]'"):
        RayExecutor(tmp_path).run([])


# --- factory and CLI ---------------------------------------------------------------------------


def test_make_executor_names_each_executor(tmp_path: Path) -> None:
    from reprodiag.cli.retrain_options import EXECUTORS as CLI_EXECUTORS

    assert CLI_EXECUTORS == EXECUTORS == ("serial", "processes", "ray")
    assert isinstance(make_executor("serial", tmp_path), SerialExecutor)
    pool = make_executor("processes", tmp_path, workers=3, threads=2)
    assert isinstance(pool, ProcessExecutor) and [s.threads for s in pool.slots] == [2] * 3
    ray_executor = make_executor("ray", tmp_path, workers=2, address="auto")
    assert isinstance(ray_executor, RayExecutor) and ray_executor.num_cpus == 2
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("dask", {}, "unknown executor 'dask'"),
        ("processes", {"address": "auto"}, "--executor ray"),
        ("serial", {"workers": 2}, "--executor processes"),
        ("processes", {"workers": 0}, "at least 1"),
    ]
    for kind, kwargs, words in cases:
        with pytest.raises(InputError, match=words):
            make_executor(kind, tmp_path, **kwargs)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as code:
        main(args)
    printed = capsys.readouterr()
    assert code.value.code == 0, printed
    return printed.out


def _retrain_threads(folder: Path) -> set[Any]:
    manifests = list(folder.rglob("manifest.json"))
    assert manifests, f"no retrain manifests under {folder}"
    return {load_manifest(str(m)).environment.threads for m in manifests}


@pytest.mark.slow
def test_cli_compare_retrains_in_a_process_pool(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PYTHONPATH", PYTHONPATH)
    monkeypatch.chdir(tmp_path)
    candidate = _capture(world.root, "tuesday", 69.0)
    out = tmp_path / "report"
    _cli(
        [
            "compare",
            str(world.path),
            str(candidate),
            "--retrain",
            "--executor",
            "processes",
            "--workers",
            "2",
            "--max-retrains",
            "3",
            "--trainer",
            "tests.helpers.trainers:fast",
            "--no-band-store",
            "--out",
            str(out),
            "--format",
            "json",
        ],
        capsys,
    )
    # processes with 2 workers: floor(cores / 2) threads per retrain (serial would leave torch's).
    assert _retrain_threads(out / "retrains") == {max(1, len(os.sched_getaffinity(0)) // 2)}


@pytest.mark.slow
def test_cli_noise_band_runs_on_ray(
    world: World,
    tmp_path: Path,
    ray_executor: RayExecutor,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PYTHONPATH", PYTHONPATH)
    monkeypatch.chdir(tmp_path)
    # The command reuses this process's Ray; the fixture's idle actors hold both of its CPUs.
    ray_executor.release()
    out = tmp_path / "band"
    printed = _cli(
        [
            "noise-band",
            str(world.path),
            "--executor",
            "ray",
            "--seeds",
            "3",
            "--trainer",
            "tests.helpers.trainers:fast",
            "--no-band-store",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert "auc: 3 seed(s)" in printed and "95 % band" in printed
    assert _retrain_threads(out / "retrains") == {1}  # a Ray task's budget: its 1 CPU


def test_cli_rejects_address_without_ray(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as code:
        main(
            [
                "noise-band",
                str(world.path),
                "--address",
                "auto",
                "--trainer",  # consent given: the usage error is what is checked
                "tests.helpers.trainers:fast",
                "--no-band-store",
                "--out",
                str(tmp_path),
            ]
        )
    assert code.value.code == 2 and "--address needs --executor ray" in capsys.readouterr().err
