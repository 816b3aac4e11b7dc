"""Apache Iceberg snapshots through pyiceberg: pin a snapshot id, check it, read it back.

A table is named `iceberg://<catalog>/<namespace>.<table>` (the namespace may have dots of its
own: `iceberg://prod/ml.features.train`). The catalog is configured the way pyiceberg always
configures it, ~/.pyiceberg.yaml or PYICEBERG_CATALOG__<NAME>__URI and friends, and
`storage_options` adds or overrides catalog properties (uri, warehouse, type, credentials), so a
run on a laptop can name the same table as one in production with other properties.

The ref's `fingerprint` is sha256 over the table uuid, the snapshot id and the sorted (content,
path, record count, size) of every live data and delete file in the snapshot, read from the
manifests only: no data is read. It changes with every commit that changes files and is stable
across reopens; `table_id` is the table uuid, which a dropped and recreated table does not keep.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from reprodiag.manifest.model import SnapshotRef, is_known
from reprodiag.snapshots._pin import parse_as_of, require_one_pin
from reprodiag.snapshots._uri import local_path
from reprodiag.snapshots.interface import (
    SnapshotError,
    SnapshotNotFound,
    SnapshotVacuumed,
    VersionNotFound,
    describe,
)

# pyiceberg and pyarrow are imported inside functions, so `reprodiag --help` stays fast.
if TYPE_CHECKING:
    import pyarrow
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

SCHEME = "iceberg://"


class IcebergProvider:
    """Apache Iceberg tables named by an iceberg:// uri, pinned to a snapshot id."""

    format = "iceberg"

    def detects(self, uri: str) -> bool:
        """True only for the iceberg:// scheme: a warehouse folder alone does not say which
        catalog owns the table."""
        # Only the explicit scheme: a warehouse folder or metadata.json is not enough to know
        # which catalog owns the table, and guessing a catalog would pin the wrong one.
        return uri.startswith(SCHEME)

    def resolve(
        self,
        uri: str,
        *,
        version: int | str | None = None,
        as_of: str | datetime | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> SnapshotRef:
        """Pin the table to a snapshot id: the one given, the one current at as_of, else the
        current one."""
        require_one_pin("iceberg", uri, version, as_of, "a snapshot id")
        tbl = _load_table(uri, storage_options)
        when = None if as_of is None else parse_as_of(as_of)
        if when is not None:
            snapshot = _snapshot_as_of(tbl, uri, when)
        elif version is not None:
            snapshot = _snapshot_by_version(tbl, uri, version)
        else:
            snapshot = _current_snapshot(tbl, uri)
        return SnapshotRef(
            format=self.format,
            uri=uri,
            version=snapshot.snapshot_id,
            table_id=str(tbl.metadata.table_uuid),
            fingerprint=fingerprint(tbl, snapshot),
            as_of=None if when is None else when.isoformat(),
        )

    def check_readable(
        self, ref: SnapshotRef, storage_options: Mapping[str, str] | None = None
    ) -> None:
        """Raise SnapshotVacuumed when the pinned snapshot's manifest list or data files are gone
        (local warehouses only; on an object store that shows at read)."""
        tbl, snapshot = _open_pinned(ref, storage_options)
        # Only a local warehouse can be checked without a request per file; on an object store a
        # removed file shows up when read_arrow runs.
        files = [path for _, path, _, _ in _live_files(tbl, snapshot, ref)]
        local = [p for p in map(_local_file, [snapshot.manifest_list, *files]) if p]
        missing = [p for p in local if not os.path.exists(p)]
        if missing:
            raise _vacuumed(ref, f"{len(missing)} of {len(files) + 1} files are missing")

    def read_arrow(
        self,
        ref: SnapshotRef,
        *,
        columns: Sequence[str] | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> pyarrow.Table:
        """Read the pinned snapshot as an Arrow table; raises SnapshotVacuumed when a data file
        is gone."""
        tbl, snapshot = _open_pinned(ref, storage_options)
        fields = ("*",) if columns is None else tuple(columns)
        try:
            return tbl.scan(snapshot_id=snapshot.snapshot_id, selected_fields=fields).to_arrow()
        except FileNotFoundError as exc:
            raise _vacuumed(ref, "a data file is missing") from exc

    def snapshot_ids(self, uri: str, storage_options: Mapping[str, str] | None = None) -> list[int]:
        """The snapshot ids still in the table's metadata, oldest first."""
        return _snapshot_ids(_load_table(uri, storage_options))


def parse_uri(uri: str) -> tuple[str, str]:
    """`iceberg://prod/ml.train` → ("prod", "ml.train")."""
    rest = uri[len(SCHEME) :] if uri.startswith(SCHEME) else ""
    catalog, _, identifier = rest.partition("/")
    if not catalog or "." not in identifier.strip(".") or "/" in identifier:
        raise SnapshotError(
            f"{uri!r} is not an Iceberg table uri.",
            hint="Write it as iceberg://<catalog>/<namespace>.<table>, e.g. iceberg://prod/ml.train.",
        )
    return catalog, identifier


def fingerprint(tbl: Table, snapshot: Snapshot) -> str:
    """sha256 over table uuid, snapshot id and the sorted (content, path, records, size) of
    the snapshot's files, read from its manifests."""
    files = sorted(_live_files(tbl, snapshot, None))
    payload = json.dumps(
        [str(tbl.metadata.table_uuid), snapshot.snapshot_id, files], separators=(",", ":")
    )
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


# Any: pyiceberg's catalog properties, as free-form as its load_catalog(**properties) takes them.
def _catalog_properties(name: str, storage_options: Mapping[str, str] | None) -> dict[str, Any]:
    # pyiceberg reads its environment once, at import; reading it again here lets a
    # PYICEBERG_CATALOG__* variable set later (by a test, a launcher) count.
    from pyiceberg.utils.config import Config

    return {**(Config().get_catalog_config(name) or {}), **(storage_options or {})}


def _load_table(uri: str, storage_options: Mapping[str, str] | None) -> Table:
    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    name, identifier = parse_uri(uri)
    properties = _catalog_properties(name, storage_options)
    try:
        catalog = load_catalog(name, **properties)
    except ValueError as exc:
        raise SnapshotError(
            f"iceberg {uri}: catalog {name!r} cannot be loaded: {exc}",
            hint="Configure it in ~/.pyiceberg.yaml or with"
            f" PYICEBERG_CATALOG__{name.upper()}__URI, or pass its properties"
            " (uri, warehouse) as storage_options.",
        ) from exc
    try:
        return catalog.load_table(identifier)
    except (NoSuchTableError, NoSuchNamespaceError) as exc:
        raise SnapshotNotFound(
            f"iceberg table {uri} does not exist in catalog {name!r}.",
            hint="Check the namespace and table name (catalog.list_tables(namespace) lists them).",
        ) from exc


def _open_pinned(
    ref: SnapshotRef, storage_options: Mapping[str, str] | None
) -> tuple[Table, Snapshot]:
    """Load the recorded snapshot and make sure it is still the table and files recorded."""
    if ref.format != "iceberg" or not isinstance(ref.version, int):
        raise SnapshotError(
            f"{describe(ref)} is not a pinned iceberg snapshot (version: {ref.version!r}).",
            hint="Pin it with reprodiag.snapshots.open_snapshot('iceberg://<catalog>/<ns>.<table>').",
        )
    tbl = _load_table(ref.uri, storage_options)
    # A table dropped and recreated under the same name has other snapshots and another uuid.
    uuid = str(tbl.metadata.table_uuid)
    if is_known(ref.table_id) and ref.table_id != uuid:
        raise SnapshotError(
            f"{describe(ref)} is not the snapshot recorded: its table uuid is {uuid},"
            f" the run recorded {ref.table_id}.",
            hint="The table was dropped and recreated under that name; point to the original.",
        )
    return tbl, _snapshot_by_version(tbl, ref.uri, ref.version)


def _current_snapshot(tbl: Table, uri: str) -> Snapshot:
    snapshot = tbl.current_snapshot()
    if snapshot is None:
        raise VersionNotFound(
            f"iceberg {uri} has no snapshot yet: nothing was ever written to it.",
            hint="Append data before pinning it.",
        )
    return snapshot


def _snapshot_by_version(tbl: Table, uri: str, version: int | str) -> Snapshot:
    text = str(version)
    if isinstance(version, bool):
        snapshot = None
    elif text.lstrip("-").isdigit():
        snapshot = tbl.snapshot_by_id(int(text))
    else:  # a tag or branch name: pins the snapshot it points to now
        snapshot = tbl.snapshot_by_name(text)
    if snapshot is None:
        ids = _snapshot_ids(tbl)
        exists = "its snapshots are " + ", ".join(map(str, ids)) if ids else "it has none"
        raise VersionNotFound(
            f"iceberg {uri} has no snapshot {version!r}: {exists}.",
            hint="An expired snapshot cannot be read again: expire_snapshots removes snapshots"
            " older than its retention; tag the snapshots runs pin"
            " (tbl.manage_snapshots().create_tag(id, name)) to keep them.",
        )
    return snapshot


def _snapshot_as_of(tbl: Table, uri: str, when: datetime) -> Snapshot:
    snapshot = tbl.snapshot_as_of_timestamp(int(when.timestamp() * 1000))
    if snapshot is None:
        log = tbl.metadata.snapshot_log
        first = (
            f"its first snapshot is at {_utc(log[0].timestamp_ms).isoformat()}"
            if log
            else "it has no snapshot"
        )
        raise VersionNotFound(
            f"iceberg {uri} has no snapshot as of {when.isoformat()}: {first}.",
            hint="Give a later as_of, or a snapshot id.",
        )
    return snapshot


def _utc(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, timezone.utc)


def _live_files(
    tbl: Table, snapshot: Snapshot, ref: SnapshotRef | None
) -> list[tuple[str, str, int, int]]:
    """(content, path, record count, size) of every data and delete file live in the snapshot."""
    try:
        manifests = snapshot.manifests(tbl.io)
        entries = [
            e for m in manifests for e in m.fetch_manifest_entry(tbl.io, discard_deleted=True)
        ]
    except FileNotFoundError as exc:
        if ref is None:
            raise SnapshotError(f"iceberg snapshot {snapshot.snapshot_id}: {exc}") from exc
        raise _vacuumed(ref, "its manifest list or a manifest is missing") from exc
    return [
        (
            e.data_file.content.name.lower(),
            e.data_file.file_path,
            int(e.data_file.record_count),
            int(e.data_file.file_size_in_bytes),
        )
        for e in entries
    ]


def _local_file(location: str) -> str | None:
    """The local path of a file:// or scheme-less location; None for any other scheme."""
    if location.startswith("file://") or "://" not in location:
        return local_path(location)
    return None


def _snapshot_ids(tbl: Table) -> list[int]:
    return [s.snapshot_id for s in sorted(tbl.snapshots(), key=lambda s: s.timestamp_ms)]


def _vacuumed(ref: SnapshotRef, detail: str) -> SnapshotVacuumed:
    return SnapshotVacuumed(
        f"snapshot {describe(ref)} is no longer readable: its files were removed ({detail}).",
        hint="Files go when expire_snapshots or orphan-file cleanup runs past a pinned snapshot;"
        f" tag it (tbl.manage_snapshots().create_tag({ref.version}, name)) so retention keeps it,"
        " or restore the files from a backup.",
    )
