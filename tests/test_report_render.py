"""Report renderers: sections in order, numbers, escaping, self-contained pages, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from report_samples import EVIL, SAMPLES, hostile, manifest_only, with_band

from reprodiag.cli import main
from reprodiag.errors import InputError
from reprodiag.report import (
    RENDERERS,
    HtmlRenderer,
    MarkdownRenderer,
    Renderer,
    load_diagnosis,
    renderer_for,
    write_reports,
)
from reprodiag.report import formatting as fmt
from reprodiag.report.view import SECTIONS

TITLES = [title for _, title in SECTIONS]
HTML, MD = HtmlRenderer(), MarkdownRenderer()


@pytest.mark.parametrize("renderer", RENDERERS, ids=lambda r: r.format)
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_renderer_meets_the_contract(renderer: Renderer, sample: str) -> None:
    assert isinstance(renderer, Renderer)
    assert renderer.suffix.startswith(".")
    text = renderer.render(SAMPLES[sample]())
    assert text.endswith("\n")
    assert text == renderer.render(SAMPLES[sample]())  # deterministic: no clock inside a render


@pytest.mark.parametrize("renderer", [HTML, MD], ids=["html", "md"])
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_four_sections_in_order_then_evidence(renderer: Renderer, sample: str) -> None:
    text = renderer.render(SAMPLES[sample]())
    body = text[text.index("Summary"):]  # past the html table of contents
    marks = ["Summary", *TITLES, "What stays open", "Evidence", "Classified diff per axis"]
    positions = [body.index(m) for m in marks]
    assert positions == sorted(positions)
    assert TITLES == ["1. Ranked axis candidates", "2. Confirmation, in cost order",
                      "3. Structural fix per axis", "4. Policy for future runs"]


def test_json_carries_the_four_sections() -> None:
    data = json.loads(renderer_for("json").render(with_band()))
    assert data["format"] == "reprodiag.diagnosis/v1"
    assert [r["axis"] for r in data["ranking"]][:3] == ["data", "randomness", "environment"]
    assert data["checks"] and data["fixes"] and data["policy"]
    assert data["band"]["n"] == 8


@pytest.mark.parametrize("renderer", [HTML, MD], ids=["html", "md"])
def test_header_and_numbers_are_formatted(renderer: Renderer) -> None:
    text = renderer.render(with_band())
    for expected in ("−4.00 pts", "4.00 pts worse", "91.20", "87.20", "1st", "2nd", "3rd",
                     "3.10 pts", "(2.54 to 3.66)", "(−0.16 to 0.96)", "confirmed cause",
                     "within the noise band", "unversioned: cannot be ruled out", "ruled out",
                     "86.79 to 87.91 (k = 2.00)", "0.28", "0.95 pts", "above all 8 seeds",
                     "beyond noise", "INC-2291", "ml-platform", "retrain scored 4 pts lower"):
        assert expected in text, expected
    assert "0.2800" not in text  # the band's numbers keep the metric's scale


@pytest.mark.parametrize("renderer", [HTML, MD], ids=["html", "md"])
def test_manifest_only_shows_the_plan_and_what_stays_open(renderer: Renderer) -> None:
    text = renderer.render(manifest_only())
    assert "Checks done (5)" in text and "Plan still to run (3)" in text
    assert "not run yet" in text
    assert "No seed-noise band was measured" in text
    assert "pinned-snapshot retrain" in text
    assert "manifest-only mode" in text
    assert "2 noise fields differ" in text
    assert "3 same" in text  # same fields are counted, not listed
    assert "code.commit</code></td>" not in text and "| code.commit |" not in text


def test_formatting_helpers() -> None:
    assert [fmt.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 102)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "102nd"]
    assert fmt.points(-4.0) == "−4.00 pts" and fmt.points(0.004) == "+0.0040 pts"
    assert fmt.worse_by(-0.5) == "0.50 pts better" and fmt.worse_by(0.0) == "no change"
    assert fmt.number(0.9123) == "0.9123" and fmt.number(None) == "—"
    assert fmt.p_value(0.0004) == "< 0.001" and fmt.p_value(0.0123) == "0.012"
    assert fmt.fact({"skipped": "no driver"}) == "skipped: no driver"
    assert fmt.fact("a\nb") == "a b" and fmt.fact(None) == "absent"
    assert fmt.status(fmt.AXIS_STATUS, "weird").css == "st-unknown"


def test_html_escapes_every_user_string() -> None:
    html = HTML.render(hostile())
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\"quotes'" not in html and "&#34;quotes&#39;" in html
    assert "R&D" not in html and "R&amp;D" in html
    assert html.count("</style>") == 1  # the page's own, only
    assert "<script" not in html.lower()
    svg = html[html.index("<svg"):html.rindex("</svg>")]
    assert "<script" not in svg and "&lt;script&gt;" in svg  # metric name, escaped, in the chart


def test_html_css_classes_come_from_the_whitelist() -> None:
    for diagnosis in (manifest_only(), with_band(), hostile()):
        html = HTML.render(diagnosis)
        classes = set(re.findall(r'class="status ([^"]*)"', html))
        assert classes and classes <= fmt.CSS_CLASSES


def test_markdown_escapes_every_user_string_and_holds_no_html() -> None:
    md = MD.render(hostile())
    assert "<script>" not in md and "</style>" not in md
    assert not re.search(r"(?<!\\)<[A-Za-z/!]", md)  # no HTML at all
    assert "\\<script\\>" in md and "R\\&D" in md and "\\`tick\\`" in md
    assert "second line" in md and "\nsecond line" not in md  # newlines collapsed


def test_markdown_table_rows_keep_their_columns() -> None:
    lines = MD.render(hostile()).splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            width = line.count("|") - 1
            j = i + 1
            while j < len(lines) and lines[j].startswith("| "):
                assert len(re.split(r"(?<!\\)\|", lines[j])) - 2 == width, lines[j]
                j += 1


def test_markdown_prose_lines_are_short() -> None:
    for sample in (manifest_only(), with_band(), hostile()):
        for line in MD.render(sample).splitlines():
            if not line.startswith(("|", "#")):  # table rows and headings cannot wrap
                assert len(line) <= 100 or " " not in line.strip(), line


EXTERNAL = re.compile(r"https?://|(?<![:\w])//|\bsrc\s*=|\bhref\s*=\s*(?![\"']?#)|@import|url\(",
                      re.IGNORECASE)


@pytest.mark.parametrize("renderer", [HTML, MD], ids=["html", "md"])
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_output_points_at_nothing_outside_itself(renderer: Renderer, sample: str) -> None:
    text = renderer.render(SAMPLES[sample]())
    assert not EXTERNAL.search(text), EXTERNAL.search(text)
    if renderer is HTML:
        assert "<link" not in text and "<script" not in text and "@font-face" not in text
        assert "@media print" in text and "<style>" in text


def test_noise_band_chart_only_with_a_band() -> None:
    assert "<svg" not in HTML.render(manifest_only())
    html = HTML.render(with_band())
    chart = html[html.index('aria-label="Seed-noise band'):]
    chart = chart[: chart.index("</svg>")]
    assert "<title>Seed-noise band of accuracy</title>" in chart
    assert "<desc" in chart and "Baseline 91.20 lies above the band" in chart
    assert chart.count("<circle") == 8  # the failed seed is not drawn
    assert "baseline 91.20" in chart and "candidate 87.20" in chart
    assert "Points of the accuracy gap explained per axis" in html


def test_write_reports_writes_three_files(tmp_path: Path) -> None:
    out = tmp_path / "new" / "reports"
    paths = write_reports(with_band(), out)
    assert [p.name for p in paths] == ["report.html", "report.md", "diagnosis.json"]
    assert sorted(p.name for p in out.iterdir()) == ["diagnosis.json", "report.html", "report.md"]
    assert paths[1].read_text("utf-8") == MD.render(with_band())
    assert load_diagnosis(paths[2]) == with_band()


def test_write_reports_fails_whole_when_a_target_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "report.html").mkdir()  # works as root too, unlike chmod
    with pytest.raises(InputError, match="report.html"):
        write_reports(manifest_only(), tmp_path, ("html",))
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left
    assert (tmp_path / "report.html").is_dir()


def test_write_reports_under_a_regular_file_raises_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="report folder"):
        write_reports(manifest_only(), blocker / "out")
    assert blocker.read_text() == "x"


def test_write_reports_refuses_an_unknown_format_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pdf"):
        write_reports(manifest_only(), tmp_path / "out", ("html", "pdf"))
    assert not (tmp_path / "out").exists()


def test_cli_report_rerenders_a_saved_diagnosis(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    saved = write_reports(manifest_only(), tmp_path / "saved", ("json",))[0]
    out = tmp_path / "out"
    argv = ["report", str(saved), "--out", str(out), "--format", "html", "--format", "md",
            "--format", "json", "--title", "INC-7: churn <model> lost 4 pts",
            "--owner", "ml-platform", "--timeline", "2026-11-25 09:00 retrain scored 4 pts lower",
            "--timeline", "2026-11-26 10:15 rollback"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "report.html" in capsys.readouterr().out
    html = (out / "report.html").read_text("utf-8")
    md = (out / "report.md").read_text("utf-8")
    assert "INC-7: churn &lt;model&gt; lost 4 pts" in html and "INC-7: churn \\<model\\>" in md
    for text in (html, md):
        assert "ml-platform" in text and "retrain scored 4 pts lower" in text
        assert "rollback" in text and "2026-11-26 10:15" in text
    reloaded = load_diagnosis(out / "diagnosis.json")
    assert reloaded.metadata["owner"] == "ml-platform"
    assert dataclasses.replace(reloaded, metadata={}) == manifest_only()


def test_cli_report_on_a_file_that_is_no_diagnosis(tmp_path: Path) -> None:
    bogus = tmp_path / "diagnosis.json"
    bogus.write_text(json.dumps({"format": "something/v9"}))
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(bogus)])
    assert exit_info.value.code == 3


def test_evil_sample_really_is_evil() -> None:
    assert "<script>" in EVIL and "&" in EVIL and "</style>" in EVIL and '"' in EVIL


def test_json_fallback_matches_the_codec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reprodiag.report import jsonreport

    with_codec = jsonreport.diagnosis_to_json(with_band())
    monkeypatch.setattr(jsonreport, "_codec", lambda: None)
    assert jsonreport.diagnosis_to_json(with_band()) == with_codec
    saved = tmp_path / "diagnosis.json"
    saved.write_text(with_codec, encoding="utf-8")
    assert jsonreport.load_diagnosis(saved) == with_band()
    saved.write_text('{"format": "other/v2"}', encoding="utf-8")
    with pytest.raises(InputError, match="not a reprodiag.diagnosis/v1"):
        jsonreport.load_diagnosis(saved)
