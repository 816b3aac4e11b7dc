"""Measure the reference family: seed noise, the drift gap, and the learning-rate gap.

Writes a fresh family table in a temporary folder, then trains ``--seeds`` seeds per arm:

- monday: the table at the version before drift (the baseline snapshot);
- wednesday: the latest version after ``append_days(2)`` and ``correct_labels`` (same eval set);
- lr arms: the monday data with another learning rate (an intent change).

Prints a markdown table and writes it, with the raw per-seed figures, under ``--out``.

    .venv/bin/python scripts/measure_family.py --out reports/family --seeds 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from reprodiag.family.data import (
    append_days,
    correct_labels,
    create_table,
    eval_table_path,
    train_table_path,
)
from reprodiag.family.mlp import MLPParams, fit_and_evaluate


@dataclass(frozen=True)
class DeltaRows:
    """A pinned read of one Delta version; the snapshot module's handles offer the same method."""

    path: Path
    version: int

    def to_pandas(self) -> pd.DataFrame:
        return DeltaTable(str(self.path), version=self.version).to_pandas()


@dataclass(frozen=True)
class Arm:
    name: str
    auc: list[float]
    accuracy: list[float]
    seconds: list[float]


def _build(root: Path, args: argparse.Namespace) -> tuple[DeltaRows, DeltaRows, DeltaRows]:
    create_table(
        root,
        days=args.days,
        rows_per_day=args.rows_per_day,
        seed=args.data_seed,
        eval_rows=args.eval_rows,
    )
    monday = DeltaRows(train_table_path(root), args.days - 1)
    append_days(root, 2, seed=args.data_seed + 1, drift=args.drift)
    latest = correct_labels(root, args.fraction, seed=args.data_seed + 2)
    return monday, DeltaRows(train_table_path(root), latest), DeltaRows(eval_table_path(root), 0)


def _run_arm(
    name: str, train: DeltaRows, evaluation: DeltaRows, params: MLPParams, seeds: int
) -> Arm:
    train_df, eval_df = train.to_pandas(), evaluation.to_pandas()
    auc, accuracy, seconds = [], [], []
    for seed in range(seeds):
        started = time.perf_counter()
        metrics, _ = fit_and_evaluate(train_df, eval_df, params, seed)
        seconds.append(time.perf_counter() - started)
        auc.append(metrics["auc"])
        accuracy.append(metrics["accuracy"])
    return Arm(name, auc, accuracy, seconds)


def _row(arm: Arm, baseline: Arm) -> str:
    def band(values: list[float]) -> str:
        return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"

    gap = statistics.mean(arm.auc) - statistics.mean(baseline.auc)
    noise = statistics.stdev(baseline.auc)
    return (
        f"| {arm.name} | {len(arm.auc)} | {band(arm.auc)} | {band(arm.accuracy)} | "
        f"{gap:+.2f} | {gap / noise:+.1f} | {statistics.mean(arm.seconds):.2f} |"
    )


def _table(arms: list[Arm]) -> str:
    header = (
        "| arm | n | AUC % (mean ± std) | accuracy % (mean ± std) | ΔAUC vs monday (pts) "
        "| Δ / seed std | s per run |\n|---|---|---|---|---|---|---|"
    )
    return "\n".join([header, *(_row(arm, arms[0]) for arm in arms)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for figures.md and figures.json"
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds per arm")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--rows-per-day", type=int, default=4_000)
    parser.add_argument("--eval-rows", type=int, default=5_000)
    parser.add_argument("--drift", type=float, default=1.0)
    parser.add_argument(
        "--fraction", type=float, default=0.05, help="share of labels flipped by correct_labels"
    )
    parser.add_argument("--data-seed", type=int, default=0)
    args = parser.parse_args()
    base = MLPParams()
    with tempfile.TemporaryDirectory(prefix="reprodiag-family-") as tmp:
        monday, wednesday, evaluation = _build(Path(tmp), args)
        arms = [
            _run_arm(f"monday (v{monday.version})", monday, evaluation, base, args.seeds),
            _run_arm(f"wednesday (v{wednesday.version})", wednesday, evaluation, base, args.seeds),
            _run_arm("monday, lr 3e-4", monday, evaluation, replace(base, lr=3e-4), args.seeds),
            _run_arm("monday, lr 3e-5", monday, evaluation, replace(base, lr=3e-5), args.seeds),
            _run_arm("monday, lr 1e-1", monday, evaluation, replace(base, lr=1e-1), args.seeds),
        ]
    table = _table(arms)
    print(
        f"defaults: {base}; rows/day {args.rows_per_day}, days {args.days}, "
        f"eval {args.eval_rows}, drift {args.drift}, flipped {args.fraction}\n\n{table}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.md").write_text(table + "\n", encoding="utf-8")
    (args.out / "figures.json").write_text(
        json.dumps([arm.__dict__ for arm in arms], indent=2), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
