"""Small trainers for the executor contract tests: concurrency, thread budgets, a dying Ray task.

Entrypoints are `tests.helpers.executor_trainers:<name>`; the executors run with the repository
root on PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def sleeps_briefly(ctx: Any) -> Mapping[str, float]:
    """Sleeps 1 s and reports when (wall clock), so a test can see which retrains overlapped."""
    started = time.time()
    time.sleep(1.0)
    return {"auc": 1.0, "started": started, "ended": time.time()}


def reports_threads(ctx: Any) -> Mapping[str, float]:
    """torch's thread count and OMP_NUM_THREADS as this worker saw them."""
    import torch

    return {
        "auc": 1.0,
        "threads": float(torch.get_num_threads()),
        "omp": float(os.environ.get("OMP_NUM_THREADS", "0")),
    }


def kills_its_ray_worker(ctx: Any) -> Mapping[str, float]:
    """Kills the Ray worker process that started this retrain: the task dies with it.

    Refuses (raises) when its parent is not a Ray worker, so it can never kill a test runner.
    """
    parent = os.getppid()
    title = Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ")
    if b"ray::" not in title and b"default_worker" not in title:
        raise RuntimeError(f"parent {parent} is not a Ray worker: {title[:80]!r}")
    os.kill(parent, signal.SIGKILL)
    os._exit(1)
