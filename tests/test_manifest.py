"""The manifest: canonical JSON, schema validation and its error messages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reprodiag.manifest import (
    SCHEMA_ID,
    ManifestError,
    Skipped,
    canonical_json,
    iter_facts,
    load_manifest,
    write_manifest,
)
from reprodiag.manifest.schema import build_schema, shipped_schema
from tests.helpers.manifests import example_manifest


def _doc() -> dict:
    return json.loads(canonical_json(example_manifest()))


def _write(tmp_path: Path, doc: object, name: str = "m.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_shipped_schema_is_the_built_one() -> None:
    # `python -m reprodiag.manifest.schema` regenerates the file when this fails.
    assert shipped_schema() == build_schema()


def test_round_trip_is_exact_and_canonical(tmp_path: Path) -> None:
    manifest = example_manifest()
    path = write_manifest(manifest, tmp_path / "m.json")
    assert load_manifest(path) == manifest
    text = path.read_text()
    assert text == canonical_json(load_manifest(path))
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_skipped_fact_round_trips_with_its_reason(tmp_path: Path) -> None:
    data = dataclasses.replace(example_manifest().data, train=Skipped("read as latest"))
    manifest = example_manifest(data=data)
    loaded = load_manifest(write_manifest(manifest, tmp_path / "m.json"))
    assert loaded.data.train == Skipped("read as latest")
    assert ("data.train", Skipped("read as latest")) in list(iter_facts(loaded))


def test_a_skip_without_a_kind_takes_the_kind_its_reason_implies_and_writes_back_unchanged(
    tmp_path: Path,
) -> None:
    # A manifest written before kinds existed: {"skipped": reason} and nothing else.
    doc = _doc()
    doc["data"]["feature_store"] = {"skipped": "not given"}
    doc["environment"]["cuda"] = {"skipped": "CPU build of torch"}
    doc["code"]["remote"] = {"skipped": "no git remote configured"}
    loaded = load_manifest(_write(tmp_path, doc))
    assert loaded.data.feature_store == Skipped("not given", "not_given")
    assert loaded.environment.cuda == Skipped("CPU build of torch", "not_applicable")
    assert loaded.code.remote == Skipped("no git remote configured", "not_recorded")
    assert json.loads(canonical_json(loaded)) == doc


def test_a_kind_set_at_the_source_is_written_only_when_the_reason_does_not_imply_it(
    tmp_path: Path,
) -> None:
    base = example_manifest()
    code = dataclasses.replace(
        base.code,
        remote=Skipped("no git remote configured", "not_applicable"),
        branch=Skipped("no branch given", "not_given"),
    )
    path = write_manifest(example_manifest(code=code), tmp_path / "m.json")
    doc = json.loads(path.read_text())
    assert doc["code"]["remote"] == {
        "skipped": "no git remote configured",
        "kind": "not_applicable",
    }
    assert doc["code"]["branch"] == {"skipped": "no branch given"}
    assert load_manifest(path).code == code
    assert ("code.remote", code.remote) in list(iter_facts(load_manifest(path)))
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(build_schema()).validate(doc)


def test_iter_facts_walks_params_per_key() -> None:
    facts = dict(iter_facts(example_manifest()))
    assert facts["intent.params.lr"] == 0.001
    assert facts["data.train.version"] == 3
    assert facts["environment.gpu_name"] == Skipped("no NVIDIA driver: NVML library not found")


def test_unknown_schema_version_names_the_readable_ones(tmp_path: Path) -> None:
    doc = _doc() | {"schema": "reprodiag.manifest/v9"}
    with pytest.raises(ManifestError) as err:
        load_manifest(_write(tmp_path, doc))
    message = str(err.value)
    assert "m.json" in message and "$.schema" in message and SCHEMA_ID in message
    assert "reprodiag.manifest/v9" in message


@pytest.mark.parametrize(
    ("mutate", "json_path", "found"),
    [
        (
            lambda d: d["randomness"].__setitem__("torch_seed", "1234"),
            "$.randomness.torch_seed",
            "1234",
        ),
        (lambda d: d["code"].pop("commit"), "$.code", "missing"),
        (lambda d: d["intent"].__setitem__("colour", "red"), "$.intent", "colour"),
        (
            lambda d: d["results"]["metrics"]["auc"].__setitem__("direction", "up"),
            "$.results.metrics.auc.direction",
            "up",
        ),
        (lambda d: d["data"]["train"].__setitem__("version", 3.5), "$.data.train.version", "3.5"),
    ],
)
def test_validation_error_names_file_path_expected_found(
    tmp_path: Path, mutate, json_path, found
) -> None:
    doc = _doc()
    mutate(doc)
    with pytest.raises(ManifestError) as err:
        load_manifest(_write(tmp_path, doc))
    assert err.value.json_path == json_path
    assert found in err.value.found
    assert err.value.file.endswith("m.json")
    assert err.value.expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "valid JSON"),
        ('{"a": 1, "a": 2}', "each key once"),
        ('{"x": NaN}', "valid JSON"),
        ("[1, 2]", "a JSON object"),
    ],
)
def test_bad_json_is_a_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ManifestError) as err:
        load_manifest(_write(tmp_path, text))
    assert expected in err.value.expected


def test_invalid_utf8_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"schema": "\xff"}')
    with pytest.raises(ManifestError, match="UTF-8"):
        load_manifest(path)
    with pytest.raises(Exception, match="no such file"):
        load_manifest(tmp_path / "absent.json")


def test_nan_metric_is_refused_on_write(tmp_path: Path) -> None:
    from reprodiag.manifest import Metric, Results

    bad = dataclasses.replace(example_manifest().results, metrics={"auc": Metric(float("nan"))})
    assert isinstance(bad, Results)
    with pytest.raises(ValueError):
        canonical_json(example_manifest(results=bad))


def test_deep_nesting_is_a_clear_error(tmp_path: Path) -> None:
    # 100,000 nested arrays overflow the parser's recursion: still a ManifestError, no traceback.
    text = '{"schema": "reprodiag.manifest/v1", "p": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ManifestError):
        load_manifest(_write(tmp_path, text))
