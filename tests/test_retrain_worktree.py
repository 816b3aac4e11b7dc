"""The recorded code checked out (reprodiag.retrain.worktree) from real git repositories."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reprodiag.manifest.model import Patch, Skipped
from reprodiag.probes.git import EMPTY_DIFF_SHA256, probe_code
from reprodiag.retrain.worktree import CodeUnavailable, code_checkout, pipeline_code_dir
from tests.helpers.git import git


def _dirty_repo(git_repo) -> Path:  # type: ignore[no-untyped-def]
    root = git_repo(files={"train.py": "lr = 0.1\n", "src/pkg/__init__.py": ""})
    (root / "train.py").write_text("lr = 0.2\n")
    (root / "features.py").write_text("BONUS = 5\n")
    return root


def test_the_worktree_holds_the_commit_and_the_patch_and_is_reused(git_repo, tmp_path):
    root = _dirty_repo(git_repo)
    code = probe_code(root)
    folder = code_checkout(code, root, tmp_path / "cache")
    assert folder.parent == tmp_path / "cache" and folder.name.startswith(str(code.commit))
    assert (folder / "train.py").read_text() == "lr = 0.2\n"
    assert (folder / "features.py").read_text() == "BONUS = 5\n"
    rebuilt = probe_code(folder)
    assert (rebuilt.commit, rebuilt.diff_sha256) == (code.commit, code.diff_sha256)
    marker = folder / ".git"
    before = marker.stat().st_mtime_ns
    assert code_checkout(code, root, tmp_path / "cache") == folder  # reused, not rebuilt
    assert marker.stat().st_mtime_ns == before
    assert git(root, "status", "--porcelain") != ""  # the user's tree is left as it was


def test_a_worktree_something_wrote_into_is_rebuilt(git_repo, tmp_path):
    root = _dirty_repo(git_repo)
    code = probe_code(root)
    folder = code_checkout(code, root, tmp_path / "cache")
    (folder / "checkpoint.pt").write_text("a trainer wrote here\n")
    assert code_checkout(code, root, tmp_path / "cache") == folder
    assert not (folder / "checkpoint.pt").exists()
    assert probe_code(folder).diff_sha256 == code.diff_sha256


def test_a_clean_tree_is_checked_out_clean(git_repo, tmp_path):
    root = git_repo()
    code = probe_code(root)
    folder = code_checkout(code, root, tmp_path / "cache")
    assert folder.name.endswith("-clean")
    assert probe_code(folder).diff_sha256 == EMPTY_DIFF_SHA256


def test_concurrent_callers_share_one_build(git_repo, tmp_path):
    root = _dirty_repo(git_repo)
    code = probe_code(root)
    with ThreadPoolExecutor(4) as pool:
        folders = list(pool.map(lambda _: code_checkout(code, root, tmp_path / "c"), range(4)))
    assert len(set(folders)) == 1
    listed = git(root, "worktree", "list", "--porcelain")
    assert listed.count("worktree ") == 2  # the repository and one worktree, no leftovers
    assert [p.name for p in (tmp_path / "c").iterdir() if not p.name.endswith(".lock")] == [
        folders[0].name
    ]


def test_no_hook_of_the_repository_runs(git_repo, tmp_path):
    root = git_repo()
    hook = root / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {tmp_path / 'hook-ran'}\n")
    hook.chmod(0o755)
    code_checkout(probe_code(root), root, tmp_path / "cache")
    assert not (tmp_path / "hook-ran").exists()


def test_a_commit_the_repository_lacks(git_repo, tmp_path):
    root = git_repo()
    code = dataclasses.replace(probe_code(root), commit="0123456789" * 4)
    with pytest.raises(CodeUnavailable, match="0123456789012345678901234567890123456789 is not in"):
        code_checkout(code, root, tmp_path / "cache")


def test_a_patch_that_does_not_apply(git_repo, tmp_path):
    root = _dirty_repo(git_repo)
    code = probe_code(root)
    assert isinstance(code.patch, Patch)
    broken = code.patch.text.replace("-lr = 0.1", "-lr = 0.9")
    code = dataclasses.replace(code, patch=dataclasses.replace(code.patch, text=broken))
    with pytest.raises(CodeUnavailable, match="does not apply at the recorded commit") as caught:
        code_checkout(code, root, tmp_path / "cache")
    assert caught.value.hint  # what to do next
    assert [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"commit": Skipped("not a git repository: /x", "failed")}, "records no git commit"),
        (
            {"patch": Skipped("not recorded by this reprodiag version", "not_recorded")},
            "the change itself was not recorded: not recorded by this reprodiag version",
        ),
    ],
)
def test_what_cannot_be_rebuilt_says_why(git_repo, tmp_path, change, words):
    code = dataclasses.replace(probe_code(_dirty_repo(git_repo)), **change)
    with pytest.raises(CodeUnavailable, match=words):
        code_checkout(code, tmp_path, tmp_path / "cache")


def test_pipeline_code_dir_keeps_the_subfolder_and_skips_unrecorded_code(
    git_repo, tmp_path, monkeypatch
):
    root = _dirty_repo(git_repo)
    code = probe_code(root)
    folder = pipeline_code_dir(code, here=root / "src" / "pkg")
    assert folder is not None and folder.parts[-2:] == ("src", "pkg")
    assert ".git/reprodiag/worktrees" in folder.as_posix()  # kept in the repository's git folder
    no_commit = dataclasses.replace(code, commit=Skipped("not a git repository: /x", "failed"))
    assert pipeline_code_dir(no_commit, here=tmp_path) is None
