"""ProcessExecutor: retrains side by side, one warm worker per GPU or per group of CPU cores.

Each slot keeps its own warm worker (`python -m reprodiag.retrain.warm`, see workers.py), as the
SerialExecutor does (a crash, a kill, a leak or a timeout is one failed seed and a fresh worker),
but up to `workers` of them run at once, and they stay warm across `run()` calls until `close()`.
Every worker slot has a fixed device and a fixed thread budget:

- GPUs (when NVML or CUDA_VISIBLE_DEVICES shows any): slot i gets CUDA_VISIBLE_DEVICES set to its
  own GPU, so a spec with device "auto" trains on cuda:0 of that process, i.e. the slot's GPU.
  An explicit "cuda:N" with N > 0 then names a GPU the worker cannot see (a failed seed);
  use --device auto with this executor.
- Threads: OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS (and so torch's thread
  count) = floor(cores / workers), at least 1, so the workers do not oversubscribe the CPU.

The thread budget depends on the pool size only, never on how many specs a call brings: the
thread count is recorded in each retrain's manifest (environment.threads), is part of the family
fingerprint, and changes the bits of a CPU run. A band measured with 1 thread per worker is a
different family than one with 2, which is correct; but a seed replay run alone and the band
seeds run four at a time must get the same budget, or they could not be compared.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reprodiag.retrain.executor import (
    Closing,
    OnResult,
    OnStart,
    thread_env,
    worker_env,
)
from reprodiag.retrain.spec import RetrainResult, RetrainSpec
from reprodiag.retrain.workers import Job, WarmSlot, wait_any

POLL_S = 0.5  # longest sleep between looks: a worker's reply or exit wakes the loop at once


@dataclass(frozen=True)
class WorkerSlot:
    """One concurrent worker: its GPU (a CUDA_VISIBLE_DEVICES entry, or None) and thread budget."""

    index: int
    threads: int
    gpu: str | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment variables that give this worker its thread budget and its GPU."""
        env = thread_env(self.threads)
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
        return env


def worker_slots(workers: int, cores: int, gpus: Sequence[str] = ()) -> list[WorkerSlot]:
    """`workers` slots sharing `cores` CPU cores; GPUs handed out round-robin.

    worker_slots(2, 16, ["0", "1"]) -> [slot 0: GPU "0", 8 threads; slot 1: GPU "1", 8 threads].
    More workers than GPUs share them (round-robin); workers <= 0 is a ValueError.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    threads = max(1, cores // workers)
    return [WorkerSlot(i, threads, gpus[i % len(gpus)] if gpus else None) for i in range(workers)]


def default_workers(cores: int, gpus: Sequence[str] = ()) -> int:
    """One worker per GPU when there are GPUs, else one per core."""
    return max(1, min(cores, len(gpus)) if gpus else cores)


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask), not all the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows: no affinity API
        return os.cpu_count() or 1


def visible_gpus(environ: Mapping[str, str] | None = None, nvml: object | None = None) -> list[str]:
    """The GPUs a worker may be given: CUDA_VISIBLE_DEVICES' entries when it is set, else NVML's.

    Entries are kept as written (indices or GPU-/MIG- UUIDs), so a worker's CUDA_VISIBLE_DEVICES
    names a device its parent could see. No driver, no GPUs: [].
    """
    env = os.environ if environ is None else environ
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        # CUDA stops at the first invalid entry; "-1" is the usual way to hide every GPU.
        entries = [e.strip() for e in listed.split(",")]
        kept = []
        for entry in entries:
            if not entry or entry.startswith("-"):
                break
            kept.append(entry)
        return kept
    return [str(i) for i in range(_nvml_count(nvml))]


def _nvml_count(nvml: object | None) -> int:
    import importlib

    try:
        module: object = importlib.import_module("pynvml") if nvml is None else nvml
        module.nvmlInit()  # type: ignore[attr-defined]
    except Exception:  # no package, no driver, no library: no GPUs to hand out
        return 0
    try:
        return int(module.nvmlDeviceGetCount())  # type: ignore[attr-defined]
    except Exception:
        return 0
    finally:
        try:
            module.nvmlShutdown()  # type: ignore[attr-defined]
        except Exception:  # noqa: S110 - shutting NVML down is best effort
            pass


class ProcessExecutor(Closing):
    """Specs run `workers` at a time, each slot with its own warm worker.

    workers: pool size (default: one per GPU, else one per core); it fixes the thread budget.
    threads: per-worker thread budget instead of floor(cores / workers).
    gpus: the CUDA_VISIBLE_DEVICES entries to hand out (default: visible_gpus()).
    workdir, python, cwd, env, storage_options, max_rss: as for SerialExecutor.
    Results come back in spec order; on_start and on_result are called from the calling thread,
    on_result as each retrain finishes, so each seed is recorded before the call returns. Use it
    as a context manager, or call close(), to end its workers.
    """

    def __init__(
        self,
        workdir: str | Path,
        workers: int | None = None,
        *,
        threads: int | None = None,
        gpus: Sequence[str] | None = None,
        python: str | None = None,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        storage_options: Mapping[str, str] | None = None,
        max_rss: int | None = None,
    ) -> None:
        import sys

        self.workdir = Path(workdir)
        self.gpus = list(visible_gpus() if gpus is None else gpus)
        cores = cpu_cores()
        self.workers = workers if workers is not None else default_workers(cores, self.gpus)
        self.slots = worker_slots(self.workers, cores, self.gpus)
        if threads is not None:
            self.slots = [WorkerSlot(s.index, max(1, threads), s.gpu) for s in self.slots]
        self.threads: int | None = self.slots[0].threads if self.slots else None
        self.python = python or sys.executable
        self.cwd = Path(cwd) if cwd is not None else None
        self._env = dict(env or {})
        self._storage_options = dict(storage_options or {})
        self.warm = [
            WarmSlot(
                self.workdir,
                worker_env({**self._env, **slot.env}, self._storage_options),
                python=self.python,
                cwd=self.cwd,
                name=f"slot-{slot.index}",
                max_rss=max_rss,
            )
            for slot in self.slots
        ]

    def run(
        self,
        specs: Sequence[RetrainSpec],
        on_result: OnResult | None = None,
        on_start: OnStart | None = None,
    ) -> list[RetrainResult]:
        """Run the specs in up to `workers` warm workers at once; results in spec order,
        failures included."""
        results: dict[int, RetrainResult] = {}
        waiting = list(enumerate(specs))[::-1]  # popped from the end: spec order
        # The lowest slots first: their workers are the ones already warm.
        free = list(self.warm[: max(1, min(len(specs), len(self.warm)))])[::-1]
        running: dict[int, tuple[Job, WarmSlot]] = {}
        try:
            while waiting or running:
                while waiting and free:
                    index, spec = waiting.pop()
                    slot = free.pop()
                    if on_start is not None:
                        on_start(spec)
                    running[index] = (slot.submit(spec, self._name(spec)), slot)
                wait_any([job for job, _ in running.values()], POLL_S)
                for index, (job, slot) in list(running.items()):
                    result = job.poll()
                    if result is None:
                        continue
                    del running[index]
                    free.append(slot)
                    results[index] = result
                    if on_result is not None:
                        on_result(result)
        finally:
            for job, _ in running.values():  # interrupted (Ctrl-C) or on_result raised
                job.kill()
        return [results[i] for i in range(len(specs))]

    def close(self) -> None:
        """End every slot's warm workers (the next run() starts new ones)."""
        for slot in self.warm:
            slot.close()
