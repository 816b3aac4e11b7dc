"""Executors run retrain specs and hand back one RetrainResult per spec, in spec order.

`SerialExecutor` runs the specs one after another in a warm worker (`python -m
reprodiag.retrain.warm`, see workers.py): torch is imported once per worker, not once per retrain,
and each spec still gets fresh seeds, determinism flags, environment and its own manifest. A
trainer that raises, hangs past its timeout, returns NaN, leaks memory or kills its process is one
failed seed (the worker is replaced), and the other specs still run. `on_result` is called as each
retrain finishes, so the caller can record every seed (to the band store) before the next one
starts: a crash loses no finished seed. Workers live until `close()` (or the end of a `with`
block), so several `run()` calls share them; they also die with this process.
`InProcessExecutor` runs specs in the calling process: faster, no isolation and no timeouts.
`ProcessExecutor` (pool.py) keeps several warm workers, one per GPU or group of cores;
`RayExecutor` (ray_executor.py) keeps one per Ray actor. `make_executor` (make.py) picks one by
name. `start_worker` runs one spec in a fresh `python -m reprodiag.retrain.worker` process (the
single-shot worker, kept for callers that want a process per retrain).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from reprodiag._atomic import atomic_write_text
from reprodiag.retrain import lifeline
from reprodiag.retrain.spec import (
    STORAGE_OPTIONS_ENV,
    RetrainResult,
    RetrainSpec,
    existing_manifest,
    slug,
)
from reprodiag.retrain.workers import WarmSlot, read_result

OnResult = Callable[[RetrainResult], None]
OnStart = Callable[[RetrainSpec], None]
KILL_GRACE_S = 5.0  # how long a killed worker gets to be reaped before we stop waiting


class Executor(Protocol):
    """Runs retrain specs. `workers`: how many retrains run at once (ensembles are split into
    that many groups); `threads`: the threads each worker is given, part of the band-store key
    (None when the executor does not set them)."""

    @property
    def workers(self) -> int:
        """How many retrains run at once."""
        ...

    @property
    def threads(self) -> int | None:
        """The threads each worker is given, or None when the executor leaves them as they are."""
        ...

    def run(
        self,
        specs: Sequence[RetrainSpec],
        on_result: OnResult | None = None,
        on_start: OnStart | None = None,
    ) -> list[RetrainResult]:
        """Run every spec; results in spec order. A failed retrain is a result, never raised."""
        ...

    def close(self) -> None:
        """End the worker processes kept between run() calls (a later run() starts new ones)."""
        ...


_C = TypeVar("_C", bound="Closing")


class Closing:
    """What the executors that keep workers share: a `with` block ends them (close()), and the
    file names of the specs they run stay unique across run() calls (`_name`)."""

    _count = 0  # specs named so far (an instance attribute from the first one on)

    def close(self) -> None:
        """End the worker processes kept between run() calls (a later run() starts new ones)."""

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _name(self, spec: RetrainSpec) -> str:
        name = worker_name(self._count, spec)
        self._count += 1
        return name


class SerialExecutor(Closing):
    """One spec at a time, in a warm `python -m reprodiag.retrain.warm` worker.

    workdir: where spec, result, log and traceback files go (kept for debugging).
    cwd: the worker's current folder: where the trainer's module is imported from and the code
    axis is probed (default: this process's; a spec's own `code_dir` overrides it). python: the
    workers' interpreter (a spec's own `python` overrides it). env: extra environment variables
    for the workers. storage_options: object-store options, handed over in the environment, never
    written to disk. max_rss: a worker holding more resident memory than this (bytes) after a
    retrain is replaced (default REPRODIAG_WORKER_MAX_RSS_MB, else 4 GiB). Use it as a context
    manager, or call close(), to end its workers.
    """

    workers = 1  # one retrain at a time
    threads: int | None = None  # workers inherit this process's thread settings

    def __init__(
        self,
        workdir: str | Path,
        python: str = sys.executable,
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        storage_options: Mapping[str, str] | None = None,
        max_rss: int | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.python = python
        self.cwd = Path(cwd) if cwd is not None else None
        self._env = dict(env or {})
        self._storage_options = dict(storage_options or {})
        self.slot = WarmSlot(
            self.workdir, self._worker_env(), python=python, cwd=self.cwd, max_rss=max_rss
        )

    def run(
        self,
        specs: Sequence[RetrainSpec],
        on_result: OnResult | None = None,
        on_start: OnStart | None = None,
    ) -> list[RetrainResult]:
        """Run every spec, one after another in the warm worker; results in spec order, failures
        included."""
        return run_in_order(
            specs, lambda i, spec: self.run_one(spec, self._name(spec)), on_result, on_start
        )

    def run_one(self, spec: RetrainSpec, name: str) -> RetrainResult:
        """Run one spec in the warm worker, files named `name`, and wait for its result (a
        timeout or crash is a failed result and the worker is replaced)."""
        return self.slot.submit(spec, name).wait()

    def prestart(self) -> None:
        """Start the warm worker now and return at once: its start-up (importing torch) overlaps
        what the caller does until the first run()."""
        self.slot.prestart()

    def close(self) -> None:
        """End the warm workers (the next run() starts new ones)."""
        self.slot.close()

    def _worker_env(self) -> dict[str, str]:
        return worker_env(self._env, self._storage_options)


def run_in_order(
    specs: Sequence[RetrainSpec],
    run_one: Callable[[int, RetrainSpec], RetrainResult],
    on_result: OnResult | None,
    on_start: OnStart | None,
) -> list[RetrainResult]:
    """One spec after another, reporting each as it starts and ends."""
    results = []
    for index, spec in enumerate(specs):
        if on_start is not None:
            on_start(spec)
        result = run_one(index, spec)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


class InProcessExecutor(Closing):
    """Specs run in this process: no worker start-up cost, but no isolation and no timeouts.

    Seeding changes this process's global state (generators, torch's deterministic mode).
    """

    workers = 1  # one retrain at a time
    threads: int | None = None  # workers inherit this process's thread settings

    def __init__(self, storage_options: Mapping[str, str] | None = None) -> None:
        self._storage_options = dict(storage_options or {}) or None

    def close(self) -> None:
        """Nothing to end: no worker processes."""

    def run(
        self,
        specs: Sequence[RetrainSpec],
        on_result: OnResult | None = None,
        on_start: OnStart | None = None,
    ) -> list[RetrainResult]:
        """Run every spec in this process, one after another; results in spec order, failures
        included."""
        # Imported here: `python -m reprodiag.retrain.worker` must not find it already imported.
        from reprodiag.retrain.worker import run_spec

        return run_in_order(
            specs,
            lambda _, spec: run_spec(spec, storage_options=self._storage_options),
            on_result,
            on_start,
        )


def worker_env(
    extra: Mapping[str, str],
    storage_options: Mapping[str, str],
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The worker's environment: `base` (this process's) + `extra` + the storage options."""
    env = {**(os.environ if base is None else base), **extra}
    env.pop(STORAGE_OPTIONS_ENV, None)
    if storage_options:
        env[STORAGE_OPTIONS_ENV] = json.dumps(dict(storage_options))
    return env


def thread_env(threads: int) -> dict[str, str]:
    """Thread budget for one worker: torch, OpenMP, MKL and OpenBLAS all read these at start-up.

    torch.get_num_threads() follows OMP_NUM_THREADS, and the retrain's manifest records it as
    environment.threads: part of the family fingerprint, because the thread count changes bits.
    """
    value = str(max(1, int(threads)))
    return {"OMP_NUM_THREADS": value, "MKL_NUM_THREADS": value, "OPENBLAS_NUM_THREADS": value}


class WorkerProcess:
    """One running single-shot `python -m reprodiag.retrain.worker`: poll it, wait for it or kill
    it."""

    def __init__(
        self, spec: RetrainSpec, process: subprocess.Popen[bytes], result_file: Path, log_file: Path
    ) -> None:
        self.spec = spec
        self.process = process
        self.result_file = result_file
        self.log_file = log_file
        self.started = time.monotonic()

    def poll(self) -> RetrainResult | None:
        """The result once the worker has ended or ran past its timeout (then killed), else None."""
        code = self.process.poll()
        if code is not None:
            return self._finished(code)
        timeout = self.spec.timeout_s
        if timeout is not None and time.monotonic() - self.started >= timeout:
            return self._timed_out()
        return None

    def wait(self) -> RetrainResult:
        """Wait for the worker (killing it past the spec's timeout) and return its result; a
        Ctrl-C kills it too."""
        try:
            code = self.process.wait(timeout=self.spec.timeout_s)
        except subprocess.TimeoutExpired:
            return self._timed_out()
        finally:
            if self.process.poll() is None:  # interrupted (Ctrl-C): leave no orphan training
                self.kill()
        return self._finished(code)

    def kill(self) -> None:
        """Kill the worker and its whole process group (the training it started included)."""
        _kill_group(self.process)

    def _timed_out(self) -> RetrainResult:
        self.kill()
        if self.result_file.exists():  # written: a finished result is taken, whatever remained
            return self._finished(0)
        return RetrainResult.failed(
            self.spec,
            f"timed out after {self.spec.timeout_s:g} s",
            time.monotonic() - self.started,
            existing_manifest(self.spec),
        )

    def _finished(self, code: int) -> RetrainResult:
        return read_result(
            self.spec, self.result_file, self.log_file, code, time.monotonic() - self.started
        )


def start_worker(
    spec: RetrainSpec,
    name: str,
    workdir: Path,
    env: Mapping[str, str],
    *,
    python: str = sys.executable,
    cwd: Path | None = None,
) -> WorkerProcess:
    """Write NAME.spec.json under workdir and start a single-shot worker on it, in its own
    session (it dies with this process: reprodiag.retrain.lifeline)."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_file = workdir / f"{name}.spec.json"
    result_file = workdir / f"{name}.result.json"
    log_file = workdir / f"{name}.log"
    atomic_write_text(spec_file, spec.to_json())
    for stale in (result_file, Path(spec.manifest_out)):  # left by an earlier attempt
        stale.unlink(missing_ok=True)
    with open(log_file, "wb") as log:  # the child keeps its own handle
        # Own session: a timeout kills the whole group, a command trainer's children too.
        process = subprocess.Popen(
            [python, "-m", "reprodiag.retrain.worker", str(spec_file), str(result_file)],
            cwd=cwd,
            env={**env, lifeline.PARENT_ENV: str(os.getpid())},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WorkerProcess(spec, process, result_file, log_file)


def worker_name(index: int, spec: RetrainSpec) -> str:
    """'003-noise-band-seed-1003': the file stem of a spec's worker files, in spec order."""
    return f"{index:03d}-{slug(spec.label)}"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    lifeline.kill_tree(process.pid)  # the trainer's `setsid` children too
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
