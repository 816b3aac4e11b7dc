"""Write a diagnosis' reports into a folder as one set: every format from one diagnosis.

A report folder never holds files from two diagnoses. `write_reports` renders every format
first (a render error writes nothing), writes each file through a temporary file in the folder,
renames them into place one after another, then removes the report files of the formats not in
this set that came from another diagnosis (an earlier `compare --retrain` whose report.html
would otherwise contradict the new report.md), and writes `report-set.json` last: the set's
manifest, naming the diagnosis (`sha256` of its JSON, the incident title, owner and timeline
left out, since `reprodiag report --title` re-renders the same verdicts) and each file with its
digest. A reader that finds a file not listed there, or with another digest, is looking at a
set being replaced. Writers of one folder take turns (an exclusive flock on the folder).

Files are created with the user's umask (0644 under the usual 022), like any file a command
writes, not with the private 0600 of a temporary file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from reprodiag._atomic import atomic_write_text, umask
from reprodiag.diagnosis.model import Diagnosis
from reprodiag.errors import InputError

# The file each format is written to: fixed names, so links and CI artefacts stay stable.
FILE_NAMES = {"html": "report.html", "md": "report.md", "json": "diagnosis.json"}
SET_FILE = "report-set.json"
SET_FORMAT = "reprodiag.report-set/v1"


def split_formats(values: Iterable[str], option: str = "--format") -> tuple[str, ...]:
    """Report formats as every command takes them: repeatable and comma-separated
    (``--format html --format md`` is ``--format html,md``), in order, without repeats."""
    seen: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in FILE_NAMES:
                raise InputError(
                    f"{option} {part.strip()!r}: unknown report format",
                    hint=f"choose from {', '.join(FILE_NAMES)}, e.g. {option} html,md",
                )
            if name not in seen:
                seen.append(name)
    return tuple(seen)


def diagnosis_id(diagnosis: Diagnosis) -> str:
    """What identifies the diagnosis a set was rendered from: sha256 of its JSON without the
    incident record (a title or timeline added by `reprodiag report` changes no verdict)."""
    from reprodiag.report.jsonreport import diagnosis_to_json

    text = diagnosis_to_json(dataclasses.replace(diagnosis, incident=None))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_reports(
    diagnosis: Diagnosis,
    out_dir: str | os.PathLike[str],
    formats: Sequence[str] = ("html", "md", "json"),
) -> list[Path]:
    """Write the reports of `formats` into `out_dir` as one set; return the paths written.

    Report files of other formats already in the folder stay only when `report-set.json` says
    they were rendered from this same diagnosis; any other is removed. A failed write raises
    InputError and leaves no half-written file.
    """
    from reprodiag.report import renderer_for  # the registry imports this module

    folder = Path(out_dir)
    kinds = split_formats(formats)
    if not kinds:
        raise InputError("no report format given", hint="choose from html, md, json")
    texts = {FILE_NAMES[f]: renderer_for(f).render(diagnosis) for f in kinds}
    ident = diagnosis_id(diagnosis)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the report folder {folder}: {exc.strerror or exc}",
            hint="choose an --out folder whose parent is a writable folder",
        ) from exc
    with _turn(folder):
        kept = _same_diagnosis(folder, ident, exclude=texts)
        staged: list[tuple[str, Path]] = []
        try:
            for name, text in texts.items():
                staged.append((_stage(folder, name, text), folder / name))
            for tmp, target in staged:
                os.replace(tmp, target)
        except OSError as exc:
            raise InputError(
                f"cannot write {exc.filename2 or exc.filename or folder}: {exc.strerror or exc}",
                hint="move what is in the way, or choose another --out folder; "
                "nothing was left half-written",
            ) from exc
        finally:
            for tmp, _ in staged:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)  # already renamed into place, or left by a failure
        for name in FILE_NAMES.values():
            if name not in texts and name not in kept:
                (folder / name).unlink(missing_ok=True)
        files = {
            name: "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
            for name, text in texts.items()
        }
        files.update(kept)
        record = {"format": SET_FORMAT, "diagnosis": ident, "files": dict(sorted(files.items()))}
        _write_set(folder, record)
    return [target for _, target in staged]


def _stage(folder: Path, name: str, text: str) -> str:
    """`text` in a temporary file beside `name`, mode 0666 less the umask; its path."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~umask())
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if not isinstance(exc, OSError):
            raise
        raise InputError(
            f"cannot write {folder / name}: {exc.strerror or exc}",
            hint="free some space or choose another output folder; nothing was left half-written",
        ) from exc
    return tmp


def _write_set(folder: Path, record: Mapping[str, object]) -> None:
    atomic_write_text(folder / SET_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _same_diagnosis(folder: Path, ident: str, exclude: Iterable[str]) -> dict[str, str]:
    """The report files of the folder's current set that came from diagnosis `ident` and are
    still as written (name -> digest), leaving out those about to be rewritten."""
    try:
        record = json.loads((folder / SET_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _same_json(folder, ident, exclude)
    if not isinstance(record, dict) or record.get("diagnosis") != ident:
        return {}
    files = record.get("files")
    kept: dict[str, str] = {}
    for name, digest in files.items() if isinstance(files, dict) else ():
        if name in exclude or name not in FILE_NAMES.values():
            continue
        try:
            data = (folder / name).read_bytes()
        except OSError:
            continue
        if "sha256:" + hashlib.sha256(data).hexdigest() == digest:
            kept[name] = digest
    return kept


def _same_json(folder: Path, ident: str, exclude: Iterable[str]) -> dict[str, str]:
    """A folder without a set record (written by reprodiag 0.1): its diagnosis.json is kept when
    it holds this same diagnosis (the file `reprodiag report` is re-rendering), else nothing."""
    name = FILE_NAMES["json"]
    path = folder / name
    if name in exclude or not path.is_file():
        return {}
    from reprodiag.diagnosis.codec import load_diagnosis

    try:
        same = diagnosis_id(load_diagnosis(path)) == ident
    except Exception:  # not a diagnosis we can read: it is not this set's
        return {}
    return {name: "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()} if same else {}


@contextlib.contextmanager
def _turn(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder's set, held while it is replaced."""
    try:
        import fcntl
    except ImportError:  # Windows: one writer per folder is the user's to ensure
        yield
        return
    handle = os.open(folder, os.O_RDONLY)  # the folder itself: no lock file left beside reports
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock
