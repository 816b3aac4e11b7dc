"""`make venv`'s uv step (.ci/uv_install.py): pip's index configuration handed to uv, and a pin
uv cannot move.

The translation must agree with reprodiag.retrain.envs.index_config, which does the same for
rebuilt environments (the script cannot import reprodiag: it runs before anything is installed;
both read pip's configuration with reprodiag/retrain/pipconfig.py, which the script loads by its
path, and translate it each in its own way: index_config also probes the indexes). The
install runs for real: a fresh virtual environment, uv, and two versions of a wheel made here in a
find-links folder; the pin file decides which one is installed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from reprodiag.retrain.envs import index_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "uv_install.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("uv_install", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _configs(tmp_path: Path) -> list[dict[str, str]]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch<=2.14.1\n")
    cert = tmp_path / "ca.pem"
    cert.write_text("not read here\n")
    return [
        {},  # pip's defaults: pypi.org
        {  # this machine image's shape: local indexes, a wheel folder, constraints, a cert
            "global.cert": str(cert),
            "global.constraint": str(constraints),
            "global.extra-index-url": "file:///opt/pypi/simple https://mirror.example/simple",
            "global.find-links": str(wheels),
            ":env:.find-links": f"file://{wheels} {tmp_path / 'missing'}",
        },
        {"global.index-url": "https://a.example/simple", "install.index-url": "https://b/simple"},
        {"global.no-index": "true", "global.find-links": str(wheels)},
    ]


def test_the_translation_is_the_one_rebuilt_environments_use(tmp_path: Path) -> None:
    script = _script()
    env: dict[str, str] = {"XDG_CONFIG_HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(tmp_path)}
    for config in _configs(tmp_path):
        args, extra = script.uv_index(config, env)
        expected = index_config(environ=env, pip_config=config, probe=lambda url: None)
        assert args == list(expected.args), config
        assert {k: v for k, v in extra.items() if k != "UV_HTTP_TIMEOUT"} == dict(expected.env)
        assert args[:2] == ["--index-strategy", "unsafe-best-match"]
    # pip's timeout reaches uv too
    assert script.uv_index({":env:.default-timeout": "180"}, env)[1]["UV_HTTP_TIMEOUT"] == "180"


def test_uv_settings_of_its_own_are_left_alone(tmp_path: Path) -> None:
    script = _script()
    config = {"global.extra-index-url": "file:///opt/pypi/simple"}
    assert script.uv_index(config, {"UV_INDEX_URL": "https://x/simple"}) == ([], {})
    (tmp_path / "uv").mkdir()
    (tmp_path / "uv" / "uv.toml").write_text("index-url = 'https://x/simple'\n")
    assert script.uv_index(config, {"XDG_CONFIG_HOME": str(tmp_path)}) == ([], {})


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel: one module that holds its version."""
    tag = f"{name}-{version}"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{tag}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{tag}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{tag}.dist-info/RECORD,,")
    files[f"{tag}.dist-info/RECORD"] = "\n".join(record) + "\n"
    out = folder / f"{tag}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return out


def test_the_pin_holds_and_pip_config_reaches_uv(tmp_path: Path) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("no uv here (it comes with the dev extra: make venv installs it)")
    venv = tmp_path / "venv"
    # no pip of its own: the base interpreter's pip reads the configuration, as fast as it gets
    make = [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)]
    subprocess.run(make, check=True, timeout=120)
    (venv / "bin" / "uv").symlink_to(uv)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for version in ("1.0", "2.0"):
        _wheel(wheels, "pinnedpkg", version)
    pins = tmp_path / "pins.txt"
    pins.write_text("pinnedpkg==1.0\n")
    # pip's configuration only (no index, the wheel folder): uv finds the wheels through it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    env |= {"UV_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path)}
    python = str(venv / "bin" / "python")

    def install() -> subprocess.CompletedProcess[str]:
        command = [python, str(SCRIPT), str(pins), "pinnedpkg"]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    run = install()
    assert run.returncode == 0, run.stderr
    version = subprocess.run(
        [python, "-c", "import pinnedpkg; print(pinnedpkg.VERSION)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "1.0"  # 2.0 lies beside it; the pin decides
    # a pin no source offers fails (and the Makefile then installs with pip)
    pins.write_text("pinnedpkg==3.0\n")
    run = install()
    assert run.returncode != 0 and "pinnedpkg" in run.stderr
