"""`make venv`'s fast path: install the package and its extras with uv, configured like pip.

Run with the virtual environment's interpreter after pip has put torch and uv into it:

    .venv/bin/python .ci/uv_install.py PIN_FILE REQUIREMENT...

uv does not read pip's configuration, and on this machine image only pip's configuration finds
the CPU wheel of torch (a find-links folder, local indexes, a constraints file); uv left to its
defaults would resolve against pypi.org alone. So this script reads `python -m pip config list`
(files and PIP_* variables) and hands uv the same sources, the way reprodiag.retrain.envs'
`index_config` does for rebuilt environments (tests/test_ci_install.py checks that the two agree):
`index-url` becomes `--default-index` (pip's default pypi.org when unset), each `extra-index-url`
an `--index`, each `find-links` a `--find-links`, each `constraint` file a `--constraint`,
`no-index` `--no-index`, `cert` SSL_CERT_FILE, `default-timeout` UV_HTTP_TIMEOUT, with
`--index-strategy unsafe-best-match` (pip's way of picking a version across indexes). When uv has
index settings of its own (UV_INDEX_URL ... or a uv.toml) they are used as they are.

PIN_FILE is a constraints file that holds the torch pip installed (`torch==2.13.0`), so uv keeps
it and can never swap it for another build. Standard library only: nothing else is installed yet;
pip's configuration is read by reprodiag/retrain/pipconfig.py, loaded by its path.
The exit status is uv's; the Makefile falls back to plain pip when it is not 0.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType


def _pipconfig() -> ModuleType:
    """reprodiag/retrain/pipconfig.py, loaded by its path: standard library only, the same code
    reprodiag.retrain.envs reads pip's configuration with (reprodiag itself is not installed yet,
    and importing its package would need what is about to be installed)."""
    path = Path(__file__).resolve().parents[1] / "reprodiag" / "retrain" / "pipconfig.py"
    spec = importlib.util.spec_from_file_location("reprodiag_pipconfig", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_pip = _pipconfig()
UV_INDEX_SETTINGS = _pip.UV_INDEX_SETTINGS
PIP_DEFAULT_INDEX = _pip.PIP_DEFAULT_INDEX
pip_config_list = _pip.pip_config_list
pip_settings = _pip.pip_settings
uv_config_file = _pip.uv_config_file


def uv_index(config: Mapping[str, str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv's index arguments and extra environment variables for pip's `config list` output."""
    if any(env.get(name) for name in UV_INDEX_SETTINGS) or uv_config_file(env):
        return [], {}
    pip = pip_settings(config)
    args = ["--index-strategy", "unsafe-best-match"]
    if pip.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        args.append("--no-index")
    else:
        args += [
            a
            for u in pip.get("index-url", PIP_DEFAULT_INDEX).split()
            for a in ("--default-index", u)
        ]
        args += [a for u in pip.get("extra-index-url", "").split() for a in ("--index", u)]
    for link in pip.get("find-links", "").split():
        path = link.removeprefix("file://")
        if "://" in link and not link.startswith("file://"):
            args += ["--find-links", link]
        elif os.path.isdir(path):
            args += ["--find-links", path]
    for constraint in pip.get("constraint", "").split():
        if os.path.isfile(constraint):
            args += ["--constraint", constraint]
    extra: dict[str, str] = {}
    cert = pip.get("cert")
    if cert and not env.get("SSL_CERT_FILE") and os.path.isfile(cert):
        extra["SSL_CERT_FILE"] = cert
    timeout = pip.get("default-timeout") or pip.get("timeout")
    if timeout and not env.get("UV_HTTP_TIMEOUT"):
        extra["UV_HTTP_TIMEOUT"] = timeout
    return args, extra


def main(argv: list[str]) -> int:
    """Install the requirements with the venv's uv; the exit status is uv's."""
    if len(argv) < 2:
        print("usage: python .ci/uv_install.py PIN_FILE REQUIREMENT...", file=sys.stderr)
        return 2
    pins, requirements = argv[0], argv[1:]
    uv = Path(sys.executable).with_name("uv")
    if not uv.is_file():
        print(f"make venv: no uv at {uv}", file=sys.stderr)
        return 2
    args, extra = uv_index(pip_config_list(), os.environ)
    command = [str(uv), "pip", "install", "--quiet", "--python", sys.executable, *args]
    command += ["--constraint", pins, *requirements]
    return subprocess.run(command, env={**os.environ, **extra}, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
