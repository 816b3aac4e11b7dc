"""`reprodiag diff` and `reprodiag compare`: through click's runner and through main()."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprodiag.cli import main
from reprodiag.cli.compare import compare, slug
from reprodiag.cli.diff import diff
from reprodiag.diagnosis import load_diagnosis
from reprodiag.manifest import write_manifest
from reprodiag.manifest.model import Skipped, SnapshotRef
from tests.helpers.manifests import example_manifest


def _pair(tmp_path: Path) -> tuple[str, str]:
    base = example_manifest(auc=80.0, run_id="monday")
    assert isinstance(base.data.train, SnapshotRef)
    latest = replace(base.data.train, version=Skipped("read as latest"), fingerprint=Skipped("n/a"))
    base = replace(base, data=replace(base.data, train=latest))
    cand = example_manifest(auc=76.0, run_id="wed/../../escape")
    return (
        str(write_manifest(base, tmp_path / "baseline.json")),
        str(write_manifest(cand, tmp_path / "candidate.json")),
    )


def test_diff_prints_a_table_per_axis_with_skip_reasons(tmp_path: Path) -> None:
    base, cand = _pair(tmp_path)
    result = CliRunner().invoke(diff, [base, cand])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["axis", "field", "status", "baseline", "→", "candidate", "note"]
    row = next(line for line in lines if "train.version" in line)
    assert (
        "unversioned (baseline)" in row and "not recorded (read as latest)" in row and "→ 3" in row
    )
    assert "run_id" not in result.output
    noisy = CliRunner().invoke(diff, [base, cand, "--show-noise"])
    assert "run.run_id" in noisy.output and "never a cause" in noisy.output


def test_diff_json_is_canonical_and_hides_noise_unless_asked(tmp_path: Path) -> None:
    base, cand = _pair(tmp_path)
    doc = json.loads(CliRunner().invoke(diff, [base, cand, "--json"]).output)
    assert [a["axis"] for a in doc["axes"]] == [
        "data",
        "code",
        "environment",
        "randomness",
        "intent",
    ]
    assert doc["noise"] == []
    doc = json.loads(CliRunner().invoke(diff, [base, cand, "--json", "--show-noise"]).output)
    assert "run.run_id" in {f["path"] for f in doc["noise"]}


def test_compare_prints_the_ranking_plan_and_paths(tmp_path: Path) -> None:
    base, cand = _pair(tmp_path)
    out = tmp_path / "report"
    result = CliRunner().invoke(compare, [base, cand, "--out", str(out), "--no-snapshot-check"])
    assert result.exit_code == 0, result.output
    assert "1. data" in result.output and "unversioned" in result.output
    assert "the baseline read unpinned data" in result.output
    assert "Still to run:" in result.output and "noise band" in result.output
    assert "pinned-snapshot retrain" in result.output and "skipped" in result.output
    written = out / "diagnosis.json"
    assert str(written) in result.output
    diagnosis = load_diagnosis(written)
    assert diagnosis.ranking[0].axis == "data"
    assert diagnosis.baseline.path == base


def test_compare_default_folder_is_a_safe_slug_of_the_run_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, cand = _pair(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(compare, [base, cand, "--format", "json"])
    assert result.exit_code == 0, result.output
    folders = [p for p in (tmp_path / "reports").iterdir()]
    assert [p.name for p in folders] == ["wed-escape"]
    assert (folders[0] / "diagnosis.json").is_file()
    assert slug("../..") == "diagnosis" and slug("a b/c") == "a-b-c"
    assert slug("v1.2_rc-3") == "v1.2_rc-3"


def test_compare_rejects_a_name_with_dot_dot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, cand = _pair(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["compare", base, cand, "--name", "../x", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "--name" in capsys.readouterr().err


def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cand = _pair(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["compare", base, cand, "--out", str(tmp_path / "r"), "--format", "json"])
    assert exc.value.code == 0
    assert "Ranking:" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["compare", base, cand, "--gap", "-2", "--out", str(tmp_path / "r2")])
    assert exc.value.code == 3
    assert "positive = worse" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["compare", base, cand, "--metric", "f1", "--out", str(tmp_path / "r3")])
    assert exc.value.code == 3
    assert "lack the metric 'f1'" in capsys.readouterr().err  # both files lack it
    with pytest.raises(SystemExit) as exc:
        main(["compare", base, cand, "--prior", "data,weather"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["diff", base, str(tmp_path / "missing.json")])
    assert exc.value.code == 3
    with pytest.raises(SystemExit) as exc:
        main(["diff", base, cand])
    assert exc.value.code == 0


def test_compare_refuses_another_model_family_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = _pair(tmp_path)
    proto = example_manifest(auc=70.0, run_id="gbm")
    other = write_manifest(
        replace(proto, intent=replace(proto.intent, family="fraud-gbm")), tmp_path / "other.json"
    )
    with pytest.raises(SystemExit) as exc:
        main(["compare", base, str(other), "--out", str(tmp_path / "o")])
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert "intent.family differs" in err and "--allow-other-family" in err
    result = CliRunner().invoke(
        compare,
        [
            base,
            str(other),
            "--out",
            str(tmp_path / "o"),
            "--allow-other-family",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "intent.family differs" in result.output  # printed as a warning
