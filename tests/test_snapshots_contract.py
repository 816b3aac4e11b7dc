"""Every provider in PROVIDERS honours the same contract, and the package-level helpers work."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

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
from tests.helpers.snapshots import catalog_options, dvc_commit, dvc_repo

ROWS = pa.table({"id": [1, 2, 3], "label": ["a", "b", "c"]})
MORE = pa.table({"id": [4], "label": ["d"]})


class Dataset(Protocol):
    """How the contract makes data in one format: a small factory per provider."""

    def create(self, rows: pa.Table) -> str:
        """A new data set holding rows; its uri."""
        ...

    def append(self, uri: str, rows: pa.Table) -> None: ...

    def copy(self, uri: str) -> str | None:
        """A copy that should pin the same content, or None where a copy is a new table."""
        ...

    def missing(self) -> str:
        """A uri the provider should report as SnapshotNotFound."""
        ...


class DeltaData:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = tmp_path

    def create(self, rows: pa.Table) -> str:
        write_deltalake(self.root / "data", rows, mode="error")
        return str(self.root / "data")

    def append(self, uri: str, rows: pa.Table) -> None:
        write_deltalake(uri, rows, mode="append")

    def copy(self, uri: str) -> str | None:
        return str(shutil.copytree(uri, self.root / "copy"))

    def missing(self) -> str:
        return str(self.root / "nope")


class FilesData(DeltaData):
    def create(self, rows: pa.Table) -> str:
        (self.root / "data").mkdir()
        self.append(str(self.root / "data"), rows)
        return str(self.root / "data")

    def append(self, uri: str, rows: pa.Table) -> None:
        pq.write_table(rows, Path(uri) / f"part-{len(os.listdir(uri))}.parquet")


class IcebergData:
    """A SqlCatalog on sqlite, configured through pyiceberg's own environment variables."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in catalog_options(tmp_path).items():
            monkeypatch.setenv(f"PYICEBERG_CATALOG__CONTRACT__{key.upper()}", value)
        self.options = catalog_options(tmp_path)

    def create(self, rows: pa.Table) -> str:
        from pyiceberg.catalog.sql import SqlCatalog

        catalog = SqlCatalog("contract", **self.options)
        catalog.create_namespace("ml")
        catalog.create_table("ml.train", schema=rows.schema).append(rows)
        return "iceberg://contract/ml.train"

    def append(self, uri: str, rows: pa.Table) -> None:
        from pyiceberg.catalog.sql import SqlCatalog

        SqlCatalog("contract", **self.options).load_table("ml.train").append(rows)

    def copy(self, uri: str) -> str | None:
        return None  # a table registered twice is two tables with their own snapshot ids

    def missing(self) -> str:
        return "iceberg://contract/ml.nope"


class DvcData(DeltaData):
    """A parquet file tracked with `dvc add` in a git + DVC repository."""

    def create(self, rows: pa.Table) -> str:
        path = dvc_repo(self.root / "repo") / "data.parquet"
        self._commit(path, rows)
        return str(path)

    def append(self, uri: str, rows: pa.Table) -> None:
        self._commit(Path(uri), pa.concat_tables([pq.read_table(uri), rows]))

    def copy(self, uri: str) -> str | None:
        shutil.copytree(self.root / "repo", self.root / "copy", symlinks=True)
        return str(self.root / "copy" / Path(uri).name)

    @staticmethod
    def _commit(path: Path, rows: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(rows, sink)
        dvc_commit(path, sink.getvalue().to_pybytes(), "data")


# A provider added to PROVIDERS without a factory here fails test_every_provider_has_a_factory.
FACTORIES: dict[str, Callable[[Path, pytest.MonkeyPatch], Dataset]] = {
    "delta": DeltaData,
    "iceberg": IcebergData,
    "dvc": DvcData,
    "files": FilesData,
}


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.format)
def provider(request: pytest.FixtureRequest) -> SnapshotProvider:
    return request.param


@pytest.fixture
def data(provider: SnapshotProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    return FACTORIES[provider.format](tmp_path, monkeypatch)


def test_every_provider_has_a_factory() -> None:
    assert {p.format for p in PROVIDERS} == set(FACTORIES)


def test_round_trip(provider: SnapshotProvider, data: Dataset) -> None:
    uri = data.create(ROWS)
    assert provider.detects(uri)
    ref = provider.resolve(uri)
    assert ref.format == provider.format and ref.uri == uri and ref.pinned
    provider.check_readable(ref)
    assert provider.read_arrow(ref).sort_by("id").equals(ROWS)
    assert provider.read_arrow(ref, columns=["label"]).column_names == ["label"]
    assert open_snapshot(uri).provider is provider


def test_fingerprint_stable_then_changes_with_data(
    provider: SnapshotProvider, data: Dataset
) -> None:
    uri = data.create(ROWS)
    first = provider.resolve(uri)
    assert provider.resolve(uri).fingerprint == first.fingerprint
    copy = data.copy(uri)
    if copy is not None:
        assert provider.resolve(copy).fingerprint == first.fingerprint
    data.append(uri, MORE)
    assert provider.resolve(uri).fingerprint != first.fingerprint


def test_pinned_ref_reads_the_same_rows_after_an_append(
    provider: SnapshotProvider, data: Dataset
) -> None:
    uri = data.create(ROWS)
    ref = provider.resolve(uri)
    data.append(uri, MORE)
    if ref.format == "files":  # plain files have no versions: the fingerprint only detects it
        return
    assert reopen(ref).to_arrow().sort_by("id").equals(ROWS)


def test_missing_path_is_snapshot_not_found(provider: SnapshotProvider, data: Dataset) -> None:
    uri = data.missing()
    with pytest.raises(SnapshotNotFound) as caught:
        provider.resolve(uri)
    assert uri in caught.value.message and caught.value.hint


def test_snapshot_handle_hides_storage_options_and_compares_by_ref(tmp_path: Path) -> None:
    path = tmp_path / "data"
    write_deltalake(path, ROWS)
    secret = {"AWS_SECRET_ACCESS_KEY": "hunter2"}
    snap = open_snapshot(str(path), storage_options=secret)
    assert "hunter2" not in repr(snap)
    assert snap == reopen(snap.ref) and isinstance(snap, Snapshot)
    assert hash(snap) == hash(reopen(snap.ref))


def test_provider_for_lists_known_formats() -> None:
    assert provider_for("delta").format == "delta"
    with pytest.raises(InputError, match="unknown snapshot format") as caught:
        provider_for("lance")
    assert "delta, iceberg, dvc, files" in (caught.value.hint or "")


def test_detection_prefers_delta_over_files(tmp_path: Path) -> None:
    write_deltalake(tmp_path / "table", ROWS)
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


def test_detection_never_guesses_iceberg_and_prefers_dvc_over_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ice").mkdir()
    IcebergData(tmp_path / "ice", monkeypatch).create(ROWS)
    # The warehouse folder is plain files to detection: only iceberg:// names an Iceberg table.
    assert open_snapshot(tmp_path / "ice" / "warehouse").ref.format == "files"
    path = DvcData(tmp_path, monkeypatch).create(ROWS)
    assert open_snapshot(path).ref.format == "dvc"
    assert open_snapshot(path, format="files").ref.format == "files"
