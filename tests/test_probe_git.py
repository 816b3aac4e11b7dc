"""The code-axis probe against real git repositories made in tmp_path."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from reprodiag.manifest.model import LockRef, Patch, Skipped
from reprodiag.probes import git as git_probe
from reprodiag.probes.git import EMPTY_DIFF_SHA256, probe_code, split_patch, strip_credentials
from tests.helpers.git import git

GIT_FIELDS = ("commit", "branch", "remote", "dirty", "diff_sha256")


def test_clean_repository(git_repo):
    root = git_repo()
    code = probe_code(root, "train:main")
    assert code.commit == git(root, "rev-parse", "HEAD")
    assert code.branch == "main"
    assert code.remote == Skipped("no git remote configured", "not_applicable")
    assert code.dirty is False
    assert code.diff_sha256 == EMPTY_DIFF_SHA256 == f"sha256:{hashlib.sha256(b'').hexdigest()}"
    assert code.entrypoint == "train:main"
    assert isinstance(code.lock, LockRef)


def test_no_entrypoint_is_skipped(git_repo):
    assert probe_code(git_repo()).entrypoint == Skipped("no entrypoint given", "not_given")


def test_subfolder_probes_the_repository_and_its_root_lock(git_repo):
    root = git_repo(files={"uv.lock": "version = 1\n", "src/pkg/train.py": "x = 1\n"})
    code = probe_code(root / "src" / "pkg")
    assert code.commit == git(root, "rev-parse", "HEAD")
    assert code.lock == LockRef("uv.lock", "uv.lock", _sha(b"version = 1\n"))


def test_branch_name_follows_checkout(git_repo):
    root = git_repo()
    git(root, "checkout", "-q", "-b", "feature/seed-replay")
    assert probe_code(root).branch == "feature/seed-replay"


def test_detached_head_is_skipped_with_the_commit(git_repo):
    root = git_repo()
    sha = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "--detach")
    code = probe_code(root)
    assert code.branch == Skipped(f"detached HEAD at {sha}", "not_applicable")
    assert code.commit == sha


def test_remote_credentials_are_stripped(git_repo):
    root = git_repo()
    git(root, "remote", "add", "origin", "https://alice:ghp_s3cret@github.com/org/model.git")
    code = probe_code(root)
    assert code.remote == "https://github.com/org/model.git"
    assert "s3cret" not in repr(code)


def test_origin_is_preferred_else_the_first_remote(git_repo):
    root = git_repo()
    git(root, "remote", "add", "upstream", "git@github.com:up/model.git")
    assert probe_code(root).remote == "git@github.com:up/model.git"
    git(root, "remote", "add", "origin", "ssh://git@example.com/me/model.git")
    assert probe_code(root).remote == "ssh://git@example.com/me/model.git"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host.example/org/r.git", "https://host.example/org/r.git"),
        ("https://ghp_token@github.com/org/r.git", "https://github.com/org/r.git"),
        ("https://oauth2:tok@gitlab.example:8443/r.git", "https://gitlab.example:8443/r.git"),
        ("https://host.example/r.git?private_token=abc", "https://host.example/r.git"),
        ("ssh://git:pw@host.example/org/r.git", "ssh://git@host.example/org/r.git"),
        ("ssh://git@host.example/org/r.git", "ssh://git@host.example/org/r.git"),
        ("git@github.com:org/r.git", "git@github.com:org/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
        ("https://github.com/org/r.git", "https://github.com/org/r.git"),
    ],
)
def test_strip_credentials(url, expected):
    assert strip_credentials(url) == expected


def test_tracked_change_makes_tree_dirty_with_a_stable_digest(git_repo):
    root = git_repo()
    (root / "train.py").write_text("print('changed')\n")
    first = probe_code(root)
    assert first.dirty is True
    assert first.diff_sha256 != EMPTY_DIFF_SHA256
    assert probe_code(root).diff_sha256 == first.diff_sha256
    (root / "train.py").write_text("print('changed again')\n")
    assert probe_code(root).diff_sha256 != first.diff_sha256
    git(root, "checkout", "--", "train.py")
    assert probe_code(root).diff_sha256 == EMPTY_DIFF_SHA256


def test_staged_change_counts(git_repo):
    root = git_repo()
    (root / "train.py").write_text("print('staged')\n")
    git(root, "add", "train.py")
    code = probe_code(root)
    assert code.dirty is True and code.diff_sha256 != EMPTY_DIFF_SHA256


def test_untracked_files_count_by_content_and_ignored_ones_do_not(git_repo):
    root = git_repo(files={"train.py": "x = 1\n", ".gitignore": "*.log\n"})
    (root / "run.log").write_text("ignored\n")
    assert (probe_code(root).dirty, probe_code(root).diff_sha256) == (False, EMPTY_DIFF_SHA256)
    (root / "notes.py").write_text("a = 1\n")
    with_untracked = probe_code(root)
    assert with_untracked.dirty is True
    assert with_untracked.diff_sha256 == _sha(b"notes.py\0a = 1\n\0")  # the documented framing
    (root / "notes.py").write_text("a = 2\n")
    assert probe_code(root).diff_sha256 != with_untracked.diff_sha256


def test_digest_ignores_user_diff_config(git_repo):
    root = git_repo()
    (root / "train.py").write_text("print('changed')\n")
    before = probe_code(root).diff_sha256
    git(root, "config", "diff.noprefix", "true")
    git(root, "config", "color.diff", "always")
    assert probe_code(root).diff_sha256 == before


def test_repository_with_no_commits(tmp_path):
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("x = 1\n")
    code = probe_code(root)
    assert code.commit == Skipped("repository has no commits yet", "not_applicable")
    assert code.diff_sha256 == Skipped("repository has no commits yet", "not_applicable")
    assert code.branch == "main"
    assert code.dirty is True


def test_folder_that_is_not_a_repository(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    code = probe_code(tmp_path, "train.py")
    for name in GIT_FIELDS:
        assert getattr(code, name) == Skipped(f"not a git repository: {tmp_path}", "failed")
    assert code.entrypoint == "train.py"
    assert code.lock == LockRef(
        "requirements", "requirements.txt", _sha(b"numpy==2.0\n"), {"numpy": "2.0"}
    )


def test_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    assert probe_code(missing).commit == Skipped(f"folder does not exist: {missing}", "failed")


def test_missing_git_binary(git_repo, monkeypatch, tmp_path):
    root = git_repo()
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))  # git really is absent from this PATH
    code = probe_code(root)
    for name in GIT_FIELDS:
        assert getattr(code, name) == Skipped(
            "git is not installed (no `git` executable on PATH)", "failed"
        )


def test_one_failing_probe_does_not_sink_the_others(git_repo, monkeypatch):
    def broken(top: Path) -> str:
        raise RuntimeError("remote exploded")

    facts = tuple((n, broken if n == "remote" else p) for n, p in git_probe.GIT_FACTS)
    monkeypatch.setattr(git_probe, "GIT_FACTS", facts)
    root = git_repo()
    code = probe_code(root)
    assert code.remote == Skipped("probe failed: RuntimeError: remote exploded", "failed")
    assert code.commit == git(root, "rev-parse", "HEAD")
    assert code.dirty is False


def _sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


# -- the kept patch (code.patch) ---------------------------------------------------------------


def test_a_clean_tree_keeps_no_patch(git_repo):
    code = probe_code(git_repo())
    assert code.patch == Skipped(
        "the tree is clean: there is no uncommitted change", "not_applicable"
    )


def test_the_patch_rebuilds_the_tree_in_a_clone(git_repo, tmp_path):
    """Tracked edits (text and binary), a staged new file, an untracked file and symlink: the
    patch applied to a clone at the commit gives a tree with the same diff digest."""
    root = git_repo(files={"train.py": "lr = 0.1\n", "w.bin": "\0\1", ".gitignore": "*.log\n"})
    (root / "train.py").write_text("lr = 0.2\n")
    (root / "w.bin").write_bytes(b"\0\2\3")
    (root / "staged.py").write_text("x = 1\n")
    git(root, "add", "staged.py")
    (root / "features.py").write_text("BONUS = 5\n")
    (root / "link").symlink_to("train.py")
    (root / "ignored.log").write_text("not part of it\n")
    code = probe_code(root)
    kept = code.patch
    assert isinstance(kept, Patch)
    assert kept.sha256 == _sha(kept.text.encode()) and kept.size == len(kept.text.encode())
    assert git_probe.UNTRACKED_MARKER in kept.text and "ignored.log" not in kept.text
    tracked, untracked = split_patch(kept.text)
    assert "staged.py" in tracked and "features.py" in untracked and "link" in untracked
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    run_git = ["git", "-C", str(clone), "apply", "--binary"]
    subprocess.run([*run_git, "--index", "-"], input=tracked.encode(), check=True)
    subprocess.run([*run_git, "-"], input=untracked.encode(), check=True)
    assert probe_code(clone).diff_sha256 == code.diff_sha256
    assert probe_code(clone).patch == kept


def test_a_patch_over_the_cap_is_not_kept_and_says_its_size(git_repo, monkeypatch):
    root = git_repo()
    (root / "train.py").write_text("x = 1\n" * 100)
    monkeypatch.setenv("REPRODIAG_MAX_PATCH_BYTES", "64")
    code = probe_code(root)
    assert isinstance(code.patch, Skipped) and code.patch.kind == "not_recorded"
    assert "over the 64-byte cap" in code.patch.reason and "bytes" in code.patch.reason
    assert code.diff_sha256 != EMPTY_DIFF_SHA256  # still identified by its digest
    monkeypatch.setenv("REPRODIAG_MAX_PATCH_BYTES", "lots")
    bad = probe_code(root).patch
    assert isinstance(bad, Skipped) and "REPRODIAG_MAX_PATCH_BYTES='lots'" in bad.reason


def test_a_patch_that_is_not_utf8_is_not_kept(git_repo):
    root = git_repo(files={"notes.txt": "caf\xe9\n"})
    (root / "notes.txt").write_bytes("café latin-1\n".encode("latin-1"))
    kept = probe_code(root).patch
    assert isinstance(kept, Skipped) and kept.kind == "failed" and "not UTF-8" in kept.reason


def test_an_untracked_nested_repository_cannot_be_kept(git_repo):
    root = git_repo()
    nested = root / "vendor"
    nested.mkdir()
    git(nested, "init", "-q")
    kept = probe_code(root).patch
    assert isinstance(kept, Skipped) and "nested repository" in kept.reason


def test_split_patch_of_each_shape():
    marker = git_probe.UNTRACKED_MARKER
    assert split_patch("diff --git a/x b/x\n") == ("diff --git a/x b/x\n", "")
    assert split_patch(marker + "diff --git a/y b/y\n") == ("", "diff --git a/y b/y\n")
    both = "diff --git a/x b/x\n" + marker + "diff --git a/y b/y\n"
    assert split_patch(both) == ("diff --git a/x b/x\n", "diff --git a/y b/y\n")
