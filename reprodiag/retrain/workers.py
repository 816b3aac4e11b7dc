"""Warm workers seen from the executor: start them, hand them specs, replace the ones that fail.

A `WarmSlot` is one place a retrain can run (the serial executor has one; the process pool one per
GPU or group of cores). It keeps up to MAX_WORKERS_PER_SLOT warm workers (`python -m
reprodiag.retrain.warm`), one per `WorkerKey` (interpreter, folder): a spec with its own `python`
(a rebuilt environment) or `code_dir` (a worktree of its commit) gets its own worker, started when
first needed, the least recently used one closed when there are too many. A worker is replaced when
it crashed, hung past a spec's timeout (the spec fails with that reason, the worker's whole process
tree is killed), asked to be recycled (a thread its trainer left running) or holds more resident
memory than `max_rss` after a spec (a trainer that leaks: REPRODIAG_WORKER_MAX_RSS_MB, default
4096). A spec's timeout starts when it is handed to a warm worker, never during the worker's
start-up, which has its own limit (STARTUP_TIMEOUT_S).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from reprodiag.retrain import lifeline
from reprodiag.retrain.interface import RetrainSpecError
from reprodiag.retrain.spec import RetrainResult, RetrainSpec, existing_manifest

MAX_WORKERS_PER_SLOT = 3  # warm workers kept per slot (one per interpreter and folder)
STARTUP_TIMEOUT_S = 300.0  # importing torch and starting CUDA on a cold file cache: a minute or two
MAX_RSS_ENV = "REPRODIAG_WORKER_MAX_RSS_MB"
DEFAULT_MAX_RSS_MB = 4096
TAIL_CHARS = 2000  # of a log, in a failed seed's reason
CLOSE_GRACE_S = 2.0  # how long a closed worker gets to exit by itself before it is killed


def default_max_rss() -> int:
    """The resident-memory cap of a warm worker in bytes: REPRODIAG_WORKER_MAX_RSS_MB or 4 GiB."""
    text = os.environ.get(MAX_RSS_ENV, "")
    return (int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_RSS_MB) * 2**20


@dataclass(frozen=True)
class WorkerKey:
    """What a warm worker runs with: its interpreter (fixed at start) and its folder (fixed once it
    has served a spec: the trainer's modules are imported from it and stay cached)."""

    python: str
    cwd: str | None


class WarmWorker:
    """One `python -m reprodiag.retrain.warm` process: its pipes, its replies, its death."""

    def __init__(self, key: WorkerKey, env: Mapping[str, str], log_file: Path) -> None:
        self.key = key
        self.log_file = log_file
        self.started = time.monotonic()
        self.ready = False
        self.served = 0  # specs handed over; a worker that served none may move to another folder
        self._buffer = b""
        self._lines: list[dict[str, object]] = []
        with open(log_file, "wb") as log:  # the child keeps its own handle
            # Own session: a Ctrl-C at the terminal is the executor's to handle, and a timeout
            # kills the worker's whole tree.
            self.process = subprocess.Popen(
                [key.python, "-m", "reprodiag.retrain.warm"],
                cwd=key.cwd,
                env={**env, lifeline.PARENT_ENV: str(os.getpid())},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )

    def fileno(self) -> int:
        """The reply pipe, for select()."""
        assert self.process.stdout is not None
        return self.process.stdout.fileno()

    def read(self) -> bool:
        """Take what the worker has written, without blocking; False once it closed its end."""
        while select.select([self], [], [], 0)[0]:
            chunk = os.read(self.fileno(), 65536)
            if not chunk:
                return False
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                with contextlib.suppress(ValueError):
                    reply = json.loads(line)
                    if isinstance(reply, dict):
                        self._lines.append(reply)
        return True

    def next_reply(self) -> dict[str, object] | None:
        """The oldest reply not yet taken ("ready" ones are taken here)."""
        while self._lines:
            reply = self._lines.pop(0)
            if reply.get("event") == "ready":
                self.ready = True
                continue
            return reply
        return None

    def send(self, request: Mapping[str, str]) -> bool:
        """Hand over one request; False when the worker is gone."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(dict(request)).encode("utf-8") + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def kill(self) -> None:
        """Kill the worker and every process below it, and reap it."""
        lifeline.kill_tree(self.process.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._close_pipes()

    def close(self) -> None:
        """Close the request pipe (the worker exits by itself), then kill what remains."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=CLOSE_GRACE_S)
        self.kill()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class Job:
    """One spec on one warm worker: waiting for the worker's start-up, then running."""

    def __init__(self, slot: WarmSlot, spec: RetrainSpec, name: str, worker: WarmWorker) -> None:
        self.slot = slot
        self.spec = spec
        self.worker = worker
        self.spec_file, self.result_file, self.log_file = slot.files(spec, name)
        self.handed_at: float | None = None  # when the worker took it: the timeout counts from here
        self.result: RetrainResult | None = None
        self.restarted = False

    def fileno(self) -> int:
        """The worker's reply pipe, for select()."""
        return self.worker.fileno()

    def deadline(self) -> float:
        """When this job must have moved on: its timeout, or the worker's start-up limit."""
        if self.handed_at is None:
            return self.worker.started + self.slot.startup_timeout_s
        timeout = self.spec.timeout_s
        return float("inf") if timeout is None else self.handed_at + timeout

    def poll(self) -> RetrainResult | None:
        """The result once there is one (a timeout, a crash and a failed start are results)."""
        if self.result is None:
            self.result = self._step()
            if self.result is not None:
                self.slot.job_done(self)
        return self.result

    def wait(self) -> RetrainResult:
        """Block until the result; a Ctrl-C kills the worker and is raised."""
        try:
            while (result := self.poll()) is None:
                remaining = self.deadline() - time.monotonic()
                select.select([self], [], [], max(0.0, min(remaining, 1.0)))
        except BaseException:
            if self.result is None:
                self.kill()
            raise
        return result

    def kill(self) -> None:
        """Kill the worker running this job (an interrupted run): it will be replaced."""
        self.slot.discard(self.worker)

    def _step(self) -> RetrainResult | None:
        open_ = self.worker.read()
        if not self.worker.ready:
            self.worker.next_reply()
            if not self.worker.ready:
                return self._not_started(open_)
        if self.handed_at is None:
            request = {
                "spec": self.spec_file,
                "result": self.result_file,
                "log": self.log_file,
                "cwd": self.worker.key.cwd or os.getcwd(),  # a spare worker moves there first
            }
            if self.worker.send({k: str(v) for k, v in request.items()}):
                self.handed_at = time.monotonic()
                self.worker.served += 1
            elif self.restarted:  # a fresh worker died at once too: that is this spec's end
                return self._exited(time.monotonic())
            else:  # it died while idle (the thread that started it ended): start another
                self.slot.discard(self.worker)
                self.worker, self.restarted = self.slot.take_worker(self.spec), True
            return None
        reply = self.worker.next_reply()
        if reply is not None:
            return self._replied(reply)
        if not open_ or not self.worker.alive():
            return self._exited(self.handed_at)
        if time.monotonic() >= self.deadline():
            return self._timed_out()
        return None

    def _not_started(self, open_: bool) -> RetrainResult | None:
        seconds = time.monotonic() - self.worker.started
        if open_ and self.worker.alive() and time.monotonic() < self.deadline():
            return None
        self.slot.discard(self.worker)
        if open_ and self.worker.process.returncode is None:
            why = f"did not start within {self.slot.startup_timeout_s:g} s"
        else:
            why = exit_words(self.worker.process.wait())
        detail = tail(self.worker.log_file)
        return RetrainResult.failed(
            self.spec,
            f"the warm worker ({self.worker.key.python}) {why}"
            + (f": {detail}" if detail else " (no output)"),
            seconds,
        )

    def _replied(self, reply: Mapping[str, object]) -> RetrainResult:
        if reply.get("event") != "done":
            return RetrainResult.failed(
                self.spec, f"the warm worker refused the spec: {reply.get('reason')}", 0.0
            )
        rss = reply.get("rss")
        if isinstance(rss, int) and rss > self.slot.max_rss:
            self.slot.discard(self.worker)  # a leak stays with its worker: start a fresh one
        elif reply.get("recycle"):
            self.slot.discard(self.worker)
        return read_result(self.spec, self.result_file, self.log_file, 0, self._since_handover())

    def _exited(self, since: float) -> RetrainResult:
        self.slot.discard(self.worker)
        code = self.worker.process.returncode
        return read_result(
            self.spec,
            self.result_file,
            self.log_file,
            code if code is not None else -9,
            time.monotonic() - since,
        )

    def _timed_out(self) -> RetrainResult:
        self.slot.discard(self.worker)
        if self.result_file.exists():  # written just now: a finished result is taken
            return read_result(
                self.spec, self.result_file, self.log_file, 0, self._since_handover()
            )
        return RetrainResult.failed(
            self.spec,
            f"timed out after {self.spec.timeout_s:g} s",
            self._since_handover(),
            existing_manifest(self.spec),
        )

    def _since_handover(self) -> float:
        return time.monotonic() - (self.handed_at or time.monotonic())


class WarmSlot:
    """One concurrent retrain place with its warm workers, one per (interpreter, folder).

    workdir: where spec, result and log files go; env: the workers' environment (thread budget,
    GPU, storage options); python, cwd: the defaults for specs that name neither.
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        *,
        python: str = sys.executable,
        cwd: Path | None = None,
        name: str = "slot-0",
        max_rss: int | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.workdir = workdir
        self.env = dict(env)
        self.python = python
        self.cwd = cwd
        self.name = name
        self.max_rss = default_max_rss() if max_rss is None else max_rss
        self.startup_timeout_s = startup_timeout_s
        self.workers: OrderedDict[WorkerKey, WarmWorker] = OrderedDict()
        self.busy: set[WarmWorker] = set()
        self.started = 0  # workers started so far (the log file names count them)

    def key(self, spec: RetrainSpec) -> WorkerKey:
        """The worker a spec needs: its own interpreter and folder, else the slot's."""
        cwd = spec.code_dir if spec.code_dir is not None else self.cwd
        return WorkerKey(spec.python or self.python, None if cwd is None else str(cwd))

    def submit(self, spec: RetrainSpec, name: str) -> Job:
        """Hand `spec` to a warm worker of its key (started now when there is none); the files
        are named after `name`."""
        if spec.code_dir is not None:  # the worker runs elsewhere: paths stay this process's
            spec = replace(
                spec,
                output_dir=os.path.abspath(spec.output_dir),
                manifest_out=os.path.abspath(spec.manifest_out),
            )
        return Job(self, spec, name, self.take_worker(spec))

    def take_worker(self, spec: RetrainSpec) -> WarmWorker:
        """The warm worker of the spec's key, marked busy (started now when there is none)."""
        worker = self._worker(self.key(spec))
        self.busy.add(worker)
        return worker

    def files(self, spec: RetrainSpec, name: str) -> tuple[Path, Path, Path]:
        """Write NAME.spec.json; the spec, result and log paths (absolute: the worker's folder
        may be another)."""
        from reprodiag._atomic import atomic_write_text

        folder = self.workdir.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        spec_file, result_file = folder / f"{name}.spec.json", folder / f"{name}.result.json"
        atomic_write_text(spec_file, spec.to_json())
        for stale in (result_file, Path(spec.manifest_out)):  # left by an earlier attempt
            stale.unlink(missing_ok=True)
        return spec_file, result_file, folder / f"{name}.log"

    def job_done(self, job: Job) -> None:
        """The job has its result: its worker is free again."""
        self.busy.discard(job.worker)

    def discard(self, worker: WarmWorker) -> None:
        """Kill a worker and forget it (the next spec of its key starts a fresh one)."""
        self.busy.discard(worker)
        if self.workers.get(worker.key) is worker:
            del self.workers[worker.key]
        worker.kill()

    def close(self) -> None:
        """Close every worker of this slot."""
        while self.workers:
            _, worker = self.workers.popitem()
            worker.close()
        self.busy.clear()

    def prestart(self) -> None:
        """Start a worker now, without waiting for it: its start-up overlaps whatever this
        process does next. The first spec takes it over, whatever folder it needs (a worker that
        has served nothing has imported nothing from its folder yet)."""
        self._worker(self.key_default())

    def key_default(self) -> WorkerKey:
        """The key of a spec that names neither interpreter nor folder."""
        return WorkerKey(self.python, None if self.cwd is None else str(self.cwd))

    def _worker(self, key: WorkerKey) -> WarmWorker:
        worker = self.workers.get(key)
        if worker is not None and not worker.alive():  # died while idle (its parent thread ended)
            self.discard(worker)
            worker = None
        if worker is None:
            worker = self._spare(key)
        if worker is None:
            while len(self.workers) >= MAX_WORKERS_PER_SLOT:
                _, oldest = self.workers.popitem(last=False)
                oldest.close()
            self.workdir.mkdir(parents=True, exist_ok=True)
            log = self.workdir.resolve() / f"warm-{self.name}-{self.started}.log"
            self.started += 1
            worker = WarmWorker(key, self.env, log)
            self.workers[key] = worker
        self.workers.move_to_end(key)
        return worker

    def _spare(self, key: WorkerKey) -> WarmWorker | None:
        """A worker of the same interpreter that has served no spec, moved to `key`."""
        for other, worker in self.workers.items():
            if other.python == key.python and worker.served == 0 and worker not in self.busy:
                del self.workers[other]
                worker.key = key
                self.workers[key] = worker
                return worker
        return None


def wait_any(jobs: Sequence[Job], limit_s: float) -> None:
    """Sleep until one of the jobs' workers writes or exits, a deadline passes, or `limit_s`."""
    if not jobs:
        return
    nearest = min(job.deadline() for job in jobs) - time.monotonic()
    select.select(list(jobs), [], [], max(0.0, min(limit_s, nearest)))


def read_result(
    spec: RetrainSpec, result_file: Path, log_file: Path, code: int, seconds: float
) -> RetrainResult:
    """The result a worker wrote, else a failed result saying how the worker ended (`code`) with
    the tail of its log."""
    # A result the worker wrote counts whatever the exit code: CUDA and NCCL often crash at
    # interpreter teardown, after the seed finished. (start_worker removes stale result files.)
    if result_file.exists():
        try:
            return RetrainResult.from_json(
                result_file.read_text(encoding="utf-8"), str(result_file)
            )
        except (OSError, RetrainSpecError) as exc:
            return RetrainResult.failed(spec, f"unreadable worker result: {exc}", seconds)
    last = tail(log_file)
    reason = f"worker {exit_words(code)}" + (f": {last}" if last else " (no output)")
    return RetrainResult.failed(spec, reason, seconds, existing_manifest(spec))


def exit_words(code: int) -> str:
    """'exited with code 3', 'was killed by SIGSEGV'."""
    if code < 0:  # killed by a signal; SIGKILL from outside is most often the out-of-memory killer
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"exited with code {code}"


def tail(log_file: Path) -> str:
    """The last TAIL_CHARS characters of a log file, stripped ("" when it cannot be read)."""
    try:
        data = log_file.read_bytes()[-TAIL_CHARS:]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace").strip()
