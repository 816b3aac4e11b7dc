"""pip's configuration, read the way `pip install` reads it, for handing to uv.

Standard library only, and no reprodiag import: `make venv` loads this file by its path
(.ci/uv_install.py) before anything is installed, and reprodiag.retrain.envs imports it for the
environments it rebuilds, so the two read pip's configuration with the same code.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# uv's own index settings: when one is set (or uv has a uv.toml), uv decides the indexes itself.
UV_INDEX_SETTINGS = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)
PIP_DEFAULT_INDEX = "https://pypi.org/simple"


def pip_config_list(python: str = sys.executable, timeout: float = 120) -> dict[str, str]:
    """`python -m pip config list` (files and PIP_* variables) as key → value; {} when pip
    cannot say."""
    try:
        out = subprocess.run(
            [python, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    config = {}
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        key, sep, value = line.partition("=")
        if sep:
            config[key.strip()] = value.strip().strip("'\"")
    return config


def pip_settings(config: Mapping[str, str]) -> dict[str, str]:
    """What `pip install` uses: PIP_* variables (':env:') over [install] over [global]."""
    out: dict[str, str] = {}
    for section in ("global", "install", ":env:"):
        for key, value in config.items():
            sec, _, name = key.rpartition(".")
            if sec == section:
                out[name] = value
    return out


def uv_config_file(env: Mapping[str, str]) -> bool:
    """Whether uv has a configuration file of its own (it then decides the indexes itself)."""
    if env.get("UV_CONFIG_FILE"):
        return True
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    dirs = env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    files = [Path(xdg) / "uv" / "uv.toml", Path("/etc/uv/uv.toml")]
    files += [Path(d) / "uv" / "uv.toml" for d in dirs]
    return any(p.is_file() for p in files)
