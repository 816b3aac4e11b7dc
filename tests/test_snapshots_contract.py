"""Every provider in PROVIDERS honours the same contract, and the package-level helpers work."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from reprodiag.errors import InputError
from reprodiag.manifest.model import Skipped
from reprodiag.snapshots import (
    PROVIDERS,
    Snapshot,
    SnapshotError,
    SnapshotNotFound,
    SnapshotProvider,
    open_snapshot,
    provider_for,
    reopen,
    unversioned_ref,
)

ROWS = pa.table({"id": [1, 2, 3], "label": ["a", "b", "c"]})
MORE = pa.table({"id": [4], "label": ["d"]})


def delta_write(path: Path, rows: pa.Table, append: bool) -> None:
    write_deltalake(path, rows, mode="append" if append else "error")


def files_write(path: Path, rows: pa.Table, append: bool) -> None:
    path.mkdir(exist_ok=True)
    pq.write_table(rows, path / f"part-{len(list(path.iterdir()))}.parquet")


# How to write data each format reads; a provider added to PROVIDERS without an entry here fails.
WRITERS: dict[str, Callable[[Path, pa.Table, bool], None]] = {
    "delta": delta_write,
    "files": files_write,
}


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.format)
def provider(request: pytest.FixtureRequest) -> SnapshotProvider:
    return request.param


def test_every_provider_has_a_writer() -> None:
    assert {p.format for p in PROVIDERS} == set(WRITERS)


def test_round_trip(provider: SnapshotProvider, tmp_path: Path) -> None:
    path = tmp_path / "data"
    WRITERS[provider.format](path, ROWS, False)
    assert provider.detects(str(path))
    ref = provider.resolve(str(path))
    assert ref.format == provider.format and ref.uri == str(path) and ref.pinned
    provider.check_readable(ref)
    assert provider.read_arrow(ref).sort_by("id").equals(ROWS)
    assert provider.read_arrow(ref, columns=["label"]).column_names == ["label"]
    assert open_snapshot(path).provider is provider


def test_fingerprint_stable_then_changes_with_data(
    provider: SnapshotProvider, tmp_path: Path
) -> None:
    path = tmp_path / "data"
    WRITERS[provider.format](path, ROWS, False)
    first = provider.resolve(str(path))
    assert provider.resolve(str(path)).fingerprint == first.fingerprint
    shutil.copytree(path, tmp_path / "copy")
    assert provider.resolve(str(tmp_path / "copy")).fingerprint == first.fingerprint
    WRITERS[provider.format](path, MORE, True)
    assert provider.resolve(str(path)).fingerprint != first.fingerprint


def test_missing_path_is_snapshot_not_found(provider: SnapshotProvider, tmp_path: Path) -> None:
    with pytest.raises(SnapshotNotFound) as caught:
        provider.resolve(str(tmp_path / "nope"))
    assert str(tmp_path / "nope") in caught.value.message and caught.value.hint


def test_snapshot_handle_hides_storage_options_and_compares_by_ref(tmp_path: Path) -> None:
    path = tmp_path / "data"
    delta_write(path, ROWS, False)
    secret = {"AWS_SECRET_ACCESS_KEY": "hunter2"}
    snap = open_snapshot(str(path), storage_options=secret)
    assert "hunter2" not in repr(snap)
    assert snap == reopen(snap.ref) and isinstance(snap, Snapshot)
    assert hash(snap) == hash(reopen(snap.ref))


def test_provider_for_lists_known_formats() -> None:
    assert provider_for("delta").format == "delta"
    with pytest.raises(InputError, match="unknown snapshot format") as caught:
        provider_for("lance")
    assert "delta, files" in (caught.value.hint or "")


def test_detection_prefers_delta_over_files(tmp_path: Path) -> None:
    delta_write(tmp_path / "table", ROWS, False)
    assert open_snapshot(tmp_path / "table").ref.format == "delta"
    assert open_snapshot(tmp_path / "table", format="files").ref.format == "files"


def test_object_store_uri_needs_a_format() -> None:
    with pytest.raises(InputError, match="cannot tell the snapshot format") as caught:
        open_snapshot("s3://bucket/train")
    assert "format=" in (caught.value.hint or "")


def test_unversioned_ref_records_the_reason_and_cannot_be_reopened(tmp_path: Path) -> None:
    ref = unversioned_ref("data.csv", "read with pandas.read_csv outside reprodiag")
    assert ref.format == "unversioned" and not ref.pinned
    assert ref.uri == str(Path("data.csv").resolve())
    assert ref.version == Skipped("read with pandas.read_csv outside reprodiag")
    assert unversioned_ref("s3://bucket/x.csv", "r").uri == "s3://bucket/x.csv"
    with pytest.raises(SnapshotError, match="outside any snapshot provider"):
        reopen(ref)
