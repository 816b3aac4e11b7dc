"""The versions between two snapshots of one table, each with its commit info.

`versions_between(older, newer)` lists the versions a table went through after `older` up to
and including `newer`, oldest first (so `older` itself is never listed and `newer` always is: the
versions strictly between the two are all but the last), each with what its commit recorded: the
operation (WRITE, UPDATE, MERGE, append, overwrite ...), the commit time (ISO 8601, UTC), the
operation's parameters and the user's own commit metadata (Delta: custom commit metadata and
userMetadata; Iceberg: the snapshot summary's properties other than Iceberg's own statistics).
A `newer` the table's history does not reach is an error, never a shorter list. Bisection
(reprodiag.confirm.bisect) retrains on the versions in between and names the first one that
moves the metric with this info; it does not retrain a version whose `skip` says why it is no
state a pipeline trains on (an Iceberg snapshot of an empty table, or the delete half of a
delete-then-append overwrite, which pyiceberg's `overwrite()` writes as two snapshots in one
commit).

Delta and Iceberg tables are listed; a DVC pin's versions are git commits of its `.dvc` file and
plain files have no versions: both raise HistoryUnavailable saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from reprodiag.errors import InputError
from reprodiag.manifest.model import JSONValue, SnapshotRef

# Keys of a Delta history entry that delta-rs and Spark write themselves; every other top-level
# key is the writer's custom commit metadata (CommitProperties(custom_metadata=...)).
_DELTA_OWN = frozenset(
    {
        "version",
        "timestamp",
        "operation",
        "operationParameters",
        "operationMetrics",
        "readVersion",
        "isBlindAppend",
        "isolationLevel",
        "clientVersion",
        "engineInfo",
        "txnId",
        "userName",
        "userId",
        "notebook",
        "clusterId",
    }
)


# Keys of an Iceberg snapshot summary that Iceberg (Java, pyiceberg) and its engines write
# themselves: statistics of the commit and the table, and the writer's identity. Every other
# property is the user's (snapshot_properties=..., Spark's snapshot-property.*). The spec's list:
# https://iceberg.apache.org/spec/#optional-snapshot-summary-fields
_ICEBERG_OWN = frozenset(
    {
        "added-data-files",
        "deleted-data-files",
        "total-data-files",
        "added-delete-files",
        "added-equality-delete-files",
        "removed-equality-delete-files",
        "added-position-delete-files",
        "removed-position-delete-files",
        "removed-delete-files",
        "total-delete-files",
        "added-records",
        "deleted-records",
        "total-records",
        "added-files-size",
        "removed-files-size",
        "total-files-size",
        "added-position-deletes",
        "removed-position-deletes",
        "total-position-deletes",
        "added-equality-deletes",
        "removed-equality-deletes",
        "total-equality-deletes",
        "deleted-duplicate-files",
        "changed-partition-count",
        "partition-summaries-included",
        "replace-partitions",
        "manifests-created",
        "manifests-kept",
        "manifests-replaced",
        "entries-processed",
        "engine-name",
        "engine-version",
        "iceberg-version",
        "spark.app.id",
        "app-id",
        "wap.id",
        "published-wap-id",
        "source-snapshot-id",
    }
)
_ICEBERG_OWN_PREFIXES = ("partitions.",)


def user_properties(summary: Mapping[str, object]) -> dict[str, JSONValue]:
    """An Iceberg snapshot summary's properties less Iceberg's own statistics and writer keys."""
    return {
        str(k): _json(v)
        for k, v in summary.items()
        if k not in _ICEBERG_OWN and not str(k).startswith(_ICEBERG_OWN_PREFIXES)
    }


class HistoryUnavailable(InputError):
    """The versions between two snapshots cannot be listed (format, different tables, gone)."""


@dataclass(frozen=True)
class VersionInfo:
    """One version of a table and what its commit recorded."""

    version: int
    operation: str | None
    timestamp: str | None  # ISO 8601, UTC
    parameters: Mapping[str, JSONValue] = field(default_factory=dict)
    metadata: Mapping[str, JSONValue] = field(default_factory=dict)  # the user's commit metadata
    # Why a pipeline never trains on this version (bisection does not retrain it), or None.
    skip: str | None = None

    def info(self) -> dict[str, JSONValue]:
        """The commit info as plain JSON (what a report shows)."""
        out: dict[str, JSONValue] = {"version": self.version}
        if self.operation is not None:
            out["operation"] = self.operation
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        if self.skip is not None:
            out["skipped"] = self.skip
        return out


def same_table(older: SnapshotRef, newer: SnapshotRef) -> str | None:
    """None when the two refs are versions of one versioned table, else why not (words)."""
    if older.format != newer.format:
        return f"the two snapshots are of different formats ({older.format}, {newer.format})"
    if older.format not in ("delta", "iceberg"):
        return f"versions between two {older.format} snapshots cannot be listed"
    if older.uri != newer.uri:
        return f"the two snapshots are different tables ({older.uri}, {newer.uri})"
    if older.table_id != newer.table_id:
        return "the table was recreated between the two snapshots (its table id changed)"
    if not (older.pinned and newer.pinned):
        return "one of the two snapshots is not pinned"
    return None


def versions_between(
    older: SnapshotRef, newer: SnapshotRef, storage_options: Mapping[str, str] | None = None
) -> list[VersionInfo]:
    """The versions after `older` up to and including `newer`, oldest first, with commit info.

    Raises HistoryUnavailable when they are not two versions of one Delta or Iceberg table, when
    the table's history cannot be read, or when it does not reach `newer` (or holds no entry for
    a version in between): the list is then whole, and its last entry is always `newer`.
    """
    why = same_table(older, newer)
    if why is not None:
        raise HistoryUnavailable(
            f"cannot list the versions between {older.uri} and {newer.uri}: {why}",
            hint="bisection needs two pinned versions of one Delta or Iceberg table",
        )
    if older.format == "delta" and int(str(older.version)) > int(str(newer.version)):
        raise HistoryUnavailable(
            f"{older.uri}: version {older.version} comes after version {newer.version}: the "
            "versions between them are listed from the older one",
            hint="the candidate read an older version than the baseline",
        )
    if older.format == "delta":
        found = _delta(older, newer, storage_options)
    else:
        found = _iceberg(older, newer, storage_options)
    if older.version != newer.version and (not found or found[-1].version != newer.version):
        last = f"its last entry is version {found[-1].version}" if found else "no entry after it"
        raise HistoryUnavailable(
            f"{newer.format} {newer.uri}: the history read from version {older.version} does not "
            f"reach version {newer.version} ({last})",
            hint="the version was never written to this table, or the table was replaced; "
            "check the two manifests name the same table",
        )
    return found


def _iso(ms: object) -> str | None:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return None
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc).isoformat(timespec="seconds")


def _json(value: object) -> JSONValue:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return str(value)


def _delta(
    older: SnapshotRef, newer: SnapshotRef, storage_options: Mapping[str, str] | None
) -> list[VersionInfo]:
    from deltalake import DeltaTable  # heavy: only when a history is asked for

    low, high = int(str(older.version)), int(str(newer.version))
    uri = older.uri.removeprefix("file://")
    try:
        entries = DeltaTable(uri, storage_options=dict(storage_options or {})).history()
    except Exception as exc:  # deltalake raises its own error types for a missing table
        raise HistoryUnavailable(
            f"cannot read the history of {older.uri}: {exc}",
            hint="check the table still exists and can be read from here",
        ) from exc
    out = []
    for entry in entries:
        version = entry.get("version")
        if not isinstance(version, int) or not low < version <= high:
            continue
        params = entry.get("operationParameters")
        custom = {k: _json(v) for k, v in entry.items() if k not in _DELTA_OWN}
        out.append(
            VersionInfo(
                version=version,
                operation=str(entry["operation"]) if entry.get("operation") else None,
                timestamp=_iso(entry.get("timestamp")),
                parameters={str(k): _json(v) for k, v in params.items()}
                if isinstance(params, Mapping)
                else {},
                metadata=custom,
            )
        )
    out.sort(key=lambda v: v.version)
    missing = sorted(set(range(low + 1, high + 1)) - {v.version for v in out})
    if missing and max(missing) < high and out:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise HistoryUnavailable(
            f"{older.uri}: the history holds no entry for version {shown} between version {low} "
            f"and version {high} (its log was cleaned up)",
            hint="keep the table's log for as long as its versions are pinned "
            "(delta.logRetentionDuration)",
        )
    return out


def _iceberg(
    older: SnapshotRef, newer: SnapshotRef, storage_options: Mapping[str, str] | None
) -> list[VersionInfo]:
    from reprodiag.snapshots.iceberg import _load_table  # pyiceberg: only when asked

    table = _load_table(older.uri, storage_options)
    ordered = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
    ids = [s.snapshot_id for s in ordered]
    if older.version not in ids or newer.version not in ids:
        raise HistoryUnavailable(
            f"{older.uri}: snapshot {older.version} or {newer.version} is no longer in the table's "
            "snapshot log",
            hint="expired snapshots cannot be bisected",
        )
    low, high = ids.index(older.version), ids.index(newer.version)
    commits = _commit_times(table)
    out = []
    for i in range(low + 1, high + 1):
        snapshot, after = ordered[i], ordered[i + 1] if i + 1 < len(ordered) else None
        summary = snapshot.summary
        operation = getattr(getattr(summary, "operation", None), "value", None)
        extra = getattr(summary, "additional_properties", {}) or {}
        out.append(
            VersionInfo(
                version=snapshot.snapshot_id,
                operation=str(operation) if operation is not None else None,
                timestamp=_iso(snapshot.timestamp_ms),
                metadata=user_properties(extra),
                skip=_iceberg_skip(snapshot, after, commits),
            )
        )
    return out


def _commit_times(table: object) -> tuple[int, set[int]] | None:
    """When each committed metadata file was written (its last-updated-ms, which Iceberg sets to
    the time of the snapshot it made current), and the oldest of them: a snapshot whose time is
    none of them was never the table's current state on its own. None without a metadata log."""
    metadata = getattr(table, "metadata", None)
    log = getattr(metadata, "metadata_log", None) or []
    times = {int(e.timestamp_ms) for e in log}
    if not times:
        return None
    times.add(int(getattr(metadata, "last_updated_ms", 0) or 0))
    return min(times), times


def _iceberg_skip(
    snapshot: object, after: object, commits: tuple[int, set[int]] | None
) -> str | None:
    """Why no pipeline trains on this snapshot, or None: its table is empty, or it is the delete
    half of a delete-then-append committed as one (pyiceberg's overwrite())."""
    summary = getattr(snapshot, "summary", None)
    extra = getattr(summary, "additional_properties", {}) or {}
    operation = getattr(getattr(summary, "operation", None), "value", None)
    half = (
        operation == "delete"
        and after is not None
        and getattr(after, "parent_snapshot_id", None) == getattr(snapshot, "snapshot_id", None)
        and getattr(getattr(getattr(after, "summary", None), "operation", None), "value", None)
        == "append"
        and commits is not None
        and commits[0] <= int(getattr(snapshot, "timestamp_ms", 0))
        and int(getattr(snapshot, "timestamp_ms", 0)) not in commits[1]
    )
    if half:
        return (
            "the delete half of an overwrite: it was committed together with the append after "
            "it (pyiceberg's overwrite() writes a delete and an append snapshot in one commit), "
            "so the table was never read in this state"
        )
    if str(extra.get("total-records", "")) == "0":
        return "the table is empty at this snapshot (total-records 0): there is nothing to train on"
    return None
