"""A trainer whose score depends on its environment: the installed `six` (tests/test_env_swap.py).

The "model" is a threshold rule on the training rows, scored on the evaluation rows; the score
is 80 + a seed's noise (σ 0.3) + 4 points when `six` is older than 1.17: the old environment
scores higher, as when a library upgrade changes a result. It also reports the `six` version it
saw (`six_minor`), so a test can tell which environment a retrain ran in. Only the standard
library, pandas (through the snapshot handles) and six are imported: it runs in an environment
rebuilt from a small lock, which holds no torch.

Run as a script from the team's repository, it trains once and captures the run:
`python envswap_trainer.py OUT.json SEED TRAIN.csv EVAL.csv`.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

METRIC = "auc"
ENTRYPOINT = "envswap_trainer:train"
PARAMS = {"threshold": 0.5}


def six_version() -> tuple[int, int]:
    """The installed six's (major, minor)."""
    import six

    major, minor = six.__version__.split(".")[:2]
    return int(major), int(minor)


def train(ctx) -> dict[str, float]:  # noqa: ANN001 - reprodiag's TrainContext
    """Score the threshold rule; the environment adds its 4 points (module docstring)."""
    rows = ctx.data.to_pandas()
    held_out = ctx.eval_data.to_pandas()
    threshold = float(ctx.params["threshold"])
    cut = rows["x"].quantile(threshold)
    accuracy = float(((held_out["x"] > cut) == held_out["y"].astype(bool)).mean())
    noise = random.Random(ctx.seed).gauss(0.0, 0.3)
    bonus = 4.0 if six_version() < (1, 17) else 0.0
    return {
        METRIC: 80.0 + noise + bonus,
        "accuracy": 100.0 * accuracy,
        "six_minor": float(six_version()[1]),
    }


def capture(out: Path, seed: int, train_csv: Path, eval_csv: Path) -> None:
    """Train once and capture the run in `out` (the current folder is the team's repository)."""
    import reprodiag
    from reprodiag.retrain.interface import TrainContext
    from reprodiag.snapshots import open_snapshot

    data, evaluation = open_snapshot(str(train_csv)), open_snapshot(str(eval_csv))
    with reprodiag.capture(
        out,
        train=data,
        eval=evaluation,
        seeds=reprodiag.deterministic_seeds(seed),
        params=PARAMS,
        family="envswap",
        run_name=out.stem,
        entrypoint=ENTRYPOINT,
        code_root=Path.cwd(),
        output_dir=out.parent / out.stem,
    ) as run:
        ctx = TrainContext(params=PARAMS, seed=seed, data=data, eval_data=evaluation)
        run.log_metrics(train(ctx), primary=METRIC)


if __name__ == "__main__":
    capture(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
