"""DVC-tracked data at a git commit: pin the commit, check the content is still cached, read it.

The uri is the path of a DVC-tracked file or folder in a working copy (tracked by `<path>.dvc`,
or an output in a `dvc.lock`); the DVC repository is the nearest folder above it holding `.dvc/`.
The version is the full git commit whose `.dvc` file (or `dvc.lock`) pins the content, and the
fingerprint is the content hash DVC recorded there, "dvc-md5:<hash>" (".dir" for a folder): a
fact DVC computed, recorded as DVC wrote it, not a hash of reprodiag's choosing.

Pinning "now" refuses a `.dvc` file (or `dvc.lock`) with uncommitted changes: HEAD would pin the
content before `dvc add`, not the content the run was about to read. Data changed in the working
copy without `dvc add` is not detected here (that needs a full hash of the data; `dvc status`
does it); reading through the snapshot always reads the pinned commit's content, never the working
copy. `storage_options` are not used: remotes come from the repository's DVC config.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprodiag.manifest.model import Skipped, SnapshotRef, is_known
from reprodiag.snapshots._pin import parse_as_of, require_one_pin
from reprodiag.snapshots._uri import local_path, normalize_uri
from reprodiag.snapshots.interface import (
    SnapshotError,
    SnapshotNotFound,
    SnapshotVacuumed,
    VersionNotFound,
    describe,
)

if TYPE_CHECKING:
    import pyarrow

NO_TABLE_ID = Skipped(
    "a DVC path has no table id: the git commit and DVC's content hash pin it", "not_applicable"
)


class DvcProvider:
    """Files tracked by DVC in a git repository, pinned to a git revision."""

    format = "dvc"

    def detects(self, uri: str) -> bool:
        """True for a local path that is (or is inside) an output tracked by DVC."""
        local = local_path(uri)
        if local is None or _dvc_root(local) is None:
            return False
        return _out_in_workspace(local) is not None

    def resolve(
        self,
        uri: str,
        *,
        version: int | str | None = None,
        as_of: str | datetime | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> SnapshotRef:
        """Pin the tracked output to a git revision: the one given, the last commit before as_of,
        else HEAD."""
        require_one_pin("dvc", uri, version, as_of, "a git revision")
        path, pins = _tracked(uri)
        when = None if as_of is None else parse_as_of(as_of)
        if when is not None:
            commit = _git(path, "rev-list", "-1", f"--before={int(when.timestamp())}", "HEAD")
            if not commit:
                raise VersionNotFound(
                    f"dvc {path} has no commit as of {when.isoformat()}.",
                    hint="Give a later as_of, or a git revision.",
                )
        elif version is not None:
            commit = _commit(path, str(version), pins)
        else:
            _refuse_uncommitted(path, pins)
            commit = _commit(path, "HEAD", pins)
        return SnapshotRef(
            format=self.format,
            uri=path,
            version=commit,
            table_id=NO_TABLE_ID,
            fingerprint=_hash_at(path, commit, pins),
            as_of=None if when is None else when.isoformat(),
        )

    def check_readable(
        self, ref: SnapshotRef, storage_options: Mapping[str, str] | None = None
    ) -> None:
        """Raise SnapshotVacuumed when the pinned content is in no DVC cache and no remote is
        configured to fetch it from."""
        path, commit, found = _pinned(ref)
        caches, remote = _caches_and_remote(path)
        missing = _missing_objects(caches, found)
        # Without network access a remote cannot be asked; dvc.api.open fetches from it on read.
        if missing and remote is None:
            raise SnapshotVacuumed(
                f"snapshot {describe(ref)} is no longer readable: {missing} object(s) of its"
                " content are not in the DVC cache and no remote is configured.",
                hint="dvc gc removes the content of commits it is not told to keep: use"
                " `dvc gc --all-commits`, or `dvc push` to a remote; `dvc fetch --rev"
                f" {commit[:7]}` restores it from a remote.",
            )

    def read_arrow(
        self,
        ref: SnapshotRef,
        *,
        columns: Sequence[str] | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> pyarrow.Table:
        """Read the pinned revision of a single .csv or .parquet output through dvc.api."""
        import dvc.api

        path, commit, _ = _pinned(ref)
        root = _dvc_root(path) or path
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in (".csv", ".parquet"):
            raise SnapshotError(
                f"snapshot {describe(ref)} is not in a format reprodiag reads.",
                hint="DVC snapshots are read when they are one .csv or .parquet file;"
                " read others with dvc.api.open(path, rev=...).",
            )
        wanted = None if columns is None else list(columns)
        rel = os.path.relpath(path, root)
        with dvc.api.open(rel, repo=root, rev=commit, mode="rb") as handle:
            data = io.BytesIO(handle.read())  # pyarrow's readers need a seekable file
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(data, columns=wanted)
        import pyarrow.csv as pcsv

        return pcsv.read_csv(data, convert_options=pcsv.ConvertOptions(include_columns=wanted))


def _dvc_root(path: str) -> str | None:
    """The nearest folder at or above path holding `.dvc/`."""
    for folder in (Path(path), *Path(path).parents):
        if (folder / ".dvc").is_dir():
            return str(folder)
    return None


def _git(path: str, *args: str) -> str:
    """stdout of a git command run in path's folder; "" when git fails."""
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    done = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def _pin_files(path: str) -> list[tuple[str, str]]:
    """Where DVC may pin path: (pin file, the path as that file names it), nearest first."""
    root = _dvc_root(path) or path
    pins = [(path + ".dvc", os.path.basename(path))]
    for folder in (Path(path).parent, *Path(path).parent.parents):
        pins.append((str(folder / "dvc.lock"), os.path.relpath(path, folder).replace(os.sep, "/")))
        if str(folder) == root:
            break
    return pins


# Any: an entry of parsed YAML (.dvc, dvc.lock), free-form until the fields read are checked.
def _out(text: str, name: str) -> dict[str, Any] | None:
    """The output entry for name in a `.dvc` file's or a `dvc.lock`'s text."""
    import yaml

    data = yaml.safe_load(text) or {}
    outs = list(data.get("outs", []))
    for stage in (data.get("stages") or {}).values():
        outs.extend(stage.get("outs", []))
    return next((o for o in outs if str(o.get("path", "")).rstrip("/") == name), None)


def _out_in_workspace(path: str) -> tuple[str, str] | None:
    for pin, name in _pin_files(path):
        if os.path.isfile(pin) and _out(Path(pin).read_text(), name) is not None:
            return pin, name
    return None


def _tracked(uri: str) -> tuple[str, tuple[str, str]]:
    """The absolute path and the file that pins it, or SnapshotNotFound."""
    path = local_path(uri)
    if path is None:
        raise SnapshotError(
            f"dvc {uri}: DVC snapshots are named by their path in a local working copy.",
            hint="Clone the repository and pass the tracked path inside it.",
        )
    found = _out_in_workspace(path) if _dvc_root(path) else None
    if found is None:
        where = "is not tracked by DVC" if os.path.exists(path) else "does not exist"
        raise SnapshotNotFound(
            f"dvc {normalize_uri(uri)} {where} (no .dvc file or dvc.lock output names it).",
            hint="Track it with `dvc add <path>` and commit the .dvc file, or pass format='files'.",
        )
    return path, found


def _refuse_uncommitted(path: str, pins: tuple[str, str]) -> None:
    pin = pins[0]
    if _git(path, "status", "--porcelain", "--", pin):
        name = os.path.basename(pin)
        raise SnapshotError(
            f"dvc {path}: {name} has uncommitted changes, so HEAD does not pin the content"
            " it names now.",
            hint=f"Commit it (git add {name} && git commit), or pass version= a commit to"
            " read that commit's content.",
        )


def _commit(path: str, rev: str, pins: tuple[str, str]) -> str:
    commit = _git(path, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not commit:
        recent = _git(path, "log", "--format=%h", "-n", "5", "--", pins[0]).split()
        listed = ", ".join(recent) if recent else "none"
        raise VersionNotFound(
            f"dvc {path}: git revision {rev!r} does not exist (recent commits of"
            f" {os.path.basename(pins[0])}: {listed}).",
            hint="Pass a commit, branch or tag of this repository; `git fetch` first if it"
            " was made elsewhere.",
        )
    return commit


def _hash_at(path: str, commit: str, pins: tuple[str, str]) -> str:
    pin, name = pins
    top = _git(path, "rev-parse", "--show-toplevel")
    rel = os.path.relpath(os.path.realpath(pin), os.path.realpath(top)).replace(os.sep, "/")
    out = _out(_git(path, "show", f"{commit}:{rel}"), name)
    if out is None or "md5" not in out:
        raise VersionNotFound(
            f"dvc {path} is not tracked by DVC at commit {commit[:7]}.",
            hint=f"Pick a commit where {rel} names it: git log -- {rel}.",
        )
    # DVC 3 writes `hash: md5`; DVC 2 files have no `hash` and hash text after dos2unix.
    kind = "md5" if out.get("hash") == "md5" else "md5-dos2unix"
    return f"dvc-{kind}:{out['md5']}"


def _pinned(ref: SnapshotRef) -> tuple[str, str, str]:
    """(path, commit, fingerprint) after checking the commit still pins the recorded hash."""
    if ref.format != "dvc" or not isinstance(ref.version, str):
        raise SnapshotError(
            f"{describe(ref)} is not a pinned dvc snapshot (version: {ref.version!r}).",
            hint="Pin it with reprodiag.snapshots.open_snapshot(path, format='dvc').",
        )
    path, pins = _tracked(ref.uri)
    commit = _commit(path, ref.version, pins)
    found = _hash_at(path, commit, pins)
    if is_known(ref.fingerprint) and ref.fingerprint != found:
        raise SnapshotError(
            f"{describe(ref)} is not the snapshot recorded: DVC's hash there is {found},"
            f" the run recorded {ref.fingerprint}.",
            hint="The repository at that path is another one; point to the original clone.",
        )
    return path, commit, found


def _caches_and_remote(path: str) -> tuple[dict[str, str], str | None]:
    """The cache folders by hash kind (DVC 3's and DVC 2's), and the default remote."""
    from dvc.repo import Repo

    with Repo(_dvc_root(path)) as repo:
        caches = {"dvc-md5": repo.cache.local.path, "dvc-md5-dos2unix": repo.cache.legacy.path}
        return caches, repo.config["core"].get("remote")


def _missing_objects(caches: Mapping[str, str], fingerprint: str) -> int:
    """How many of the content's cache objects are absent (a folder: its .dir and every file)."""
    kind, _, md5 = fingerprint.partition(":")
    cache = caches[kind]
    wanted = [md5]
    listing = os.path.join(cache, md5[:2], md5[2:])
    if md5.endswith(".dir") and os.path.isfile(listing):
        with open(listing, encoding="utf-8") as handle:
            wanted.extend(entry["md5"] for entry in json.load(handle))
    return sum(not os.path.isfile(os.path.join(cache, h[:2], h[2:])) for h in wanted)
