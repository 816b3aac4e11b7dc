"""A team's training repository of our own for the identity tests: a real git repository with a
NumPy least-squares trainer (seconds, no torch), and real Delta tables to train on.

The trainer's metric is ``score = 100 - MSE + BONUS``; the committed code has BONUS = 0. The
"uncommitted edit" moves BONUS into an untracked module ``features.py`` (BONUS = 5) and imports it
from there, so a retrain that runs the patched code scores about 5 points more than one that runs
the committed code, and the patch holds a tracked change and an untracked file.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import reprodiag
from reprodiag.retrain.interface import TrainContext
from reprodiag.snapshots import open_snapshot
from tests.helpers.git import git

ENTRYPOINT = "train_job:train"
METRIC = "score"
BONUS = 5.0
TRAIN_JOB = '''"""The team's training job: least squares on half the rows (drawn by the seed)."""

import numpy as np

BONUS = 0.0


def train(ctx):
    """Fit on a seeded half of the training table; score = 100 - MSE on the evaluation table."""
    data, held = ctx.data.to_pandas(), ctx.eval_data.to_pandas()
    rows = np.random.default_rng(ctx.seed).choice(len(data), size=len(data) // 2, replace=False)
    x, y = data[["x1", "x2"]].to_numpy()[rows], data["y"].to_numpy()[rows]
    weights, *_ = np.linalg.lstsq(x, y, rcond=None)
    error = held[["x1", "x2"]].to_numpy() @ weights - held["y"].to_numpy()
    return {"score": 100.0 - float(np.mean(error**2)) + BONUS}
'''
EDITED_IMPORT = "from features import BONUS\n"


def make_repository(folder: Path) -> Path:
    """The repository with the trainer committed (and __pycache__ ignored, as teams do)."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    (folder / "train_job.py").write_text(TRAIN_JOB)
    (folder / ".gitignore").write_text("__pycache__/\n")
    (folder / "requirements.txt").write_text("numpy\npandas\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "training job")
    return folder


def edit_uncommitted(repo: Path, bonus: float = BONUS) -> None:
    """The candidate's uncommitted edit: BONUS now comes from an untracked module."""
    (repo / "features.py").write_text(f"BONUS = {bonus!r}\n")
    text = (repo / "train_job.py").read_text().replace("BONUS = 0.0\n", EDITED_IMPORT)
    (repo / "train_job.py").write_text(text)


def make_tables(root: Path) -> tuple[Any, Any]:
    """A training and an evaluation Delta table (y = 2 x1 - x2 + noise), as pinned snapshots."""
    from deltalake import write_deltalake

    def rows(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        x1, x2 = rng.normal(size=n), rng.normal(size=n)
        return pd.DataFrame({"x1": x1, "x2": x2, "y": 2 * x1 - x2 + rng.normal(size=n)})

    write_deltalake(str(root / "train"), rows(400, 1))
    write_deltalake(str(root / "eval"), rows(200, 2))
    return open_snapshot(str(root / "train")), open_snapshot(str(root / "eval"))


def train_here(repo: Path, ctx: TrainContext) -> dict[str, float]:
    """Run the repository's trainer as it is now on disk (a fresh import of its files)."""
    sys.path.insert(0, str(repo))
    try:
        sys.modules.pop("features", None)
        spec = importlib.util.spec_from_file_location(
            f"train_job_{uuid.uuid4().hex}", repo / "train_job.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result: dict[str, float] = module.train(ctx)
        return result
    finally:
        sys.path.remove(str(repo))
        sys.modules.pop("features", None)


def capture_run(path: Path, repo: Path, data: Any, evaluation: Any, seed: int) -> Path:
    """One original run, captured from `repo` as it is now (dirty or not), trained for real."""
    seeds = reprodiag.deterministic_seeds(seed)
    with reprodiag.capture(
        path,
        train=data,
        eval=evaluation,
        seeds=seeds,
        params={"half": True},
        family="identity-job",
        run_name=path.stem,
        entrypoint=ENTRYPOINT,
        code_root=repo,
        output_dir=path.parent / path.stem,
    ) as run:
        ctx = TrainContext({"half": True}, seed, data, evaluation)
        run.log_metrics(train_here(repo, ctx), primary=METRIC)
    return path
