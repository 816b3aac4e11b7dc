"""A small real Delta table whose versions change in known ways, for the content-diff tests.

v0: 100 rows (id 0..99, x, label = 1 for every fifth id: 20 positives)
v1: append 50 rows (id 100..149, label = 1 for even ids: 25 positives)
v2: overwrite that relabels ids 0..9 (custom commit metadata job=relabel)
v3: overwrite that adds a string column `source` (schema change), rows otherwise as v2

So v0 → v3: 60 rows added (50 appended + 10 relabelled), 10 removed (the old labels of ids
0..9), label rate 20/100 → 51/150, one column added. The numbers are derived here from the rows
written, not typed in, so a test compares the scan against an independent count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RELABELLED = range(10)


@dataclass(frozen=True)
class Versions:
    """The table's path and what each version holds, counted from the rows written."""

    path: Path
    rows: tuple[int, ...]  # rows per version
    positives: tuple[int, ...]  # label == 1 per version


def _rows(ids: list[int], labels: list[int]) -> dict[str, list[object]]:
    return {"id": ids, "x": [i / 7 for i in ids], "label": labels}


def versioned_table(folder: Path) -> Versions:
    """Write v0..v3 (see the module docstring) and return what each version holds."""
    import pyarrow as pa
    from deltalake import CommitProperties, write_deltalake

    path = folder / "events"
    ids = list(range(100))
    labels = [int(i % 5 == 0) for i in ids]
    write_deltalake(str(path), pa.table(_rows(ids, labels)))
    counts, positives = [len(ids)], [sum(labels)]

    new_ids = list(range(100, 150))
    new_labels = [int(i % 2 == 0) for i in new_ids]
    write_deltalake(str(path), pa.table(_rows(new_ids, new_labels)), mode="append")
    ids, labels = ids + new_ids, labels + new_labels
    counts.append(len(ids))
    positives.append(sum(labels))

    labels = [1 - v if i in RELABELLED else v for i, v in zip(ids, labels, strict=True)]
    write_deltalake(
        str(path),
        pa.table(_rows(ids, labels)),
        mode="overwrite",
        commit_properties=CommitProperties(custom_metadata={"job": "relabel"}),
    )
    counts.append(len(ids))
    positives.append(sum(labels))

    table = pa.table({**_rows(ids, labels), "source": ["web"] * len(ids)})
    write_deltalake(str(path), table, mode="overwrite", schema_mode="overwrite")
    counts.append(len(ids))
    positives.append(sum(labels))
    return Versions(path=path, rows=tuple(counts), positives=tuple(positives))
