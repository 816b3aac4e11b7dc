"""A scikit-learn trainer for the verdict tests: a small random forest on a Delta table.

Used two ways, with one code path:
- imported (`train_and_score`), by the test that captures the original runs with
  `reprodiag.capture(...)` in its own process;
- run as a script, as a `--command` trainer that follows reprodiag's command contract
  (reprodiag/retrain/command.py): it reads the snapshot at {snapshot_uri} / {snapshot_version}
  and the evaluation table at {eval_uri} / {eval_version}, the hyperparameters from
  {params_file}, seeds the forest from {seed}, and writes {"auc": ...} to {metrics_file}.

    python tests/helpers/forest_trainer.py --seed {seed} --data {snapshot_uri}
        --version {snapshot_version} --eval {eval_uri} --eval-version {eval_version}
        --params {params_file} --metrics {metrics_file}

`--forget-metrics` trains and exits 0 without writing the metrics file (a broken trainer).
It imports neither pandas nor reprodiag, so a retrain starts in about as long as scikit-learn
takes to import.

The data (`make_rows`): 6 standard-normal features x0..x5 and a label from a nonlinear rule
with noise, `x0 + x1·x2 − 0.7·x3² + 0.5·x4 + N(0, 0.8) > 0` (x5 is pure noise).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = tuple(f"x{i}" for i in range(6))
METRIC = "auc"
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 8,
    "max_depth": 5,
    "max_features": 0.5,
    "n_jobs": 1,  # threads: the forest is the same for any count (its seeds are drawn first)
}


def make_rows(n: int, seed: int) -> dict[str, np.ndarray]:
    """`n` rows of the forest's table (columns x0..x5, y), drawn from `seed`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(FEATURES)))
    score = x[:, 0] + x[:, 1] * x[:, 2] - 0.7 * x[:, 3] ** 2 + 0.5 * x[:, 4]
    y = (score + rng.normal(0.0, 0.8, n) > 0).astype(np.int64)
    return {**{name: x[:, i] for i, name in enumerate(FEATURES)}, "y": y}


def read_table(uri: str, version: str | int | None) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a Delta table at `version` (time travel, no pandas)."""
    from deltalake import DeltaTable

    table = DeltaTable(uri, version=None if version in (None, "") else int(version))
    arrow = table.to_pyarrow_table(columns=[*FEATURES, "y"])
    x = np.column_stack([arrow.column(name).to_numpy() for name in FEATURES])
    return x, arrow.column("y").to_numpy()


def train_and_score(
    data: tuple[str, str | int | None],
    evaluation: tuple[str, str | int | None],
    params: Mapping[str, Any],
    seed: int,
) -> tuple[dict[str, float], np.ndarray]:
    """Fit the forest on `data` (uri, version); its metrics and evaluation probabilities."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    x, y = read_table(*data)
    x_eval, y_eval = read_table(*evaluation)
    model = RandomForestClassifier(
        n_estimators=int(params["n_estimators"]),
        max_depth=int(params["max_depth"]),
        max_features=float(params["max_features"]),
        n_jobs=int(params.get("n_jobs", 1)),
        random_state=seed % 2**32,
    )
    model.fit(x, y)
    proba = model.predict_proba(x_eval)[:, 1]
    metrics = {
        METRIC: 100.0 * float(roc_auc_score(y_eval, proba)),
        "accuracy": 100.0 * float(np.mean((proba > 0.5) == y_eval)),
    }
    return metrics, proba


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--version", default="")
    parser.add_argument("--eval", required=True)
    parser.add_argument("--eval-version", default="")
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--forget-metrics", action="store_true")
    args = parser.parse_args(argv)
    params = {**DEFAULT_PARAMS, **json.loads(args.params.read_text(encoding="utf-8"))}
    metrics, _ = train_and_score(
        (args.data, args.version), (args.eval, args.eval_version), params, args.seed
    )
    if not args.forget_metrics:
        args.metrics.write_text(json.dumps(metrics), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
