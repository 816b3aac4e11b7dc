"""Executors run retrain specs and hand back one RetrainResult per spec, in spec order.

`SerialExecutor` runs each spec in its own worker process, one after another: a trainer that
raises, hangs past its timeout, returns NaN or kills its process is one failed seed, and the other
specs still run. `on_result` is called as each retrain finishes, so the caller can record every
seed (to the band store) before the next one starts: a crash loses no finished seed.
`InProcessExecutor` runs specs in the calling process: faster, no isolation and no timeouts.
Process-pool and Ray executors plug in through the `Executor` Protocol.
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
from typing import Protocol

from reprodiag._atomic import atomic_write_text
from reprodiag.retrain.interface import RetrainSpecError
from reprodiag.retrain.spec import STORAGE_OPTIONS_ENV, RetrainResult, RetrainSpec, slug

OnResult = Callable[[RetrainResult], None]
OnStart = Callable[[RetrainSpec], None]
TAIL_CHARS = 2000
KILL_GRACE_S = 5.0  # how long a killed worker gets to be reaped before we stop waiting


class Executor(Protocol):
    def run(self, specs: Sequence[RetrainSpec], on_result: OnResult | None = None,
            on_start: OnStart | None = None) -> list[RetrainResult]:
        """Run every spec; results in spec order. A failed retrain is a result, never raised."""
        ...


class SerialExecutor:
    """Each spec in its own `python -m reprodiag.retrain.worker` process, one at a time.

    workdir: where spec, result, log and traceback files go (kept for debugging).
    cwd: the worker's current folder: where the trainer's module is imported from and the code
    axis is probed (default: this process's). env: extra environment variables for the workers.
    storage_options: object-store options, handed over in the environment, never written to disk.
    """

    def __init__(self, workdir: str | Path, python: str = sys.executable, *,
                 cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
                 storage_options: Mapping[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.python = python
        self.cwd = Path(cwd) if cwd is not None else None
        self._env = dict(env or {})
        self._storage_options = dict(storage_options or {})

    def run(self, specs: Sequence[RetrainSpec], on_result: OnResult | None = None,
            on_start: OnStart | None = None) -> list[RetrainResult]:
        results = []
        for index, spec in enumerate(specs):
            if on_start is not None:
                on_start(spec)
            result = self.run_one(spec, f"{index:03d}-{slug(spec.label)}")
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    def run_one(self, spec: RetrainSpec, name: str) -> RetrainResult:
        self.workdir.mkdir(parents=True, exist_ok=True)
        spec_file = self.workdir / f"{name}.spec.json"
        result_file = self.workdir / f"{name}.result.json"
        log_file = self.workdir / f"{name}.log"
        atomic_write_text(spec_file, spec.to_json())
        for stale in (result_file, Path(spec.manifest_out)):  # left by an earlier attempt
            stale.unlink(missing_ok=True)
        started = time.monotonic()
        with open(log_file, "wb") as log:
            # Own session: a timeout kills the whole group, a command trainer's children too.
            process = subprocess.Popen(
                [self.python, "-m", "reprodiag.retrain.worker", str(spec_file), str(result_file)],
                cwd=self.cwd, env=self._worker_env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = process.wait(timeout=spec.timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                return RetrainResult.failed(spec, f"timed out after {spec.timeout_s:g} s",
                                            time.monotonic() - started, _manifest(spec))
            finally:
                if process.poll() is None:  # interrupted (Ctrl-C): leave no orphan training
                    _kill_group(process)
        return self._read_result(spec, result_file, log_file, code, time.monotonic() - started)

    def _worker_env(self) -> dict[str, str]:
        env = {**os.environ, **self._env}
        env.pop(STORAGE_OPTIONS_ENV, None)
        if self._storage_options:
            env[STORAGE_OPTIONS_ENV] = json.dumps(self._storage_options)
        return env

    def _read_result(self, spec: RetrainSpec, result_file: Path, log_file: Path, code: int,
                     seconds: float) -> RetrainResult:
        if code == 0 and result_file.exists():
            try:
                return RetrainResult.from_json(result_file.read_text(encoding="utf-8"),
                                               str(result_file))
            except (OSError, RetrainSpecError) as exc:
                return RetrainResult.failed(spec, f"unreadable worker result: {exc}", seconds)
        tail = _tail(log_file)
        reason = f"worker {_exit_words(code)}" + (f": {tail}" if tail else " (no output)")
        return RetrainResult.failed(spec, reason, seconds, _manifest(spec))


class InProcessExecutor:
    """Specs run in this process: no worker start-up cost, but no isolation and no timeouts.

    Seeding changes this process's global state (generators, torch's deterministic mode).
    """

    def __init__(self, storage_options: Mapping[str, str] | None = None) -> None:
        self._storage_options = dict(storage_options or {}) or None

    def run(self, specs: Sequence[RetrainSpec], on_result: OnResult | None = None,
            on_start: OnStart | None = None) -> list[RetrainResult]:
        # Imported here: `python -m reprodiag.retrain.worker` must not find it already imported.
        from reprodiag.retrain.worker import run_spec

        results = []
        for spec in specs:
            if on_start is not None:
                on_start(spec)
            result = run_spec(spec, storage_options=self._storage_options)
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        pass


def _exit_words(code: int) -> str:
    if code < 0:  # killed by a signal; SIGKILL from outside is most often the out-of-memory killer
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"exited with code {code}"


def _manifest(spec: RetrainSpec) -> str | None:
    return spec.manifest_out if Path(spec.manifest_out).exists() else None


def _tail(log_file: Path) -> str:
    try:
        data = log_file.read_bytes()[-TAIL_CHARS:]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace").strip()
