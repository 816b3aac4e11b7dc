"""Plain files and folders: no versions, so a streaming content fingerprint pins them.

The fingerprint is sha256 over each file's path relative to the root (sorted, "/"-separated),
its size and its bytes, read 1 MiB at a time so a file of any size hashes in constant memory.
Hidden files count too: nothing is skipped. Symlinks are followed, to files and to folders, and
hashed under the link's own path, because a training job reads through them; a folder reached
twice through links (a cycle) is hashed once. Empty folders carry no content and are ignored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from reprodiag.manifest.model import Skipped, SnapshotRef
from reprodiag.snapshots._uri import local_path, normalize_uri
from reprodiag.snapshots.interface import SnapshotError, SnapshotNotFound, describe

if TYPE_CHECKING:
    import pyarrow

CHUNK_BYTES = 1 << 20  # 1 MiB: large enough for sequential disk reads, small enough for any host
READABLE = (".parquet", ".csv", ".jsonl", ".ndjson")


class FilesProvider:
    """Plain local files or folders (.csv, .parquet), pinned by a sha256 fingerprint of their
    content: they have no versions."""

    format = "files"

    def detects(self, uri: str) -> bool:
        """True for any local path that exists."""
        local = local_path(uri)
        return local is not None and os.path.exists(local)

    def resolve(
        self,
        uri: str,
        *,
        version: int | str | None = None,
        as_of: str | datetime | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> SnapshotRef:
        """Fingerprint the file or folder; raises SnapshotError when a version or as_of is given."""
        if version is not None or as_of is not None:
            raise SnapshotError(
                f"files {uri}: plain files have no versions, so version/as_of cannot be used.",
                hint="Store it as a Delta or Iceberg table to time-travel, or drop the argument.",
            )
        path = _existing(uri)
        return SnapshotRef(
            format=self.format,
            uri=path,
            version=Skipped(
                "plain files have no versions; the content fingerprint pins them", "not_applicable"
            ),
            table_id=Skipped("plain files have no table id", "not_applicable"),
            fingerprint=fingerprint(path),
        )

    def check_readable(
        self, ref: SnapshotRef, storage_options: Mapping[str, str] | None = None
    ) -> None:
        """Raise SnapshotError when the path is gone or not readable; whether its bytes changed
        is verify()'s job (a full read)."""
        # Cheap by design: existence and permission only. Whether the bytes are still the ones
        # recorded costs a full read, which is what verify() is for.
        path = _existing(ref.uri)
        if not os.access(path, os.R_OK):
            raise SnapshotError(
                f"snapshot {describe(ref)} cannot be read: permission denied.",
                hint="Give the user running reprodiag read access to it.",
            )

    def verify(self, ref: SnapshotRef) -> None:
        """Re-hash the content and raise SnapshotError when it differs from the recorded one."""
        now = fingerprint(_existing(ref.uri))
        if now != ref.fingerprint:
            raise SnapshotError(
                f"snapshot {describe(ref)}: content changed since capture"
                f" (recorded {ref.fingerprint}, now {now}).",
                hint="Restore the files the run read, or capture the run again on the new data.",
            )

    def read_arrow(
        self,
        ref: SnapshotRef,
        *,
        columns: Sequence[str] | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> pyarrow.Table:
        """Read the file (.csv, .parquet) or folder of .parquet files as an Arrow table."""
        path = _existing(ref.uri)
        wanted = None if columns is None else list(columns)
        if os.path.isdir(path):
            return _read_parquet_folder(ref, path, wanted)
        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path, columns=wanted)
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(include_columns=wanted))
        if suffix in (".jsonl", ".ndjson"):
            import pyarrow.json as pjson

            table = pjson.read_json(path)  # pyarrow reads newline-delimited JSON
            return table if wanted is None else table.select(wanted)
        raise _unreadable(ref)


def fingerprint(path: str) -> str:
    """sha256 over the sorted relative paths, sizes and bytes under path (or of one file)."""
    digest = hashlib.sha256()
    for relative, full in _files(path):
        digest.update(relative.encode("utf-8") + b"\0")
        digest.update(os.path.getsize(full).to_bytes(8, "big"))  # no ambiguity between files
        with open(full, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _files(root: str) -> list[tuple[str, str]]:
    """(relative posix path, full path) of every file under root, sorted by relative path."""
    if not os.path.isdir(root):
        return [(".", root)]
    return sorted(_walk(root, root, set()))


def _walk(root: str, folder: str, seen: set[str]) -> Iterator[tuple[str, str]]:
    real = os.path.realpath(folder)
    if real in seen:  # a symlink cycle, or a folder linked twice
        return
    seen.add(real)
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():  # follows symlinks
                yield from _walk(root, entry.path, seen)
            elif entry.is_file():
                yield os.path.relpath(entry.path, root).replace(os.sep, "/"), entry.path


def _read_parquet_folder(ref: SnapshotRef, path: str, columns: list[str] | None) -> pyarrow.Table:
    import pyarrow.parquet as pq

    # pyarrow's dataset discovery ignores names starting with "_" or "." (_SUCCESS, .crc files).
    visible = [r for r, _ in _files(path) if not any(p[:1] in "_." for p in r.split("/"))]
    if not visible or not all(r.lower().endswith(".parquet") for r in visible):
        raise _unreadable(ref)
    return pq.read_table(path, columns=columns)


def _existing(uri: str) -> str:
    path = local_path(uri)
    if path is None:
        raise SnapshotError(
            f"files {uri}: plain files are fingerprinted on a local disk only.",
            hint="Copy the files locally, or store them as a Delta table and pass format='delta'.",
        )
    if not os.path.exists(path):
        raise SnapshotNotFound(
            f"files {normalize_uri(uri)} does not exist.",
            hint="Check the path; if the data moved, pass its new location.",
        )
    return path


def _unreadable(ref: SnapshotRef) -> SnapshotError:
    return SnapshotError(
        f"snapshot {describe(ref)} is not in a format reprodiag reads.",
        hint="Plain files are read when they are one .parquet, .csv, .jsonl or .ndjson file,"
        " or a folder of .parquet files; read other formats yourself.",
    )
