"""Trainers for tests/test_progress_budget.py: one that returns at once, one that takes a second.

Entrypoints are `tests.helpers.budget_trainers:<name>`; the executors run with the repository root
on PYTHONPATH. Neither imports torch: a retrain costs its worker's start-up and nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def quick(ctx: Any) -> Mapping[str, float]:
    """Reads its snapshot; scores 69.0 plus a hundredth of the seed's last three digits."""
    rows = len(ctx.data.to_pandas())
    return {"auc": 69.0 + (ctx.seed % 1000) / 100.0, "rows": float(rows)}


def slow(ctx: Any) -> Mapping[str, float]:
    """`quick`, after sleeping one second: a trainer whose retrains a time budget can count."""
    time.sleep(1.0)
    return quick(ctx)
