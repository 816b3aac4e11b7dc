"""`reprodiag compare` from manifest files to the three reports, the way a user runs it."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from reprodiag.cli import main
from reprodiag.manifest import write_manifest
from tests.helpers.manifests import example_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# fixture → the expected ranking (axis order) and the first axis's status
EXPECTED = {
    "a-monday-wednesday": (("data", "randomness", "environment"), "unversioned"),
    "b-postmortem": (("data", "randomness"), "unversioned"),
    "c-learning-rate": (("intent",), "candidate"),
    "d-gpu-torch": (("environment",), "candidate"),
    "e-seed-only": (("randomness",), "candidate"),
}


def _compare(tmp_path: Path, scenario: str, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    out = tmp_path / scenario
    with pytest.raises(SystemExit) as code:
        main(
            [
                "compare",
                str(FIXTURES / scenario / "baseline.json"),
                str(FIXTURES / scenario / "candidate.json"),
                "--out",
                str(out),
            ]
        )
    printed = capsys.readouterr().out
    assert code.value.code == 0, printed
    assert {p.name for p in out.iterdir()} >= {"report.html", "report.md", "diagnosis.json"}
    return json.loads((out / "diagnosis.json").read_text()), printed


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_fixture_ranks_as_a_careful_engineer_would(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    diagnosis, printed = _compare(tmp_path, scenario, capsys)
    order, first_status = EXPECTED[scenario]
    ranking = diagnosis["ranking"]
    assert tuple(r["axis"] for r in ranking[: len(order)]) == order
    assert ranking[0]["status"] == first_status
    assert all(r["reason"] for r in ranking)
    assert order[0] in printed.lower()


def test_fixture_a_reason_says_unpinned_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    diagnosis, _ = _compare(tmp_path, "a-monday-wednesday", capsys)
    assert "unpinned" in diagnosis["ranking"][0]["reason"]
    assert "torch seed" in diagnosis["ranking"][1]["reason"]
    planned = [c["key"] for c in diagnosis["checks"] if c["status"] != "done"]
    assert "noise_band" in planned


EVIL = '<script>alert("x")</script>\'&"'


def test_hostile_manifest_values_are_escaped_in_the_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = example_manifest()
    intent = dataclasses.replace(
        base.intent,
        run_name=EVIL,
        hypothesis=EVIL,
        experiment=EVIL,
        params={"lr": 0.001, EVIL: EVIL},
        tags={EVIL: EVIL},
        owner=EVIL,
    )
    data = dataclasses.replace(
        base.data, train=dataclasses.replace(base.data.train, uri="/x/" + EVIL)
    )
    candidate = example_manifest(seed=7, auc=77.0, intent=intent, data=data)
    write_manifest(base, tmp_path / "b.json")
    write_manifest(candidate, tmp_path / "c.json")
    with pytest.raises(SystemExit) as code:
        main(
            [
                "compare",
                str(tmp_path / "b.json"),
                str(tmp_path / "c.json"),
                "--out",
                str(tmp_path / "r"),
                "--no-snapshot-check",
            ]
        )
    assert code.value.code == 0, capsys.readouterr()
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    md = (tmp_path / "r" / "report.md").read_text()
    # Markdown escapes with a backslash: "\<script" renders as text; a bare "<script" would be HTML.
    assert re.search(r"(?<!\\)<script", md) is None
    assert "\\<script" in md
