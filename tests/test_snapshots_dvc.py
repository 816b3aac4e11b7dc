"""DVC snapshots in a real git + DVC repository in tmp_path (no remote, no network)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from reprodiag.snapshots import (
    DvcProvider,
    SnapshotError,
    SnapshotNotFound,
    SnapshotVacuumed,
    VersionNotFound,
    open_snapshot,
    reopen,
)
from tests.helpers.git import git
from tests.helpers.snapshots import dvc, dvc_commit, dvc_repo

FIRST = "id,label\n1,a\n2,b\n3,c\n"
SECOND = FIRST + "4,d\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """data.csv at two commits, 3 rows then 4; built once (the DVC CLI costs ~0.6 s a call)."""
    root = dvc_repo(tmp_path_factory.mktemp("template") / "repo")
    first = dvc_commit(root / "data.csv", FIRST, "three rows")
    second = dvc_commit(root / "data.csv", SECOND, "four rows")
    return root, first, second


@pytest.fixture
def history(template: tuple[Path, str, str], tmp_path: Path) -> tuple[Path, str, str]:
    """A copy of the template repository that a test may change (same commits, same cache)."""
    root, first, second = template
    shutil.copytree(root, tmp_path / "repo", symlinks=True)
    return tmp_path / "repo" / "data.csv", first, second


def test_resolves_and_reads_each_commit(history: tuple[Path, str, str]) -> None:
    path, first, second = history
    latest = open_snapshot(path)
    assert latest.ref.format == "dvc" and latest.ref.uri == str(path)
    assert latest.ref.version == second and str(latest.ref.fingerprint).startswith("dvc-md5:")
    old = open_snapshot(path, version=first)
    assert old.ref.fingerprint != latest.ref.fingerprint
    assert open_snapshot(path, version=first[:7]).ref == old.ref
    assert old.to_arrow().column("id").to_pylist() == [1, 2, 3]
    assert latest.to_arrow(columns=["label"]).column("label").to_pylist() == list("abcd")
    assert open_snapshot(path, version="HEAD~1").ref.version == first


def test_fingerprint_is_dvc_own_hash(history: tuple[Path, str, str]) -> None:
    path, _, second = history
    import yaml

    md5 = yaml.safe_load(Path(f"{path}.dvc").read_text())["outs"][0]["md5"]
    assert open_snapshot(path).ref.fingerprint == f"dvc-md5:{md5}"


def test_reads_the_pinned_commit_not_the_working_copy(history: tuple[Path, str, str]) -> None:
    path, first, _ = history
    ref = open_snapshot(path, version=first).ref
    path.write_text("id,label\n9,z\n")
    assert reopen(ref).to_arrow().num_rows == 3


def test_missing_revision_and_untracked_paths(history: tuple[Path, str, str]) -> None:
    path, _, _ = history
    with pytest.raises(VersionNotFound) as caught:
        open_snapshot(path, version="no-such-branch")
    assert "no-such-branch" in caught.value.message and caught.value.hint
    with pytest.raises(VersionNotFound, match="not tracked by DVC at commit"):
        open_snapshot(path, version="HEAD~2")  # the `dvc init` commit, before `dvc add`
    (path.parent / "notes.txt").write_text("x")
    assert not DvcProvider().detects(str(path.parent / "notes.txt"))
    with pytest.raises(SnapshotNotFound, match="is not tracked by DVC"):
        DvcProvider().resolve(str(path.parent / "notes.txt"))


def test_uncommitted_dvc_add_is_refused(history: tuple[Path, str, str]) -> None:
    path, _, second = history
    path.write_text(SECOND + "5,e\n")
    dvc(path.parent, "add", "-q", path.name)
    with pytest.raises(SnapshotError, match="uncommitted changes") as caught:
        open_snapshot(path)
    assert "git commit" in (caught.value.hint or "")
    assert open_snapshot(path, version="HEAD").ref.version == second


def test_content_gone_from_the_cache_is_reported(history: tuple[Path, str, str]) -> None:
    path, first, _ = history
    ref = open_snapshot(path, version=first).ref
    reopen(ref)
    shutil.rmtree(path.parent / ".dvc" / "cache")
    with pytest.raises(SnapshotVacuumed, match="not in the DVC cache") as caught:
        reopen(ref)
    assert "dvc gc --all-commits" in (caught.value.hint or "")


def test_pipeline_outputs_in_dvc_lock_are_tracked(tmp_path: Path) -> None:
    root = dvc_repo(tmp_path / "repo")
    (root / "make.py").write_text("open('out.csv', 'w').write('id\\n1\\n2\\n')\n")
    dvc(
        root,
        "stage",
        "add",
        "-q",
        "-n",
        "make",
        "-d",
        "make.py",
        "-o",
        "out.csv",
        f"{sys.executable} make.py",
    )
    dvc(root, "repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pipeline")
    snap = open_snapshot(root / "out.csv")
    assert snap.ref.format == "dvc" and snap.to_arrow().num_rows == 2
