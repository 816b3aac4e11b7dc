"""The band store: per-seed retrain results in a Delta table, keyed by family and metric.

Later noise-band runs of the same family reuse and extend what earlier ones measured, and a crash
loses no finished seed (DESIGN.md, "Retraining"): `record` makes one append commit per seed, so a
seed is durable the moment `record` returns.

Rules a reader relies on:
- Seeds come from one deterministic sequence, BAND_SEED_BASE + i (10000, 10001, ...), far from the
  seeds people type by hand (0, 1, 42, 1234, 2024, 3407), so a band never replays the baseline's
  own seed by accident, and a resumed run continues where the last one stopped.
- One seed counts once. If it was recorded twice (two concurrent runs, a retried commit), the first
  ok row by recorded_at wins; a seed with no ok row shows its latest failure. Failed seeds are not
  done: `next_seeds` offers them again (pass them in `exclude` to skip them).
- Concurrent writers: delta-rs commits optimistically and re-tries appends itself; a commit that
  still fails (CommitFailedError) is tried again here, COMMIT_TRIES times with jittered backoff.
- Versions: store_format 1 is this layout; format 0 is a table written before the store_format
  column existed (its missing columns read as null). A newer format is refused with a hint to
  upgrade, for reading and for writing.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict, cast

from reprodiag.errors import InputError, ReprodiagError
from reprodiag.retrain.seed_result import SeedResult

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

STORE_FORMAT = 1
BAND_SEED_BASE = 10_000
COMMIT_TRIES = 8
_BACKOFF_S = 0.05  # first pause; doubles per try, capped at 1 s, times a jitter in [0.5, 1.5)

# A format-0 table has at least these; the other columns read as null when absent.
REQUIRED_COLUMNS = ("family", "metric", "seed", "value", "status")
COLUMNS = (
    *REQUIRED_COLUMNS,
    "reason",
    "seconds",
    "run_id",
    "manifest_path",
    "recorded_at",
    "store_format",
)


class _Row(TypedDict):
    """One row of the band store, as written (COLUMNS); rows of format 0 read later columns as
    None."""

    family: str
    metric: str
    seed: int
    value: float | None  # None when the seed failed
    status: str  # ok | failed
    reason: str | None
    seconds: float | None
    run_id: str | None
    manifest_path: str | None
    recorded_at: str | None
    store_format: int | None


def band_schema() -> pa.Schema:
    """The explicit pyarrow schema of a store_format 1 band store."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("family", pa.string(), nullable=False),
            pa.field("metric", pa.string(), nullable=False),
            pa.field("seed", pa.int64(), nullable=False),
            pa.field("value", pa.float64()),  # null when the seed failed
            pa.field("status", pa.string(), nullable=False),  # ok | failed
            pa.field("reason", pa.string()),
            pa.field("seconds", pa.float64()),
            # run_id, recorded_at and store_format are null only in rows from format 0:
            # nullable, so a
            # format-0 table can gain them (schema merge) when this code appends to it.
            pa.field("run_id", pa.string()),
            pa.field("manifest_path", pa.string()),
            pa.field("recorded_at", pa.string()),  # ISO 8601, UTC, microseconds
            pa.field("store_format", pa.int32()),
        ]
    )


def is_object_store(path: str) -> bool:
    """s3://, gs://, az://, abfss://... go to deltalake untouched; file:// and paths are local."""
    from reprodiag.snapshots._uri import is_object_store as object_store_uri

    return object_store_uri(path)


def seed_sequence(start: int = 0) -> Iterator[int]:
    """The seeds a noise band trains with, endlessly: 10000 + start, 10001 + start, ..."""
    index = start
    while True:
        yield BAND_SEED_BASE + index
        index += 1


class BandStore:
    """Per-seed results of noise-band retrains, in the Delta table at `path`."""

    def __init__(
        self, path: str | os.PathLike[str], storage_options: dict[str, str] | None = None
    ) -> None:
        text = str(path).removeprefix("file://")
        self.path = text if is_object_store(text) else str(Path(text).expanduser())
        self.storage_options = storage_options

    def __repr__(self) -> str:
        return f"BandStore({self.path!r})"

    def record(
        self,
        family: str,
        metric: str,
        result: SeedResult,
        *,
        run_id: str,
        manifest_path: str | None = None,
    ) -> None:
        """Append one seed's result as its own commit: it is durable once this returns."""
        _check_result(family, metric, result)
        row: _Row = {
            "family": family,
            "metric": metric,
            "seed": result.seed,
            "value": result.metric if result.status == "ok" else None,
            "status": result.status,
            "reason": result.reason,
            "seconds": result.seconds,
            "run_id": run_id,
            "manifest_path": manifest_path,
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            "store_format": STORE_FORMAT,
        }
        commit_with_retries(lambda: self._append(row), where=self.path)

    def results(self, family: str, metric: str) -> list[SeedResult]:
        """One result per seed (see the module doc for which row wins), sorted by seed."""
        best: dict[int, _Row] = {}
        for row in sorted(self._rows(family, metric), key=_recorded_order):
            kept = best.get(row["seed"])
            if kept is None or kept["status"] != "ok":
                best[row["seed"]] = row  # a later row replaces a failure, never an ok one
        return [_seed_result(best[seed]) for seed in sorted(best)]

    def ok_values(self, family: str, metric: str) -> list[float]:
        """The metric values of the ok seeds, in seed order."""
        return [
            r.metric
            for r in self.results(family, metric)
            if r.status == "ok" and r.metric is not None
        ]

    def done_seeds(self, family: str, metric: str) -> set[int]:
        """Seeds with an ok result; failed seeds are not done and may be retried."""
        return {r.seed for r in self.results(family, metric) if r.status == "ok"}

    def next_seeds(
        self, family: str, metric: str, count: int, *, start: int = 0, exclude: Iterable[int] = ()
    ) -> list[int]:
        """The first `count` seeds of the sequence from index `start` not done nor excluded."""
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        skip = self.done_seeds(family, metric) | set(exclude)
        seeds: list[int] = []
        for seed in seed_sequence(start):
            if len(seeds) == count:
                break
            if seed not in skip:
                seeds.append(seed)
        return seeds

    # -- Delta ---------------------------------------------------------------------------------

    def _table(self) -> DeltaTable | None:
        """The Delta table, checked to be a band store this code can read; None when absent."""
        from deltalake import DeltaTable

        if not is_object_store(self.path):
            # exists() before is_dir(): another writer may create the folder between two checks.
            if not Path(self.path).exists():
                return None
            if not Path(self.path).is_dir():
                raise InputError(
                    f"band store {self.path} is a file, not a Delta table folder",
                    hint="point the band store at a folder (it is created if absent)",
                )
        if not DeltaTable.is_deltatable(self.path, storage_options=self.storage_options):
            return None
        from deltalake.exceptions import DeltaError

        try:
            table = DeltaTable(self.path, storage_options=self.storage_options)
        except DeltaError as exc:
            if "Unsupported" not in str(exc):
                raise
            raise InputError(
                f"band store {self.path} was written by a newer Delta protocol than "
                f"this deltalake reads: {exc}",
                hint="upgrade deltalake (pip install -U deltalake), or point "
                "--band-store at another folder",
            ) from exc
        _check_format(self.path, table)
        return table

    def _rows(self, family: str, metric: str) -> list[_Row]:
        table = self._table()
        if table is None:
            return []
        present = [f.name for f in table.schema().fields]
        data = table.to_pyarrow_table(
            columns=[c for c in COLUMNS if c in present],
            filters=[("family", "=", family), ("metric", "=", metric)],
        )
        # Arrow rows of the band schema's columns; a column a format-0 table lacks reads as None.
        return [cast("_Row", {**dict.fromkeys(COLUMNS), **row}) for row in data.to_pylist()]

    def _append(self, row: _Row) -> None:
        import pyarrow as pa
        from deltalake import CommitProperties, write_deltalake

        table = self._table()
        if table is None and not is_object_store(self.path):
            Path(self.path).mkdir(parents=True, exist_ok=True)
        present = {f.name for f in table.schema().fields} if table is not None else set(COLUMNS)
        # A format-0 table gains the new columns; its old rows read them as null.
        merge: Literal["merge"] | None = None if set(COLUMNS) <= present else "merge"
        write_deltalake(
            self.path,
            pa.Table.from_pylist([row], schema=band_schema()),
            mode="append",
            schema_mode=merge,
            storage_options=self.storage_options,
            commit_properties=CommitProperties(
                custom_metadata={
                    "reprodiag.band_store.format": str(STORE_FORMAT),
                    "reprodiag.run_id": row["run_id"],
                }
            ),
        )


def commit_with_retries(
    write: Callable[[], None],
    *,
    where: str,
    tries: int = COMMIT_TRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run `write`, trying again after a commit conflict, with jittered exponential backoff."""
    from deltalake.exceptions import CommitFailedError

    for attempt in range(1, tries + 1):
        try:
            write()
            return
        except CommitFailedError as exc:
            if attempt == tries:
                raise ReprodiagError(
                    f"could not commit to band store {where} after {tries} tries: {exc}",
                    hint="too many writers at once; run the band again: finished seeds are kept",
                ) from exc
            sleep(min(1.0, _BACKOFF_S * 2 ** (attempt - 1)) * (0.5 + random.random()))


def _check_format(path: str, table: DeltaTable) -> None:
    import pyarrow.compute as pc

    present = {f.name for f in table.schema().fields}
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing:
        raise InputError(
            f"{path} is a Delta table but not a reprodiag band store: it has no "
            f"{', '.join(missing)} column{'s' if len(missing) > 1 else ''}",
            hint="point the band store at another folder; reprodiag creates it on the first seed",
        )
    if "store_format" not in present:
        return  # format 0: written before the column existed
    newest = pc.max(table.to_pyarrow_table(columns=["store_format"])["store_format"]).as_py()
    if newest is not None and newest > STORE_FORMAT:
        raise InputError(
            f"band store {path} has store_format {newest}; this reprodiag reads up to "
            f"{STORE_FORMAT}",
            hint="upgrade reprodiag (pip install -U reprodiag) to read and extend this band store",
        )


def _check_result(family: str, metric: str, result: SeedResult) -> None:
    if not family or not metric:
        raise ValueError("family and metric must be non-empty")
    if result.status not in ("ok", "failed"):
        raise ValueError(f"seed {result.seed}: status must be ok or failed, not {result.status!r}")
    if result.status == "ok" and (result.metric is None or not math.isfinite(result.metric)):
        raise ValueError(
            f"seed {result.seed}: an ok result needs a finite metric, "
            f"not {result.metric!r}; record it as failed with the reason"
        )


def _recorded_order(row: _Row) -> tuple[bool, str, str]:
    # Rows without a time (format 0) were written before any timed row.
    return (row["recorded_at"] is not None, row["recorded_at"] or "", row["run_id"] or "")


def _seed_result(row: _Row) -> SeedResult:
    status: Literal["ok", "failed"] = "ok" if row["status"] == "ok" else "failed"
    return SeedResult(
        seed=int(row["seed"]),
        metric=row["value"] if status == "ok" else None,
        status=status,
        reason=row["reason"],
        seconds=row["seconds"],
    )
