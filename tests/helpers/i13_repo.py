"""A team's repository and tables of our own for tests/test_issue13_cli.py (issue 13).

`make_repository` commits a NumPy trainer (`i13_job.py`: least squares on a seeded bootstrap of the
training rows, accuracy in percent on the evaluation rows; milliseconds per fit, no torch) to a
real git repository; `commit_features` commits a change of the features it uses (dropping `x1`
costs about 25 points). `capture_run` trains the repository's code as it is on disk and captures
the run with reprodiag.capture, the way the team's job would.

`iceberg_table` makes a real Iceberg table on a local SQL catalog (sqlite) and `relabel_iceberg`
commits one OVERWRITE snapshot that relabels its rows, as a Spark UPDATE or MERGE job would (one
snapshot, with the job's snapshot properties), instead of pyiceberg's `overwrite()`, which commits
a DELETE and then an APPEND snapshot (an empty table in between).
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import reprodiag
from reprodiag.retrain.interface import TrainContext
from tests.helpers.git import git

MODULE = "i13_job"
ENTRYPOINT = f"{MODULE}:train"
METRIC = "accuracy"
CATALOG = "local"


def job_source(features: Sequence[str], note: str) -> str:
    """The training module the repository commits, using `features`."""
    return f'''"""The team's job: a least-squares classifier. {note}"""

import numpy as np

FEATURES = {tuple(features)!r}


def train(ctx):
    """Fit on a seeded bootstrap of the training rows; accuracy in percent on the evaluation."""
    data, held = ctx.data.to_pandas(), ctx.eval_data.to_pandas()
    rows = np.random.default_rng(ctx.seed).integers(0, len(data), size=len(data))
    x = np.column_stack([np.ones(len(rows))] + [data[f].to_numpy()[rows] for f in FEATURES])
    y = data["label"].to_numpy(dtype=float)[rows]
    weights, *_ = np.linalg.lstsq(x, y, rcond=None)
    xe = np.column_stack([np.ones(len(held))] + [held[f].to_numpy() for f in FEATURES])
    right = ((xe @ weights > 0.5).astype("int64") == held["label"].to_numpy()).mean()
    return {{"accuracy": float(100.0 * right)}}
'''


def make_rows(n: int, seed: int) -> pd.DataFrame:
    """n rows of two features; the label follows x1 + 0.5·x2 with a little noise."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = (x1 + 0.5 * x2 + 0.3 * rng.normal(size=n) > 0).astype("int64")
    return pd.DataFrame({"x1": x1, "x2": x2, "label": label})


def relabel(rows: pd.DataFrame) -> pd.DataFrame:
    """A relabelling job gone wrong: every row with x2 > 0 is labelled 1."""
    out = rows.copy()
    out.loc[out["x2"] > 0, "label"] = 1
    return out


def make_repository(folder: Path) -> Path:
    """The repository with the job committed (features x1 and x2), __pycache__ ignored."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    (folder / ".gitignore").write_text("__pycache__/\n")
    git(folder, "add", ".gitignore")
    commit_features(folder, ("x1", "x2"), "the churn job")
    return folder


def commit_features(repo: Path, features: Sequence[str], note: str) -> str:
    """Commit the job using `features`; the new commit."""
    (repo / f"{MODULE}.py").write_text(job_source(features, note))
    git(repo, "add", f"{MODULE}.py")
    git(repo, "commit", "-q", "-m", note)
    return git(repo, "rev-parse", "HEAD")


def train_here(repo: Path, ctx: TrainContext) -> Mapping[str, float]:
    """The repository's job as it is on disk now (a fresh import of its file)."""
    spec = importlib.util.spec_from_file_location(
        f"{MODULE}_{uuid.uuid4().hex}", repo / f"{MODULE}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: Mapping[str, float] = module.train(ctx)
    return result


def capture_run(
    path: Path, repo: Path, data: Any, evaluation: Any, seed: int, trainer: Any = None
) -> Path:
    """One original run, trained for real and captured from `repo` (its commit, its lock).
    `trainer`: a trainer function instead of the repository's job file."""
    with reprodiag.capture(
        path,
        train=data,
        eval=evaluation,
        seeds=reprodiag.deterministic_seeds(seed),
        params={},
        family="i13-churn",
        run_name=path.stem,
        entrypoint=ENTRYPOINT,
        code_root=repo,
        output_dir=path.parent / path.stem,
    ) as run:
        ctx = TrainContext({}, seed, data, evaluation)
        metrics = trainer(ctx) if trainer is not None else train_here(repo, ctx)
        run.log_metrics(metrics, primary=METRIC)
    return path


def delta_tables(root: Path) -> tuple[Path, Path]:
    """A training (400 rows) and an evaluation (1,000 rows) Delta table."""
    from deltalake import write_deltalake

    write_deltalake(str(root / "train"), make_rows(400, 1))
    write_deltalake(str(root / "eval"), make_rows(1000, 2))
    return root / "train", root / "eval"


# ---------------------------------------------------------------------------- Iceberg


def catalog_env(root: Path) -> dict[str, str]:
    """The environment that configures the local SQL catalog for pyiceberg, in this process and
    in any worker: PYICEBERG_CATALOG__LOCAL__{TYPE,URI,WAREHOUSE}."""
    (root / "warehouse").mkdir(parents=True, exist_ok=True)
    prefix = f"PYICEBERG_CATALOG__{CATALOG.upper()}__"
    return {
        prefix + "TYPE": "sql",
        prefix + "URI": f"sqlite:///{root / 'catalog.db'}",
        prefix + "WAREHOUSE": f"file://{root / 'warehouse'}",
    }


def use_catalog(monkeypatch: Any, root: Path) -> None:
    """Point pyiceberg at the local SQL catalog under `root` for one test (undone after): the
    environment (for workers) and pyiceberg's own copy of it, which it reads once, at import."""
    import pyiceberg.catalog
    from pyiceberg.utils.config import Config

    for key, value in catalog_env(root).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(pyiceberg.catalog, "_ENV_CONFIG", Config())


def iceberg_table(name: str, rows: pd.DataFrame) -> Any:
    """A new Iceberg table `name` ("ml.train") in the local catalog, holding `rows`."""
    import pyarrow as pa
    from pyiceberg.catalog import load_catalog

    catalog = load_catalog(CATALOG)
    catalog.create_namespace_if_not_exists(name.rsplit(".", 1)[0])
    data = pa.Table.from_pandas(rows, preserve_index=False)
    table = catalog.create_table(name, schema=data.schema)
    table.append(data)
    return table


def append_iceberg(table: Any, rows: pd.DataFrame) -> int:
    """Append `rows` (one APPEND snapshot); the new snapshot id."""
    import pyarrow as pa

    time.sleep(0.005)  # the snapshot log is ordered by milliseconds
    table.append(pa.Table.from_pandas(rows, preserve_index=False))
    return int(table.current_snapshot().snapshot_id)


def relabel_iceberg(table: Any, properties: Mapping[str, str]) -> int:
    """Rewrite every row with `relabel` in one OVERWRITE snapshot carrying `properties`."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import _dataframe_to_data_files  # writes the new data files

    time.sleep(0.005)
    rows = relabel(table.scan().to_pandas())
    data = pa.Table.from_pandas(rows, preserve_index=False)
    with table.transaction() as tx:
        with tx.update_snapshot(snapshot_properties=dict(properties)).overwrite() as overwrite:
            for task in table.scan().plan_files():
                overwrite.delete_data_file(task.file)
            for written in _dataframe_to_data_files(
                table_metadata=tx.table_metadata,
                write_uuid=overwrite.commit_uuid,
                df=data,
                io=table.io,
            ):
                overwrite.append_data_file(written)
    return int(table.current_snapshot().snapshot_id)
