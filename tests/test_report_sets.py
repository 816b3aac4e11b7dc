"""A report folder is one set: every file in it comes from one diagnosis.

Real commands (click's runner over `compare` and `report`) write into real folders; the set
record (report-set.json) is checked against the files' bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprodiag.cli import main
from reprodiag.cli.compare import compare
from reprodiag.cli.report import report
from reprodiag.diagnosis import load_diagnosis
from reprodiag.errors import InputError
from reprodiag.manifest import write_manifest
from reprodiag.report.write import SET_FILE, diagnosis_id, split_formats, write_reports
from tests.helpers.manifests import example_manifest

REPORT_FILES = {"report.html", "report.md", "diagnosis.json"}


def _manifests(tmp_path: Path, name: str, auc: float, lr: float) -> tuple[str, str]:
    base = example_manifest(auc=80.0, run_id=f"{name}-base")
    params = {**base.intent.params, "lr": lr}
    cand = example_manifest(auc=auc, run_id=f"{name}-cand")
    cand = replace(cand, intent=replace(cand.intent, params=params, run_name=name))
    return (
        str(write_manifest(base, tmp_path / f"{name}-base.json")),
        str(write_manifest(cand, tmp_path / f"{name}-cand.json")),
    )


def _compare(*args: str) -> None:
    result = CliRunner().invoke(compare, [*args, "--no-snapshot-check"])
    assert result.exit_code == 0, result.output


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_one_set(folder: Path) -> dict:
    record = json.loads((folder / SET_FILE).read_text())
    present = {p.name for p in folder.iterdir() if p.name in REPORT_FILES}
    assert present == set(record["files"]), (present, record)
    for name, digest in record["files"].items():
        assert _sha(folder / name) == digest, name
    return record


def test_two_compares_into_one_folder_never_leave_files_from_two_diagnoses(
    tmp_path: Path,
) -> None:
    out = tmp_path / "report"
    first = _manifests(tmp_path, "tuesday", auc=76.0, lr=0.01)
    second = _manifests(tmp_path, "friday", auc=71.0, lr=0.03)
    _compare(*first, "--out", str(out), "--format", "html,json")
    one = _assert_one_set(out)
    assert set(one["files"]) == {"report.html", "diagnosis.json"}
    earlier = load_diagnosis(out / "diagnosis.json")

    # the second diagnosis in other formats, given the other way (repeated)
    _compare(*second, "--out", str(out), "--format", "md", "--format", "html")
    two = _assert_one_set(out)
    assert set(two["files"]) == {"report.html", "report.md"}  # the stale diagnosis.json is gone
    assert not (out / "diagnosis.json").exists()
    assert two["diagnosis"] != one["diagnosis"] == diagnosis_id(earlier)
    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert "friday" in html and "friday" in md and "tuesday" not in html + md
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_re_rendering_keeps_the_formats_of_the_same_diagnosis(tmp_path: Path) -> None:
    out = tmp_path / "report"
    _compare(*_manifests(tmp_path, "tuesday", auc=76.0, lr=0.01), "--out", str(out))
    assert set(_assert_one_set(out)["files"]) == REPORT_FILES
    # `reprodiag report` into the same folder with a title: the same verdicts, so the json it
    # read (and the md) stay; the html is replaced and names the incident
    result = CliRunner().invoke(
        report, [str(out / "diagnosis.json"), "--format", "html", "--title", "AUC drop"]
    )
    assert result.exit_code == 0, result.output
    record = _assert_one_set(out)
    assert set(record["files"]) == REPORT_FILES
    assert "AUC drop" in (out / "report.html").read_text()


def test_a_folder_written_before_sets_existed_keeps_the_diagnosis_it_re_renders(
    tmp_path: Path,
) -> None:
    out = tmp_path / "report"
    _compare(*_manifests(tmp_path, "tuesday", auc=76.0, lr=0.01), "--out", str(out))
    (out / SET_FILE).unlink()  # as reprodiag 0.1 left it
    result = CliRunner().invoke(report, [str(out / "diagnosis.json"), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert set(_assert_one_set(out)["files"]) == {"report.md", "diagnosis.json"}
    assert not (out / "report.html").exists()  # unverifiable, so not part of this set


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_files_get_the_users_umask(tmp_path: Path, mask: int, mode: int) -> None:
    previous = os.umask(mask)
    try:
        _compare(*_manifests(tmp_path, "tuesday", auc=76.0, lr=0.01), "--out", str(tmp_path / "r"))
    finally:
        os.umask(previous)
    for name in (*REPORT_FILES, SET_FILE):
        assert stat.S_IMODE((tmp_path / "r" / name).stat().st_mode) == mode, name


def test_format_takes_the_same_syntax_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert split_formats(["html,md"]) == split_formats(["html", "md"]) == ("html", "md")
    assert split_formats(["md, HTML", "md"]) == ("md", "html")
    with pytest.raises(InputError, match="'pdf': unknown report format"):
        split_formats(["html,pdf"])
    base, cand = _manifests(tmp_path, "tuesday", auc=76.0, lr=0.01)
    with pytest.raises(SystemExit) as exit_:
        main(["compare", base, cand, "--format", "html,pdf", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "'pdf': unknown report format" in err, err
    assert "Traceback" not in err and not (tmp_path / "x").exists()
    out = tmp_path / "r"
    _compare(base, cand, "--out", str(out), "--format", "json")
    result = CliRunner().invoke(report, [str(out / "diagnosis.json"), "--format", "html,md"])
    assert result.exit_code == 0, result.output
    assert set(_assert_one_set(out)["files"]) == REPORT_FILES


def test_write_reports_refuses_an_empty_set(tmp_path: Path) -> None:
    d = load_diagnosis_from_pair(tmp_path)
    with pytest.raises(InputError, match="no report format"):
        write_reports(d, tmp_path / "r", formats=())


def load_diagnosis_from_pair(tmp_path: Path):
    import reprodiag

    base, cand = _manifests(tmp_path, "tuesday", auc=76.0, lr=0.01)
    return reprodiag.diagnose(reprodiag.load_manifest(base), reprodiag.load_manifest(cand))


def test_provenance_is_recorded_and_shown_with_secrets_redacted(tmp_path: Path) -> None:
    from reprodiag.cli.provenance import REDACTED, redact_argv

    out = tmp_path / "report"
    base, cand = _manifests(tmp_path, "tuesday", auc=76.0, lr=0.01)
    _compare(base, cand, "--out", str(out), "--metric", "auc")
    d = load_diagnosis(out / "diagnosis.json")
    p = d.provenance
    assert p is not None
    # rebuilt from what click parsed: arguments, then the options given, in the command's order
    assert p.command == (
        "compare",
        base,
        cand,
        "--metric",
        "auc",
        "--out",
        str(out),
        "--no-snapshot-check",
    )
    assert p.trainer is None and p.budget is None and p.seeds == ()  # no retrain ran
    assert 0 <= p.wall_seconds < 60
    from importlib.metadata import version

    assert p.reprodiag_version == version("reprodiag")
    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    for text in (html, md):
        assert "How this diagnosis was made" in text and "--metric auc" in text
    argv = [
        "compare",
        "s3://user:hunter2@bucket/a.json",
        "--storage-option",
        "AWS_SECRET_ACCESS_KEY=hunter2",
        "--api-token=hunter2",
        "AZURE_STORAGE_SAS_TOKEN=hunter2",
        "--metric",
        "auc",
    ]
    redacted = redact_argv(argv)
    assert "hunter2" not in " ".join(redacted)
    assert redacted == (
        "compare",
        f"s3://{REDACTED}@bucket/a.json",
        "--storage-option",
        f"AWS_SECRET_ACCESS_KEY={REDACTED}",
        f"--api-token={REDACTED}",
        f"AZURE_STORAGE_SAS_TOKEN={REDACTED}",
        "--metric",
        "auc",
    )
