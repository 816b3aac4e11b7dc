"""`reprodiag check` through the CLI's one exit point: 0 pass, 1 violation, 3 bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reprodiag.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _check(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(["check", *args])
    return int(exit_.value.code or 0)


def _scenario(name: str, side: str = "candidate") -> str:
    return str(FIXTURES / name / f"{side}.json")


@pytest.fixture(autouse=True)
def _no_project_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml above: the defaults apply


@pytest.mark.parametrize("scenario", ["c-learning-rate", "d-gpu-torch", "e-seed-only"])
def test_pinned_scenarios_pass_shipped(scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _check(_scenario(scenario, "baseline"), _scenario(scenario)) == 0
    out = capsys.readouterr().out
    assert out.count("PASS tier 'shipped'") == 2


def test_monday_wednesday_fails_shipped_listing_every_missing_fact(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _check(_scenario("c-learning-rate"), _scenario("a-monday-wednesday")) == 1
    captured = capsys.readouterr()
    assert "PASS" in captured.out and "FAIL tier 'shipped': 8 of 22" in captured.out
    for path in (
        "data.train.version",
        "data.train.fingerprint",
        "environment.cpu_capability",
        "environment.threads",
        "randomness.python_seed",
        "randomness.numpy_seed",
        "randomness.cuda_seed",
        "randomness.deterministic_algorithms",
    ):
        assert path in captured.out
    assert "next: tier 'shipped' requires data.train pinned" in captured.out
    assert "1 of 2 manifest(s) violate their tier" in captured.err
    assert "Traceback" not in captured.err


def test_tier_option_overrides_the_recorded_tier() -> None:
    assert _check("--tier", "debug", _scenario("a-monday-wednesday")) == 0
    assert _check("--tier", "experimental", _scenario("b-postmortem")) == 1


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert _check("--json", _scenario("a-monday-wednesday"), _scenario("e-seed-only")) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "reprodiag.check/v1" and doc["passed"] is False
    assert doc["policy"] == "built-in defaults"
    first, second = doc["manifests"]
    assert first["passed"] is False and first["tier"] == "shipped" and first["checked"] == 22
    assert first["violations"][0] == {
        "axis": "data",
        "path": "data.train.version",
        "reason": "skipped: read as latest; no version recorded",
    }
    assert second["passed"] is True and second["violations"] == []


def test_project_pyproject_changes_the_outcome(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "c-learning-rate" / "candidate.json").read_text())
    doc["environment"]["container_image"] = {"skipped": "no container image digest visible"}
    no_image = tmp_path / "no-image.json"
    no_image.write_text(json.dumps(doc))
    assert _check(str(no_image)) == 0  # the image is not required by default
    (tmp_path / "pyproject.toml").write_text(
        '[tool.reprodiag.policy.require]\nenvironment = ["environment.container_image"]\n'
    )
    assert _check(str(no_image)) == 1
    assert _check(_scenario("d-gpu-torch")) == 0  # d records its image
    assert _check(_scenario("a-monday-wednesday"), "--tier", "debug") == 0
    (tmp_path / "pyproject.toml").write_text(
        '[tool.reprodiag.policy.tiers.debug]\naxes = ["data", "code", "intent"]\n'
    )
    assert _check(_scenario("a-monday-wednesday"), "--tier", "debug") == 1


def test_policy_file_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "strict.toml"
    policy.write_text(
        '[tiers.shipped]\nrequire = { intent = ["intent.owner", "intent.params.dropout"] }\n'
    )
    assert _check("--policy", str(policy), _scenario("c-learning-rate")) == 1
    assert "intent.params.dropout: missing" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["malformed.json", "schema-v9.json", "wrong-type-seed.json"])
def test_an_unreadable_manifest_is_bad_input(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _check(str(FIXTURES / "bad" / bad)) == 3
    err = capsys.readouterr().err
    assert bad in err and "Traceback" not in err


def test_a_bad_policy_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[tiers.shipped]\naxes = ["data", "weather"]\n')
    assert _check("--policy", str(policy), _scenario("c-learning-rate")) == 3
    err = capsys.readouterr().err
    assert "policy.toml: tiers.shipped.axes[1]: 'weather' is not an axis" in err
    assert _check("--policy", str(tmp_path / "missing.toml"), _scenario("c-learning-rate")) == 3


def test_unknown_tier_and_missing_tier_are_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check("--tier", "production", _scenario("c-learning-rate")) == 3
    assert "unknown tier 'production'" in capsys.readouterr().err
    doc = json.loads((FIXTURES / "c-learning-rate" / "baseline.json").read_text())
    doc["intent"]["tier"] = {"skipped": "no tier given"}
    untiered = tmp_path / "untiered.json"
    untiered.write_text(json.dumps(doc))
    assert _check(str(untiered)) == 3
    assert "--tier" in capsys.readouterr().err
