"""The fixtures: every scenario loads and validates, re-generating gives the same bytes, and every
broken manifest is refused naming the file and a JSON path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from reprodiag.manifest import ManifestError, canonical_json, load_manifest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCENARIOS = sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name != "bad")
# Valid manifests of another model family: they load; compare must refuse them next to ctr-mlp.
LOADS_BUT_INCOMPARABLE = {"other-family.json"}
BAD = sorted(p for p in (FIXTURES / "bad").glob("*.json") if p.name not in LOADS_BUT_INCOMPARABLE)

# scenario -> the AUC gap (baseline - candidate) its README describes
GAPS = {
    "a-monday-wednesday": 4.0,
    "b-postmortem": 6.0,
    "c-learning-rate": 3.0,
    "d-gpu-torch": 1.0,
    "e-seed-only": 0.2,
}


def _generator():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_five_scenarios_are_there() -> None:
    assert [p.name for p in SCENARIOS] == sorted(GAPS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_scenario_loads_validates_and_has_its_gap(scenario: Path) -> None:
    baseline = load_manifest(scenario / "baseline.json")
    candidate = load_manifest(scenario / "candidate.json")
    assert baseline.intent.family == candidate.intent.family == "ctr-mlp"
    assert baseline.run.created_at.startswith("2026-11-23")  # Monday
    assert candidate.run.created_at.startswith("2026-11-25")  # Wednesday
    gap = baseline.results.metrics["auc"].value - candidate.results.metrics["auc"].value
    assert gap == pytest.approx(GAPS[scenario.name])


def test_regenerating_gives_the_same_bytes() -> None:
    module = _generator()
    for name, build in module.SCENARIOS.items():
        for side, manifest in zip(("baseline", "candidate"), build(), strict=True):
            assert (FIXTURES / name / f"{side}.json").read_text() == canonical_json(manifest), name
    for name, text in module.bad_manifests().items():
        assert (FIXTURES / "bad" / name).read_text() == text, name


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_manifest_is_refused_naming_file_and_json_path(path: Path) -> None:
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert err.value.file == str(path)
    assert err.value.json_path.startswith(("$", "line "))
    assert str(path) in str(err.value) and err.value.json_path in str(err.value)


def test_the_bad_folder_covers_each_kind_of_breakage() -> None:
    paths = {p.name: p for p in BAD}
    assert len(paths) == 6
    expected = {
        "malformed.json": "line ",
        "wrong-type-seed.json": "$.randomness.torch_seed",
        "schema-v9.json": "$.schema",
        "duplicate-keys.json": "$",
        "nan-metric.json": "$",
        "missing-field.json": "$.code",
    }
    for name, json_path in expected.items():
        with pytest.raises(ManifestError) as err:
            load_manifest(paths[name])
        assert err.value.json_path.startswith(json_path), name


def test_other_family_loads_but_is_another_model() -> None:
    other = load_manifest(FIXTURES / "bad" / "other-family.json")
    assert other.intent.family == "search-gbdt"
