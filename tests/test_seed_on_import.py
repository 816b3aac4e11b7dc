"""deterministic_seeds without importing torch: a scikit-learn or NumPy run in an environment that
has torch is not recorded as a torch run, and a run that imports torch later is still seeded.

Each case runs in a fresh interpreter (this test process imported torch long ago), captures a
real manifest, and reads it back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = """
import json, sys
import reprodiag
mode, out = sys.argv[1], sys.argv[2]
reprodiag.deterministic_seeds(1)
seeds = reprodiag.deterministic_seeds(7)  # the latest call wins
report = {"imported_by_seeding": "torch" in sys.modules}
with reprodiag.capture(out, seeds=seeds, code_root=sys.argv[3]) as run:
    import numpy as np
    value = float(np.random.rand())
    if mode == "torch":
        import torch
        report["initial_seed"] = torch.initial_seed()
        report["deterministic"] = torch.are_deterministic_algorithms_enabled()
        report["draw"] = float(torch.rand(1))
    run.log_metrics({"auc": value})
print(json.dumps(report))
"""


def _run(
    tmp_path: Path, mode: str, name: str | None = None
) -> tuple[dict[str, object], dict[str, object]]:
    out = tmp_path / f"{name or mode}.json"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode, str(out), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), json.loads(out.read_text())


def test_a_run_that_never_imports_torch_records_no_torch_facts(tmp_path: Path) -> None:
    report, manifest = _run(tmp_path, "numpy")
    assert report == {"imported_by_seeding": False}
    rnd = manifest["randomness"]
    assert rnd["python_seed"] == 7 and rnd["numpy_seed"] == 7
    for name in ("torch_seed", "cuda_seed", "deterministic_algorithms", "cudnn_deterministic"):
        assert rnd[name] == {"kind": "not_applicable", "skipped": "the run did not import torch"}
    assert rnd["dataloader_seeding"]["kind"] == "not_applicable"
    assert rnd["derivation"].endswith("torch and CUDA not seeded: the run did not import torch")


def test_a_run_that_imports_torch_later_is_seeded_when_it_does(tmp_path: Path) -> None:
    report, manifest = _run(tmp_path, "torch")
    assert report["imported_by_seeding"] is False
    assert report["initial_seed"] == 7 and report["deterministic"] is True
    rnd = manifest["randomness"]
    assert rnd["torch_seed"] == 7 and rnd["cuda_seed"] == 7
    assert rnd["deterministic_algorithms"] is True and rnd["cudnn_deterministic"] is True
    assert rnd["dataloader_seeding"]["kind"] == "not_given"  # a torch run: it may use one
    assert rnd["derivation"].endswith("torch and CUDA seeded when the run imported torch")
    # the same draws as seeding after the import: the hook is the same seeding, only later
    again, _ = _run(tmp_path, "torch")
    assert again["draw"] == report["draw"]
    import torch

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(7)
        assert float(torch.rand(1)) == pytest.approx(report["draw"], abs=0)
    finally:
        torch.random.set_rng_state(state)


def test_two_runs_without_torch_are_not_said_to_miss_torch_flags(tmp_path: Path) -> None:
    """Their diff says the run is deterministic for a fixed seed, not that torch's flags and
    DataLoader seeding were "not recorded" (my scikit-learn incident's report said so, and
    "the run cannot be replayed exactly"), and a retrain's torch version (the worker imports
    torch) is no note against a pipeline that never used it."""
    import reprodiag

    _run(tmp_path, "numpy", "monday")
    _run(tmp_path, "numpy", "tuesday")
    baseline = reprodiag.load_manifest(tmp_path / "monday.json")
    candidate = reprodiag.load_manifest(tmp_path / "tuesday.json")
    diagnosis = reprodiag.diagnose(baseline, candidate)
    reason = next(r.reason for r in diagnosis.ranking if r.axis == "randomness")
    assert "no torch on either side: deterministic for a fixed seed" in reason
    assert "not recorded" not in reason and "cannot be replayed" not in reason
    # the seed replay's expectation does not call torch's and CUDA's seeds "the rest, random"
    replay = next(c for c in diagnosis.checks if c.key == "seed_replay")
    assert "the rest stay random" not in replay.expected
