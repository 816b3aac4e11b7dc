"""Command-template trainers: every value reaches the command literally, never through a shell."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from reprodiag.errors import InputError
from reprodiag.manifest import load_manifest
from reprodiag.retrain import PLACEHOLDERS, RetrainFailed, RetrainSpec, parse_command, render
from reprodiag.retrain.command import run_command
from reprodiag.retrain.executor import SerialExecutor
from reprodiag.snapshots import open_snapshot

TESTS = Path(__file__).resolve().parent
ECHO = str(TESTS / "helpers" / "trainers.py")
# Each of these would do something else if it ever passed through a shell or got re-split.
EVIL = "a b 'q' \"dq\" ; $(touch pwned) `touch pwned2` | > out.txt & \\ \n{seed} $HOME *"
VALUES = {name: f"<{name}>" for name in PLACEHOLDERS}


def test_a_one_string_template_is_split_before_substitution() -> None:
    argv = parse_command("python train.py --seed {seed} --out {output_dir} --tag 'a {seed}'")
    assert argv == (
        "python",
        "train.py",
        "--seed",
        "{seed}",
        "--out",
        "{output_dir}",
        "--tag",
        "a {seed}",
    )
    rendered = render(argv, {**VALUES, "seed": "7", "output_dir": EVIL})
    assert rendered == ["python", "train.py", "--seed", "7", "--out", EVIL, "--tag", "a 7"]


def test_substitution_is_one_pass_inside_each_argument() -> None:
    values = {**VALUES, "snapshot_uri": "/data/{seed}/{metrics_file}", "seed": "3"}
    rendered = render(["--data={snapshot_uri}@v{seed}"], values)
    assert rendered == ["--data=/data/{seed}/{metrics_file}@v3"]


def test_literal_braces_and_json_are_left_alone() -> None:
    assert render(["{{seed}}", '{"lr": 0.1}', "{}", "{ seed }"], VALUES) == [
        "{seed}",
        '{"lr": 0.1}',
        "{}",
        "{ seed }",
    ]


def test_unknown_placeholders_are_refused_with_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown placeholder \{bogus\}") as info:
        parse_command("python train.py --data {snapshot_path} --x {bogus}")
    message = str(info.value)
    assert "also {snapshot_path}" in message
    assert all("{" + name + "}" in message for name in PLACEHOLDERS)


@pytest.mark.parametrize("text", ["python 'unclosed", "   "])
def test_unsplittable_or_empty_commands_are_input_errors(text: str) -> None:
    with pytest.raises(InputError):
        parse_command(text)


@pytest.fixture
def evil_world(tmp_path: Path) -> tuple[Path, RetrainSpec]:
    """A pinned snapshot and an output folder whose paths are made of shell metacharacters."""
    data = tmp_path / f"data {EVIL}"
    data.mkdir()
    (data / "rows.csv").write_text("x,y\n1,0\n")
    ref = open_snapshot(data).ref
    spec = RetrainSpec(
        label="command retrain",
        seed=1234,
        train=ref,
        eval=ref,
        metric="auc",
        trainer={
            "command": [
                sys.executable,
                ECHO,
                str(tmp_path / "echo.json"),
                "--seed",
                "{seed}",
                "--data={snapshot_uri}",
                "--version",
                "{snapshot_version}",
                "--params",
                "{params_file}",
                "--metrics",
                "{metrics_file}",
                "--out",
                "{output_dir}",
                "--device",
                "{device}",
                "{{literal}}",
            ]
        },
        params={"note": EVIL, "lr": 0.01},
        output_dir=str(tmp_path / f"out {EVIL}"),
        manifest_out=str(tmp_path / "retrain.json"),
        device="cpu",
        family="f",
    )
    return tmp_path, spec


def _assert_echoed_literally(tmp_path: Path, spec: RetrainSpec) -> None:
    echoed = json.loads((tmp_path / "echo.json").read_text())
    out = Path(spec.output_dir)
    assert echoed["argv"] == [
        str(tmp_path / "echo.json"),
        "--seed",
        "1234",
        f"--data={spec.train.uri}",
        "--version",
        str(spec.train.fingerprint),
        "--params",
        str(out / "reprodiag-params.json"),
        "--metrics",
        str(out / "reprodiag-metrics.json"),
        "--out",
        str(out),
        "--device",
        "cpu",
        "{literal}",
    ]
    assert EVIL in spec.train.uri
    assert echoed["params"] == {"note": EVIL, "lr": 0.01}
    leftovers = [
        p
        for p in (tmp_path, Path.cwd())
        for name in ("pwned", "pwned2", "out.txt")
        if (p / name).exists()
    ]
    assert leftovers == []


def test_command_values_are_passed_literally(
    evil_world: tuple[Path, RetrainSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path, spec = evil_world
    monkeypatch.chdir(tmp_path)  # where a `touch pwned` would land
    assert run_command(spec, device="cpu") == {"auc": 61.5}
    _assert_echoed_literally(tmp_path, spec)


@pytest.mark.slow
def test_a_command_trainer_runs_in_a_worker_and_leaves_a_manifest(
    evil_world: tuple[Path, RetrainSpec],
) -> None:
    tmp_path, spec = evil_world
    (result,) = SerialExecutor(tmp_path / "work", cwd=tmp_path).run([spec])
    assert (result.status, result.metric_value) == ("ok", 61.5), result.reason
    _assert_echoed_literally(tmp_path, spec)
    manifest = load_manifest(str(result.manifest_path))
    assert str(manifest.code.entrypoint).startswith(sys.executable)
    assert manifest.randomness.python_seed == 1234 and manifest.intent.params["note"] == EVIL


def _with_command(spec: RetrainSpec, argv: list[str]) -> RetrainSpec:
    import dataclasses

    return dataclasses.replace(spec, trainer={"command": argv})


def test_a_failing_command_is_a_failed_retrain(evil_world: tuple[Path, RetrainSpec]) -> None:
    _, spec = evil_world
    exits = _with_command(spec, [sys.executable, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(RetrainFailed, match="the command exited with code 3"):
        run_command(exits, device="cpu")
    silent = _with_command(spec, [sys.executable, "-c", "pass"])
    with pytest.raises(RetrainFailed, match="wrote no metrics"):
        run_command(silent, device="cpu")
    missing = _with_command(spec, [os.path.join(str(evil_world[0]), "no-such-program")])
    with pytest.raises(RetrainFailed, match="cannot start the command"):
        run_command(missing, device="cpu")
