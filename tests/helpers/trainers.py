"""Small trainers for the retrain runner's tests: one per way a retrain ends.

Entrypoints are `tests.helpers.trainers:<name>`; the executors run with the repository root on
PYTHONPATH. Run as a script, this module is the command-template trainer that echoes its argv
(see echo_argv).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def fast(ctx: Any) -> Mapping[str, float]:
    """Reads its snapshot and scores from the seed alone: no torch, under a second."""
    rows = len(ctx.data.to_pandas())
    return {"auc": 70.0 + (ctx.seed % 1000) / 100.0, "rows": float(rows), "log_loss": 0.5}


def raises(ctx: Any) -> Mapping[str, float]:
    raise ValueError("boom: the trainer failed on purpose")


def sleeps(ctx: Any) -> Mapping[str, float]:
    time.sleep(30)
    return {"auc": 1.0}


def steady(ctx: Any) -> Mapping[str, float]:
    """`fast`, after two seconds: a band a signal can reach between seeds."""
    time.sleep(2)
    return fast(ctx)


def interrupts(ctx: Any) -> Mapping[str, float]:
    raise KeyboardInterrupt("the trainer raised KeyboardInterrupt on purpose")


def returns_nan(ctx: Any) -> Mapping[str, float]:
    return {"auc": float("nan"), "accuracy": 50.0}


def crashes(ctx: Any) -> Mapping[str, float]:
    sys.stdout.write("about to crash hard\n")
    sys.stdout.flush()
    os._exit(137)


def flaky(ctx: Any) -> Mapping[str, float]:
    """The reference trainer, except seed 10001 raises and seed 10002 returns NaN."""
    if ctx.seed == 10001:
        raise RuntimeError("CUDA error: an illegal memory access was encountered (simulated)")
    if ctx.seed == 10002:
        return {"auc": float("nan")}
    from reprodiag.family.mlp import train

    return train(ctx)


def echo_argv(argv: list[str]) -> None:
    """`python tests/helpers/trainers.py ECHO_FILE ... --params P --metrics M ...`.

    Writes its argv and the params file's content to ECHO_FILE, then 61.5 as auc to M.
    """
    echo_file = Path(argv[0])
    params = Path(argv[argv.index("--params") + 1]).read_text(encoding="utf-8")
    echo_file.write_text(json.dumps({"argv": argv, "params": json.loads(params)}), encoding="utf-8")
    Path(argv[argv.index("--metrics") + 1]).write_text(json.dumps({"auc": 61.5}), encoding="utf-8")


if __name__ == "__main__":
    echo_argv(sys.argv[1:])
