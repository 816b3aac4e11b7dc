"""A manifest on real pinned Delta tables that records no commit and no lock.

Retrains of such a manifest run the code of the current folder as it is (no worktree is made):
tests that start `reprodiag` as a subprocess from a folder of their own (a hostile module there, a
fast trainer from tests/helpers) use it. The tables are real Delta tables written in `root`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from reprodiag.manifest.codec import write_manifest
from reprodiag.manifest.model import Skipped
from reprodiag.snapshots import open_snapshot
from tests.helpers.manifests import example_manifest


def delta_table(
    path: Path, rows: int, columns: Sequence[str] = ("x", "y"), mode: str = "error"
) -> Path:
    """A Delta table of `rows` rows: x = 0..rows-1, y = x % 2 (the columns named)."""
    data = {"x": list(range(rows)), "y": [i % 2 for i in range(rows)]}
    write_deltalake(path, pa.table({c: data[c] for c in columns}), mode=mode)  # type: ignore[arg-type]
    return path


def uncommitted_manifest(
    root: Path,
    name: str = "m.json",
    *,
    train_rows: int = 40,
    eval_rows: int = 20,
    columns: Sequence[str] = ("x", "y"),
    entrypoint: str | None = None,
    **example: Any,
) -> Path:
    """Write `root/name`: example_manifest(**example) on the Delta tables root/events and
    root/eval (written when missing), with no commit, diff or lock recorded."""
    for table, rows in (("events", train_rows), ("eval", eval_rows)):
        if not (root / table).exists():
            delta_table(root / table, rows, columns)
    m = example_manifest(**example)
    code = dataclasses.replace(
        m.code,
        commit=Skipped("not a git repository"),
        diff_sha256=Skipped("not a git repository"),
        lock=Skipped("no lock file"),
    )
    if entrypoint is not None:
        code = dataclasses.replace(code, entrypoint=entrypoint)
    data = dataclasses.replace(
        m.data,
        train=open_snapshot(root / "events").ref,
        eval=open_snapshot(root / "eval").ref,
    )
    path = root / name
    write_manifest(dataclasses.replace(m, data=data, code=code), path)
    return path
