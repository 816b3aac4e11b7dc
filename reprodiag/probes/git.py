"""The code axis: git commit, branch, remote, dirty flag, uncommitted-diff digest, entrypoint, lock.

Git runs as a subprocess with an argument list (never a shell), as ``git -C <repo> ...``, with a
timeout and ``--no-optional-locks`` so a probe never blocks on, or takes, the index lock of a repo
another process is using. Each fact is its own function; one that fails is recorded as `Skipped`
with its reason and the others are still captured.

``diff_sha256`` is the sha256 of ``git diff HEAD --binary`` (fixed prefixes, no colour, no external
diff or textconv, no rename detection, so user config cannot change the bytes) followed by, for each
untracked non-ignored file in sorted path order, its path, a NUL byte, its content, a NUL byte. A
clean tree hashes the empty input: ``EMPTY_DIFF_SHA256``, the same value on every machine.

``patch`` keeps the uncommitted change itself, so a retrain can rebuild the tree as it ran
(reprodiag.retrain.worktree): the same ``git diff HEAD`` output, then, when there are untracked
files, the line `UNTRACKED_MARKER` and each untracked non-ignored file (sorted) as a new-file
patch (``git diff --no-index --binary /dev/null FILE``). The marker keeps the two apart because a
rebuild applies them differently (tracked changes into the index, untracked files only into the
folder): ``git apply`` skips it as a line between patches. Its sha256 is of the UTF-8 bytes. A
patch over `max_patch_bytes` (1 MiB, or REPRODIAG_MAX_PATCH_BYTES) is not kept: the fact is
Skipped with its size, and diff_sha256 still identifies the change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from reprodiag.manifest.model import CodeAxis, Fact, Patch, Skipped
from reprodiag.probes._probe import FactSkip, run_fact
from reprodiag.probes.lock import probe_lock

GIT_TIMEOUT_S = 20.0
T = TypeVar("T")
EMPTY_DIFF_SHA256 = f"sha256:{hashlib.sha256(b'').hexdigest()}"
_DIFF_ARGS = (
    "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
    "--src-prefix=a/", "--dst-prefix=b/",
)  # fmt: skip
# The same fixed flags for one untracked file as a new-file patch (--no-index: against /dev/null).
_NEW_FILE_ARGS = (
    "diff", "--no-index", "--binary", "--no-color", "--no-ext-diff", "--no-textconv",
    "--src-prefix=a/", "--dst-prefix=b/", "--", "/dev/null",
)  # fmt: skip
UNTRACKED_MARKER = "reprodiag: the files below were untracked (new files, not in the index)\n"
MAX_PATCH_BYTES = 1 << 20
MAX_PATCH_ENV = "REPRODIAG_MAX_PATCH_BYTES"


class GitSkip(FactSkip):
    """A git fact that cannot be captured; the message is the reason recorded in the manifest.

    By default git could not answer (kind failed); a fact the repository does not have (no remote,
    no commit yet, no branch on a detached HEAD) is not_applicable.
    """

    default_kind = "failed"


class GitError(GitSkip):
    """git ran and exited non-zero; kept apart so callers can read its exit code and stderr."""

    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"git failed ({returncode}): {stderr}")
        self.returncode = returncode
        self.stderr = stderr


def probe_code(root: str | Path, entrypoint: str | None = None) -> CodeAxis:
    """Capture the code axis of the project at ``root`` (any folder inside the repository)."""
    root = Path(root).absolute()
    top = run_fact(repo_toplevel, root)
    if isinstance(top, Skipped):
        facts: dict[str, Fact[object]] = {name: top for name, _ in GIT_FACTS}
    else:
        facts = {name: run_fact(probe, top) for name, probe in GIT_FACTS}
    return CodeAxis(
        **facts,  # type: ignore[arg-type]
        entrypoint=entrypoint if entrypoint else Skipped("no entrypoint given", "not_given"),
        lock=probe_lock(root if isinstance(top, Skipped) else top),
    )


def git(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> bytes:
    """Run ``git -C root args...`` and return its stdout; raise `GitSkip` when git cannot answer
    (an exit status outside `ok`)."""
    cmd = ["git", "--no-optional-locks", "-C", str(root), *args]
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=GIT_TIMEOUT_S, env=env, check=False)
    except FileNotFoundError as e:
        raise GitSkip("git is not installed (no `git` executable on PATH)") from e
    except subprocess.TimeoutExpired as e:
        raise GitSkip(f"git {args[0]} took longer than {GIT_TIMEOUT_S:g} s in {root}") from e
    if done.returncode not in ok:
        raise GitError(done.returncode, done.stderr.decode(errors="replace").strip())
    return done.stdout


def git_text(root: Path, *args: str) -> str:
    """Run ``git -C root args...`` and return its stdout as stripped text (bad UTF-8 replaced)."""
    return git(root, *args).decode(errors="replace").strip()


def repo_toplevel(root: Path) -> Path:
    """The repository's top folder, or `GitSkip` saying why ``root`` is not usable as one."""
    if not root.is_dir():
        raise GitSkip(f"folder does not exist: {root}")
    try:
        return Path(git_text(root, "rev-parse", "--show-toplevel"))
    except GitError as e:
        if "dubious ownership" in e.stderr:
            raise GitSkip(
                f"git refuses the repository at {root}: it belongs to another user. "
                f"Trust it with: git config --global --add safe.directory {root}"
            ) from e
        raise GitSkip(f"not a git repository: {root}") from e


def commit(top: Path) -> str:
    """The full sha of HEAD; raises GitSkip when the repository has no commits yet."""
    try:
        return git_text(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except GitError as e:
        raise GitSkip("repository has no commits yet", "not_applicable") from e


def branch(top: Path) -> str:
    """The checked-out branch's short name; raises GitSkip on a detached HEAD, naming its commit."""
    try:
        return git_text(top, "symbolic-ref", "--quiet", "--short", "HEAD")
    except GitError as e:
        if e.returncode != 1:  # 1 is "HEAD is not a symbolic ref", i.e. detached
            raise
        raise GitSkip(f"detached HEAD at {commit(top)}", "not_applicable") from e


def remote(top: Path) -> str:
    """The URL of ``origin``, else of the first remote, with any credentials stripped."""
    names = git_text(top, "remote").split()
    if not names:
        raise GitSkip("no git remote configured", "not_applicable")
    name = "origin" if "origin" in names else names[0]
    return strip_credentials(git_text(top, "remote", "get-url", name))


def strip_credentials(url: str) -> str:
    """Remove secrets from a remote URL before it is written into a manifest.

    http(s): the whole user-info part goes (``https://TOKEN@host`` puts the token in the user name)
    and so do the query and fragment (``?private_token=...``). Other schemes (ssh://git:pw@host):
    only a password goes; the user name (``git``) is not a secret. scp-like ``git@host:org/repo``
    and local paths carry no password and are kept as they are.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if parts.scheme.lower() in ("http", "https"):
        return urlunsplit((parts.scheme, hostport, parts.path, "", ""))
    if not at:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}@{hostport}", parts.path, parts.query, parts.fragment))


def dirty(top: Path) -> bool:
    """Tracked changes (staged or not) or untracked files that are not ignored."""
    return bool(git(top, "status", "--porcelain=v1", "--untracked-files=all", "-z"))


def diff_sha256(top: Path) -> str:
    """The digest of the uncommitted changes; `EMPTY_DIFF_SHA256` for a clean tree."""
    commit(top)  # a diff against HEAD needs a HEAD: "repository has no commits yet"
    digest = hashlib.sha256(git(top, *_DIFF_ARGS))
    listing = git(top, "ls-files", "--others", "--exclude-standard", "-z")
    for rel in sorted(p for p in listing.split(b"\0") if p):
        digest.update(rel + b"\0")
        digest.update(_untracked_content(top / os.fsdecode(rel)))
        digest.update(b"\0")
    return f"sha256:{digest.hexdigest()}"


def max_patch_bytes() -> int:
    """The largest patch a manifest keeps: REPRODIAG_MAX_PATCH_BYTES when set, else 1 MiB."""
    text = os.environ.get(MAX_PATCH_ENV, "").strip()
    try:
        return int(text) if text else MAX_PATCH_BYTES
    except ValueError:
        raise GitSkip(
            f"{MAX_PATCH_ENV}={text!r} is not a number of bytes; unset it or give one"
        ) from None


def patch(top: Path) -> Patch:
    """The uncommitted change itself (module docstring: format, cap); not_applicable when clean."""
    commit(top)  # a diff against HEAD needs a HEAD: "repository has no commits yet"
    cap = max_patch_bytes()
    parts = [git(top, *_DIFF_ARGS)]
    listing = git(top, "ls-files", "--others", "--exclude-standard", "-z")
    untracked = sorted(p for p in listing.split(b"\0") if p)
    if untracked:
        parts.append(UNTRACKED_MARKER.encode())
    size = sum(map(len, parts))
    for rel in untracked:
        if size > cap:
            break
        path = top / os.fsdecode(rel)
        if not path.is_symlink() and path.is_dir():
            raise GitSkip(
                f"the untracked folder {os.fsdecode(rel)} is a nested repository: a patch cannot "
                "hold it, so a retrain cannot rebuild this tree (commit or remove it)",
                "not_recorded",
            )
        parts.append(git(top, *_NEW_FILE_ARGS, os.fsdecode(rel), ok=(0, 1)))  # 1: they differ
        size += len(parts[-1])
    if size == 0:
        raise GitSkip("the tree is clean: there is no uncommitted change", "not_applicable")
    if size > cap:
        raise GitSkip(
            f"the uncommitted change is {size:,} bytes{' or more' if untracked else ''}, over the "
            f"{cap:,}-byte cap for a kept patch ({MAX_PATCH_ENV}): diff_sha256 identifies it, but "
            "a retrain cannot rebuild it (commit the change, or raise the cap)",
            "not_recorded",
        )
    data = b"".join(parts)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GitSkip(
            f"the uncommitted change is not UTF-8 text (byte {e.start} of the patch): a retrain "
            "cannot rebuild it; commit the change or mark the file binary in .gitattributes",
            "failed",
        ) from None
    return Patch(text=text, sha256=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data))


def split_patch(text: str) -> tuple[str, str]:
    """A recorded patch's two parts: the tracked changes and the untracked files (either "")."""
    if text.startswith(UNTRACKED_MARKER):
        return "", text[len(UNTRACKED_MARKER) :]
    tracked, marker, untracked = text.partition("\n" + UNTRACKED_MARKER)
    return (tracked + "\n", untracked) if marker else (text, "")


def _untracked_content(path: Path) -> bytes:
    if path.is_symlink():  # hash the link, not what it points to (which may be outside the repo)
        return b"symlink:" + os.fsencode(os.readlink(path))
    if path.is_file():
        return path.read_bytes()
    return b""  # a nested repository shows up as its folder: its name is all git reports


# The git facts of the code axis, in manifest order (entrypoint and lock are not git facts).
GIT_FACTS: tuple[tuple[str, Callable[[Path], object]], ...] = (
    ("commit", commit),
    ("branch", branch),
    ("remote", remote),
    ("dirty", dirty),
    ("diff_sha256", diff_sha256),
    ("patch", patch),
)
