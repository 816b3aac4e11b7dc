"""`make_executor`: the executor the CLI's --executor names, built with its settings.

Kept apart from executor.py so that the executors (pool.py, ray_executor.py) import the shared
worker helpers from executor.py without a cycle back through this chooser.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reprodiag.errors import InputError
from reprodiag.retrain.executor import Executor, SerialExecutor, thread_env
from reprodiag.retrain.pool import ProcessExecutor
from reprodiag.retrain.ray_executor import RayExecutor

EXECUTORS = ("serial", "processes", "ray")


def make_executor(
    kind: str,
    workdir: str | Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    threads: int | None = None,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> Executor:
    """The executor the CLI's --executor names: "serial", "processes" or "ray".

    workers: the process pool's size, or the CPUs of a local Ray this starts. address: the Ray
    cluster to join ("auto", "HOST:PORT", "ray://HOST:PORT"). threads: each retrain's thread
    budget (default: the serial executor leaves torch's own; see pool.py and ray_executor.py).
    """
    if kind not in EXECUTORS:
        raise InputError(f"unknown executor {kind!r}", hint=f"use one of {', '.join(EXECUTORS)}")
    if address is not None and kind != "ray":
        raise InputError(
            f"--address {address} is for the ray executor, not {kind}",
            hint="add --executor ray, or leave --address out",
        )
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, not {workers}")
    if kind == "processes":
        return ProcessExecutor(
            workdir, workers, threads=threads, cwd=cwd, env=env, storage_options=storage_options
        )
    if kind == "ray":
        return RayExecutor(
            workdir,
            address=address,
            num_cpus=workers,
            threads=threads,
            cwd=cwd,
            env=env,
            storage_options=storage_options,
        )
    if workers not in (None, 1):
        raise InputError(
            f"the serial executor runs one retrain at a time, not {workers}",
            hint="use --executor processes to run several at once",
        )
    extra = {**dict(env or {}), **(thread_env(threads) if threads is not None else {})}
    return SerialExecutor(workdir, cwd=cwd, env=extra, storage_options=storage_options)
