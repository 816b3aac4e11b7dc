"""Warm retrain workers, on real processes: one worker serves many specs and gives what a fresh
process gives; a crash, a hang, an error, a leak or a left-behind thread costs one retrain at most
and the next spec runs; each interpreter and code folder gets its own worker; and a killed
`reprodiag noise-band` leaves no process behind.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reprodiag.manifest import Manifest, load_manifest
from reprodiag.retrain import RetrainResult, RetrainSpec, SerialExecutor, slug, spec_from_manifest
from reprodiag.retrain.executor import start_worker, worker_env
from reprodiag.retrain.lifeline import descendants, rss_bytes

ROOT = Path(__file__).resolve().parents[1]  # workers import tests.helpers from here
PYTHONPATH = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
ENV = {"PYTHONPATH": PYTHONPATH}
HELPERS = "tests.helpers.warm_trainers"


@dataclasses.dataclass(frozen=True)
class World:
    root: Path
    manifest: Manifest
    path: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A small real Delta table and a captured run of the reference family (2 epochs)."""
    import reprodiag
    from reprodiag.family import create_table, eval_table_path, train_table_path
    from reprodiag.snapshots import open_snapshot

    root = tmp_path_factory.mktemp("warm-world")
    create_table(root, days=1, rows_per_day=400, seed=7, eval_rows=200)
    path = root / "monday.json"
    with reprodiag.capture(
        path,
        train=open_snapshot(train_table_path(root)),
        eval=open_snapshot(eval_table_path(root)),
        params={"epochs": 2},
        family="warm-tests",
        run_name="monday",
        entrypoint="reprodiag.family.mlp:train",
        code_root=root,
    ) as run:
        run.log_metrics({"auc": 60.0})
    return World(root, load_manifest(path), path)


def spec(
    world: World, out: Path, label: str, trainer: str, seed: int = 11, **kw: Any
) -> RetrainSpec:
    where = {k: kw.pop(k) for k in ("code_dir", "python") if k in kw}  # set on the spec itself
    made = spec_from_manifest(
        world.manifest,
        seed=seed,
        label=label,
        out_dir=out / slug(label),
        metric="auc",
        trainer={"entrypoint": trainer},
        device="cpu",
        **kw,
    )
    return dataclasses.replace(made, **where)


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[SerialExecutor]:
    with SerialExecutor(tmp_path / "work", cwd=tmp_path, env=ENV) as ex:
        yield ex


def warm_logs(workdir: Path) -> list[Path]:
    """One log per warm worker started."""
    return sorted(workdir.glob("warm-*.log"))


def cold(spec: RetrainSpec, workdir: Path, name: str) -> RetrainResult:
    """The spec in a fresh single-shot `python -m reprodiag.retrain.worker` process."""
    return start_worker(spec, name, workdir, worker_env(ENV, {}), cwd=workdir.parent).wait()


def weights(result: RetrainResult) -> object:
    outputs = load_manifest(str(result.manifest_path)).results.outputs
    assert outputs is not None
    return outputs.weights


@pytest.mark.slow  # two fresh processes to compare with: ~20 s
def test_many_specs_in_one_warm_worker_give_what_fresh_processes_give(
    world: World, tmp_path: Path, executor: SerialExecutor
) -> None:
    mlp = "reprodiag.family.mlp:train"
    specs = [
        spec(world, tmp_path, f"warm {s} {i}", mlp, seed=s) for i, s in enumerate((11, 12, 11))
    ]
    first, other, again = executor.run(specs)
    second = executor.run([spec(world, tmp_path, "warm 12 later", mlp, seed=12)])[0]
    assert [r.status for r in (first, other, again, second)] == ["ok"] * 4, first.reason
    assert len(warm_logs(tmp_path / "work")) == 1  # one worker served both run() calls
    solo = {
        s: cold(spec(world, tmp_path, f"cold {s}", mlp, seed=s), tmp_path / "cold", f"c{s}")
        for s in (11, 12)
    }
    # Bit for bit: the same metrics and the same weight digests as a process of its own.
    assert first.metrics == again.metrics == solo[11].metrics
    assert other.metrics == second.metrics == solo[12].metrics != solo[11].metrics
    assert weights(first) == weights(again) == weights(solo[11]) != weights(other)
    for result in (first, other, again):  # each retrain captured its own manifest
        manifest = load_manifest(str(result.manifest_path))
        assert manifest.randomness.python_seed == result.seed
        assert manifest.randomness.deterministic_algorithms is True
        assert manifest.intent.run_name == f"retrain:{slug(result.label)}"


def test_what_a_trainer_changes_does_not_reach_the_next_spec(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import torch

    code = tmp_path / "code"
    code.mkdir()
    monkeypatch.setenv("WARM_TEST_CODE_DIR", str(code))
    with SerialExecutor(tmp_path / "work", cwd=code, env=ENV) as executor:
        polluted, seen = executor.run(
            [
                spec(world, tmp_path, "pollutes", f"{HELPERS}:pollutes"),
                spec(world, tmp_path, "inspects", f"{HELPERS}:inspects", seed=1234),
            ]
        )
    assert polluted.status == seen.status == "ok", (polluted.reason, seen.reason)
    assert seen.metrics["pid"] == polluted.metrics["pid"]  # the same warm worker
    m = seen.metrics
    # Generators seeded from this spec's seed: the first draws a fresh process would make.
    assert m["python_draw"] == random.Random(1234).random()
    assert m["numpy_draw"] == float(np.random.RandomState(1234).rand())
    assert m["torch_draw"] == float(torch.rand(1, generator=torch.Generator().manual_seed(1234)))
    # deterministic_seeds sets PYTHONHASHSEED from the seed when unset: it was reset, not left 7.
    assert m["hashseed"] == float(os.environ.get("PYTHONHASHSEED", "1234"))
    flags = ("deterministic", "float32", "grad", "numpy_ignores_overflow", "warnings_not_errors")
    assert {k: m[k] for k in flags} == dict.fromkeys(flags, 1.0)
    assert (m["marker"], m["polluted_path"], m["cwd_is_code_dir"]) == (0.0, 0.0, 1.0)
    assert m["stdout_is_real"] == 1.0


@pytest.mark.slow
def test_each_fault_costs_one_retrain_and_the_next_spec_runs(
    world: World, tmp_path: Path, executor: SerialExecutor
) -> None:
    marker = f"warm-hang-{uuid.uuid4().hex}"
    fast = "tests.helpers.trainers:fast"
    specs = [
        spec(world, tmp_path, "ok 1", fast, seed=1001),
        spec(world, tmp_path, "exits", f"{HELPERS}:exits"),
        spec(world, tmp_path, "ok 2", fast, seed=1002),
        spec(world, tmp_path, "raises", f"{HELPERS}:raises"),
        spec(world, tmp_path, "interrupts", f"{HELPERS}:interrupts"),
        spec(world, tmp_path, "ok 3", fast, seed=1003),
        spec(world, tmp_path, "hangs", f"{HELPERS}:hangs", timeout_s=3, params={"marker": marker}),
        spec(world, tmp_path, "ok 4", fast, seed=1004),
    ]
    clock = time.monotonic()
    results = executor.run(specs)
    wall = time.monotonic() - clock
    by_label = {r.label: r for r in results}
    assert [r.status for r in results] == [
        "ok",
        "failed",
        "ok",
        "failed",
        "failed",
        "ok",
        "failed",
        "ok",
    ], [r.reason for r in results]
    assert [by_label[f"ok {i}"].metric_value for i in (1, 2, 3, 4)] == [70.01, 70.02, 70.03, 70.04]
    assert str(by_label["exits"].reason).startswith("worker exited with code 3: ")
    assert "about to exit hard" in str(by_label["exits"].reason)
    assert by_label["raises"].reason == "RuntimeError: the warm trainer failed on purpose"
    assert by_label["interrupts"].reason == "KeyboardInterrupt"
    # The timeout counts from the hand-over, not the replacement worker's start-up.
    hung = by_label["hangs"]
    assert hung.reason == "timed out after 3 s" and 3 <= hung.seconds < 6, hung.seconds
    # The hung trainer's `setsid` grandchild went with its worker.
    assert _marked(marker) == []
    # Raising (ordinary or KeyboardInterrupt) keeps the worker; exiting and hanging replace it.
    assert len(warm_logs(tmp_path / "work")) == 3
    print(f"8 specs, 3 warm workers: {wall:.1f} s")


@pytest.mark.slow
def test_a_leaking_trainer_costs_its_worker_not_the_next_retrain(
    world: World, tmp_path: Path, executor: SerialExecutor
) -> None:
    (before,) = executor.run([spec(world, tmp_path, "pid", f"{HELPERS}:reports_pid")])
    worker_rss = rss_bytes(int(before.metrics["pid"]))
    assert worker_rss is not None
    executor.slot.max_rss = worker_rss + 128 * 2**20  # the leak (256 MiB) goes over it
    leaked, leaked_again, after = executor.run(
        [
            spec(world, tmp_path, "leak", f"{HELPERS}:leaks"),
            spec(world, tmp_path, "leak again", f"{HELPERS}:leaks"),
            spec(world, tmp_path, "pid after", f"{HELPERS}:reports_pid"),
        ]
    )
    assert [r.status for r in (leaked, leaked_again, after)] == ["ok"] * 3
    # Each leak stayed in its own worker, which was replaced: it never added up.
    assert leaked.metrics["held_mb"] == leaked_again.metrics["held_mb"] == 256.0
    assert after.metrics["held_mb"] == 0.0
    pids = {r.metrics["pid"] for r in (before, leaked, leaked_again, after)}
    assert len(pids) == 3 and before.metrics["pid"] == leaked.metrics["pid"]


@pytest.mark.slow
def test_a_thread_left_running_does_not_hold_the_result(
    world: World, tmp_path: Path, executor: SerialExecutor
) -> None:
    left, after = executor.run(
        [
            spec(world, tmp_path, "thread", f"{HELPERS}:leaves_a_thread", timeout_s=20),
            spec(world, tmp_path, "after", f"{HELPERS}:reports_pid"),
        ]
    )
    assert left.status == after.status == "ok" and left.seconds < 10
    assert left.metrics["pid"] != after.metrics["pid"]  # the worker with the thread was replaced
    # The single-shot worker takes its result too, and exits instead of waiting for the thread.
    clock = time.monotonic()
    solo = cold(
        spec(world, tmp_path, "thread solo", f"{HELPERS}:leaves_a_thread", timeout_s=30),
        tmp_path / "cold",
        "solo",
    )
    assert solo.status == "ok" and time.monotonic() - clock < 25


@pytest.mark.slow
def test_each_interpreter_and_code_folder_gets_its_own_worker(
    world: World, tmp_path: Path, executor: SerialExecutor
) -> None:
    folders = [tmp_path / "worktree-a", tmp_path / "worktree-b"]
    for auc, folder in enumerate(folders, start=10):  # one module name, as two commits have it
        folder.mkdir()
        (folder / "keyed_trainer.py").write_text(
            "import os\n"
            f"def train(ctx):\n    return {{'auc': {auc}.0, 'pid': float(os.getpid()), "
            "'here': float(os.getcwd() == os.path.dirname(__file__))}\n",
            encoding="utf-8",
        )
    python = tmp_path / "bin" / "python"  # another interpreter path (a rebuilt environment)
    python.parent.mkdir()
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    keyed = "keyed_trainer:train"
    executor.prestart()  # started in tmp_path, before any spec: the first spec moves it
    a1, b, a2, other_python = executor.run(
        [
            spec(world, tmp_path, "a", keyed, code_dir=str(folders[0])),
            spec(world, tmp_path, "b", keyed, code_dir=str(folders[1])),
            spec(world, tmp_path, "a again", keyed, code_dir=str(folders[0])),
            spec(world, tmp_path, "python", f"{HELPERS}:reports_pid", python=str(python)),
        ]
    )
    assert [r.status for r in (a1, b, a2, other_python)] == ["ok"] * 4, a1.reason
    assert (a1.metric_value, b.metric_value) == (10.0, 11.0)  # each imported its own folder's
    assert a1.metrics["pid"] == a2.metrics["pid"] != b.metrics["pid"]
    assert other_python.metrics["pid"] not in {a1.metrics["pid"], b.metrics["pid"]}
    assert a1.metrics["here"] == b.metrics["here"] == 1.0  # each ran in its own folder
    assert len(warm_logs(tmp_path / "work")) == 3  # the prestarted one served folder a
    # The retrain's manifest probes the code folder it ran in.
    assert Path(str(a1.manifest_path)).is_file()


# --- clean deaths ------------------------------------------------------------------------------


def _marked(marker: str) -> list[int]:
    """Pids of this user's processes whose argv or environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_noise_band_leaves_no_process_behind(
    world: World, tmp_path: Path, how: signal.Signals
) -> None:
    marker = f"warm-kill-{uuid.uuid4().hex}"
    started = tmp_path / "started"
    started.mkdir()
    env = {
        **os.environ,
        **ENV,
        "WARM_TEST_MARKER": marker,  # in every process of the run: found by its environment
        "WARM_TEST_MARKER_ARG": marker,
        "WARM_TEST_STARTED": str(started),
    }
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reprodiag",
            "noise-band",
            str(world.path),
            "--seeds",
            "3",
            "--trainer",
            f"{HELPERS}:slow",
            "--no-band-store",
            "--out",
            str(tmp_path / "band"),
            "--quiet",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(started.iterdir()):  # mid-retrain: the trainer has begun
            assert run.poll() is None and time.monotonic() < deadline, "the retrain never began"
            time.sleep(0.2)
        tree = descendants(run.pid)
        assert len(_marked(marker)) >= 3 and tree  # reprodiag, its worker, the grandchild
        run.send_signal(how)
        run.wait(timeout=30)
        time.sleep(5)
        assert _marked(marker) == []
    finally:
        for pid in _marked(marker):
            os.kill(pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()
