"""DeltaProvider against real Delta tables written in tmp_path."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from reprodiag.manifest.model import SnapshotRef
from reprodiag.snapshots import (
    DeltaProvider,
    SnapshotError,
    SnapshotNotFound,
    SnapshotVacuumed,
    VersionNotFound,
    content_digest,
    open_snapshot,
    reopen,
)

DELTA = DeltaProvider()


@dataclass(frozen=True)
class History:
    """A table with v0 = ids 1,2; v1 = append 3; v2 = overwrite with 10."""

    path: Path

    def commit_time(self, version: int) -> datetime:
        """When `version` became current, as time travel sees it: delta-rs compares with the commit
        file's modification time, which on a loaded machine can be later than the commitInfo
        timestamp written into it, so the later of the two."""
        entry = next(e for e in DeltaTable(self.path).history() if e["version"] == version)
        log = self.path / "_delta_log" / f"{version:020d}.json"
        stamp = max(entry["timestamp"] / 1000, log.stat().st_mtime)
        return datetime.fromtimestamp(stamp, timezone.utc)


def ids(table: pa.Table) -> list[int]:
    return sorted(table.column("id").to_pylist())


@pytest.fixture()
def history(tmp_path: Path) -> History:
    path = tmp_path / "train"
    write_deltalake(path, pa.table({"id": [1, 2], "x": [0.5, 1.5]}))
    time.sleep(0.02)  # commit timestamps are milliseconds; keep them apart for time travel
    write_deltalake(path, pa.table({"id": [3], "x": [2.5]}), mode="append")
    time.sleep(0.02)
    write_deltalake(path, pa.table({"id": [10], "x": [9.5]}), mode="overwrite")
    return History(path)


def vacuum_all(path: Path, keep_versions: list[int] | None = None) -> list[str]:
    return DeltaTable(path).vacuum(
        retention_hours=0,
        enforce_retention_duration=False,
        dry_run=False,
        keep_versions=keep_versions,
    )


def test_resolve_latest_pins_the_current_version(history: History) -> None:
    ref = DELTA.resolve(str(history.path))
    assert ref.version == 2
    assert ref.table_id == DeltaTable(history.path).metadata().id
    assert str(ref.fingerprint).startswith("sha256:")
    assert ref.as_of is None and ref.pinned
    write_deltalake(history.path, pa.table({"id": [11], "x": [0.0]}), mode="append")
    # The pinned ref still reads v2 although the table moved on to v3.
    assert ids(DELTA.read_arrow(ref)) == [10]
    assert ids(open_snapshot(history.path).to_arrow()) == [10, 11]


def test_time_travel_by_version(history: History) -> None:
    snap = open_snapshot(history.path, version=1)
    assert snap.ref.version == 1
    assert ids(snap.to_arrow()) == [1, 2, 3]
    assert snap.to_pandas(columns=["id"]).columns.tolist() == ["id"]
    assert ids(open_snapshot(history.path, version="0").to_arrow()) == [1, 2]


def test_time_travel_by_timestamp_records_version_and_as_of(history: History) -> None:
    between = history.commit_time(0) + timedelta(milliseconds=1)
    ref = DELTA.resolve(str(history.path), as_of=between)
    assert ref.version == 0
    assert ref.as_of == between.isoformat()
    assert ids(DELTA.read_arrow(ref)) == [1, 2]
    iso = history.commit_time(1).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert DELTA.resolve(str(history.path), as_of=iso).version == 1


def test_as_of_before_the_table_existed_is_refused(history: History) -> None:
    # deltalake itself silently loads v0 for this; reprodiag refuses to pin rows nobody read.
    with pytest.raises(VersionNotFound, match="first commit"):
        DELTA.resolve(str(history.path), as_of="2000-01-01T00:00:00Z")
    with pytest.raises(SnapshotError, match="not an ISO 8601"):
        DELTA.resolve(str(history.path), as_of="yesterday")
    with pytest.raises(SnapshotError, match="both"):
        DELTA.resolve(str(history.path), version=0, as_of="2000-01-01")


def test_fingerprint_stable_across_reopen_and_copy(history: History, tmp_path: Path) -> None:
    ref = DELTA.resolve(str(history.path), version=1)
    assert DELTA.resolve(str(history.path), version=1) == ref
    copy = tmp_path / "copy"
    shutil.copytree(history.path, copy)
    copied = DELTA.resolve(str(copy), version=1)
    assert copied.fingerprint == ref.fingerprint
    assert copied.table_id == ref.table_id
    assert reopen(copied).to_arrow().equals(reopen(ref).to_arrow())


def test_fingerprint_changes_with_an_append(history: History) -> None:
    before = DELTA.resolve(str(history.path))
    write_deltalake(history.path, pa.table({"id": [4], "x": [3.5]}), mode="append")
    after = DELTA.resolve(str(history.path))
    assert after.fingerprint != before.fingerprint
    assert isinstance(before.version, int) and after.version == before.version + 1


def test_content_digest_survives_a_rewrite_of_the_same_rows(history: History) -> None:
    v0 = DELTA.resolve(str(history.path), version=0)
    rows = DELTA.read_arrow(v0)
    write_deltalake(history.path, rows.take([1, 0]), mode="overwrite")  # same rows, new file
    rewritten = DELTA.resolve(str(history.path))
    assert rewritten.fingerprint != v0.fingerprint
    assert content_digest(rewritten) == content_digest(v0)
    assert content_digest(DELTA.resolve(str(history.path), version=1)) != content_digest(v0)


def test_missing_table(tmp_path: Path) -> None:
    with pytest.raises(SnapshotNotFound, match="does not exist") as caught:
        DELTA.resolve(str(tmp_path / "nope"))
    assert caught.value.hint
    (tmp_path / "plain").mkdir()
    with pytest.raises(SnapshotNotFound, match="not a Delta table"):
        DELTA.resolve(str(tmp_path / "plain"))


def test_missing_version_lists_the_versions(history: History) -> None:
    with pytest.raises(VersionNotFound, match=r"the table has versions 0\.\.2") as caught:
        DELTA.resolve(str(history.path), version=7)
    assert "v7" in caught.value.message and str(history.path) in caught.value.message
    with pytest.raises(VersionNotFound):
        DELTA.resolve(str(history.path), version=-1)
    assert DELTA.versions(str(history.path)) == [0, 1, 2]


def test_vacuumed_version_is_reported_without_reading(history: History) -> None:
    ref = DELTA.resolve(str(history.path), version=0)
    assert vacuum_all(history.path)  # the overwrite made v0's and v1's files removable
    with pytest.raises(SnapshotVacuumed) as caught:
        reopen(ref)
    error = caught.value
    assert f"delta {history.path} v0" in error.message and "vacuumed" in error.message
    assert "keep_versions=[0]" in (error.hint or "")
    # Reading converts deltalake's FileNotFoundError into the same error.
    with pytest.raises(SnapshotVacuumed):
        DELTA.read_arrow(ref)
    # The latest version is untouched by vacuum, and its fingerprint did not change.
    DELTA.check_readable(DELTA.resolve(str(history.path), version=2))


def test_vacuum_keep_versions_keeps_a_pinned_version_readable(history: History) -> None:
    v0 = DELTA.resolve(str(history.path), version=0)
    v1 = DELTA.resolve(str(history.path), version=1)
    removed = vacuum_all(history.path, keep_versions=[0])
    assert len(removed) == 1  # only the file v1 appended
    DELTA.check_readable(v0)
    assert ids(DELTA.read_arrow(v0)) == [1, 2]
    with pytest.raises(SnapshotVacuumed):
        DELTA.check_readable(v1)


def test_a_recreated_table_is_not_the_recorded_one(history: History) -> None:
    ref = DELTA.resolve(str(history.path), version=0)
    shutil.rmtree(history.path)
    write_deltalake(history.path, pa.table({"id": [99], "x": [0.0]}))
    with pytest.raises(SnapshotError, match="table id"):
        DELTA.check_readable(ref)


def test_storage_options_pass_through(history: History) -> None:
    snap = open_snapshot(history.path, storage_options={})
    assert snap.storage_options == {}
    assert ids(snap.to_arrow()) == [10]
    ref = DELTA.resolve(str(history.path), version=1, storage_options={})
    DELTA.check_readable(ref, storage_options={})
    assert ids(DELTA.read_arrow(ref, storage_options={})) == [1, 2, 3]


def test_unpinned_ref_is_refused(history: History) -> None:
    ref = SnapshotRef(
        format="delta", uri=str(history.path), version="3", table_id="t", fingerprint="sha256:0"
    )
    with pytest.raises(SnapshotError, match="not a pinned delta snapshot"):
        DELTA.read_arrow(ref)


def test_relative_and_file_uris_record_an_absolute_path(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(history.path.parent)
    assert DELTA.resolve("train").uri == str(history.path)
    assert DELTA.resolve(history.path.as_uri()).uri == str(history.path)
    assert DELTA.detects("train") and not DELTA.detects("s3://bucket/train")
