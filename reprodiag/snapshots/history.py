"""The versions between two snapshots of one table, each with its commit info.

`versions_between(older, newer)` lists the versions a table went through after `older` up to
and including `newer`, oldest first, each with what its commit recorded: the operation (WRITE,
UPDATE, MERGE, append, overwrite ...), the commit time (ISO 8601, UTC), the operation's
parameters and the user's own commit metadata (Delta: custom commit metadata and userMetadata;
Iceberg: the snapshot summary's extra properties). Bisection (reprodiag.confirm.bisect) retrains
on the versions in between and names the first one that moves the metric with this info.

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

    Raises HistoryUnavailable when they are not two versions of one Delta or Iceberg table, or
    when the table's history cannot be read.
    """
    why = same_table(older, newer)
    if why is not None:
        raise HistoryUnavailable(
            f"cannot list the versions between {older.uri} and {newer.uri}: {why}",
            hint="bisection needs two pinned versions of one Delta or Iceberg table",
        )
    if older.format == "delta":
        return _delta(older, newer, storage_options)
    return _iceberg(older, newer, storage_options)


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
    return sorted(out, key=lambda v: v.version)


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
    out = []
    for snapshot in ordered[low + 1 : high + 1]:
        summary = snapshot.summary
        operation = getattr(getattr(summary, "operation", None), "value", None)
        extra = getattr(summary, "additional_properties", {}) or {}
        out.append(
            VersionInfo(
                version=snapshot.snapshot_id,
                operation=str(operation) if operation is not None else None,
                timestamp=_iso(snapshot.timestamp_ms),
                metadata={str(k): _json(v) for k, v in extra.items()},
            )
        )
    return out
