"""Iceberg snapshots on a real SqlCatalog (sqlite) with a local warehouse in tmp_path."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from reprodiag.snapshots import (
    IcebergProvider,
    SnapshotError,
    SnapshotNotFound,
    SnapshotVacuumed,
    VersionNotFound,
    open_snapshot,
    reopen,
)
from reprodiag.snapshots.iceberg import parse_uri
from tests.helpers.snapshots import catalog_options

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

ROWS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "label": ["a", "b", "c"]})
MORE = pa.table({"id": pa.array([4], pa.int64()), "label": ["d"]})


def make_table(tmp_path: Path, name: str = "ml.train") -> tuple[str, dict[str, str], Table]:
    from pyiceberg.catalog.sql import SqlCatalog

    options = catalog_options(tmp_path)
    catalog = SqlCatalog("local", **options)
    catalog.create_namespace_if_not_exists(name.rsplit(".", 1)[0])
    table = catalog.create_table(name, schema=ROWS.schema)
    table.append(ROWS)
    return f"iceberg://local/{name}", options, table


def current(tbl: Table) -> Snapshot:
    snapshot = tbl.current_snapshot()
    assert snapshot is not None
    return snapshot


@pytest.fixture
def table(tmp_path: Path) -> tuple[str, dict[str, str], Table]:
    return make_table(tmp_path)


def test_pins_current_snapshot_and_reads_it_after_an_append(
    table: tuple[str, dict[str, str], Table],
) -> None:
    uri, options, tbl = table
    snap = open_snapshot(uri, storage_options=options)
    assert snap.ref.format == "iceberg" and snap.ref.uri == uri
    assert snap.ref.version == current(tbl).snapshot_id
    assert snap.ref.table_id == str(tbl.metadata.table_uuid)
    assert str(snap.ref.fingerprint).startswith("sha256:")
    tbl.append(MORE)
    assert reopen(snap.ref, options).to_arrow().sort_by("id").equals(ROWS)
    latest = open_snapshot(uri, storage_options=options)
    assert latest.to_arrow().num_rows == 4 and latest.ref.fingerprint != snap.ref.fingerprint


def test_time_travel_by_snapshot_id_and_timestamp(table: tuple[str, dict[str, str], Table]) -> None:
    uri, options, tbl = table
    first = current(tbl)
    time.sleep(0.01)  # two snapshots in the same millisecond would be one moment
    tbl.append(MORE)
    provider = IcebergProvider()
    by_id = provider.resolve(uri, version=first.snapshot_id, storage_options=options)
    assert provider.read_arrow(by_id, storage_options=options).num_rows == 3
    assert provider.resolve(uri, version=str(first.snapshot_id), storage_options=options) == by_id
    when = datetime.fromtimestamp(first.timestamp_ms / 1000, timezone.utc)
    at = provider.resolve(uri, as_of=when, storage_options=options)
    assert at.version == first.snapshot_id and at.as_of == when.isoformat()
    assert provider.read_arrow(at, columns=["label"], storage_options=options).column_names == [
        "label"
    ]
    with pytest.raises(VersionNotFound, match="no snapshot as of"):
        provider.resolve(uri, as_of=when - timedelta(days=1), storage_options=options)


def test_fingerprint_is_stable_across_reopen_and_changes_with_an_append(
    table: tuple[str, dict[str, str], Table],
) -> None:
    uri, options, tbl = table
    provider = IcebergProvider()
    first = provider.resolve(uri, storage_options=options)
    assert provider.resolve(uri, storage_options=options) == first
    tbl.append(MORE)
    assert isinstance(first.version, int)
    again = provider.resolve(uri, version=first.version, storage_options=options)
    assert again.fingerprint == first.fingerprint
    assert provider.resolve(uri, storage_options=options).fingerprint != first.fingerprint


def test_tag_name_pins_the_snapshot_it_points_to(table: tuple[str, dict[str, str], Table]) -> None:
    uri, options, tbl = table
    first = current(tbl).snapshot_id
    tbl.manage_snapshots().create_tag(first, "baseline").commit()
    tbl.append(MORE)
    assert IcebergProvider().resolve(uri, version="baseline", storage_options=options).version == (
        first
    )


def test_bad_snapshot_id_lists_the_snapshots(table: tuple[str, dict[str, str], Table]) -> None:
    uri, options, tbl = table
    with pytest.raises(VersionNotFound) as caught:
        open_snapshot(uri, version=123, storage_options=options)
    assert str(current(tbl).snapshot_id) in caught.value.message
    assert "expire_snapshots" in (caught.value.hint or "")


def test_missing_table_and_unconfigured_catalog(
    tmp_path: Path, table: tuple[str, dict[str, str], Table]
) -> None:
    _, options, _ = table
    with pytest.raises(SnapshotNotFound, match="does not exist"):
        open_snapshot("iceberg://local/ml.nope", storage_options=options)
    with pytest.raises(SnapshotNotFound):
        open_snapshot("iceberg://local/other.nope", storage_options=options)
    with pytest.raises(SnapshotError, match="cannot be loaded") as caught:
        open_snapshot("iceberg://unconfigured_catalog_xyz/ml.train")
    assert "PYICEBERG_CATALOG__UNCONFIGURED_CATALOG_XYZ__URI" in (caught.value.hint or "")


def test_catalog_from_pyiceberg_environment(
    table: tuple[str, dict[str, str], Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, options, _ = table
    for key, value in options.items():
        monkeypatch.setenv(f"PYICEBERG_CATALOG__LOCAL__{key.upper()}", value)
    assert open_snapshot(uri).to_arrow().num_rows == 3


def test_removed_data_files_are_reported_without_reading(
    table: tuple[str, dict[str, str], Table],
) -> None:
    uri, options, tbl = table
    ref = open_snapshot(uri, storage_options=options).ref
    for name in os.listdir(tbl.location().removeprefix("file://") + "/data"):
        os.remove(tbl.location().removeprefix("file://") + "/data/" + name)
    with pytest.raises(SnapshotVacuumed, match="1 of 2 files are missing") as caught:
        reopen(ref, options)
    assert "create_tag" in (caught.value.hint or "")


def test_recreated_table_is_not_the_recorded_one(tmp_path: Path) -> None:
    uri, options, _ = make_table(tmp_path)
    ref = open_snapshot(uri, storage_options=options).ref
    from pyiceberg.catalog.sql import SqlCatalog

    SqlCatalog("local", **options).drop_table("ml.train")
    make_table(tmp_path)
    with pytest.raises(SnapshotError):
        reopen(ref, options)


@pytest.mark.parametrize(
    "uri", ["iceberg://local", "iceberg://local/train", "iceberg:///ml.train", "iceberg://a/b/c.d"]
)
def test_malformed_uris_say_the_form(uri: str) -> None:
    with pytest.raises(SnapshotError, match="not an Iceberg table uri"):
        parse_uri(uri)


def test_only_iceberg_uris_are_detected(tmp_path: Path) -> None:
    assert parse_uri("iceberg://prod/ml.features.train") == ("prod", "ml.features.train")
    uri, _, tbl = make_table(tmp_path)
    assert IcebergProvider().detects(uri)
    assert not IcebergProvider().detects(tbl.location())
    assert not IcebergProvider().detects(str(tmp_path / "warehouse"))
