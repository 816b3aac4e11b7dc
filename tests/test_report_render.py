"""Report renderers: sections in order, numbers, escaping, self-contained pages, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

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
from tests.helpers.report_samples import (
    EVIL,
    IMG,
    SAMPLES,
    SCRIPT,
    hostile,
    manifest_only,
    with_band,
)

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
    body = text[text.index("Summary") :]  # past the html table of contents
    marks = ["Summary", "what would close it", *TITLES, "Evidence", "Classified diff per axis"]
    positions = [body.index(m) for m in marks]
    assert positions == sorted(positions)
    assert TITLES == [
        "1. Ranked axis candidates",
        "2. Confirmation, in cost order",
        "3. Structural fix per axis",
        "4. Policy for future runs",
    ]


def test_json_carries_the_four_sections() -> None:
    data = json.loads(renderer_for("json").render(with_band()))
    assert data["format"] == "reprodiag.diagnosis/v2"
    assert [r["axis"] for r in data["ranking"]][:3] == ["data", "randomness", "environment"]
    assert data["checks"] and data["fixes"] and data["policy"]
    assert data["band"]["n"] == 8


@pytest.mark.parametrize("renderer", [HTML, MD], ids=["html", "md"])
def test_header_and_numbers_are_formatted(renderer: Renderer) -> None:
    text = renderer.render(with_band())
    for expected in (
        "−4.00 pts",
        "4.00 pts worse",
        "91.20",
        "87.20",
        "1st",
        "2nd",
        "3rd",
        "3.10 pts",
        "(2.54 to 3.66)",
        "(−0.16 to 0.96)",
        "confirmed cause",
        "within the noise band",
        "unversioned: cannot be ruled out",
        "ruled out",
        "86.64 to 87.76 (k = 2.00)",
        "0.28",
        "0.95 pts",
        "above all 8 seeds",
        "beyond noise",
        "INC-2291",
        "ml-platform",
        "retrain scored 4 pts lower",
    ):
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
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "102nd",
    ]
    assert fmt.points(-4.0) == "−4.00 pts" and fmt.points(0.004) == "+0.0040 pts"
    assert fmt.worse_by(-0.5) == "0.50 pts better" and fmt.worse_by(0.0) == "no change"
    assert fmt.number(0.9123) == "0.9123" and fmt.number(None) == "—"
    assert fmt.p_value(0.0004) == "< 0.001" and fmt.p_value(0.0123) == "0.012"
    assert fmt.fact({"skipped": "no driver"}) == "skipped: no driver"
    assert fmt.fact("a\nb") == "a b" and fmt.fact(None) == "absent"
    assert fmt.status(fmt.AXIS_STATUS, "weird").css == "st-unknown"


def test_html_escapes_every_user_string() -> None:
    html = HTML.render(hostile())
    assert SCRIPT not in html and IMG not in html and "<img" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;" in html
    assert "\"quotes'" not in html and "&#34;quotes&#39;" in html
    assert "R&D" not in html and "R&amp;D" in html
    assert html.count("</style>") == 1  # the page's own, only
    assert "<script" not in html.lower()
    svg = html[html.index("<svg") : html.rindex("</svg>")]
    assert "<script" not in svg and "&lt;script&gt;" in svg  # metric name, escaped, in the chart
    band = html[html.index('id="noise-band-chart"') :]
    assert "failed, not drawn: 108 (&lt;script&gt;" in band[: band.index("</svg>")]


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


EXTERNAL = re.compile(
    r"https?://|(?<![:\w])//|\bsrc\s*=|\bhref\s*=\s*(?![\"']?#)|@import|url\(", re.IGNORECASE
)


@pytest.mark.parametrize("renderer", [HTML, MD], ids=["html", "md"])
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_output_points_at_nothing_outside_itself(renderer: Renderer, sample: str) -> None:
    text = renderer.render(SAMPLES[sample]())
    assert not EXTERNAL.search(text), EXTERNAL.search(text)
    if renderer is HTML:
        assert "<link" not in text and "<script" not in text and "@font-face" not in text
        assert "@media print" in text and "<style>" in text


def _svg(html: str, key: str) -> str:
    chart = html[html.index(f'<svg class="chart" id="{key}-chart"') :]
    return chart[: chart.index("</svg>") + 6]


def test_charts_follow_what_was_measured() -> None:
    manifest_html, band_html = HTML.render(manifest_only()), HTML.render(with_band())
    assert manifest_html.count("<svg") == 1 and 'id="axes-chart"' in manifest_html
    assert band_html.count("<svg") == 3
    for key in ("axes", "attribution", "noise-band"):
        chart = _svg(band_html, key)
        assert 'role="img"' in chart and f'aria-labelledby="{key}-title {key}-desc"' in chart
        assert f'<title id="{key}-title">' in chart and f'<desc id="{key}-desc">' in chart
        for banned in ("<script", "<foreignObject", "href", "<image", "url("):
            assert banned not in chart, (key, banned)
        after = band_html[band_html.index(chart) + len(chart) :]
        assert after.index('<table class="chart-data visually-hidden">') < 400  # its data, beside


def test_axes_chart_tells_status_by_shape_and_word() -> None:
    chart = _svg(HTML.render(with_band()), "axes")
    words = re.findall(r'font-weight="600">([^<]+)</text><text[^>]*>([^<]+)</text>', chart)
    assert words == [
        ("Data", "confirmed"),
        ("Randomness", "within noise"),
        ("Environment", "unversioned"),
        ("Code", "ruled out"),
        ("Intent", "ruled out"),
    ]
    assert "1st Data, confirmed cause; 2nd Randomness, within the noise band" in chart
    assert 'stroke-dasharray="4 2"' in chart  # the unversioned axis' dashed square


def test_attribution_chart_shows_the_remainder_against_the_band() -> None:
    chart = _svg(HTML.render(with_band()), "attribution")
    assert "the gap 4.00 pts" in chart and "noise \u00b14" not in chart
    # Only confirmed axes explain points: the randomness bar (0.40, interval holding 0) is drawn
    # but not subtracted, so 4.00 − 3.10 = 0.90 remains, beyond the band's half-width.
    assert "noise \u00b10.56" in chart and ">0.90 pts<" in chart
    assert ">3.10 pts<" in chart and ">0.40 pts<" in chart
    assert "Left unexplained: 0.90 of the 4.00 pts gap (99 % interval 0.34 to 1.46)" in chart


def test_noise_band_chart_draws_seeds_and_lists_failures() -> None:
    chart = _svg(HTML.render(with_band()), "noise-band")
    assert '<title id="noise-band-title">Seed-noise band of accuracy</title>' in chart
    assert "Baseline 91.20 lies above the band" in chart
    assert chart.count("<circle") == 8  # the failed seed is not drawn, but listed
    assert "failed, not drawn: 108 (CUDA out of memory)" in chart
    assert "baseline 91.20" in chart and "candidate 87.20" in chart


def test_markdown_shows_each_chart_as_a_small_table() -> None:
    md = MD.render(with_band())
    assert "**Chart:** Points of the accuracy gap explained per axis." in md
    assert (
        "| Unexplained remainder | beyond the seed noise (band half-width \u00b10.56) | 0.90 pts "
        "| 0.34 to 1.46 |"
    ) in md
    assert "**Chart:** Seed-noise band of accuracy." in md
    assert "| seed 108 | failed | CUDA out of memory |" in md
    assert "**Chart:**" not in MD.render(manifest_only())


def test_what_stays_open_leads_when_no_retrain_ran() -> None:
    for renderer in (HTML, MD):
        text = renderer.render(manifest_only())
        text = text[text.index("Summary") :]  # past the html table of contents
        head = "No retrain ran: what stays open, and what would close it"
        assert text.index(head) < text.index(TITLES[0])
        assert text.index("run the pinned-snapshot retrain (check 7)") < text.index(TITLES[0])
        assert "What stays open, and what would close it" in renderer.render(with_band())


def test_write_reports_writes_three_files(tmp_path: Path) -> None:
    out = tmp_path / "new" / "reports"
    paths = write_reports(with_band(), out)
    assert [p.name for p in paths] == ["report.html", "report.md", "diagnosis.json"]
    assert sorted(p.name for p in out.iterdir()) == [
        "diagnosis.json",
        "report-set.json",  # the set's record: which diagnosis, each file's digest
        "report.html",
        "report.md",
    ]
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


def test_cli_report_rerenders_a_saved_diagnosis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = write_reports(manifest_only(), tmp_path / "saved", ("json",))[0]
    out = tmp_path / "out"
    argv = [
        "report",
        str(saved),
        "--out",
        str(out),
        "--format",
        "html",
        "--format",
        "md",
        "--format",
        "json",
        "--title",
        "INC-7: churn <model> lost 4 pts",
        "--owner",
        "ml-platform",
        "--timeline",
        "2026-11-25 09:00 retrain scored 4 pts lower",
        "--timeline",
        "2026-11-26 10:15 rollback",
    ]
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
    assert reloaded.incident is not None and reloaded.incident.owner == "ml-platform"
    assert dataclasses.replace(reloaded, incident=None) == manifest_only()


def test_cli_report_on_a_file_that_is_no_diagnosis(tmp_path: Path) -> None:
    bogus = tmp_path / "diagnosis.json"
    bogus.write_text(json.dumps({"format": "something/v9"}))
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(bogus)])
    assert exit_info.value.code == 3


def test_evil_sample_really_is_evil() -> None:
    assert "<script>" in EVIL and "&" in EVIL and "</style>" in EVIL and '"' in EVIL
    assert 'onerror="window.__pwned=1"' in EVIL


def test_the_json_report_is_the_codecs_format(tmp_path: Path) -> None:
    from reprodiag.diagnosis import codec
    from reprodiag.report import jsonreport

    text = jsonreport.diagnosis_to_json(with_band())
    written = codec.write_diagnosis(with_band(), tmp_path / "written.json")
    assert text == written.read_text("utf-8")  # the same bytes as the codec writes
    saved = tmp_path / "diagnosis.json"
    saved.write_text(text, encoding="utf-8")
    assert jsonreport.load_diagnosis(saved) == with_band()
    saved.write_text('{"format": "other/v2"}', encoding="utf-8")
    with pytest.raises(
        InputError,
        match=r"\$\.format: expected one of reprodiag\.diagnosis/v1, reprodiag\.diagnosis/v2",
    ):
        jsonreport.load_diagnosis(saved)


def test_an_older_diagnosis_with_free_form_metadata_reads_as_its_incident(tmp_path: Path) -> None:
    """diagnosis.json files written before the incident record carry a "metadata" object."""
    doc = json.loads((write_reports(with_band(), tmp_path, ("json",))[0]).read_text("utf-8"))
    doc.pop("incident")
    doc["metadata"] = {
        "title": "INC-2291: churn model lost 4 pts on retrain",
        "owner": "ml-platform",
        "timeline": [
            "2026-11-23 09:00 baseline trained and shipped",
            "2026-11-25 09:00 retrain scored 4 pts lower",
            "2026-11-26 10:15 reprodiag compare run",
        ],
    }
    older = tmp_path / "older.json"
    older.write_text(json.dumps(doc), "utf-8")
    assert load_diagnosis(older) == with_band()
    doc["metadata"] = {}
    older.write_text(json.dumps(doc), "utf-8")
    assert load_diagnosis(older).incident is None
    doc["metadata"] = []
    older.write_text(json.dumps(doc), "utf-8")
    with pytest.raises(InputError, match=r"\$\.metadata: expected an object"):
        load_diagnosis(older)
