"""Real git repositories for the tests: a fixed identity, no system config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "reprodiag tests",
    "GIT_AUTHOR_EMAIL": "tests@reprodiag.invalid",
    "GIT_COMMITTER_NAME": "reprodiag tests",
    "GIT_COMMITTER_EMAIL": "tests@reprodiag.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()
