"""The one record codec (reprodiag/_records.py) and the formats that go through it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jsonschema
import pytest

from reprodiag import _records
from reprodiag._records import OMIT_WHEN_DEFAULT, RecordError, RecordFormat, schema
from reprodiag.manifest.model import Fact, Skipped
from reprodiag.policy import CHECK, CheckReport, check_manifests, default_policy
from tests.helpers.manifests import example_manifest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class Inner:
    """A nested record."""

    name: str
    size: int = field(default=0, metadata=schema(minimum=0))


@dataclass(frozen=True)
class Outer:
    kind: Literal["a", "b"]
    inner: Fact[Inner]
    items: tuple[Inner, ...]
    pair: tuple[int, str]
    table: Mapping[str, float]
    note: str | None = None
    added: int = field(default=7, metadata={OMIT_WHEN_DEFAULT: True})


SAMPLE = Outer("a", Skipped("not given"), (Inner("x", 2),), (1, "y"), {"auc": 0.5})


def test_round_trip_tags_skipped_and_omits_defaults_marked_so() -> None:
    data = _records.to_json(SAMPLE)
    assert data["inner"] == {"skipped": "not given"} and "added" not in data
    assert data["items"] == [{"name": "x", "size": 2}] and data["pair"] == [1, "y"]
    assert _records.from_json(Outer, json.loads(json.dumps(data))) == SAMPLE
    jsonschema.Draft202012Validator(_records.json_schema(Outer)).validate(data)


@pytest.mark.parametrize(
    ("mutate", "json_path", "expected"),
    [
        (lambda d: d.update(kind="c"), "$.kind", "one of 'a', 'b'"),
        (lambda d: d.update(inner={"name": 3}), "$.inner.name", "a string"),
        (lambda d: d.update(inner={"skipped": 3}), "$.inner.skipped", "a string"),
        (lambda d: d.update(inner=5), "$.inner", "an object (Inner), or a skipped fact"),
        (lambda d: d["items"][0].update(size=-1), "$.items[0].size", "a number >= 0"),
        (lambda d: d.update(pair=[1]), "$.pair", "a list"),
        (lambda d: d.update(table={"a b": "x"}), '$.table["a b"]', "a number"),
        (lambda d: d.update(colour=1), "$.colour", "only the fields of Outer"),
        (lambda d: d.pop("kind"), "$.kind", "the field 'kind'"),
    ],
)
def test_errors_name_file_json_path_and_expected(mutate, json_path: str, expected: str) -> None:
    data = _records.to_json(SAMPLE)
    mutate(data)
    with pytest.raises(RecordError) as err:
        _records.from_json(Outer, data, file="o.json")
    assert (err.value.file, err.value.json_path, err.value.expected) == (
        "o.json",
        json_path,
        expected,
    )
    assert str(err.value).startswith(f"o.json: {json_path}: expected {expected}, found ")


def test_a_format_checks_its_id_and_names_the_next_step() -> None:
    form = RecordFormat("test.outer/v1", Outer, hint="re-run the test")
    data = form.to_json(SAMPLE)
    assert data["format"] == "test.outer/v1" and form.from_json(data) == SAMPLE
    with pytest.raises(RecordError, match=r"\$\.format: expected one of test\.outer/v1") as err:
        form.from_json({**data, "format": "test.outer/v2"}, file="o.json")
    assert err.value.hint == "re-run the test"
    assert form.json_schema()["properties"]["format"] == {"const": "test.outer/v1"}


def test_check_manifests_is_the_library_form_of_check() -> None:
    paths = [FIXTURES / "a-monday-wednesday" / "candidate.json", example_manifest()]
    report = check_manifests(paths, "shipped", default_policy())
    assert isinstance(report, CheckReport) and not report.passed
    assert [m.path for m in report.failed][0].endswith("candidate.json")
    assert report.manifests[1].path == "run " + example_manifest().run.run_id
    assert report.manifests[0].result.violations == report.manifests[0].violations
    data = json.loads(json.dumps(CHECK.to_json(report)))
    assert data["format"] == "reprodiag.check/v1" and CHECK.from_json(data) == report
    jsonschema.Draft202012Validator(CHECK.json_schema()).validate(data)
