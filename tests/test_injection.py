"""Injection: user strings from manifests stay text in every report, every command and every path.

A manifest is written by whoever trained the run; a report is opened by whoever is on call. Markup
in a run name must not run in the on-call's browser, break a ticket's Markdown table, reach a shell,
or move a write outside the folder it was meant for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprodiag.cli import main
from reprodiag.cli.compare import _safe_name, slug
from reprodiag.diagnosis import diagnose
from reprodiag.diagnosis.model import Diagnosis, IncidentInfo
from reprodiag.errors import InputError
from reprodiag.manifest.codec import write_manifest
from reprodiag.manifest.model import Manifest, Metric, Skipped
from reprodiag.report import renderer_for, write_reports
from reprodiag.retrain import parse_command, render
from reprodiag.retrain.spec import slug as retrain_slug
from tests.helpers.manifests import example_manifest
from tests.helpers.report_samples import hostile

TESTS = Path(__file__).resolve().parent
TEMPLATES = TESTS.parent / "reprodiag" / "report"
ECHO = str(TESTS / "helpers" / "trainers.py")
EVIL = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    '<a href="javascript:window.__pwned=3">x</a> " \' ` | # [l](javascript:y) ** '
    "<svg onload=window.__pwned=4> &amp; {{ 7*7 }} \n- item"
)


def _evil(side: str) -> str:
    return f"{EVIL} {side}"


def hostile_pair() -> tuple[Manifest, Manifest]:
    """Two manifests with EVIL in every string a user controls, differing so each is shown."""

    def one(side: str, seed: int, auc: float) -> Manifest:
        m = example_manifest(seed=seed, run_id=_evil(side))
        evil = _evil(side)
        return dataclasses.replace(
            m,
            run=dataclasses.replace(m.run, output_dir=f"/runs/{evil}"),
            data=dataclasses.replace(
                m.data,
                train=dataclasses.replace(m.data.train, uri=f"/lake/{evil}/../../etc"),
                labeling_pipeline=Skipped(evil),
            ),
            code=dataclasses.replace(m.code, commit=evil, branch=evil, remote=f"javascript:{evil}"),
            environment=dataclasses.replace(
                m.environment, container_image=Skipped(evil), libraries={EVIL: evil}
            ),
            randomness=dataclasses.replace(m.randomness, derivation=evil),
            intent=dataclasses.replace(
                m.intent,
                family=EVIL,
                experiment=evil,
                run_name=evil,
                hypothesis=evil,
                owner=evil,
                tags={EVIL: evil},
                params={EVIL: evil, "lr": {EVIL: [evil]}},
                ablations={EVIL: side == "b"},
            ),
            results=dataclasses.replace(
                m.results, metrics={EVIL: Metric(auc, "higher")}, error=evil
            ),
        )

    return one("a", 1234, 80.0), one("b", 99, 76.0)


def hostile_diagnosis(tmp_path: Path) -> Diagnosis:
    baseline, candidate = hostile_pair()
    result = diagnose(
        baseline,
        candidate,
        metric=EVIL,
        baseline_path=str(tmp_path / _evil("a")),
        candidate_path=str(tmp_path / _evil("b")),
        title=EVIL,
    )
    return dataclasses.replace(
        result,
        incident=IncidentInfo(EVIL, EVIL, (f"2026-11-25 09:00 {EVIL}", EVIL)),
    )


def _samples(tmp_path: Path) -> list[tuple[str, Diagnosis]]:
    return [
        ("manifest pair through diagnose", hostile_diagnosis(tmp_path)),
        ("hand-built hostile()", hostile()),
    ]


# ---- HTML ------------------------------------------------------------------------------------


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _our_tags() -> set[str]:
    """Every element name our own template and chart code write: anything else came from data."""
    sources = [
        (TEMPLATES / "templates" / "report.html.j2").read_text(),
        (TEMPLATES / "svg.py").read_text(),
    ]
    return {t.lower() for s in sources for t in re.findall(r"<([A-Za-z][A-Za-z0-9]*)", s)}


@pytest.mark.parametrize("which", [0, 1], ids=["from-manifests", "hand-built"])
def test_html_has_no_element_or_attribute_from_user_values(which: int, tmp_path: Path) -> None:
    name, diagnosis = _samples(tmp_path)[which]
    html = renderer_for("html").render(diagnosis)
    parser = _Elements()
    parser.feed(html)
    ours = _our_tags()
    tags = {tag for tag, _ in parser.tags}
    assert tags <= ours, (name, tags - ours)
    assert not tags & {"script", "img", "iframe", "object", "embed", "form", "base", "link"}
    for tag, attrs in parser.tags:
        for attr, value in attrs:
            assert not attr.startswith("on"), (tag, attr, value)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, attr, value)
            if tag == "a" and attr == "href":
                assert (value or "").startswith("#"), value
            if attr == "class":
                assert "<" not in (value or "") and '"' not in (value or "")
    # The values were shown, as text: the markup is in the page's words, not in its elements.
    words = "".join(parser.text)
    assert "<script>window.__pwned=1</script>" in words
    if which == 0:  # every manifest value the report shows reached it
        assert 'onerror="window.__pwned=2"' in words
        for shown in (f"/lake/{_evil('b')}", "javascript:", EVIL.split("\n")[0]):
            assert shown.split("\n")[0] in words


# ---- Markdown --------------------------------------------------------------------------------


def _unescaped(line: str, char: str) -> int:
    count, i = 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        count += line[i] == char
        i += 1
    return count


@pytest.mark.parametrize("which", [0, 1], ids=["from-manifests", "hand-built"])
def test_markdown_has_no_raw_html_and_tables_keep_their_columns(which: int, tmp_path: Path) -> None:
    _, diagnosis = _samples(tmp_path)[which]
    md = renderer_for("md").render(diagnosis)
    assert re.search(r"(?<!\\)<[A-Za-z!/?]", md) is None, "raw HTML in the Markdown report"
    assert re.search(r"(?<!\\)\]\(", md) is None, "a link opened by a user value"
    assert "\\<script\\>" in md  # shown, escaped
    tables, current = [], []  # type: list[list[str]], list[str]
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 8
    for table in tables:
        columns = {_unescaped(line, "|") for line in table}
        assert len(columns) == 1, table


# ---- the browser -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_report_from_hostile_manifests_runs_no_script_in_chromium(tmp_path: Path) -> None:
    from tests.helpers.browser import INSTALL_HINT, Chromium, find_chromium

    if find_chromium() is None:
        if os.environ.get("REPRODIAG_SKIP_BROWSER") == "1":
            pytest.skip("REPRODIAG_SKIP_BROWSER=1 and Chromium is not installed")
        pytest.fail(f"Chromium is not installed: {INSTALL_HINT}")
    baseline, candidate = hostile_pair()
    write_manifest(baseline, tmp_path / "a.json")
    write_manifest(candidate, tmp_path / "b.json")
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as exit_:  # the CLI path: load, diagnose, write
        main(
            [
                "compare",
                str(tmp_path / "a.json"),
                str(tmp_path / "b.json"),
                "--metric",
                EVIL,
                "--out",
                str(out),
            ]
        )
    assert exit_.value.code == 0
    write_reports(hostile_diagnosis(tmp_path), tmp_path / "with-metadata", formats=("html",))
    with Chromium() as browser:
        for page in (out / "report.html", tmp_path / "with-metadata" / "report.html"):
            seen = browser.load(page.resolve().as_uri())
            assert seen.errors == [], seen.errors
            assert seen.requests == [page.resolve().as_uri()], seen.requests
            assert browser.evaluate("typeof window.__pwned") == "undefined"
            assert (
                browser.evaluate(
                    "document.querySelectorAll('script, img, iframe, a[href^=javascript]').length"
                )
                == 0
            )
            assert (
                browser.evaluate(
                    "[...document.querySelectorAll('*')].filter(e => [...e.attributes]"
                    ".some(a => a.name.startsWith('on'))).length"
                )
                == 0
            )
            assert "<script>window.__pwned=1</script>" in browser.evaluate(
                "document.body.textContent"
            )


# ---- command templates -----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["seed", "snapshot_uri", "output_dir", "params_file", "metrics_file", "device"]
        ),
        st.text(max_size=30),
        min_size=6,
    )
)
def test_rendered_values_stay_one_argument_each(values: dict[str, str]) -> None:
    argv = parse_command(
        "python train.py --seed {seed} --data={snapshot_uri} {output_dir} "
        "--params {params_file} --metrics {metrics_file} --device {device}"
    )
    full = {**{k: "" for k in ("eval_uri", "eval_version", "snapshot_version")}, **values}
    standalone = ("seed", "output_dir", "params_file", "metrics_file", "device")
    dashed = [k for k in standalone if values[k].startswith("-")]
    if dashed:  # it would read as an option: refused, naming the first such placeholder
        with pytest.raises(InputError) as exc:
            render(argv, full)
        assert "{" + dashed[0] + "}" in str(exc.value) or any(
            "{" + k + "}" in str(exc.value) for k in dashed
        )
        return
    rendered = render(argv, full)
    assert len(rendered) == len(argv)
    assert rendered[3] == values["seed"] and rendered[4] == "--data=" + values["snapshot_uri"]
    assert rendered[5] == values["output_dir"]


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=20).map(lambda t: "-" + t),
    st.sampled_from(["seed", "snapshot_uri", "eval_uri", "output_dir", "device"]),
)
def test_a_dash_value_never_starts_an_argument_before_the_end_of_options(
    value: str, name: str
) -> None:
    """Before the template's `--` a value starting with '-' is refused; after it, passed as is."""
    names = ["seed", "snapshot_uri", "eval_uri", "output_dir", "device"]
    values = {k: "x" for k in (*names, "snapshot_version", "eval_version")}
    values.update({"params_file": "p", "metrics_file": "m", name: value})
    before = parse_command(f"train --flag {{{name}}} --params {{params_file}}")
    with pytest.raises(InputError) as exc:
        render(before, values)
    assert "{" + name + "}" in str(exc.value) and "--" in (exc.value.hint or "")
    after = parse_command(f"train --params {{params_file}} -- {{{name}}}")
    assert render(after, values) == ["train", "--params", "p", "--", value]
    joined = parse_command(f"train --value={{{name}}}")
    assert render(joined, values) == ["train", "--value=" + value]


def test_shell_syntax_in_the_template_itself_is_passed_as_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--command` text with ; $(..) backticks and | stays arguments of the one program."""
    from reprodiag.retrain import RetrainSpec
    from reprodiag.retrain.command import run_command
    from reprodiag.snapshots import open_snapshot

    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("x,y\n1,0\n")
    ref = open_snapshot(data).ref
    monkeypatch.chdir(tmp_path)
    template = (
        f"{sys.executable} {ECHO} {tmp_path / 'echo.json'} --seed {{seed}} ; touch pwned "
        "'$(touch pwned2)' '`touch pwned3`' '| tee pwned4' && touch pwned5 "
        "--params {params_file} --metrics {metrics_file} 'multi\nline'"
    )
    spec = RetrainSpec(
        label="x",
        seed=7,
        train=ref,
        eval=ref,
        metric="auc",
        trainer={"command": list(parse_command(template))},
        params={},
        output_dir=str(tmp_path / "out"),
        manifest_out=str(tmp_path / "m.json"),
        device="cpu",
        family="f",
    )
    assert run_command(spec, device="cpu") == {"auc": 61.5}
    echoed = json.loads((tmp_path / "echo.json").read_text())["argv"]
    assert echoed[1:10] == [
        "--seed",
        "7",
        ";",
        "touch",
        "pwned",
        "$(touch pwned2)",
        "`touch pwned3`",
        "| tee pwned4",
        "&&",
    ]
    assert echoed[-1] == "multi\nline"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pwned")]


# ---- output folders --------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "in" / "a.json", tmp_path / "in" / "b.json"
    write_manifest(example_manifest(), a)
    write_manifest(example_manifest(seed=99, auc=76.0, run_id="run-b"), b)
    return a, b


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "name",
    ["../../x", "../x", "a/b", "/abs", "..", ".", "x\n", "x\ny", "a\\b", "", " ", "x/../../y"],
)
def test_compare_name_cannot_leave_the_reports_folder(
    name: str,
    pair: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = _files(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(pair[0]), str(pair[1]), "--name", name, "--no-snapshot-check"])
    assert exit_.value.code == 2, capsys.readouterr().err
    assert "--name" in capsys.readouterr().err
    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    "run_name",
    [
        "../../etc",
        "/etc/passwd",
        "..",
        ".",
        "a/../../b",
        "..\\..\\win",
        "\u2025/\u2025",
        "run\nname",
        "-rf",
    ],
)
def test_a_run_name_used_as_the_report_folder_stays_under_reports(
    run_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = example_manifest()
    cand = example_manifest(seed=99, auc=76.0, run_id=run_name)
    cand = dataclasses.replace(cand, intent=dataclasses.replace(cand.intent, run_name=run_name))
    write_manifest(base, tmp_path / "a.json")
    write_manifest(cand, tmp_path / "b.json")
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--no-snapshot-check"])
    assert exit_.value.code == 0
    written = {p.relative_to(work) for p in _files(work)}
    assert len(written) == 4 and all(
        p.parts[0] == "reports" and len(p.parts) == 3 for p in written
    ), written
    names = {p.name for p in written}
    assert names == {"report.html", "report.md", "diagnosis.json", "report-set.json"}
    assert _files(tmp_path) - _files(work) == {tmp_path / "a.json", tmp_path / "b.json"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_slugs_are_single_safe_folder_names(text: str) -> None:
    folder = slug(text)
    assert _safe_name(folder), folder
    assert (Path("/r") / folder).resolve().parent == Path("/r")
    label = retrain_slug(text)
    assert re.fullmatch(r"[a-z0-9-]+", label) and ".." not in label


def test_report_rerender_writes_only_into_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saved diagnosis whose incident and paths try path tricks cannot redirect the writes."""
    diagnosis = dataclasses.replace(
        hostile_diagnosis(tmp_path),
        incident=IncidentInfo(title="../../../x", owner="/etc/passwd", timeline=("../../y",)),
        baseline=dataclasses.replace(hostile_diagnosis(tmp_path).baseline, path="../../../z"),
    )
    saved = tmp_path / "case" / "inner"
    write_reports(diagnosis, saved, formats=("json",))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _files(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(saved / "diagnosis.json"), "--title", "../../../t", "--owner", "../o"])
    assert exit_.value.code == 0
    # the set record is rewritten in place (it was there since the json was written)
    assert _files(tmp_path) - before == {saved / "report.html", saved / "report.md"}
    explicit = tmp_path / "chosen"  # --out is the user's own choice, and honoured
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(saved / "diagnosis.json"), "--out", str(explicit)])
    assert exit_.value.code == 0
    assert {p.name for p in explicit.iterdir()} == {"report.html", "report.md", "report-set.json"}


def test_retrain_folders_stay_in_the_workdir(tmp_path: Path) -> None:
    """Retrain folders are built from fixed check keys and integer seeds, never user text."""
    from reprodiag.confirm.arms import arm_spec
    from reprodiag.retrain.interface import RetrainSpecError

    workdir = (tmp_path / "retrains").resolve()
    options = SimpleNamespace(
        workdir=workdir, trainer=None, device="cpu", timeout_s=None, repo=None, env_cache=None
    )
    candidate = dataclasses.replace(
        example_manifest(),
        intent=dataclasses.replace(example_manifest().intent, run_name="../../etc", family="../x"),
        # No commit recorded: the specs name no checked-out code (that needs the commit here).
        code=dataclasses.replace(example_manifest().code, commit=Skipped("not a git repository")),
    )
    for key in ("seed_replay", "pinned_snapshot", "intent_swap", "noise_band"):
        for seed in (0, 1, 10_000, 2**63, 2**64 - 1):
            spec = arm_spec(candidate, candidate, key, seed, "auc", options)  # type: ignore[arg-type]
            for path in (spec.output_dir, spec.manifest_out):
                resolved = Path(path).resolve()
                assert resolved.is_relative_to(workdir), path
                folder = f"{key.replace('_', '-')}-seed-{seed}"
                assert resolved.relative_to(workdir).parts[0] == folder
            assert "/" not in spec.run_name and ".." not in spec.run_name
        for seed in (-1, 2**64):  # a seed the spec cannot hold is refused, not turned into a path
            with pytest.raises(RetrainSpecError):
                arm_spec(candidate, candidate, key, seed, "auc", options)  # type: ignore[arg-type]
