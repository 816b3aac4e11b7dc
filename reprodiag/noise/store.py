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
- Values are validated on write (record refuses a malformed result) and on read: a row that is
  not a seed result (a non-finite ok value, a seed that is not an integer, an unknown status) is
  skipped, and `notes` says which store and which row, once.
- Corruption (garbage or missing log entries, stray files in the log, unreadable parquet, a
  Rust panic inside deltalake) is one BandStoreError naming the store and the next step:
  `reprodiag band-store verify PATH`, `reprodiag band-store repair PATH` (verify_store,
  repair_store) or --no-band-store. A store opened with tolerant=True (what the commands do) is
  set aside instead: `skipped` says why, reads return nothing and writes are dropped, so the
  diagnosis goes on without it. `preflight()` checks it can be read and written before any
  retrain runs: a store that cannot be written is still read, and its new seeds are not recorded.
- Versions: store_format 1 is this layout; format 0 is a table written before the store_format
  column existed (its missing columns read as null). A newer format is refused with a hint to
  upgrade, for reading and for writing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict, TypeVar, cast

from reprodiag.errors import InputError, ReprodiagError
from reprodiag.retrain.seed_result import SeedResult
from reprodiag.snapshots.delta import rows_table

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

T = TypeVar("T")

STORE_FORMAT = 1
MAX_SEED = 2**63 - 1  # the seed column is int64
BAND_SEED_BASE = 10_000
COMMIT_TRIES = 8
# A Delta checkpoint every this many commits: a reader replays at most this many JSON commits
# (each one more request on an object store) instead of every seed's commit since the last one.
CHECKPOINT_EVERY = 10
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


class BandStoreError(InputError):
    """The band store cannot be read or written; the message names it, the hint the next step."""


def next_step(path: str) -> str:
    """What to do about a band store that cannot be used."""
    return (
        f"run `reprodiag band-store verify {path}` to see what is wrong and "
        f"`reprodiag band-store repair {path}` to rebuild it from its readable versions; or "
        "pass --no-band-store (or another --band-store folder) to go on without it"
    )


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
        self,
        path: str | os.PathLike[str],
        storage_options: dict[str, str] | None = None,
        *,
        tolerant: bool = False,
    ) -> None:
        text = str(path).removeprefix("file://")
        self.path = text if is_object_store(text) else str(Path(text).expanduser())
        self.storage_options = storage_options
        self.tolerant = tolerant
        self.skipped: str | None = None  # why a tolerant store was set aside
        self.read_only: str | None = None  # why new seeds are not recorded (preflight)
        self.notes: list[str] = []  # warnings, each once: skipped rows, the store set aside

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _use(self, action: Callable[[], T], fallback: T) -> T:
        """Run a store action; a tolerant store that fails is set aside (a note), not an error."""
        if self.skipped is not None:
            return fallback
        try:
            with _converted(self.path):
                return action()
        except BandStoreError as exc:
            if not self.tolerant:
                raise
            self.skipped = (
                f"the band store {self.path} was skipped: {exc.message}; its seeds were neither "
                f"reused nor recorded. Next: {exc.hint or next_step(self.path)}"
            )
            self._note(self.skipped)
            return fallback

    def preflight(self) -> None:
        """Before any retrain: read the whole store once (a corrupt one fails or, tolerant, is
        set aside now) and check that it can be written (if not: BandStoreError, or, tolerant,
        its seeds are reused and new ones not recorded)."""
        nothing: list[dict[str, object]] = []
        self._use(self._read_all, nothing)
        if self.skipped is not None or is_object_store(self.path):
            return
        problem = _unwritable(Path(self.path))
        if problem is None:
            return
        if not self.tolerant:
            raise BandStoreError(
                f"band store {self.path} cannot be written: {problem}",
                hint="make it writable, or pass --no-band-store or another --band-store folder",
            )
        self.read_only = problem
        self._note(
            f"the band store {self.path} cannot be written ({problem}): its seeds are reused, "
            "new seeds are not recorded"
        )

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
        if self.read_only is not None:
            return
        row: _Row = {
            "family": family,
            "metric": metric,
            "seed": result.seed,
            "value": result.metric if result.status == "ok" else None,
            "status": result.status,
            "reason": _encodable(result.reason),
            "seconds": result.seconds,
            "run_id": _encodable(run_id),
            "manifest_path": _encodable(manifest_path),
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            "store_format": STORE_FORMAT,
        }
        self._use(lambda: commit_with_retries(lambda: self._append(row), where=self.path), None)

    def results(self, family: str, metric: str) -> list[SeedResult]:
        """One result per seed (see the module doc for which row wins), sorted by seed."""
        best: dict[int, _Row] = {}
        none: list[_Row] = []
        rows = self._use(lambda: self._rows(family, metric), none)
        for row in sorted(rows, key=_recorded_order):
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
                raise BandStoreError(
                    f"band store {self.path} is a file, not a Delta table folder",
                    hint="point the band store at a folder (it is created if absent)",
                )
            log = Path(self.path) / "_delta_log"
            if not log.is_dir():
                if any(Path(self.path).iterdir()):
                    raise BandStoreError(
                        f"band store {self.path} is a folder with files but no _delta_log: "
                        "not a Delta table",
                        hint="point --band-store at an empty or new folder",
                    )
                return None
            if not any(_COMMIT.fullmatch(p.name) for p in log.iterdir()):
                raise BandStoreError(
                    f"band store {self.path} has a _delta_log folder without any commit",
                    hint=next_step(self.path),
                )
        if not DeltaTable.is_deltatable(self.path, storage_options=self.storage_options):
            if is_object_store(self.path):
                return None
            raise BandStoreError(
                f"band store {self.path} has a Delta log that deltalake cannot open",
                hint=next_step(self.path),
            )
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
        import pyarrow.compute as pc

        # Read whole and filtered here (snapshots.delta.rows_table): no value in query text.
        data = rows_table(table, [c for c in COLUMNS if c in present])
        data = data.filter(
            pc.and_(pc.equal(data["family"], family), pc.equal(data["metric"], metric))
        )
        # Arrow rows of the band schema's columns; a column a format-0 table lacks reads as None.
        rows = []
        for index, raw in enumerate(data.to_pylist()):
            row = cast("_Row", {**dict.fromkeys(COLUMNS), **raw})
            problem = row_problem(row)
            if problem is None:
                rows.append(row)
            else:
                self._note(
                    f"band store {self.path}: skipped row {index} of {family}/{metric} "
                    f"(seed {row['seed']!r}, recorded {row['recorded_at']}): {problem}"
                )
        return rows

    def _read_all(self) -> list[dict[str, object]]:
        """Every row of the store, read in full (so an unreadable data file shows now)."""
        table = self._table()
        return [] if table is None else rows_table(table).to_pylist()

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
            # the table already opened (it holds the storage options): not opened a second time
            table if table is not None else self.path,
            pa.Table.from_pylist([row], schema=band_schema()),
            mode="append",
            schema_mode=merge,
            storage_options=None if table is not None else self.storage_options,
            commit_properties=CommitProperties(
                custom_metadata={
                    "reprodiag.band_store.format": str(STORE_FORMAT),
                    "reprodiag.run_id": row["run_id"],
                }
            ),
        )
        if table is not None:
            self._checkpoint(table)

    def _checkpoint(self, table: DeltaTable) -> None:
        """A checkpoint at every CHECKPOINT_EVERY-th version, best effort: the seed is already
        committed, and a reader without the checkpoint replays the JSON commits instead."""
        from deltalake.exceptions import DeltaError

        try:
            table.update_incremental()
            if table.version() % CHECKPOINT_EVERY == 0:
                table.create_checkpoint()
        except (DeltaError, OSError) as exc:
            self._note(
                f"band store {self.path}: no checkpoint written ({exc}); reads replay the log"
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


_COMMIT = re.compile(r"\d{20}\.json")
_LOG_EXTRAS = (
    re.compile(r"_last_checkpoint"),
    re.compile(r"\d{20}\.checkpoint(\.\d+\.\d+)?\.parquet"),
    re.compile(r"\d{20}\.crc"),
    re.compile(r"_commit_[\w-]+\.json\.tmp"),  # a commit delta-rs is writing right now
    re.compile(r"\..*"),  # hidden files (.crc checksums of other writers, editors' files)
)


@contextlib.contextmanager
def _converted(path: str) -> Iterator[None]:
    """Any failure inside deltalake or pyarrow (a DeltaError, an ArrowInvalid, an OSError, a
    Rust panic, which is a BaseException) becomes one BandStoreError naming the store."""
    try:
        yield
    except BandStoreError:
        raise
    except InputError as exc:
        raise BandStoreError(exc.message, hint=exc.hint or next_step(path)) from exc
    except ReprodiagError as exc:
        raise BandStoreError(f"band store {path}: {exc.message}", hint=exc.hint) from exc
    except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as exc:  # noqa: BLE001 - deltalake raises panics as BaseException
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise BandStoreError(
            f"band store {path} cannot be read or written ({type(exc).__name__}: {first})",
            hint=next_step(path),
        ) from exc


def _unwritable(path: Path) -> str | None:
    """Why nothing can be written at `path` (a store folder, existing or not); None if it can."""
    folder = path / "_delta_log" if (path / "_delta_log").is_dir() else path
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file"
    probe = folder / f".reprodiag-write-check-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{folder}: {exc.strerror or exc}"
    return None


def row_problem(row: Mapping[str, object]) -> str | None:
    """Why a row read from a band store is not a seed result; None when it is one."""
    for column in ("family", "metric"):
        if not isinstance(row.get(column), str) or not row.get(column):
            return f"{column} is {row.get(column)!r}, not a name"
    seed = row.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        return f"seed {seed!r} is not an integer in 0 .. 2^63-1"
    if row.get("status") not in ("ok", "failed"):
        return f"status {row.get('status')!r} is neither ok nor failed"
    value = row.get("value")
    if row.get("status") == "ok" and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    ):
        return f"an ok row's value is {value!r}, not a finite number"
    seconds = row.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
    ):
        return f"seconds is {seconds!r}, not a finite number"
    for column in ("reason", "run_id", "manifest_path", "recorded_at"):
        if row.get(column) is not None and not isinstance(row.get(column), str):
            return f"{column} is {row.get(column)!r}, not text"
    return None


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
    newest = pc.max(rows_table(table, ["store_format"])["store_format"]).as_py()
    if newest is not None and newest > STORE_FORMAT:
        raise InputError(
            f"band store {path} has store_format {newest}; this reprodiag reads up to "
            f"{STORE_FORMAT}",
            hint="upgrade reprodiag (pip install -U reprodiag) to read and extend this band store",
        )


def _encodable(text: str | None) -> str | None:
    """`text` with lone surrogates (a trainer's message about an undecodable file name) written
    as escapes: Arrow stores UTF-8, and one such character must not fail the seed's commit."""
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_result(family: str, metric: str, result: SeedResult) -> None:
    if not family or not metric:
        raise ValueError("family and metric must be non-empty")
    if isinstance(result.seed, bool) or not isinstance(result.seed, int):
        raise ValueError(f"seed {result.seed!r}: must be an integer")
    if not 0 <= result.seed <= MAX_SEED:
        raise ValueError(f"seed {result.seed}: must lie in 0 .. 2^63-1")
    if result.seconds is not None and not math.isfinite(result.seconds):
        raise ValueError(f"seed {result.seed}: seconds must be finite, not {result.seconds!r}")
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


# -- verify and repair ---------------------------------------------------------------------------


@dataclasses.dataclass
class StoreCheck:
    """What `verify_store` found: the problems (empty: healthy), commits and readable rows."""

    path: str
    problems: list[str] = dataclasses.field(default_factory=list)
    commits: int = 0
    rows: int = 0


@dataclasses.dataclass(frozen=True)
class StoreRepair:
    """What `repair_store` did: rows kept, what was left out and where the old store went."""

    path: str
    rows: int
    skipped_rows: tuple[str, ...]
    skipped_files: tuple[str, ...]
    backup: str | None  # None: the store was healthy and left as it was


def _local(path: str | os.PathLike[str]) -> Path:
    text = str(path).removeprefix("file://")
    if is_object_store(text):
        raise InputError(
            f"{text}: band-store repair works on a local folder",
            hint="copy the table to a local folder, repair it there and copy it back",
        )
    return Path(text).expanduser()


def _log_entries(
    root: Path, check: StoreCheck
) -> tuple[dict[int, list[dict[str, object]]], set[str]]:
    """The readable commits by version, and every data file a readable commit removed."""
    log = root / "_delta_log"
    commits: dict[int, list[dict[str, object]]] = {}
    removed: set[str] = set()
    for entry in sorted(log.iterdir()):
        if _COMMIT.fullmatch(entry.name):
            try:
                actions = [
                    json.loads(line)
                    for line in entry.read_text(encoding="utf-8").splitlines()
                    if line.strip()
                ]
                if not actions or not all(isinstance(a, dict) for a in actions):
                    raise ValueError("no actions")
            except (OSError, UnicodeDecodeError, ValueError):
                check.problems.append(f"log entry {entry} is not a Delta commit (garbage)")
                continue
            commits[int(entry.name[:20])] = actions
            for action in actions:
                gone = action.get("remove")
                if isinstance(gone, dict) and isinstance(gone.get("path"), str):
                    removed.add(gone["path"])
        elif not any(p.fullmatch(entry.name) for p in _LOG_EXTRAS):
            check.problems.append(f"stray entry {entry} in the Delta log")
    return commits, removed


def verify_store(
    path: str | os.PathLike[str], storage_options: dict[str, str] | None = None
) -> StoreCheck:
    """Check a local band store: its log (garbage, missing or stray entries), its data files
    (present and readable) and its rows (each a seed result). Reads only; never raises for a
    corruption, lists it instead. A store in an object store is checked through deltalake
    (it opens, every row reads and is a seed result), with `storage_options`."""
    import pyarrow.parquet as pq

    if is_object_store(str(path)):
        return _verify_remote(str(path), storage_options)
    root = _local(path)
    check = StoreCheck(str(root))
    if not root.exists():
        check.problems.append("it does not exist")
        return check
    if not root.is_dir() or not (root / "_delta_log").is_dir():
        check.problems.append("it is not a Delta table (no _delta_log folder)")
        return check
    commits, removed = _log_entries(root, check)
    check.commits = len(commits)
    listed = {
        int(p.name[:20]) for p in (root / "_delta_log").iterdir() if _COMMIT.fullmatch(p.name)
    }
    if listed:
        missing = sorted(set(range(min(listed), max(listed) + 1)) - listed)
        if min(listed) != 0 and not (root / "_delta_log" / "_last_checkpoint").exists():
            missing = [*range(0, min(listed)), *missing]
        if missing:
            shown = ", ".join(str(v) for v in missing[:10]) + (" ..." if len(missing) > 10 else "")
            check.problems.append(f"log entries missing for version(s) {shown}")
    else:
        check.problems.append("the Delta log holds no commit")
    for actions in commits.values():
        for action in actions:
            add = action.get("add")
            if not isinstance(add, dict) or not isinstance(add.get("path"), str):
                continue
            if add["path"] in removed:
                continue
            file = root / add["path"]
            try:
                pq.read_metadata(file)
            except Exception as exc:  # noqa: BLE001 - any unreadable data file is a problem
                check.problems.append(f"data file {file} cannot be read ({type(exc).__name__})")
    store = BandStore(root)
    if not check.problems:
        try:
            with _converted(store.path):
                rows = store._read_all()
        except BandStoreError as exc:
            check.problems.append(exc.message)
            return check
        _check_rows(check, rows)
    return check


def _verify_remote(path: str, storage_options: dict[str, str] | None) -> StoreCheck:
    """verify_store for an object store: what deltalake can open and read, row by row."""
    store = BandStore(path, storage_options)
    check = StoreCheck(path)
    try:
        with _converted(path):
            table = store._table()
            if table is None:
                check.problems.append("it does not exist (no Delta table at that uri)")
                return check
            check.commits = table.version() + 1
            rows = rows_table(table).to_pylist()
    except BandStoreError as exc:
        check.problems.append(exc.message)
        return check
    _check_rows(check, rows)
    return check


def _check_rows(check: StoreCheck, rows: list[dict[str, object]]) -> None:
    """Count the rows that are seed results; name each one that is not, by index and seed."""
    for index, raw in enumerate(rows):
        problem = row_problem(cast("_Row", {**dict.fromkeys(COLUMNS), **raw}))
        if problem is None:
            check.rows += 1
        else:
            check.problems.append(f"row {index} (seed {raw.get('seed')!r}): {problem}")


def repair_store(path: str | os.PathLike[str]) -> StoreRepair:
    """Rebuild a local band store from what can still be read, keeping the old one beside it.

    Every readable data file in the folder that no readable commit removed is read (also one
    whose commit entry is garbage or missing: each file holds complete seed results), each row is
    validated (a malformed one is left out and named), exact duplicates (a retried commit) are
    kept once, and a new store is written to a temporary folder and moved into place; the old
    folder is renamed PATH.broken-<UTC time>. A healthy store is left as it is.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    root = _local(path)
    check = verify_store(root)
    if not check.problems:
        return StoreRepair(str(root), check.rows, (), (), None)
    if not root.is_dir():
        raise InputError(
            f"band store {root}: {check.problems[0]}; there is nothing to rebuild from",
            hint="point --band-store at a new folder: reprodiag creates it on the first seed",
        )
    removed: set[str] = set()
    if (root / "_delta_log").is_dir():
        _, removed = _log_entries(root, StoreCheck(str(root)))
    rows: dict[tuple[object, ...], dict[str, object]] = {}
    skipped_rows: list[str] = []
    skipped_files: list[str] = []
    files = sorted(p for p in root.rglob("*.parquet") if "_delta_log" not in p.parts)
    for file in files:
        if file.relative_to(root).as_posix() in removed:
            continue
        try:
            data = pq.read_table(file).to_pylist()
        except Exception as exc:  # noqa: BLE001 - an unreadable file is left out and named
            skipped_files.append(f"{file} ({type(exc).__name__})")
            continue
        for index, raw in enumerate(data):
            row = cast("_Row", {**dict.fromkeys(COLUMNS), **raw})
            problem = row_problem(row)
            if problem is not None:
                skipped_rows.append(f"{file.name} row {index}: {problem}")
                continue
            clean: dict[str, object] = {column: raw.get(column) for column in COLUMNS}
            value = row["value"]
            clean["value"] = float(value) if value is not None else None
            key = tuple(clean[c] for c in COLUMNS if c != "seconds")
            rows.setdefault(key, clean)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    fresh = root.with_name(f"{root.name}.repair-{uuid.uuid4().hex[:8]}")
    backup = root.with_name(f"{root.name}.broken-{stamp}")
    kept = sorted(rows.values(), key=lambda r: (str(r["recorded_at"]), str(r["run_id"])))
    try:
        write_deltalake(str(fresh), pa.Table.from_pylist(kept, schema=band_schema()), mode="error")
        os.rename(root, backup)
        os.rename(fresh, root)
    except BaseException:
        import shutil

        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return StoreRepair(str(root), len(kept), tuple(skipped_rows), tuple(skipped_files), str(backup))
