"""What a snapshot provider is, the handle a trainer receives, and the errors snapshots raise.

A provider turns a uri (a Delta table, a folder of files; later Iceberg, DVC) into a `SnapshotRef`
that pins the data well enough to read exactly the same rows again, and reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from reprodiag.errors import InputError
from reprodiag.manifest.model import SnapshotRef, is_known

if TYPE_CHECKING:  # pyarrow and pandas are heavy; only type checkers need them here.
    import pandas
    import pyarrow


class SnapshotError(InputError):
    """A snapshot cannot be pinned, checked or read."""


class SnapshotNotFound(SnapshotError):
    """The path or table does not exist."""


class VersionNotFound(SnapshotError):
    """The table exists but the version (or snapshot id, or timestamp) does not."""


class SnapshotVacuumed(SnapshotError):
    """The version is still in the log but its data files were removed by vacuum."""


def describe(ref: SnapshotRef) -> str:
    """`delta /data/train v3`: how errors and reports name a snapshot."""
    if is_known(ref.version):
        return f"{ref.format} {ref.uri} v{ref.version}"
    return f"{ref.format} {ref.uri}"


class SnapshotProvider(Protocol):
    """One storage format. Implementations are listed in `reprodiag.snapshots.PROVIDERS`."""

    format: str

    def detects(self, uri: str) -> bool:
        """True when the uri is this provider's own (a folder with _delta_log for delta)."""
        ...

    def resolve(
        self,
        uri: str,
        *,
        version: int | str | None = None,
        as_of: str | datetime | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> SnapshotRef:
        """Pin the uri. With neither version nor as_of it pins the current version, so a read of
        "latest" through reprodiag can still be read again later."""
        ...

    def check_readable(
        self, ref: SnapshotRef, storage_options: Mapping[str, str] | None = None
    ) -> None:
        """Raise a `SnapshotError` when the ref cannot be read again; never reads the data."""
        ...

    def read_arrow(
        self,
        ref: SnapshotRef,
        *,
        columns: Sequence[str] | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> pyarrow.Table:
        """Read exactly the pinned snapshot."""
        ...


@dataclass(frozen=True)
class Snapshot:
    """A pinned data snapshot and the provider that reads it: what a trainer receives.

    Two handles are equal when their refs are; storage options stay out of repr so that
    credentials are never printed or logged.
    """

    ref: SnapshotRef
    provider: SnapshotProvider = field(compare=False)
    storage_options: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def to_arrow(self, columns: Sequence[str] | None = None) -> pyarrow.Table:
        """Read exactly the pinned snapshot as an Arrow table (all columns, or those named)."""
        return self.provider.read_arrow(
            self.ref, columns=columns, storage_options=self.storage_options
        )

    def to_pandas(self, columns: Sequence[str] | None = None) -> pandas.DataFrame:
        """Read exactly the pinned snapshot as a pandas DataFrame (all columns, or those named)."""
        return self.to_arrow(columns).to_pandas()

    def check_readable(self) -> None:
        """Raise a SnapshotError when the snapshot can no longer be read again; never reads the
        data."""
        self.provider.check_readable(self.ref, self.storage_options)
