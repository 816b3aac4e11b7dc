"""Write a diagnosis' reports into a folder, each file atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reprodiag._atomic import atomic_write_text
from reprodiag.diagnosis.model import Diagnosis
from reprodiag.errors import InputError

# The file each format is written to: fixed names, so links and CI artefacts stay stable.
FILE_NAMES = {"html": "report.html", "md": "report.md", "json": "diagnosis.json"}


def write_reports(
    diagnosis: Diagnosis,
    out_dir: str | os.PathLike[str],
    formats: Sequence[str] = ("html", "md", "json"),
) -> list[Path]:
    """Render every format first, then write each file; return the paths written, in order.

    Every format is rendered before anything is written, so a render error writes nothing. Each
    write goes through a temporary file and a rename: a failed write raises InputError and leaves
    no half-written file (files already written stay whole).
    """
    from reprodiag.report import renderer_for  # the registry imports this module

    folder = Path(out_dir)
    texts = [(FILE_NAMES[f], renderer_for(f).render(diagnosis)) for f in _unique(formats)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the report folder {folder}: {exc.strerror or exc}",
            hint="choose an --out folder whose parent is a writable folder",
        ) from exc
    return [atomic_write_text(folder / name, text) for name, text in texts]


def _unique(formats: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for f in formats:
        if f not in FILE_NAMES:
            known = ", ".join(FILE_NAMES)
            raise InputError(f"unknown report format {f!r}", hint=f"choose one of: {known}")
        if f not in seen:
            seen.append(f)
    return seen
