"""Consent for code: nothing a manifest names is imported without the user's consent.

A hostile manifest names `hostile_marker:train` (a module in the folder reprodiag runs from that
writes a marker file, with the importing process's id, the moment it is imported) or `this:x`
(the standard library module that prints "The Zen of Python" when imported). reprodiag runs for
real, as a subprocess from that folder, on real Delta tables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reprodiag.errors import EXIT_NEEDS_CONSENT
from reprodiag.retrain.ensemble import has_ensemble_form
from reprodiag.retrain.trust import allowed, untrusted
from tests.helpers.uncommitted import uncommitted_manifest

ROOT = Path(__file__).resolve().parents[1]

HOSTILE = """\
import os
from pathlib import Path

with open(Path(__file__).with_name("IMPORTED"), "a") as marker:
    marker.write(f"{os.getpid()}\\n")


def train(ctx):
    return {"auc": 70.0 + (ctx.seed % 7) / 10.0}


def train_ensemble(ctx, seeds):
    return [{"auc": 70.0 + (s % 7) / 10.0} for s in seeds]
"""


def _world(tmp_path: Path, entrypoint: str) -> tuple[Path, Path]:
    """Two manifests on real pinned Delta tables naming `entrypoint`, and the hostile module."""
    (tmp_path / "hostile_marker.py").write_text(HOSTILE)
    # No commit recorded: the retrain runs the code in the current folder (no worktree).
    base = uncommitted_manifest(
        tmp_path, "base.json", entrypoint=entrypoint, auc=80.0, run_id="base"
    )
    cand = uncommitted_manifest(
        tmp_path, "cand.json", entrypoint=entrypoint, auc=76.0, run_id="cand"
    )
    return base, cand


def _run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "reprodiag", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _compare(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        tmp_path,
        "compare",
        "base.json",
        "cand.json",
        "--retrain",
        "--metric",
        "auc",
        "--max-retrains",
        "3",
        "--no-band-store",
        "--no-snapshot-check",
        "--out",
        "report",
        *extra,
    )


def _band(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        tmp_path,
        "noise-band",
        "base.json",
        "--metric",
        "auc",
        "--seeds",
        "3",
        "--no-band-store",
        "--out",
        "band",
        *extra,
    )


def test_compare_retrain_imports_nothing_a_manifest_names_without_consent(tmp_path: Path) -> None:
    _world(tmp_path, "hostile_marker:train")
    proc = _compare(tmp_path)
    assert proc.returncode == EXIT_NEEDS_CONSENT, proc.stdout + proc.stderr
    assert not (tmp_path / "IMPORTED").exists()
    assert "'hostile_marker:train'" in proc.stderr and "--trust-manifest-entrypoint" in proc.stderr
    assert "Traceback" not in proc.stderr
    # The plan is written: the report, with the retrains still to run.
    assert (tmp_path / "report" / "report.html").is_file()
    assert "Still to run:" in proc.stdout


def test_noise_band_imports_nothing_a_manifest_names_without_consent(tmp_path: Path) -> None:
    _world(tmp_path, "hostile_marker:train")
    proc = _band(tmp_path)
    assert proc.returncode == EXIT_NEEDS_CONSENT, proc.stdout + proc.stderr
    assert not (tmp_path / "IMPORTED").exists()
    assert not (tmp_path / "band" / "retrains").exists()  # no worker was started
    assert "'hostile_marker:train'" in proc.stderr and "Traceback" not in proc.stderr


def test_this_module_is_not_imported_by_compare_or_noise_band(tmp_path: Path) -> None:
    _world(tmp_path, "this:x")
    for proc in (_compare(tmp_path), _band(tmp_path)):
        assert proc.returncode == EXIT_NEEDS_CONSENT, proc.stdout + proc.stderr
        assert "The Zen of Python" not in proc.stdout + proc.stderr


def test_with_consent_the_trainer_runs_in_workers_only(tmp_path: Path) -> None:
    _world(tmp_path, "hostile_marker:train")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reprodiag", "noise-band", "base.json", "--metric", "auc"]
        + ["--seeds", "3", "--no-band-store", "--out", "band", "--trust-manifest-entrypoint"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err
    assert "auc: 3 seed(s)" in out
    importers = set((tmp_path / "IMPORTED").read_text().split())
    assert importers and str(proc.pid) not in importers  # imported by workers, never by reprodiag


def test_a_project_allow_list_is_consent(tmp_path: Path) -> None:
    _world(tmp_path, "hostile_marker:train")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.reprodiag]\ntrusted-entrypoints = ["hostile_marker.*"]\n'
    )
    proc = _band(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "IMPORTED").exists()


def test_the_trainer_flag_replaces_the_manifest_entrypoint(tmp_path: Path) -> None:
    _world(tmp_path, "this:x")
    proc = _band(tmp_path, "--trainer", "hostile_marker:train")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The Zen of Python" not in proc.stdout + proc.stderr


def test_allow_list_rules(tmp_path: Path) -> None:
    assert allowed("reprodiag.family.mlp:train", ())
    assert allowed("proj.train:train", ["proj.*"]) and allowed("proj:train", ["proj.*"])
    assert not allowed("projx.train:train", ["proj.*"])
    assert not allowed("proj.train:other", ["proj.train:train"])
    (tmp_path / "pyproject.toml").write_text('[tool.reprodiag]\ntrusted-entrypoints = ["a:b"]\n')
    assert untrusted(["a:b", "c:d", "c:d", "not an entrypoint", None], tmp_path) == ["c:d"]
    (tmp_path / "pyproject.toml").write_text('[tool.reprodiag]\ntrusted-entrypoints = "a:b"\n')
    with pytest.raises(Exception, match="must be a list of strings"):
        untrusted(["c:d"], tmp_path)


def test_has_ensemble_form_reads_the_source_without_importing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(tmp_path, "hostile_marker:train")
    monkeypatch.chdir(tmp_path)
    assert has_ensemble_form({"entrypoint": "hostile_marker:train"})
    assert not has_ensemble_form({"entrypoint": "hostile_marker:other"})
    assert not has_ensemble_form({"entrypoint": "this:x"})
    assert "hostile_marker" not in sys.modules and "this" not in sys.modules
    assert not (tmp_path / "IMPORTED").exists()


class _EditableFinder:
    """What `pip install -e .` with setuptools adds to sys.meta_path: top-level package names
    mapped to folders that are on no sys.path entry."""

    def __init__(self, packages: dict[str, Path]) -> None:
        self.packages = packages

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        import importlib.util

        folder = self.packages.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


def test_has_ensemble_form_finds_an_editable_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trainer in a package installed with `pip install -e .` (found by a meta-path finder, on
    no sys.path entry) is read too: before, its seeds silently trained solo whenever reprodiag ran
    from another folder than the package's (the heavy benchmark's band: 3 solo fits)."""
    package = tmp_path / "src" / "edit_pkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text(HOSTILE)
    (package / "models" / "__init__.py").write_text("")
    (package / "models" / "mlp.py").write_text(HOSTILE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert not has_ensemble_form({"entrypoint": "edit_pkg.models.mlp:train"})  # not installed
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, _EditableFinder({"edit_pkg": package})])
    assert has_ensemble_form({"entrypoint": "edit_pkg.models.mlp:train"})
    assert has_ensemble_form({"entrypoint": "edit_pkg:train"})
    assert not has_ensemble_form({"entrypoint": "edit_pkg.models.mlp:other"})
    assert not has_ensemble_form({"entrypoint": "edit_pkg.models.absent:train"})
    assert "edit_pkg" not in sys.modules  # read, never imported
    assert not (package / "IMPORTED").exists() and not (package / "models" / "IMPORTED").exists()
