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
            "--no-timings",  # the timings run the demo and the benchmark: parsed below instead
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


def test_the_timings_parse_what_the_benchmark_prints() -> None:
    """gpu-check reads the ratio, the decision and both arms' wall times from the lines
    benchmarks/noise_band.py prints; built here by the benchmark's own functions, so a change of
    its format fails this test instead of a GPU run."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("gpu_check", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gpu_check", loader)
    assert spec is not None
    gpu_check = importlib.util.module_from_spec(spec)
    loader.exec_module(gpu_check)
    sys.path.insert(0, str(SCRIPT.parent.parent / "benchmarks"))
    try:
        import noise_band
    finally:
        sys.path.pop(0)
    arm = {"n": 10, "outcome": "beyond noise", "how": "x", "reason": "r", "peak_mib": 500.0}
    naive = {**arm, "wall_s": 128.6, "fit_s": 12.5, "train_s": 125.0, "device": "cuda:0"}
    default = {**arm, "n": 3, "wall_s": 26.1, "retrains": 3}
    text = noise_band.section("heavy", "cmd", {**naive, "baseline_auc": 86.8}, default)
    found = gpu_check.RATIO.search(text)
    assert found is not None and (found.group(1), found.group(2)) == ("0.20", "yes")
    assert dict(gpu_check.WALLS.findall(text)) == {"a": "128.6", "b": "26.1"}
