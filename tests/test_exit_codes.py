"""Exit codes as `reprodiag --help` documents them (issue 16), each on a real command.

Signals are sent to a real `reprodiag noise-band` subprocess retraining a real (small) Delta
table with the test trainers of tests/helpers/trainers.py; the broken pipe is a real pipe whose
reader goes away.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprodiag.cli import main
from reprodiag.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_RETRAINS_FAILED,
    EXIT_RUNTIME,
    EXIT_USAGE,
)
from reprodiag.manifest.codec import canonical_json
from reprodiag.manifest.load import load_manifest
from reprodiag.noise.fingerprint import band_key
from reprodiag.noise.store import BandStore
from tests.helpers.manifests import example_manifest
from tests.test_faults import _manifest_on

ROOT = Path(__file__).resolve().parents[1]  # workers import tests.helpers from here


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    code = exit_.value.code
    return (code if isinstance(code, int) else 1), err


def test_help_documents_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    for documented in (0, 1, 2, 3, 4, 5, 6, 130, 141):
        assert re.search(rf"^\s+{documented}  \S", out, re.M), documented
    assert exit_.value.code == 0


# ---- options that must be finite numbers -----------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "NaN"])
def test_retrain_timeout_must_be_a_finite_positive_number(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text(canonical_json(example_manifest()), encoding="utf-8")
    code, err = _cli(
        ["noise-band", str(manifest), "--retrain-timeout", value, "--out", str(tmp_path / "o")],
        capsys,
    )
    assert code == EXIT_USAGE, err
    assert "--retrain-timeout" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["noise-band", "M", "--max-minutes", "nan"],
        ["noise-band", "M", "--max-minutes", "inf"],
        ["noise-band", "M", "--against", "nan"],
        ["compare", "M", "M", "--gap", "nan"],
        ["compare", "M", "M", "--accept-at", "inf"],
    ],
)
def test_other_number_options_refuse_nan_and_inf(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text(canonical_json(example_manifest()), encoding="utf-8")
    argv = [str(manifest) if a == "M" else a for a in argv]
    code, err = _cli([*argv, "--out", str(tmp_path / "o")], capsys)
    assert code == EXIT_USAGE, err
    assert argv[-2] in err and "finite" in err


# ---- a closed pipe ---------------------------------------------------------------------------


def test_a_reader_that_goes_away_stops_the_output_quietly(tmp_path: Path) -> None:
    """`reprodiag diff A B --all | head -1`: more output than a pipe holds, one line read."""
    params = {f"p{i:05d}": i for i in range(3000)}  # about 300 KB of diff rows
    a, b = example_manifest(), example_manifest(seed=99, run_id="run-b")
    doc_a, doc_b = json.loads(canonical_json(a)), json.loads(canonical_json(b))
    doc_a["intent"]["params"] = params
    doc_b["intent"]["params"] = {k: v + 1 for k, v in params.items()}
    (tmp_path / "a.json").write_text(json.dumps(doc_a), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(doc_b), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reprodiag", "diff", "a.json", "b.json", "--all", "--no-content"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"axis")
    proc.stdout.close()  # the reader goes away, as head does after its line
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert err == b"", err  # quiet: no "Broken pipe", no "Exception ignored", no traceback


# ---- signals and failed seeds through a real noise-band --------------------------------------


def _noise_band(manifest: Path, store: Path, trainer: str, seeds: int = 4) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reprodiag",
            "noise-band",
            str(manifest),
            "--seeds",
            str(seeds),
            "--trainer",
            trainer,
            "--band-store",
            str(store),
            "--out",
            str(manifest.parent / "out"),
            "--device",
            "cpu",
            "--no-ensemble",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=manifest.parent,
        preexec_fn=_sigint_default,
    )


def _sigint_default() -> None:
    """Ctrl-C's default in the child, whatever this test run inherited: a shell without job
    control starts a background job (`make test &`) with SIGINT ignored, its children inherit
    that, and a Python started with SIGINT ignored keeps ignoring it (as `nohup` means)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.timeout(240)
def test_sigterm_after_a_finished_seed_exits_130_and_keeps_it(tmp_path: Path) -> None:
    manifest = _manifest_on(tmp_path)
    store_path = tmp_path / "store"
    trainer = "tests.helpers.trainers:steady"
    family = band_key(load_manifest(manifest), {"entrypoint": trainer}, "cpu")
    proc = _noise_band(manifest, store_path, trainer, seeds=6)
    deadline, done = time.monotonic() + 180, []
    while time.monotonic() < deadline and proc.poll() is None:
        if store_path.exists():
            done = [
                r.seed for r in BandStore(store_path).results(family, "auc") if r.status == "ok"
            ]
            if done:
                break
        time.sleep(0.2)
    assert proc.poll() is None and done, f"no seed before the end: {proc.communicate()}"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr and "interrupted; finished work was kept" in stderr
    kept = {r.seed for r in BandStore(store_path).results(family, "auc") if r.status == "ok"}
    assert set(done) <= kept and len(kept) < 6


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
@pytest.mark.timeout(180)
def test_ctrl_c_and_sighup_exit_130(sig: signal.Signals, tmp_path: Path) -> None:
    manifest = _manifest_on(tmp_path)
    proc = _noise_band(manifest, tmp_path / "store", "tests.helpers.trainers:steady")
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # the plan, then a line as each retrain starts
        lines.append(line)
        if "seed" in line or "retrain" in line:
            break
    time.sleep(0.5)
    proc.send_signal(sig)
    _, rest = proc.communicate(timeout=60)
    stderr = "".join(lines) + rest
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr


@pytest.mark.timeout(180)
def test_a_band_whose_every_seed_fails_exits_5(tmp_path: Path) -> None:
    manifest = _manifest_on(tmp_path)
    proc = _noise_band(manifest, tmp_path / "store", "tests.helpers.trainers:raises", seeds=3)
    stdout, stderr = proc.communicate(timeout=150)
    assert proc.returncode == EXIT_RETRAINS_FAILED, (stdout, stderr)
    assert "boom: the trainer failed on purpose" in stdout + stderr
    assert "Traceback" not in stderr


@pytest.mark.timeout(180)
def test_a_trainer_raising_keyboard_interrupt_is_one_failed_seed_per_line(tmp_path: Path) -> None:
    manifest = _manifest_on(tmp_path)
    proc = _noise_band(manifest, tmp_path / "store", "tests.helpers.trainers:interrupts", seeds=3)
    stdout, stderr = proc.communicate(timeout=150)
    assert proc.returncode == EXIT_RETRAINS_FAILED, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    failed = [line for line in stdout.splitlines() if "failed:" in line]
    assert failed and all("KeyboardInterrupt" in line for line in failed), stdout
    assert all("the trainer raised KeyboardInterrupt on purpose" in line for line in failed), stdout


@pytest.mark.timeout(120)
def test_the_cold_worker_reports_a_trainer_keyboard_interrupt_as_a_failed_seed(
    tmp_path: Path,
) -> None:
    """`python -m reprodiag.retrain.worker SPEC RESULT`, the one-retrain worker, run for real."""
    from reprodiag.retrain import RetrainResult, spec_from_manifest

    manifest = _manifest_on(tmp_path)
    spec = spec_from_manifest(
        load_manifest(manifest),
        seed=5,
        label="interrupted",
        out_dir=tmp_path / "retrain",
        metric="auc",
        trainer={"entrypoint": "tests.helpers.trainers:interrupts"},
        device="cpu",
        source=str(manifest),
    )
    spec_file, result_file = tmp_path / "spec.json", tmp_path / "result.json"
    spec_file.write_text(spec.to_json(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "reprodiag.retrain.worker", str(spec_file), str(result_file)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=100,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = RetrainResult.from_json(result_file.read_text(encoding="utf-8"))
    assert result.status == "failed" and result.seed == 5
    assert result.reason == "KeyboardInterrupt: the trainer raised KeyboardInterrupt on purpose"


def test_a_bug_says_internal_error_and_keeps_its_traceback_in_a_file(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # A bug is injected on purpose (no command of reprodiag is known to have one): the diff
    # command's engine raises a TypeError. The user sees one line and where the traceback is.
    import reprodiag.diagnosis.diff as diff_module

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("'float' object is not iterable")

    monkeypatch.setattr(diff_module, "diff_manifests", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    (tmp_path / "a.json").write_text(canonical_json(example_manifest()), encoding="utf-8")
    code, err = _cli(["diff", str(tmp_path / "a.json"), str(tmp_path / "a.json")], capsys)
    assert code == EXIT_RUNTIME
    assert "internal error (TypeError): 'float' object is not iterable" in err
    assert "Traceback" not in err
    kept = re.search(r"the traceback kept in (\S+)", err)
    assert kept is not None, err
    text = Path(kept.group(1)).read_text()
    assert Path(kept.group(1)).parent == tmp_path
    assert text.startswith("Traceback") and "TypeError: 'float' object is not iterable" in text
