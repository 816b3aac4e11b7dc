"""FilesProvider on real files in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reprodiag.manifest.model import Skipped
from reprodiag.snapshots import (
    FilesProvider,
    SnapshotError,
    SnapshotNotFound,
    open_snapshot,
    reopen,
)
from reprodiag.snapshots.files import CHUNK_BYTES, fingerprint

FILES = FilesProvider()


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


CONTENT = {"a.txt": b"alpha", "sub/b.txt": b"beta", ".hidden": b"counted too"}


def test_resolve_records_a_fingerprint_and_skips_version(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", CONTENT)
    ref = FILES.resolve(str(root))
    assert ref.format == "files" and ref.uri == str(root)
    assert isinstance(ref.version, Skipped) and isinstance(ref.table_id, Skipped)
    assert str(ref.fingerprint).startswith("sha256:") and ref.pinned
    with pytest.raises(SnapshotError, match="no versions"):
        FILES.resolve(str(root), version=1)


def test_folder_digest_ignores_creation_order(tmp_path: Path) -> None:
    first = write_folder(tmp_path / "one", CONTENT)
    second = write_folder(tmp_path / "two", dict(reversed(list(CONTENT.items()))))
    assert fingerprint(str(first)) == fingerprint(str(second))


def test_digest_changes_when_one_byte_changes(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", CONTENT)
    before = fingerprint(str(root))
    (root / "sub/b.txt").write_bytes(b"bets")
    assert fingerprint(str(root)) != before


def test_digest_changes_when_a_file_is_renamed_or_bytes_move(tmp_path: Path) -> None:
    # Sizes are hashed with each file, so bytes moving across a file boundary change the digest.
    one = write_folder(tmp_path / "one", {"a": b"ab", "b": b"c"})
    two = write_folder(tmp_path / "two", {"a": b"a", "b": b"bc"})
    three = write_folder(tmp_path / "three", {"a": b"ab", "c": b"c"})
    assert len({fingerprint(str(p)) for p in (one, two, three)}) == 3


def test_streams_files_bigger_than_a_chunk(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        for i in range(3):
            handle.write(bytes([i]) * CHUNK_BYTES)
        handle.write(b"tail")
    before = FILES.resolve(str(big)).fingerprint
    with open(big, "r+b") as handle:  # one byte in the last chunk
        handle.seek(-1, os.SEEK_END)
        handle.write(b"!")
    assert FILES.resolve(str(big)).fingerprint != before


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SnapshotNotFound, match="does not exist") as caught:
        FILES.resolve(str(tmp_path / "nope"))
    assert caught.value.hint
    with pytest.raises(SnapshotNotFound):
        open_snapshot(tmp_path / "nope")


def test_check_readable_is_cheap_and_verify_detects_a_change(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", CONTENT)
    snap = reopen(FILES.resolve(str(root)))
    FILES.verify(snap.ref)
    (root / "a.txt").write_bytes(b"ALPHA")
    snap.check_readable()  # existence only: it does not notice the new bytes
    with pytest.raises(SnapshotError, match="content changed since capture"):
        FILES.verify(snap.ref)
    (root / "a.txt").unlink()
    (root / "sub/b.txt").unlink()
    (root / ".hidden").unlink()
    (root / "sub").rmdir()
    root.rmdir()
    with pytest.raises(SnapshotNotFound):
        snap.check_readable()


def test_symlinks_are_followed(tmp_path: Path) -> None:
    target = write_folder(tmp_path / "target", {"x.txt": b"x"})
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "x.txt").symlink_to(target / "x.txt")
    (linked / "loop").symlink_to(linked)  # a cycle is hashed once, not forever
    plain = write_folder(tmp_path / "plain", {"x.txt": b"x"})
    assert fingerprint(str(linked)) == fingerprint(str(plain))


def test_reads_parquet_csv_jsonl_and_parquet_folders(tmp_path: Path) -> None:
    table = pa.table({"id": [1, 2], "y": ["a", "b"]})
    pq.write_table(table, tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("id,y\n1,a\n2,b\n")
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in table.to_pylist()) + "\n")
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table.slice(0, 1), folder / "p0.parquet")
    pq.write_table(table.slice(1, 1), folder / "p1.parquet")
    (folder / "_SUCCESS").write_bytes(b"")
    for name in ("t.parquet", "t.csv", "t.jsonl", "parts"):
        read = open_snapshot(tmp_path / name).to_arrow()
        assert read.sort_by("id").to_pylist() == table.to_pylist(), name
        assert open_snapshot(tmp_path / name).to_arrow(columns=["y"]).column_names == ["y"]


def test_other_formats_are_refused_with_the_list(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SnapshotError, match="not in a format") as caught:
        open_snapshot(tmp_path / "notes.txt").to_arrow()
    assert ".parquet" in (caught.value.hint or "")
    mixed = write_folder(tmp_path / "mixed", {"a.parquet": b"", "b.csv": b""})
    with pytest.raises(SnapshotError, match="not in a format"):
        open_snapshot(mixed).to_arrow()


def test_object_store_uris_are_not_hashed(tmp_path: Path) -> None:
    assert not FILES.detects("s3://bucket/data")
    with pytest.raises(SnapshotError, match="local disk"):
        FILES.resolve("s3://bucket/data")
