"""The capture API end to end: a real git repo, a real Delta table, real torch training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from reprodiag.errors import PolicyViolation
from reprodiag.manifest import NOISE_FIELDS, Skipped, iter_facts, load_manifest

TRAIN_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    import reprodiag
    from reprodiag.snapshots import open_snapshot

    out, table = sys.argv[1], sys.argv[2]
    seeds = reprodiag.deterministic_seeds(7)
    data = open_snapshot(table)
    with reprodiag.capture(out, train=data, eval=data, seeds=seeds, params={"lr": 0.1},
                           family="toy", experiment="capture-test", run_name="r",
                           tier="shipped", entrypoint="train.py", code_root=".") as run:
        frame = data.to_pandas()
        x = torch.tensor(frame[["x"]].values, dtype=torch.float32)
        y = torch.tensor(frame["y"].values, dtype=torch.float32)
        w = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1)
        for _ in range(50):
            opt.zero_grad()
            loss = ((x[:, 0] * w - y) ** 2).mean()
            loss.backward()
            opt.step()
        run.log_metric("mse", float(loss), direction="lower")
    """
)


@pytest.fixture
def project(git_repo, tmp_path: Path) -> tuple[Path, Path]:
    from deltalake import write_deltalake

    root = git_repo("project", {"train.py": TRAIN_SCRIPT, "requirements.txt": "torch==2.13.0\n"})
    table = tmp_path / "table"
    write_deltalake(
        str(table), pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.1, 5.9, 8.2]})
    )
    return root, table


def _run(root: Path, out: Path, table: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "train.py", str(out), str(table)],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def test_manifest_has_all_five_axes_filled(project: tuple[Path, Path], tmp_path: Path) -> None:
    root, table = project
    out = tmp_path / "m.json"
    proc = _run(root, out, table)
    assert proc.returncode == 0, proc.stderr
    manifest = load_manifest(out)
    assert manifest.data.train.version == 0 and manifest.data.train.format == "delta"
    assert len(manifest.code.commit) == 40 and manifest.code.dirty is False
    assert manifest.code.lock.kind == "requirements"
    assert manifest.environment.torch_version.startswith("2.")
    assert (
        manifest.randomness.torch_seed == 7 and manifest.randomness.deterministic_algorithms is True
    )
    assert (
        manifest.intent.params == {"lr": 0.1}
        and manifest.results.metrics["mse"].direction == "lower"
    )
    skipped = {path: v.reason for path, v in iter_facts(manifest) if isinstance(v, Skipped)}
    # Skips appear only where this machine lacks the fact (no GPU, a CPU torch build, no
    # container), or where the user gave nothing (hypothesis, owner, feature store, an output
    # folder, a DataLoader: this toy trains on whole tensors).
    allowed = (
        "environment.gpu",
        "environment.driver",
        "environment.cuda",
        "environment.cudnn",
        "environment.nccl",
        "environment.container_image",
        "code.remote",
        "code.patch",  # a clean tree: there is no uncommitted change to keep
        "intent.hypothesis",
        "intent.owner",
        "data.feature_store",
        "data.labeling_pipeline",
        "run.output_dir",
        "randomness.dataloader_seeding",
    )
    unexpected = {p: r for p, r in skipped.items() if not p.startswith(allowed)}
    assert not unexpected, unexpected
    assert all(reason for reason in skipped.values())


def test_two_processes_differ_only_in_noise(project: tuple[Path, Path], tmp_path: Path) -> None:
    root, table = project
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert _run(root, first, table).returncode == 0
    assert _run(root, second, table).returncode == 0
    a, b = dict(iter_facts(load_manifest(first))), dict(iter_facts(load_manifest(second)))
    differing = {p for p in a.keys() | b.keys() if a.get(p) != b.get(p)}
    assert differing, "run ids and times must differ"
    assert all(p in NOISE_FIELDS for p in differing), differing - NOISE_FIELDS
    assert a["results.metrics.mse.value"] == b["results.metrics.mse.value"]


def test_shipped_run_on_unsnapshotted_data_is_refused_before_training(tmp_path: Path) -> None:
    import reprodiag

    out = tmp_path / "m.json"
    trained = []
    with pytest.raises(PolicyViolation) as err:
        with reprodiag.capture(
            out,
            seeds=reprodiag.deterministic_seeds(1),
            params={"lr": 1},
            experiment="e",
            tier="shipped",
            code_root=tmp_path,
        ):
            trained.append(True)
    assert not trained and not out.exists()
    assert "data.train" in str(err.value)


def test_a_failed_training_still_leaves_its_manifest(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    import reprodiag
    from reprodiag.snapshots import open_snapshot

    root, table = project
    out = tmp_path / "failed.json"
    with pytest.raises(RuntimeError):
        with reprodiag.capture(out, train=open_snapshot(table), code_root=root) as run:
            run.log_metric("loss", 1.5, "lower")
            raise RuntimeError("diverged at step 40")
    manifest = load_manifest(out)
    assert manifest.results.status == "failed"
    assert "diverged at step 40" in manifest.results.error
    assert manifest.results.metrics["loss"].value == 1.5


def test_nan_metric_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    import reprodiag
    from reprodiag.errors import InputError

    with reprodiag.capture(tmp_path / "m.json", code_root=tmp_path) as run:
        with pytest.raises(InputError, match="finite"):
            run.log_metric("auc", float("nan"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reprodiag", *args], capture_output=True, text=True
    )


def test_cli_capture_writes_a_manifest(project: tuple[Path, Path], tmp_path: Path) -> None:
    root, table = project
    out = tmp_path / "cli.json"
    proc = _cli(
        "capture",
        str(out),
        "--train",
        str(table),
        "--eval",
        str(table),
        "--param",
        "lr=0.01",
        "--param",
        "optimizer=adam",
        "--seed",
        "42",
        "--experiment",
        "shell",
        "--metric",
        "auc=81.5",
        "--metric",
        "loss=0.4",
        "--lower-is-better",
        "loss",
        "--code-root",
        str(root),
        "--tag",
        "team=ranking",
    )
    assert proc.returncode == 0, proc.stderr
    manifest = load_manifest(out)
    assert manifest.run.captured_by == "cli"
    assert manifest.intent.params == {"lr": 0.01, "optimizer": "adam"}
    assert manifest.randomness.numpy_seed == 42
    assert isinstance(manifest.randomness.cudnn_benchmark, Skipped)
    assert manifest.results.metrics["loss"].direction == "lower"
    assert json.loads(out.read_text())["schema"] == "reprodiag.manifest/v1"


def test_cli_capture_tier_gate_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "gated.json"
    proc = _cli("capture", str(out), "--tier", "shipped", "--code-root", str(tmp_path))
    assert proc.returncode == 1
    assert "data.train" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_capture_bad_seed_is_a_usage_message(tmp_path: Path) -> None:
    proc = _cli("capture", str(tmp_path / "x.json"), "--seed", "torch=abc")
    assert (
        proc.returncode == 3 and "not an integer" in proc.stderr and "Traceback" not in proc.stderr
    )
