"""The recorded code, checked out: a cached git worktree at a manifest's commit with its patch.

`code_checkout(code, repo, cache)` returns a folder holding exactly the code a run was captured
from: ``git worktree add --detach`` at ``code.commit``, then the recorded uncommitted change
(``code.patch``, reprodiag.probes.git) applied with ``git apply --binary`` (tracked changes into
the index, untracked files only into the folder, as they were). The folder is
``cache/<commit>-<first 12 hex of the patch digest>`` (``-clean`` for a clean tree) and is reused
while it still holds that code: its HEAD is the commit and its diff digest the recorded one (a
trainer that wrote into it, or anything else, makes it rebuilt). It is built in a temporary folder
and moved into place by ``git worktree move``; a lock file per folder makes concurrent callers
(workers, processes) wait for one build instead of racing.

git runs with an argument list (never a shell), with ``core.hooksPath=/dev/null`` so no hook of the
user's repository runs, without a terminal prompt, and with a timeout. Whatever prevents the
checkout (no commit recorded, the commit is not in the repository, the patch was not recorded or
does not apply) raises `CodeUnavailable` saying which and what to do.

`pipeline_code_dir(code, repo=None)` is what retrains use: the worktree, kept under the
repository's own git folder (``<git common dir>/reprodiag/worktrees``), at the same place relative
to its top as the current folder is in the repository; the current folder itself when the
worktree cannot be built but the current folder holds exactly the recorded code (same commit,
same diff digest); None when the manifest records no commit (nothing to check out: the retrain
runs here and its identity check notes the code as unrecorded).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from reprodiag.errors import InputError
from reprodiag.manifest.model import CodeAxis, Patch, Skipped
from reprodiag.probes.git import EMPTY_DIFF_SHA256, diff_sha256, patch, split_patch

GIT_TIMEOUT_S = 120.0
_SAFE_CONFIG = (
    "-c", "core.hooksPath=/dev/null",  # no post-checkout (or any) hook of the user's repository
    "-c", "core.fsmonitor=false",
    "-c", "advice.detachedHead=false",
)  # fmt: skip


class CodeUnavailable(InputError):
    """The recorded code cannot be checked out; the message says why, the hint what to do."""


def code_checkout(code: CodeAxis, repo: str | Path, cache: str | Path) -> Path:
    """A folder with the code `code` records (its commit, its patch applied), from `repo`.

    `repo`: any folder of the git repository the run was captured from (or a clone holding the
    commit); `cache`: where the worktrees are kept (created when missing). Raises
    `CodeUnavailable` when the code cannot be rebuilt; never returns a folder that does not hold
    it.
    """
    commit, change = recorded_code(code)
    repo = Path(repo).absolute()
    _check_commit(repo, commit)
    cache = Path(cache).absolute()
    cache.mkdir(parents=True, exist_ok=True)
    name = f"{commit}-{change.sha256.removeprefix('sha256:')[:12] if change else 'clean'}"
    final = cache / name
    with _locked(cache / f".{name}.lock"):
        if final.exists():
            if _holds(final, commit, code, change):
                return final
            _remove(repo, final)
        _git(repo, "worktree", "prune")  # forget worktrees whose folder a killed build left behind
        temp = cache / f".build-{name}-{uuid.uuid4().hex[:8]}"
        try:
            _git(repo, "worktree", "add", "--detach", "--quiet", str(temp), commit)
            if change is not None:
                _apply(temp, change)
            if not _holds(temp, commit, code, change):
                raise CodeUnavailable(
                    f"the worktree rebuilt at {commit[:12]} does not hold the recorded change "
                    f"(its diff digest is {_digest(temp)}, the manifest's "
                    f"{_known(code.diff_sha256)})",
                    hint="the patch applied but gave another tree (line endings, filters or "
                    "file modes of this repository); commit the change and capture again",
                )
            _git(repo, "worktree", "move", str(temp), str(final))
        except BaseException:
            _remove(repo, temp)
            raise
    return final


def pipeline_code_dir(
    code: CodeAxis, repo: str | Path | None = None, here: str | Path | None = None
) -> Path | None:
    """The folder a retrain of the pipeline whose code axis is `code` runs in (module docstring).

    `repo`: the git repository to check the commit out from (None: the one holding `here`);
    `here`: the current folder (None: ``Path.cwd()``). Raises `CodeUnavailable` when the code can
    be neither checked out nor found here.
    """
    if not isinstance(code.commit, str):
        return None
    here = Path(here if here is not None else Path.cwd()).absolute()
    source = Path(repo).absolute() if repo is not None else here
    try:
        top, cache = _repository(source, code.commit)
        folder = code_checkout(code, top, cache)
    except CodeUnavailable as e:
        if _is_recorded_code(here, code):
            return here
        raise CodeUnavailable(
            f"{e.message}; the current folder {here} does not hold the recorded code either",
            hint=e.hint,
        ) from None
    with contextlib.suppress(ValueError):
        inside = folder / here.resolve().relative_to(top.resolve())
        if inside.is_dir():
            return inside
    return folder


def _repository(source: Path, commit: str) -> tuple[Path, Path]:
    """The top folder of the repository holding `source`, and its worktree cache."""
    try:
        top = Path(_git(source, "rev-parse", "--show-toplevel").strip())
        common = Path(_git(source, "rev-parse", "--git-common-dir").strip())
    except CodeUnavailable as e:
        raise CodeUnavailable(
            f"{source} is not inside a git repository, so the recorded commit {commit[:12]} "
            "cannot be checked out",
            hint="run from the repository the runs were trained from, or pass --repo PATH",
        ) from e
    return top, (common if common.is_absolute() else source / common) / "reprodiag" / "worktrees"


def _is_recorded_code(folder: Path, code: CodeAxis) -> bool:
    """True when `folder`'s repository is at the recorded commit with the recorded diff digest."""
    try:
        top = Path(_git(folder, "rev-parse", "--show-toplevel").strip())
        head = _git(top, "rev-parse", "HEAD").strip()
        return head == code.commit and _digest(top) == code.diff_sha256
    except Exception:
        return False


def recorded_code(code: CodeAxis) -> tuple[str, Patch | None]:
    """The commit and the patch (None: a clean tree) a manifest's code axis records; raises
    `CodeUnavailable` when they are not enough to rebuild the code."""
    if not isinstance(code.commit, str):
        raise CodeUnavailable(
            f"the manifest records no git commit ({code.commit.reason})",
            hint="capture training runs from inside a git repository with at least one commit",
        )
    if isinstance(code.patch, Patch):
        return code.commit, code.patch
    if code.diff_sha256 == EMPTY_DIFF_SHA256 or (
        code.dirty is False and not isinstance(code.diff_sha256, str)
    ):
        return code.commit, None
    why = (
        code.patch.reason
        if code.dirty is True or isinstance(code.diff_sha256, str)
        else f"whether the tree was clean is not recorded ({_reason(code.dirty)})"
    )
    raise CodeUnavailable(
        f"the run was captured from a tree with uncommitted changes at {code.commit[:12]}, and "
        f"the change itself was not recorded: {why}",
        hint="commit the change before training (a clean tree is always rebuildable), or retrain "
        "from the folder that still holds it",
    )


def _check_commit(repo: Path, commit: str) -> None:
    try:
        _git(repo, "rev-parse", "--show-toplevel")
    except CodeUnavailable as e:
        raise CodeUnavailable(
            f"{repo} is not a git repository, so the recorded commit {commit[:12]} cannot be "
            "checked out",
            hint="run from the repository the runs were trained from, or pass --repo PATH",
        ) from e
    try:
        _git(repo, "cat-file", "-e", f"{commit}^{{commit}}")
    except CodeUnavailable as e:
        raise CodeUnavailable(
            f"the recorded commit {commit} is not in the repository at {repo}",
            hint="git fetch the branch the run was trained from (or pass --repo with a clone "
            "that has it)",
        ) from e


def _apply(folder: Path, change: Patch) -> None:
    tracked, untracked = split_patch(change.text)
    for part, args in ((tracked, ("--index",)), (untracked, ())):
        if not part:
            continue
        try:
            _git(folder, "apply", "--binary", "--whitespace=nowarn", *args, "-", stdin=part)
        except CodeUnavailable as e:
            raise CodeUnavailable(
                f"the recorded patch ({change.size:,} bytes, {change.sha256}) does not apply at "
                f"the recorded commit: {e.message}",
                hint="the manifest's patch and commit disagree (edited by hand, or captured by "
                "another tool); retrain from the folder that still holds the change",
            ) from None


def _holds(folder: Path, commit: str, code: CodeAxis, change: Patch | None) -> bool:
    """True when `folder` is at `commit` with exactly the recorded change (by its diff digest, or
    by the patch's own digest when the manifest has no diff digest)."""
    try:
        if _git(folder, "rev-parse", "HEAD").strip() != commit:
            return False
        if isinstance(code.diff_sha256, str):
            return _digest(folder) == code.diff_sha256
        if change is None:
            return _digest(folder) == EMPTY_DIFF_SHA256
        return patch(folder).sha256 == change.sha256
    except Exception:  # a broken or half-built folder does not hold the code: rebuild it
        return False


def _digest(folder: Path) -> str:
    return diff_sha256(folder)


def _remove(repo: Path, folder: Path) -> None:
    if not folder.exists() and not folder.is_symlink():
        return
    with contextlib.suppress(CodeUnavailable):
        _git(repo, "worktree", "remove", "--force", "--force", str(folder))
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(CodeUnavailable):
        _git(repo, "worktree", "prune")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created when missing) for the block; other processes wait."""
    import fcntl

    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _git(folder: Path, *args: str, stdin: str | None = None) -> str:
    cmd = ["git", *_SAFE_CONFIG, "-C", str(folder), *args]
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            cmd,
            input=stdin.encode("utf-8") if stdin is not None else None,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            env=env,
            check=False,
        )
    except FileNotFoundError as e:
        raise CodeUnavailable(
            "git is not installed (no `git` executable on PATH)",
            hint="install git to retrain the recorded code",
        ) from e
    except subprocess.TimeoutExpired as e:
        raise CodeUnavailable(f"git {args[0]} took longer than {GIT_TIMEOUT_S:g} s") from e
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise CodeUnavailable(f"git {args[0]} failed ({done.returncode}): {stderr[-500:]}")
    return done.stdout.decode(errors="replace")


def _known(value: object) -> str:
    return value.reason if isinstance(value, Skipped) else str(value)


def _reason(value: object) -> str:
    return value.reason if isinstance(value, Skipped) else repr(value)
