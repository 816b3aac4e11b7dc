"""One validation everywhere (issue 16): what `validate` accepts, every command accepts.

Each case is a real file on disk run through the real command line (`reprodiag.cli.main`, or a
subprocess where a terminal, a pipe or a FIFO matters): lone surrogates in manifest strings, seeds
outside what a retrain takes, files that are not regular files or are too large, control
characters and terminal escape codes in values, and command-template values that would read as
options.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reprodiag.cli import main
from reprodiag.errors import InputError
from reprodiag.manifest import load as manifest_load
from reprodiag.manifest.codec import canonical_json
from reprodiag.manifest.load import load_manifest, read_json_file
from tests.helpers.manifests import example_manifest

ROOT = Path(__file__).resolve().parents[1]
ESCAPES = "\x1b[31mRED\x1b]0;pwned\x07\x1b[2J\r\x08\u202eevil"


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    code = exit_.value.code
    return (code if isinstance(code, int) else 1), out, err


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _pair(tmp_path: Path, candidate_text: str) -> tuple[Path, Path]:
    a = _write(tmp_path / "a.json", canonical_json(example_manifest()))
    b = _write(tmp_path / "b.json", candidate_text)
    return a, b


def _candidate() -> str:
    return canonical_json(example_manifest(seed=99, auc=76.5, run_id="run-b"))


# ---- lone surrogates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"run_name": "run-b"', '"run_name": "run-\\udfff"', "$.intent.run_name"),
        ('"lr": 0.001', '"l\\ud800r": 0.001', "$.intent.params"),
        ('"run_id": "run-b"', '"run_id": "\\udc00\\udc01"', "$.run.run_id"),
    ],
)
def test_a_lone_surrogate_is_refused_by_validate_diff_and_compare(
    old: str, new: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _candidate()
    assert old in text
    a, b = _pair(tmp_path, text.replace(old, new, 1))
    with pytest.raises(InputError) as exc:
        load_manifest(b)
    assert str(b) in str(exc.value) and field in str(exc.value)
    assert "surrogate" in str(exc.value)
    for argv in (
        ["validate", str(b)],
        ["diff", str(a), str(b)],
        ["compare", str(a), str(b), "--out", str(tmp_path / "out"), "--no-snapshot-check"],
    ):
        code, _, err = _cli(argv, capsys)
        assert code == 3, (argv, err)
        assert str(b) in err and field in err and "surrogate" in err
    assert not (tmp_path / "out").exists()


def test_a_paired_surrogate_escape_is_one_character_and_loads(tmp_path: Path) -> None:
    """\\ud83d\\ude00 in JSON is one emoji, not two lone surrogates."""
    text = _candidate().replace('"run_name": "run-b"', '"run_name": "run-\\ud83d\\ude00"', 1)
    _, b = _pair(tmp_path, text)
    assert load_manifest(b).intent.run_name == "run-\U0001f600"


def test_a_surrogate_in_a_diagnosis_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _pair(tmp_path, _candidate())
    code, _, _ = _cli(
        ["compare", str(a), str(b), "--out", str(tmp_path / "r"), "--no-snapshot-check"], capsys
    )
    assert code == 0
    diagnosis = tmp_path / "r" / "diagnosis.json"
    doc = json.loads(diagnosis.read_text(encoding="utf-8"))
    doc["title"] = "x\udfff"
    diagnosis.write_text(json.dumps(doc), encoding="utf-8")  # ensure_ascii: "\udfff" escaped
    code, _, err = _cli(["report", str(diagnosis), "--out", str(tmp_path / "again")], capsys)
    assert code == 3 and str(diagnosis) in err and "$.title" in err and "surrogate" in err


# ---- seeds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", ["-1", str(2**64), "torch=-5"])
def test_capture_refuses_a_seed_no_retrain_can_take(
    seed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.json"
    code, _, err = _cli(["capture", str(out), "--seed", seed, "--code-root", str(tmp_path)], capsys)
    assert code == 3, err
    assert "--seed" in err and "[0, 2**64)" in err
    assert not out.exists()


def test_capture_takes_the_largest_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.json"
    code, _, err = _cli(
        ["capture", str(out), "--seed", str(2**64 - 1), "--code-root", str(tmp_path)], capsys
    )
    assert code == 0, err
    assert load_manifest(out).randomness.torch_seed == 2**64 - 1


@pytest.mark.parametrize(("key", "value"), [("torch_seed", -1), ("numpy_seed", 2**64)])
def test_validate_refuses_a_recorded_seed_no_retrain_can_take(
    key: str, value: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(_candidate())
    doc["randomness"][key] = value
    _, b = _pair(tmp_path, json.dumps(doc))
    code, _, err = _cli(["validate", str(b)], capsys)
    assert code == 3 and f"$.randomness.{key}" in err and "[0, 2**64)" in err


# ---- files that are not regular, or too large ------------------------------------------------


def _limited() -> None:
    import resource

    # A reprodiag that reads /dev/zero fails this test with MemoryError instead of taking the
    # machine's memory.
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reprodiag", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        preexec_fn=_limited,
    )


def test_dev_zero_is_refused_not_read(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", canonical_json(example_manifest()))
    for argv in (
        ["validate", "/dev/zero"],
        ["diff", str(a), "/dev/zero"],
        ["report", "/dev/zero", "--out", str(tmp_path / "r")],
        ["check", "--tier", "debug", "--policy", "/dev/zero", str(a)],
        ["capture", str(tmp_path / "m.json"), "--params", "/dev/zero"],
    ):
        done = _run(argv, tmp_path)
        assert done.returncode == 3, (argv, done.stderr)
        assert "/dev/zero" in done.stderr and "not a regular file" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    a = _write(tmp_path / "a.json", canonical_json(example_manifest()))
    for argv in (["validate", str(fifo)], ["diff", str(a), str(fifo)]):
        done = _run(argv, tmp_path)
        assert done.returncode == 3, done.stderr
        assert str(fifo) in done.stderr and "not a regular file" in done.stderr


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:  # sparse: nothing is written, st_size says 64 MiB + 1
        handle.truncate(manifest_load.MAX_FILE_BYTES + 1)
    with pytest.raises(InputError) as exc:
        read_json_file(big)
    assert str(big) in str(exc.value) and "64 MiB" in str(exc.value)
    code, _, err = _cli(["validate", str(big)], capsys)
    assert code == 3 and "64 MiB" in err


# ---- control characters and escape codes -----------------------------------------------------


def _escaping_pair(tmp_path: Path) -> tuple[Path, Path]:
    doc = json.loads(_candidate())
    doc["intent"]["run_name"] = "run-" + ESCAPES
    doc["intent"]["params"]["lr" + ESCAPES] = 0.5
    doc["intent"]["hypothesis"] = ESCAPES
    return _pair(tmp_path, json.dumps(doc))


def _no_controls(text: str) -> None:
    bad = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not bad and "\u202e" not in text, sorted(set(bad))


def test_escape_codes_in_values_are_shown_escaped_on_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _escaping_pair(tmp_path)
    code, out, err = _cli(["diff", str(a), str(b), "--show-noise", "--all"], capsys)
    assert code == 0, err
    _no_controls(out + err)
    assert "\\x1b[31mRED" in out and "\\u202eevil" in out
    code, out, err = _cli(
        ["compare", str(a), str(b), "--out", str(tmp_path / "r"), "--no-snapshot-check"], capsys
    )
    assert code == 0, err
    _no_controls(out + err)


def test_escape_codes_in_an_error_message_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(["validate", str(tmp_path / ("no\x1b[2Jsuch.json"))], capsys)
    assert code == 3
    _no_controls(out + err)
    assert "no\\x1b[2Jsuch.json" in err


def test_escape_codes_reach_a_real_terminal_stream_escaped(tmp_path: Path) -> None:
    """The wrapper is installed on the process's own stdout, not only on pytest's capture."""
    a, b = _escaping_pair(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "reprodiag", "diff", str(a), str(b), "--show-noise"],
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in done.stdout + done.stderr and b"\\x1b[31mRED" in done.stdout


def test_escape_codes_are_escaped_in_the_markdown_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _escaping_pair(tmp_path)
    code, _, err = _cli(
        ["compare", str(a), str(b), "--out", str(tmp_path / "r"), "--no-snapshot-check"], capsys
    )
    assert code == 0, err
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    _no_controls(md)
    assert "\\\\x1b" in md or "\\x1b" in md


# ---- command templates: values that would read as options ------------------------------------


def test_a_placeholder_value_starting_with_a_dash_is_refused() -> None:
    from reprodiag.retrain.template import render

    argv = ("python", "train.py", "--data", "{snapshot_uri}", "--seed", "{seed}")
    with pytest.raises(InputError) as exc:
        render(argv, {"snapshot_uri": "--output=/etc/passwd", "seed": "1"})
    assert "{snapshot_uri}" in str(exc.value) and "--output=/etc/passwd" in str(exc.value)
    assert "--" in (exc.value.hint or "")
    # inside an argument that does not start with the value, it is data
    assert render(("train", "--data={snapshot_uri}"), {"snapshot_uri": "-x"}) == [
        "train",
        "--data=-x",
    ]
    # after a `--` of the template, every argument is an operand: passed as is
    assert render(
        ("train", "--seed", "{seed}", "--", "{snapshot_uri}"), {"seed": "1", "snapshot_uri": "-x"}
    ) == [
        "train",
        "--seed",
        "1",
        "--",
        "-x",
    ]
    # a template's own option text is not a value: kept
    assert render(("train", "-v", "{seed}"), {"seed": "3"}) == ["train", "-v", "3"]
