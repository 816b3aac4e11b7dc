"""Data snapshots: pin what a run read, check it can be read again, and read it.

`open_snapshot("data/train")` on a Delta table pins its current version in `snap.ref`
(format "delta", version 7, ...); later, after more appends, `reopen(snap.ref).to_pandas()`
gives the same rows, or an error that says why it cannot.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime

from reprodiag.errors import InputError
from reprodiag.manifest.model import Skipped, SnapshotRef
from reprodiag.snapshots._uri import is_object_store, normalize_uri
from reprodiag.snapshots.delta import DeltaProvider, content_digest
from reprodiag.snapshots.dvc import DvcProvider
from reprodiag.snapshots.files import FilesProvider
from reprodiag.snapshots.iceberg import IcebergProvider
from reprodiag.snapshots.interface import (
    Snapshot,
    SnapshotError,
    SnapshotNotFound,
    SnapshotProvider,
    SnapshotVacuumed,
    VersionNotFound,
)

__all__ = [
    "PROVIDERS",
    "DeltaProvider",
    "DvcProvider",
    "FilesProvider",
    "IcebergProvider",
    "Snapshot",
    "SnapshotError",
    "SnapshotNotFound",
    "SnapshotProvider",
    "SnapshotVacuumed",
    "VersionNotFound",
    "content_digest",
    "open_snapshot",
    "provider_for",
    "reopen",
    "unversioned_ref",
]

# Detection order matters: a Delta table or a DVC-tracked path is also a folder or file, so they
# come before "files", which claims any existing local path. Iceberg claims only iceberg:// uris
# (a catalog, never a path, names its tables). Delta comes before DVC: a Delta table tracked by
# DVC is pinned by its own log unless format="dvc" is given.
PROVIDERS: tuple[SnapshotProvider, ...] = (
    DeltaProvider(),
    IcebergProvider(),
    DvcProvider(),
    FilesProvider(),
)


def provider_for(format: str) -> SnapshotProvider:
    """The built-in provider for a format name ("delta", "iceberg", ...); raises InputError
    naming the known formats for any other."""
    for provider in PROVIDERS:
        if provider.format == format:
            return provider
    known = ", ".join(p.format for p in PROVIDERS)
    raise InputError(
        f"unknown snapshot format {format!r}.",
        hint=f"Use one of: {known}.",
    )


def open_snapshot(
    uri: str | os.PathLike[str],
    *,
    format: str | None = None,
    version: int | str | None = None,
    as_of: str | datetime | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> Snapshot:
    """Pin uri (the current version unless version or as_of is given) and return its handle."""
    text = os.fspath(uri)
    provider = provider_for(format) if format is not None else _detect(text)
    ref = provider.resolve(text, version=version, as_of=as_of, storage_options=storage_options)
    return Snapshot(ref, provider, dict(storage_options or {}))


def reopen(ref: SnapshotRef, storage_options: Mapping[str, str] | None = None) -> Snapshot:
    """A handle on a recorded snapshot, after checking (without reading data) it is still there."""
    if ref.format == "unversioned":
        raise SnapshotError(
            f"{ref.uri} was read outside any snapshot provider, so it cannot be read again.",
            hint="Read training data through reprodiag.snapshots.open_snapshot() to pin it.",
        )
    provider = provider_for(ref.format)
    provider.check_readable(ref, storage_options)
    return Snapshot(ref, provider, dict(storage_options or {}))


def unversioned_ref(uri: str | os.PathLike[str], reason: str) -> SnapshotRef:
    """A ref for data read outside any provider: where it came from, and why nothing pins it
    (kind not_recorded)."""
    skipped = Skipped(reason, "not_recorded")
    return SnapshotRef(
        format="unversioned",
        uri=normalize_uri(uri),
        version=skipped,
        table_id=skipped,
        fingerprint=skipped,
    )


def _detect(uri: str) -> SnapshotProvider:
    for provider in PROVIDERS:
        if provider.detects(uri):
            return provider
    known = ", ".join(p.format for p in PROVIDERS)
    if is_object_store(uri):
        raise InputError(
            f"cannot tell the snapshot format of {uri}: object stores are not probed.",
            hint=f"Pass format= one of: {known}, with the storage_options it needs.",
        )
    raise SnapshotNotFound(
        f"snapshot {normalize_uri(uri)} does not exist.",
        hint="Check the path (relative paths are taken from the current folder).",
    )
