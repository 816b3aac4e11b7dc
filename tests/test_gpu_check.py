"""scripts/gpu-check runs on the CPU too: small data, a small ensemble, and a summary file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu-check"


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu_and_writes_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--rows",
            "small",
            "--k",
            "3",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    checks = {c["check"]: c for c in summary["checks"]}
    assert summary["device"] == "cpu" and summary["k"] == 3
    assert (out / "manifest.json").exists()  # the captured manifest is kept with the summary
    # Same seed, same host, deterministic mode: the CPU reproduces bit for bit.
    assert checks["deterministic: weights of 2 runs bitwise equal"]["result"] == "yes"
    assert float(checks["deterministic: largest metric gap (implementation noise)"]["result"]) == 0
    assert checks["manifest environment.gpu_name"]["result"].startswith("skipped: ")
    assert "ensemble speedup" in checks
    table = (out / "summary.md").read_text()
    assert table.startswith("# reprodiag gpu-check") and "| ensemble speedup |" in table
    assert "| check | result | note |" in done.stdout


def test_gpu_check_is_an_executable_python_script() -> None:
    assert SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")
    assert SCRIPT.stat().st_mode & 0o111
