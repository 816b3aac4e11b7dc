"""Data sets the snapshot tests make for real: a git + DVC repository, an Iceberg SqlCatalog."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.git import GIT_ENV, git


def dvc(root: Path, *args: str) -> None:
    env = {**os.environ, **GIT_ENV, "DVC_NO_ANALYTICS": "1"}
    subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, check=True, capture_output=True, env=env
    )


def dvc_repo(root: Path) -> Path:
    """A git + DVC repository with no remote; analytics off so nothing leaves the machine."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "dvc init")
    return root


def dvc_commit(path: Path, text: str | bytes, message: str) -> str:
    """Write path, `dvc add` it, commit the .dvc file; the new commit."""
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    root = path.parent
    dvc(root, "add", "-q", path.name)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def catalog_options(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "warehouse").mkdir(exist_ok=True)
    return {
        "type": "sql",
        "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
        "warehouse": f"file://{tmp_path / 'warehouse'}",
    }
