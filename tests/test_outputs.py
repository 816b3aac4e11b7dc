"""Output digests: real torch modules, NumPy arrays and files; real captures; the shell command;
the reference trainer through a retrain worker; the bit-exact comparison of two manifests."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import reprodiag
from reprodiag.diagnosis.outputs import compare_outputs
from reprodiag.errors import InputError
from reprodiag.manifest import load_manifest
from reprodiag.manifest.model import FileDigest, Manifest, OutputDigests
from reprodiag.probes.outputs import (
    array_digest,
    arrays_digest,
    file_digest,
    normalize_digest,
    predictions_digest,
    weights_digest,
)
from tests.helpers.manifests import example_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))


# --- digests -----------------------------------------------------------------------------------


def test_a_module_its_state_dict_and_the_same_arrays_in_numpy_share_one_digest() -> None:
    model = _model(0)
    state = model.state_dict()
    as_numpy = {name: t.numpy().copy() for name, t in state.items()}
    reordered = dict(reversed(list(state.items())))
    digest = weights_digest(model)
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    assert weights_digest(state) == weights_digest(as_numpy) == weights_digest(reordered) == digest
    assert weights_digest(_model(0)) == digest  # same seed, same bits
    assert weights_digest(_model(1)) != digest


def test_one_flipped_bit_a_dtype_or_a_shape_changes_the_digest() -> None:
    weights = {"w": np.arange(6, dtype=np.float32), "b": np.zeros(2, np.float32)}
    base = arrays_digest(weights)
    flipped = weights["w"].copy()
    flipped.view(np.uint32)[3] ^= 1  # the last bit of one float
    assert arrays_digest({**weights, "w": flipped}) != base
    assert arrays_digest({**weights, "w": weights["w"].astype(np.float64)}) != base
    assert arrays_digest({**weights, "w": weights["w"].reshape(2, 3)}) != base
    assert arrays_digest({"v": weights["w"], "b": weights["b"]}) != base  # names count too


def test_an_array_digest_ignores_layout_device_and_byte_order_but_not_values() -> None:
    matrix = np.arange(12, dtype=np.float64).reshape(3, 4)
    transposed = np.asfortranarray(matrix)
    big_endian = matrix.astype(">f8")
    tensor = torch.from_numpy(matrix.copy())
    digest = array_digest(matrix)
    assert array_digest(transposed) == array_digest(big_endian) == array_digest(tensor) == digest
    assert predictions_digest(tensor.t().contiguous().t()) == digest  # a strided view
    assert array_digest(matrix[:, ::2]) == array_digest(np.ascontiguousarray(matrix[:, ::2]))
    assert array_digest(matrix + 1e-12) != digest
    assert array_digest([0.5, 1.5]) == array_digest(np.array([0.5, 1.5]))


def test_bfloat16_and_bool_tensors_are_digested_from_their_raw_bytes() -> None:
    values = torch.tensor([1.0, -2.5, 3.25])
    assert array_digest(values.bfloat16()) != array_digest(values.half())
    assert array_digest(values > 0) == array_digest(np.array([True, False, True]))


def test_object_arrays_and_bad_digests_are_refused_with_the_next_step() -> None:
    with pytest.raises(InputError, match="Python objects") as err:
        predictions_digest(np.array([{"a": 1}, None], dtype=object))
    assert "numpy.asarray" in (err.value.hint or "")
    with pytest.raises(InputError, match="not a sha256 digest"):
        weights_digest("md5:abc")
    hexdigest = "AB" * 32
    assert normalize_digest(hexdigest) == normalize_digest(f"sha256:{hexdigest.lower()}")


def test_a_file_digest_is_streamed_and_named_relative_to_the_output_folder(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    (out / "ckpt").mkdir(parents=True)
    blob = bytes(range(256)) * 9000  # over 2 MiB: several chunks
    (out / "ckpt" / "model.bin").write_bytes(blob)
    record = file_digest(out / "ckpt" / "model.bin", root=out)
    assert record == FileDigest(
        "ckpt/model.bin", "sha256:" + hashlib.sha256(blob).hexdigest(), 2304000
    )
    assert file_digest(out / "ckpt" / "model.bin", name="weights").name == "weights"
    with pytest.raises(InputError, match="cannot digest the output file"):
        file_digest(tmp_path / "missing.bin")


# --- capture -----------------------------------------------------------------------------------


def _train_and_capture(path: Path, out: Path, seed: int, root: Path) -> Manifest:
    """A real (tiny) torch training captured in-process, its outputs logged."""
    seeds = reprodiag.deterministic_seeds(seed)
    with reprodiag.capture(path, seeds=seeds, code_root=root, output_dir=out) as run:
        model = nn.Linear(3, 1)
        x = torch.linspace(-1, 1, 24).reshape(8, 3)
        y = x.sum(dim=1, keepdim=True)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(20):
            optimizer.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "predictions.npy", model(x).detach().numpy())
        run.log_metrics({"mse": float(loss.detach())}, {"mse": "lower"})
        recorded = run.log_outputs(weights=model, predictions=model(x))
        run.log_outputs(files=[out / "predictions.npy"])
    assert recorded.weights == weights_digest(model)
    return load_manifest(path)


def test_a_capture_records_its_output_digests_and_two_equal_runs_are_bit_exact(
    tmp_path: Path,
) -> None:
    monday = _train_and_capture(tmp_path / "a.json", tmp_path / "a", 5, tmp_path)
    outputs = monday.results.outputs
    assert outputs is not None and outputs.weights and outputs.predictions
    assert [f.name for f in outputs.files] == ["predictions.npy"]
    assert outputs.predictions == array_digest(np.load(tmp_path / "a" / "predictions.npy"))
    again = _train_and_capture(tmp_path / "b.json", tmp_path / "b", 5, tmp_path)
    same = compare_outputs(monday, again)
    assert same.bit_exact is True and [d.status for d in same.digests] == ["equal"] * 3
    assert same.reason.startswith("bit-exact: the digests of weights, predictions and file")
    other_seed = _train_and_capture(tmp_path / "c.json", tmp_path / "c", 6, tmp_path)
    moved = compare_outputs(monday, other_seed)
    assert moved.bit_exact is False
    assert {d.output for d in moved.differing} == {"weights", "predictions", "file predictions.npy"}


def test_a_run_without_outputs_writes_no_outputs_key(tmp_path: Path) -> None:
    with reprodiag.capture(tmp_path / "m.json", code_root=tmp_path) as run:
        run.log_metric("auc", 80.0)
    doc = json.loads((tmp_path / "m.json").read_text())
    assert "outputs" not in doc["results"] and "resolution" not in doc["results"]["metrics"]["auc"]
    assert load_manifest(tmp_path / "m.json").results.outputs is None


# --- comparison --------------------------------------------------------------------------------


def _with_outputs(manifest: Manifest, outputs: OutputDigests | None) -> Manifest:
    return dataclasses.replace(
        manifest, results=dataclasses.replace(manifest.results, outputs=outputs)
    )


W1, W2, P1 = ("sha256:" + c * 64 for c in "abc")


def test_unrecorded_outputs_cannot_tell_and_one_side_only_is_named() -> None:
    old = load_manifest(FIXTURES / "a-monday-wednesday" / "baseline.json")
    assert old.results.outputs is None  # written before output digests existed
    neither = compare_outputs(old, old)
    assert neither.bit_exact is None and neither.digests == ()
    assert "neither run recorded output digests" in neither.reason
    one_side = compare_outputs(_with_outputs(old, OutputDigests(weights=W1)), old)
    assert one_side.bit_exact is None
    assert one_side.unrecorded[0].unrecorded_side == "candidate"
    assert "weights recorded by the baseline only" in one_side.reason


def test_equal_shared_digests_are_bit_exact_even_when_one_side_recorded_more() -> None:
    base = _with_outputs(
        example_manifest(),
        OutputDigests(weights=W1, predictions=P1, files=(FileDigest("model.pt", W2, 10),)),
    )
    cand = _with_outputs(example_manifest(run_id="b"), OutputDigests(weights=W1))
    result = compare_outputs(base, cand)
    assert result.bit_exact is True
    assert [(d.output, d.status) for d in result.digests] == [
        ("weights", "equal"),
        ("predictions", "unrecorded"),
        ("file model.pt", "unrecorded"),
    ]
    assert "predictions recorded by the baseline only" in result.reason
    differ = compare_outputs(base, _with_outputs(cand, OutputDigests(weights=W2, predictions=P1)))
    assert differ.bit_exact is False and differ.reason == (
        "not bit-exact: the digests of weights differ"
    )


# --- the shell command -------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reprodiag", "capture", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_cli_capture_records_weights_predictions_and_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    predictions = np.linspace(0, 1, 50, dtype=np.float32)
    np.save(out / "scores.npy", predictions)
    (out / "model.onnx").write_bytes(b"\x08\x07onnx")
    weights = "AB" * 32
    proc = _cli(
        str(tmp_path / "m.json"),
        "--code-root", str(tmp_path),
        "--metric", "auc=81.2",
        "--output-dir", str(out),
        "--output-file", str(out / "model.onnx"),
        "--output-file", str(out / "scores.npy"),
        "--predictions-file", str(out / "scores.npy"),
        "--weights-digest", weights,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    outputs = load_manifest(tmp_path / "m.json").results.outputs
    assert outputs is not None
    assert outputs.weights == "sha256:" + weights.lower()
    assert outputs.predictions == predictions_digest(predictions)  # as the Python API has it
    assert [(f.name, f.size) for f in outputs.files] == [("model.onnx", 6), ("scores.npy", 328)]


def test_cli_capture_refuses_a_bad_digest_and_two_predictions(tmp_path: Path) -> None:
    bad = _cli(
        str(tmp_path / "m.json"), "--code-root", ".", "--weights-digest", "xyz", cwd=tmp_path
    )
    assert bad.returncode == 3 and "not a sha256 digest" in bad.stderr
    (tmp_path / "p.csv").write_text("0.1\n0.9\n")
    both = _cli(
        str(tmp_path / "m.json"),
        "--code-root", ".",
        "--predictions-file", "p.csv",
        "--predictions-digest", "ab" * 32,
        cwd=tmp_path,
    )  # fmt: skip
    assert both.returncode != 0 and "pass one of them" in both.stderr
    assert not (tmp_path / "m.json").exists()


# --- retrains and the reference family ---------------------------------------------------------


def test_a_retrain_of_the_reference_family_records_weights_and_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reprodiag.family import create_table, eval_table_path, train_table_path
    from reprodiag.retrain import spec_from_manifest
    from reprodiag.retrain.worker import run_spec
    from reprodiag.snapshots import open_snapshot

    create_table(tmp_path, days=1, rows_per_day=300, seed=3, eval_rows=200)
    source = tmp_path / "source.json"
    with reprodiag.capture(
        source,
        train=open_snapshot(train_table_path(tmp_path)),
        eval=open_snapshot(eval_table_path(tmp_path)),
        params={"epochs": 1},
        family="reference-mlp",
        entrypoint="reprodiag.family.mlp:train",
        code_root=tmp_path,
    ) as run:
        run.log_metrics({"auc": 60.0, "accuracy": 55.0})
    monkeypatch.chdir(tmp_path)  # the worker probes the code where it runs: keep it cheap
    manifests = []
    for label in ("replay-a", "replay-b"):
        spec = spec_from_manifest(
            load_manifest(source), seed=11, label=label, out_dir=tmp_path / label, metric="auc"
        )
        result = run_spec(spec)
        assert result.status == "ok", result.reason
        manifests.append(load_manifest(spec.manifest_out))
    first = manifests[0].results
    assert first.outputs is not None and first.outputs.weights and first.outputs.predictions
    assert first.primary_metric == "auc"  # a retrain is judged on the metric it was run for
    assert compare_outputs(*manifests).bit_exact is True  # same seed, same host: same bits
