"""Fuzzing the input boundary: the manifest loader, the diff, the renderers, band-store rows and
the CLI.

The contract under test (README "Exit codes"): bad input is an InputError (exit 3) that names the
file; nothing else escapes, and the CLI never prints a traceback. Every target prints how many
cases it ran (`[fuzz] target: N cases`), so the test output states the figures that
docs/robustness.md reports. REPRODIAG_FUZZ_SCALE=N multiplies every drawn target's examples
(scripts/fuzz.py runs the file with N = 4: over 10,000 cases).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reprodiag.cli import main
from reprodiag.diagnosis import diagnose
from reprodiag.diagnosis.diff import diff_manifests
from reprodiag.errors import InputError
from reprodiag.manifest.codec import canonical_json, to_jsonable
from reprodiag.manifest.load import load_manifest, manifest_from_json, parse_json_text
from reprodiag.manifest.model import Manifest
from reprodiag.report import renderer_for
from tests.helpers.manifests import example_manifest

BASE: dict[str, Any] = to_jsonable(example_manifest())
CANDIDATE: dict[str, Any] = to_jsonable(example_manifest(seed=99, auc=76.5, run_id="run-b"))


SCALE = max(1, int(os.environ.get("REPRODIAG_FUZZ_SCALE", "1")))


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples * SCALE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a JSON document, inner nodes and leaves."""
    items = (
        value.items()
        if isinstance(value, dict)
        else (enumerate(value) if isinstance(value, list) else ())
    )
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


PATHS = list(_paths(BASE))
WRONG_TYPES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x" * 300,
    [],
    [1, "a"],
    {},
    {"skipped": 1},
    {"skipped": "r", "extra": 1},
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


class Count:
    """Cases run per target, printed at the end of each test."""

    def __init__(self, capsys: pytest.CaptureFixture[str], target: str) -> None:
        self.capsys, self.target, self.n, self.start = capsys, target, 0, time.monotonic()

    def __call__(self) -> None:
        self.n += 1

    def report(self, extra: str = "") -> None:
        with self.capsys.disabled():
            print(
                f"\n[fuzz] {self.target}: {self.n} cases in "
                f"{time.monotonic() - self.start:.1f} s{extra}"
            )


def _load_or_refuse(doc: Any) -> Manifest | None:
    """The contract: a Manifest, or an InputError; any other exception fails the test."""
    try:
        return manifest_from_json(doc, "fuzz.json")
    except InputError as exc:
        assert "fuzz.json" in str(exc)
        return None


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _delete(doc: Any, path: tuple[Any, ...]) -> None:
    for key in path[:-1]:
        doc = doc[key]
    del doc[path[-1]]


# ---- the loader ------------------------------------------------------------------------------


def test_loader_random_json(capsys: pytest.CaptureFixture[str]) -> None:
    count = Count(capsys, "loader: random JSON documents")

    @fuzz(300)
    @given(json_values)
    def run(doc: Any) -> None:
        count()
        _load_or_refuse(doc)
        text = json.dumps(doc)
        try:
            _load_or_refuse(parse_json_text(text, "fuzz.json"))
        except InputError:
            pass

    run()
    count.report()


def test_loader_wrong_type_at_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    """Each field of a valid manifest replaced by each wrong type in turn, or deleted."""
    count = Count(capsys, "loader: wrong type / deleted, every field")
    accepted = 0
    for path in PATHS:
        for value in (*WRONG_TYPES, "<deleted>"):
            doc = copy.deepcopy(BASE)
            if value == "<deleted>":
                _delete(doc, path)
            else:
                _set(doc, path, value)
            count()
            accepted += _load_or_refuse(doc) is not None
    count.report(f" ({len(PATHS)} fields, {accepted} still valid)")
    assert count.n == len(PATHS) * (len(WRONG_TYPES) + 1) > 1000


@st.composite
def mutated_docs(draw: st.DrawFn, base: dict[str, Any] = BASE) -> dict[str, Any]:
    """Random deletions, replacements and type swaps anywhere in a valid manifest."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        try:
            op = draw(st.sampled_from(("delete", "replace", "swap")))
            if op == "delete":
                _delete(doc, path)
            elif op == "replace":
                _set(doc, path, draw(json_values))
            else:
                _set(doc, path, draw(st.sampled_from(WRONG_TYPES)))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed the parent
    return doc


def test_loader_mutated_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    count = Count(capsys, "loader: mutations of a valid manifest")

    @fuzz(300)
    @given(mutated_docs())
    def run(doc: dict[str, Any]) -> None:
        count()
        _load_or_refuse(doc)

    run()
    count.report()


def _valid_text() -> str:
    return canonical_json(example_manifest())


HOSTILE_TEXTS: dict[str, Callable[[], bytes]] = {
    "invalid UTF-8 in a string": lambda: (
        _valid_text().replace('"run-a"', '"run-\udcff"', 1).encode("utf-8", "surrogateescape")
    ),
    "latin-1 bytes": lambda: _valid_text().replace("main", "m\u00e4in").encode("latin-1"),
    "UTF-16 with BOM": lambda: _valid_text().encode("utf-16"),
    "NaN token": lambda: _valid_text().replace("80.0", "NaN", 1).encode(),
    "Infinity token": lambda: _valid_text().replace("80.0", "Infinity", 1).encode(),
    "-Infinity token": lambda: _valid_text().replace("80.0", "-Infinity", 1).encode(),
    "1e999 metric": lambda: _valid_text().replace("80.0", "1e999", 1).encode(),
    "-1e999 metric": lambda: _valid_text().replace("80.0", "-1e999", 1).encode(),
    "1e999 in params": lambda: (
        _valid_text().replace('"params": {', '"params": {"x": 1e999,', 1).encode()
    ),
    "10**400 metric": lambda: _valid_text().replace("80.0", "1" + "0" * 400, 1).encode(),
    "10**5000 seed": lambda: (
        _valid_text().replace('"torch_seed": 1234', '"torch_seed": 1' + "0" * 5000, 1).encode()
    ),
    "duplicate key": lambda: (
        _valid_text().replace('"run_id": "run-a"', '"run_id": "run-a", "run_id": "x"', 1).encode()
    ),
    "duplicate top-level axis": lambda: (
        _valid_text().rstrip().rstrip("}").encode() + b', "data": {}}'
    ),
    "deep list in params (500)": lambda: (
        _valid_text()
        .replace('"params": {', '"params": {"deep": ' + "[" * 500 + "]" * 500 + ",", 1)
        .encode()
    ),
    "deep object in params (900)": lambda: (
        _valid_text()
        .replace('"params": {', '"params": {"deep": ' + '{"a":' * 900 + "1" + "}" * 900 + ",", 1)
        .encode()
    ),
    "deep list (100000)": lambda: b"[" * 100_000 + b"]" * 100_000,
    "empty file": lambda: b"",
    "truncated": lambda: _valid_text()[:500].encode(),
    "a JSON string": lambda: b'"manifest"',
    "NUL bytes": lambda: b"\0" * 64,
}


@pytest.mark.parametrize("case", list(HOSTILE_TEXTS))
def test_loader_hostile_text_is_input_error(case: str, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(HOSTILE_TEXTS[case]())
    with pytest.raises(InputError) as exc:
        load_manifest(path)
    assert str(path) in str(exc.value)


def test_loader_huge_strings_load(tmp_path: Path) -> None:
    """1 MB strings are valid data: they load, and the diff and every renderer still work."""
    doc = copy.deepcopy(BASE)
    mega = "\u00e9" + "x" * (1 << 20)
    doc["intent"]["hypothesis"] = mega
    doc["intent"]["params"]["blob"] = mega
    doc["intent"]["tags"][mega[:1000]] = mega
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    big = load_manifest(path)
    start = time.monotonic()
    result = diagnose(manifest_from_json(BASE), big, check_snapshots=False)
    for fmt in ("html", "md", "json"):
        text = renderer_for(fmt).render(result)
        assert len(text) < 4 << 20  # a value is shortened in tables, not copied in full each time
    assert time.monotonic() - start < 20


@pytest.mark.slow
def test_loader_random_bytes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    count = Count(capsys, "loader: random bytes and text files")
    path = tmp_path / "m.json"

    @fuzz(300)
    @given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
    def run(raw: bytes) -> None:
        count()
        path.write_bytes(raw)
        try:
            load_manifest(path)
        except InputError:
            pass

    run()
    count.report()


# ---- valid-but-strange manifests: the diff and the renderers ---------------------------------

text = st.text(st.characters(codec="utf-8"), max_size=40)
hostile_text = (
    st.sampled_from(
        (
            "<script>x()</script>",
            "| a | b |",
            "`x`",
            "\n# h",
            "[l](javascript:x)",
            "../../etc",
            "\u202eevil",
            "\0",
            "&amp;",
            "{{ 7*7 }}",
            "",
        )
    )
    | text
)


@st.composite
def valid_docs(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """Type-preserving mutations: every string may become arbitrary unicode, params and tags
    arbitrary maps, numbers other numbers, facts skipped with an arbitrary reason."""
    doc = copy.deepcopy(base)
    intent = doc["intent"]
    for key in ("family", "experiment", "run_name", "hypothesis", "owner", "tier"):
        if draw(st.booleans()):
            intent[key] = draw(hostile_text | st.builds(lambda r: {"skipped": r}, hostile_text))
    if draw(st.booleans()):
        intent["params"] = draw(st.dictionaries(hostile_text, json_values, max_size=5))
    if draw(st.booleans()):
        intent["tags"] = draw(st.dictionaries(hostile_text, hostile_text, max_size=4))
    if draw(st.booleans()):
        intent["ablations"] = draw(st.dictionaries(hostile_text, st.booleans(), max_size=3))
    metrics = doc["results"]["metrics"]
    for name in draw(st.lists(hostile_text, max_size=3)):
        metrics[name] = {
            "value": draw(st.floats(-1e12, 1e12, allow_nan=False)),
            "direction": draw(st.sampled_from(("higher", "lower"))),
        }
    if draw(st.booleans()):
        metrics["auc"]["value"] = draw(st.floats(-1e300, 1e300, allow_nan=False))
    for role in ("train", "eval"):
        if draw(st.booleans()):
            doc["data"][role]["uri"] = draw(hostile_text)
        if draw(st.booleans()):
            doc["data"][role]["version"] = draw(
                st.integers(0, 2**62) | st.builds(lambda r: {"skipped": r}, text)
            )
    for key in ("python_seed", "numpy_seed", "torch_seed", "cuda_seed"):
        if draw(st.booleans()):
            doc["randomness"][key] = draw(
                st.integers(-(2**63), 2**64) | st.builds(lambda r: {"skipped": r}, text)
            )
    for key in ("commit", "branch", "remote", "entrypoint"):
        if draw(st.booleans()):
            doc["code"][key] = draw(hostile_text)
    if draw(st.booleans()):
        doc["environment"]["libraries"] = draw(
            st.dictionaries(hostile_text, hostile_text, max_size=3)
        )
    if draw(st.booleans()):
        doc["run"]["run_id"] = draw(hostile_text)
    return doc


def _must_load(doc: dict[str, Any]) -> Manifest:
    manifest = _load_or_refuse(doc)
    assume(manifest is not None)
    assert manifest is not None
    return manifest


def test_diff_of_valid_mutations(capsys: pytest.CaptureFixture[str]) -> None:
    count = Count(capsys, "diff: pairs of valid mutated manifests")

    @fuzz(300)
    @given(valid_docs(BASE), valid_docs(CANDIDATE))
    def run(a: dict[str, Any], b: dict[str, Any]) -> None:
        ma, mb = _must_load(a), _must_load(b)
        count()
        diff = diff_manifests(ma, mb)
        assert [x.axis for x in diff.axes] == [
            "data",
            "code",
            "environment",
            "randomness",
            "intent",
        ]
        for axis in diff.axes:
            for field in axis.fields:
                assert field.status in ("same", "differs", "unversioned")
                assert not field.noise
        same = diff_manifests(ma, ma)
        assert all(f.status != "differs" for a_ in same.axes for f in a_.fields)

    run()
    count.report()
    assert count.n >= 100


def test_renderers_on_valid_mutations(capsys: pytest.CaptureFixture[str]) -> None:
    count = Count(capsys, "renderers: html+md+json of diagnoses of valid mutations")

    @fuzz(200)
    @given(valid_docs(BASE), valid_docs(CANDIDATE))
    def run(a: dict[str, Any], b: dict[str, Any]) -> None:
        ma, mb = _must_load(a), _must_load(b)
        try:
            result = diagnose(ma, mb, check_snapshots=False)
        except InputError:
            return  # no metric both sides hold, say: refused with a message, never a crash
        count()
        html = renderer_for("html").render(result)
        md = renderer_for("md").render(result)
        data = json.loads(renderer_for("json").render(result))
        assert "<script>" not in html and html.rstrip().endswith("</html>")
        assert "<script>" not in md
        assert data["format"] == result.format
        gap = data["gap"]
        assert all(v is None or math.isfinite(v) for v in (gap["baseline"], gap["candidate"]))

    run()
    count.report()
    assert count.n >= 50


# ---- the command line, end to end ------------------------------------------------------------


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    code = exit_.value.code
    return (code if isinstance(code, int) else 1), err


@pytest.mark.slow
def test_cli_on_fuzzed_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    count = Count(capsys, "CLI: validate, diff, compare on fuzzed files")
    codes: dict[int, int] = {}
    base_file = tmp_path / "baseline.json"
    base_file.write_text(canonical_json(example_manifest()), encoding="utf-8")

    @fuzz(100)
    @given(
        mutated_docs(CANDIDATE) | valid_docs(CANDIDATE), st.sampled_from(("json", "bytes", "nan"))
    )
    def run(doc: dict[str, Any], encoding: str) -> None:
        candidate = tmp_path / "candidate.json"
        text = json.dumps(doc, ensure_ascii=False)
        if encoding == "bytes":
            candidate.write_bytes(text.encode("utf-8")[:-7] + b"\xff\xfe}")
        elif encoding == "nan":
            candidate.write_text(text.replace("76.5", "NaN"), encoding="utf-8")
        else:
            candidate.write_text(text, encoding="utf-8")
        for argv in (
            ["validate", str(candidate)],
            ["diff", str(base_file), str(candidate)],
            [
                "compare",
                str(base_file),
                str(candidate),
                "--out",
                str(tmp_path / "out"),
                "--allow-other-family",
            ],
        ):
            count()
            code, err = _cli(argv, capsys)
            codes[code] = codes.get(code, 0) + 1
            assert code in (0, 3), (argv, code, err)
            if code == 3:
                assert "error" in err

    run()
    count.report(f" (exit codes: {dict(sorted(codes.items()))})")


# ---- issue 16: surrogates, control characters, sizes -----------------------------------------

UNPRINTABLE_CHARS = st.sampled_from(
    ["\x1b[31m", "\x1b]0;t\x07", "\x1b[2J", "\r", "\x08", "\x00", "\x7f", "\x9b", "\u202e"]
)


def _string_paths(doc: Any) -> list[tuple[Any, ...]]:
    out = []
    for path in _paths(doc):
        value = doc
        for key in path:
            value = value[key]
        if isinstance(value, str):
            out.append(path)
    return out


BASE_STRINGS = _string_paths(BASE)


def test_loader_lone_surrogates_anywhere(capsys: pytest.CaptureFixture[str]) -> None:
    """A lone surrogate in any string value or key is refused with that value's JSON path."""
    count = Count(capsys, "loader: a lone surrogate in a value or a key")

    @fuzz(200)
    @given(
        st.sampled_from(BASE_STRINGS),
        st.integers(0xD800, 0xDFFF).map(chr),
        st.booleans(),
        st.integers(0, 5),
    )
    def run(path: tuple[Any, ...], surrogate: str, as_key: bool, at: int) -> None:
        count()
        doc = copy.deepcopy(BASE)
        if as_key:
            _set(doc, ("intent", "params", f"k{surrogate}"), 1)
            where = "$.intent.params"
        else:
            value = doc
            for key in path[:-1]:
                value = value[key]
            text = value[path[-1]]
            value[path[-1]] = text[:at] + surrogate + text[at:]
            where = "$"
        text = json.dumps(doc)  # ensure_ascii: the surrogate travels as a \\uXXXX escape
        with pytest.raises(InputError) as exc:
            parse_json_text(text, "fuzz.json")
        assert "fuzz.json" in str(exc.value) and where in str(exc.value)
        with pytest.raises(InputError):
            manifest_from_json(doc, "fuzz.json")

    run()
    count.report()


def test_loader_control_characters_load_and_render_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Control characters and escape codes are valid data: they load, and no renderer writes one
    raw into Markdown (HTML escapes them as text)."""
    count = Count(capsys, "loader+renderers: control characters and escape codes in strings")

    @fuzz(60)
    @given(st.lists(st.tuples(st.sampled_from(BASE_STRINGS), UNPRINTABLE_CHARS), min_size=1))
    def run(edits: list[tuple[tuple[Any, ...], str]]) -> None:
        count()
        doc = copy.deepcopy(CANDIDATE)
        for path, chars in edits:
            try:
                _set(doc, path, "v" + chars + "w")
            except (KeyError, IndexError, TypeError):
                continue
        manifest = _load_or_refuse(doc)
        if manifest is None:
            return  # an enum or a format the value must follow: refused with a message
        try:
            result = diagnose(manifest_from_json(BASE), manifest, check_snapshots=False)
        except InputError:
            return
        md = renderer_for("md").render(result)
        bad = [c for c in md if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
        assert not bad and "\u202e" not in md, sorted(set(bad))

    run()
    count.report()


@pytest.mark.parametrize("size", [0, 1, 4096])
def test_loader_sizes_at_the_cap(size: int, tmp_path: Path) -> None:
    """Files at, just under and just over the cap (sparse files: nothing is really written)."""
    from reprodiag.manifest import load as manifest_load

    path = tmp_path / "m.json"
    with open(path, "wb") as handle:
        handle.truncate(manifest_load.MAX_FILE_BYTES + size)
    with pytest.raises(InputError) as exc:
        load_manifest(path)
    said = str(exc.value)
    assert str(path) in said
    assert ("64 MiB" in said) == (size > 0)  # at the cap it is read, and is not JSON


# ---- band-store rows -------------------------------------------------------------------------

row_values = (
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["ok", "failed", "OK", "", "\udfff"])
)
valid_rows = st.fixed_dictionaries(
    {
        "family": st.text(min_size=1, max_size=8),
        "metric": st.text(min_size=1, max_size=8),
        "seed": st.integers(0, 2**63 - 1),
        "value": st.floats(-1e6, 1e6),
        "status": st.sampled_from(["ok", "failed"]),
        "reason": st.none() | st.text(max_size=20),
        "seconds": st.none() | st.floats(0, 1e4),
        "run_id": st.none() | st.text(max_size=8),
        "manifest_path": st.none() | st.text(max_size=8),
        "recorded_at": st.none() | st.just("2026-11-28T00:00:00.000000+00:00"),
        "store_format": st.none() | st.just(1),
    }
)


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed row with 0-3 columns replaced by arbitrary values."""
    row = draw(valid_rows)
    for column in draw(st.lists(st.sampled_from(sorted(row)), max_size=3)):
        row[column] = draw(row_values)
    return row


def test_band_store_row_check_on_arbitrary_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """row_problem says why a row is not a seed result, or the row reads as one: an ok result
    always with a finite value, never an exception."""
    from reprodiag.noise.store import _seed_result, row_problem

    count = Count(capsys, "band store: arbitrary rows through the read check")
    accepted = 0

    @fuzz(300)
    @given(rows())
    def run(row: dict[str, Any]) -> None:
        nonlocal accepted
        count()
        problem = row_problem(row)
        if problem is not None:
            assert isinstance(problem, str) and problem
            return
        accepted += 1
        result = _seed_result(row)  # type: ignore[arg-type]
        assert 0 <= result.seed < 2**63
        if result.status == "ok":
            assert result.metric is not None and math.isfinite(result.metric)

    run()
    count.report(f" ({accepted} read as seed results)")


seed_results = st.builds(
    lambda seed, metric, status, reason, seconds: (seed, metric, status, reason, seconds),
    st.integers(-5, 2**63 + 5) | st.sampled_from([0, 2**63 - 1]),
    st.none() | st.floats(),
    st.sampled_from(["ok", "failed"]),
    st.none() | st.text(max_size=30) | hostile_text | st.just("bad \udfff \x1b[31m"),
    st.none() | st.floats(),
)


def test_band_store_records_and_reads_fuzzed_results(
    capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A real Delta band store: a result is refused up front (ValueError naming the seed) or
    recorded and read back equal; a lone surrogate in a reason is stored escaped."""
    from reprodiag.noise.store import BandStore
    from reprodiag.retrain.seed_result import SeedResult

    count = Count(capsys, "band store: fuzzed seed results recorded and read back (real Delta)")
    store = BandStore(tmp_path_factory.mktemp("fuzz-store") / "store")
    outcome = {"recorded": 0, "refused": 0}

    @fuzz(25)
    @given(seed_results)
    def run(drawn: tuple[Any, ...]) -> None:
        count()
        seed, metric, status, reason, seconds = drawn
        result = SeedResult(seed=seed, metric=metric, status=status, reason=reason, seconds=seconds)
        family = f"fam-{count.n}"
        try:
            store.record(family, "auc", result, run_id=f"run-{count.n}")
        except ValueError as exc:
            assert str(seed) in str(exc) or "seed" in str(exc)
            outcome["refused"] += 1
            return
        outcome["recorded"] += 1
        (back,) = store.results(family, "auc")
        assert back.seed == seed and back.status == status
        if status == "ok":
            assert back.metric == metric
        if reason is not None:
            assert back.reason == reason.encode("utf-8", "backslashreplace").decode("utf-8")

    run()
    count.report(f" ({outcome})")


def test_band_store_reads_past_hostile_rows(
    capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Rows written around reprodiag (NaN, inf, negative seeds, unknown statuses) are skipped
    with a note naming the store; the good rows still read."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from reprodiag.noise.store import STORE_FORMAT, BandStore, band_schema

    count = Count(capsys, "band store: hostile rows written around reprodiag (real Delta)")
    values = st.sampled_from([math.nan, math.inf, -math.inf, 1.5, -1e308])
    hostile_rows = st.lists(
        st.tuples(
            st.sampled_from([-1, 0, 7, 2**63 - 1]),
            values,
            st.sampled_from(["ok", "failed", "maybe", ""]),
            st.sampled_from([None, 1.0, math.nan, math.inf]),
        ),
        min_size=1,
        max_size=6,
    )

    @fuzz(15)
    @given(hostile_rows)
    def run(drawn: list[tuple[int, float, str, float | None]]) -> None:
        count()
        path = tmp_path_factory.mktemp("hostile-store") / "store"
        good = {"family": "f", "metric": "auc", "seed": 10_000, "value": 0.5, "status": "ok"}
        table = [good] + [
            {"family": "f", "metric": "auc", "seed": s, "value": v, "status": st_, "seconds": sec}
            for s, v, st_, sec in drawn
        ]
        columns = {name: [row.get(name) for row in table] for name in band_schema().names}
        columns["store_format"] = [STORE_FORMAT] * len(table)
        write_deltalake(path, pa.table(columns, schema=band_schema()))
        store = BandStore(path, tolerant=True)
        results = store.results("f", "auc")
        assert 10_000 in {r.seed for r in results}
        for r in results:
            assert r.status in ("ok", "failed")
            assert r.status != "ok" or (r.metric is not None and math.isfinite(r.metric))
        for note in store.notes:
            assert str(path) in note

    run()
    count.report()


# ---- the command line on the new inputs ------------------------------------------------------


def test_cli_on_control_characters_and_surrogates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """validate and diff: a surrogate is exit 3 naming the file; control characters are exit 0
    and reach the terminal only as escapes."""
    count = Count(capsys, "CLI: validate, diff on surrogates and control characters")
    base_file = tmp_path / "baseline.json"
    base_file.write_text(canonical_json(example_manifest()), encoding="utf-8")
    codes: dict[int, int] = {}

    @fuzz(25)
    @given(st.sampled_from(_string_paths(CANDIDATE)), UNPRINTABLE_CHARS | st.just("\udc80"))
    def run(path: tuple[Any, ...], chars: str) -> None:
        doc = copy.deepcopy(CANDIDATE)
        _set(doc, path, "v" + chars + "w")
        candidate = tmp_path / "candidate.json"
        candidate.write_text(json.dumps(doc), encoding="utf-8")
        for argv in (
            ["validate", str(candidate)],
            ["diff", str(base_file), str(candidate), "--all", "--show-noise", "--no-content"],
        ):
            count()
            with pytest.raises(SystemExit) as exit_:
                main(argv)
            out, err = capsys.readouterr()
            code = exit_.value.code if isinstance(exit_.value.code, int) else 1
            codes[code] = codes.get(code, 0) + 1
            assert "Traceback" not in err and code in (0, 3), (argv, code, err)
            if chars == "\udc80":
                assert code == 3 and str(candidate) in err
            shown = out + err
            bad = [c for c in shown if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
            assert not bad and "\u202e" not in shown, (argv, sorted(set(bad)))

    run()
    count.report(f" (exit codes: {dict(sorted(codes.items()))})")
