"""A fast numpy trainer and an in-process executor for the bisection tests (tests/test_bisect.py).

`train` fits a least-squares linear classifier on a bootstrap sample of the training rows (drawn
from ctx.seed, so seeds differ a little) and scores accuracy in percent on the evaluation rows:
milliseconds per retrain. `CodeDirExecutor` runs specs in this process like InProcessExecutor,
but in the spec's `code_dir` when it has one (the folder is made current, put first on sys.path
and the trainer's module imported afresh from it), so a code swap or a bisection step really
trains the code checked out at its commit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reprodiag.retrain.executor import OnResult, OnStart, run_in_order
from reprodiag.retrain.spec import RetrainResult, RetrainSpec

FEATURES = ("x1", "x2")


def make_rows(n: int, seed: int) -> pd.DataFrame:
    """n rows of two features; the label follows x1 + 0.5·x2 with a little noise."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = (x1 + 0.5 * x2 + 0.3 * rng.normal(size=n) > 0).astype("int64")
    return pd.DataFrame({"x1": x1, "x2": x2, "label": label})


def fit_and_score(
    rows: pd.DataFrame, evaluation: pd.DataFrame, seed: int, features: Sequence[str] = FEATURES
) -> float:
    """Accuracy in percent of a least-squares classifier fitted on a bootstrap of `rows`."""
    rng = np.random.default_rng(seed)
    sample = rows.iloc[rng.integers(0, len(rows), size=len(rows))]
    x = np.column_stack([np.ones(len(sample))] + [sample[f].to_numpy() for f in features])
    coef, *_ = np.linalg.lstsq(x, sample["label"].to_numpy(dtype=float), rcond=None)
    xe = np.column_stack([np.ones(len(evaluation))] + [evaluation[f].to_numpy() for f in features])
    predicted = (xe @ coef > 0.5).astype("int64")
    return float(100.0 * (predicted == evaluation["label"].to_numpy()).mean())


def train(ctx: Any) -> Mapping[str, float]:
    """The trainer contract: ctx.data / ctx.eval_data handles, ctx.seed."""
    return {"accuracy": fit_and_score(ctx.data.to_pandas(), ctx.eval_data.to_pandas(), ctx.seed)}


@contextlib.contextmanager
def code_in(folder: str | None, module: str | None) -> Iterator[None]:
    """Make `folder` current and first on sys.path, with `module` imported afresh from it."""
    if folder is None:
        yield
        return
    before = os.getcwd()
    sys.path.insert(0, folder)
    if module:
        sys.modules.pop(module, None)
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
        sys.path.remove(folder)
        if module:
            sys.modules.pop(module, None)


class CodeDirExecutor:
    """InProcessExecutor, but each spec runs in its `code_dir` (see the module docstring)."""

    workers = 1
    threads: int | None = None

    def __init__(self, module: str | None = None) -> None:
        self.module = module
        self.folders: list[str | None] = []  # where each spec ran, in order

    def run(
        self,
        specs: Sequence[RetrainSpec],
        on_result: OnResult | None = None,
        on_start: OnStart | None = None,
    ) -> list[RetrainResult]:
        """Run every spec in this process, in its code folder; results in spec order."""
        from reprodiag.retrain.worker import run_spec

        def one(_: int, spec: RetrainSpec) -> RetrainResult:
            self.folders.append(spec.code_dir)
            with code_in(spec.code_dir or os.getcwd(), self.module):
                return run_spec(spec)

        return run_in_order(specs, one, on_result, on_start)


def relabel(rows: pd.DataFrame) -> pd.DataFrame:
    """A relabelling job gone wrong: every row with x2 > 0 is labelled 1."""
    out = rows.copy()
    out.loc[out["x2"] > 0, "label"] = 1
    return out


def model_source(features: Sequence[str], note: str = "") -> str:
    """The training module a test repository commits (bisect_model.py), using `features`."""
    return (
        f'"""The team\'s model: a least-squares classifier. {note}"""\n\n'
        "from tests.helpers.bisect_trainers import fit_and_score\n\n"
        f"FEATURES = {tuple(features)!r}\n\n\n"
        "def train(ctx):\n"
        "    data, evaluation = ctx.data.to_pandas(), ctx.eval_data.to_pandas()\n"
        '    return {"accuracy": fit_and_score(data, evaluation, ctx.seed, FEATURES)}\n'
    )


def load_module(path: Path) -> Any:
    """Import a file as a fresh module (the original runs, as the repository held them)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_bisect_model_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
