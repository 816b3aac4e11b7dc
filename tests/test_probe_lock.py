"""The dependency-lock probe: which file wins, and how each kind is hashed."""

from __future__ import annotations

import hashlib
from importlib import metadata

from reprodiag.manifest.model import LockRef, Skipped
from reprodiag.probes import lock
from reprodiag.probes.lock import normalize_name, probe_lock


def _sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_uv_lock_wins(tmp_path):
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "poetry.lock").write_text("poetry\n")
    (tmp_path / "requirements.txt").write_text("numpy\n")
    assert probe_lock(tmp_path) == LockRef("uv.lock", "uv.lock", _sha(b"version = 1\n"))


def test_poetry_lock_before_requirements(tmp_path):
    (tmp_path / "poetry.lock").write_text("poetry\n")
    (tmp_path / "requirements.txt").write_text("numpy\n")
    assert probe_lock(tmp_path) == LockRef("poetry.lock", "poetry.lock", _sha(b"poetry\n"))


def test_pylock_before_requirements(tmp_path):
    (tmp_path / "pylock.toml").write_text('lock-version = "1.0"\n')
    (tmp_path / "requirements.txt").write_text("numpy\n")
    assert probe_lock(tmp_path).kind == "pylock.toml"


def test_one_requirements_file_is_its_plain_sha256(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    expected = LockRef("requirements", "requirements.txt", _sha(b"numpy==2.0\n"))
    assert probe_lock(tmp_path) == expected


def test_several_requirements_files_are_hashed_together_in_sorted_order(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    (tmp_path / "requirements-dev.txt").write_text("pytest\n")
    ref = probe_lock(tmp_path)
    framed = b"requirements-dev.txt\0pytest\n\0requirements.txt\0numpy==2.0\n\0"
    assert ref == LockRef("requirements", "requirements-dev.txt,requirements.txt", _sha(framed))
    (tmp_path / "requirements-dev.txt").write_text("pytest==8\n")
    assert probe_lock(tmp_path).sha256 != ref.sha256


def test_no_lock_file_falls_back_to_installed_distributions(tmp_path):
    ref = probe_lock(tmp_path)
    assert (ref.kind, ref.path) == ("pip-freeze", None)
    assert ref == probe_lock(tmp_path)  # stable while nothing is installed or removed
    lines = sorted(set(lock.installed_requirement_lines()))
    assert f"numpy=={metadata.version('numpy')}" in lines
    assert ref.sha256 == _sha("".join(f"{line}\n" for line in lines).encode())


def test_normalize_name():
    assert normalize_name("Scikit_Learn") == "scikit-learn"
    assert normalize_name("zope.interface") == "zope-interface"


def test_a_failing_probe_is_skipped(tmp_path, monkeypatch):
    def broken() -> list[str]:
        raise OSError("site-packages unreadable")

    monkeypatch.setattr(lock, "installed_requirement_lines", broken)
    assert probe_lock(tmp_path) == Skipped("probe failed: OSError: site-packages unreadable")
