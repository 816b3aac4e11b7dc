"""The report's counterfactual retrains: drawn on the noise-band chart, listed per seed, the
unexplained remainder in words; and Markdown code spans shown as <code> in the HTML.

Samples are tests/helpers/report_samples.py (with_band: a seed replay and a pinned-snapshot swap
with three seeds and one refused retrain) and tests/helpers/i13_samples.py (with a data and a
code bisection driven by the real search). Every string checked is computed from them.
"""

from __future__ import annotations

import dataclasses
import json
import re

from reprodiag.diagnosis import diagnosis_from_json
from reprodiag.diagnosis.model import RetrainRun
from reprodiag.report import diagnosis_to_json, renderer_for
from reprodiag.report.charts import arm_rows, unexplained_words
from reprodiag.report.html import code_spans
from reprodiag.report.view import build_view
from tests.helpers.i13_samples import with_bisection
from tests.helpers.report_samples import PINNED_RUNS, hostile, manifest_only, with_band


def _html(d: object) -> str:
    return renderer_for("html").render(d)  # type: ignore[arg-type]


def _md(d: object) -> str:
    return renderer_for("md").render(d)  # type: ignore[arg-type]


def test_runs_round_trip_and_are_left_out_when_empty() -> None:
    d = with_bisection()
    back = diagnosis_from_json(json.loads(diagnosis_to_json(d)))
    assert back.checks == d.checks
    data = json.loads(diagnosis_to_json(manifest_only()))
    assert all("runs" not in c for c in data["checks"])  # older readers see nothing new
    runs = [c for c in json.loads(diagnosis_to_json(d))["checks"] if "runs" in c]
    pinned = next(c for c in runs if c["key"] == "pinned_snapshot")
    assert all("point" not in r for r in pinned["runs"])  # only a bisection's runs name a point
    assert all("point" in r for c in runs if c["key"].endswith("bisection") for r in c["runs"])


def test_every_arm_is_a_row_of_the_band_chart() -> None:
    rows = arm_rows(with_bisection())
    labels = [r.label for r in rows]
    assert labels[:2] == ["seed replay", "pinned-snapshot retrain"]
    assert labels[2].startswith("data bisection at ") and labels[-1].startswith("code bisection at")
    pinned = rows[1]
    assert pinned.values == (90.1, 90.5, 90.3) and len(pinned.failed) == 1
    assert pinned.mean is not None and abs(pinned.mean - 90.3) < 1e-9
    svg = re.search(r'<svg class="chart" id="noise-band-chart".*?</svg>', _html(with_bisection()))
    assert svg is not None
    chart = svg.group(0)
    assert "pinned-snapshot retrain" in chart and "1 refused" in chart and "1 failed" in chart
    # one mark per finished value: 8 band seeds + 1 replay + 3 swap + each bisection value
    finished = sum(len(r.values) for r in rows)
    drawn = chart.count("<polygon") + chart.count("<rect x=") - 1 + chart.count('r="3.5"')
    assert drawn == finished
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", chart)
    assert desc is not None and "pinned-snapshot retrain mean 90.30 over 3 seeds" in desc.group(1)


def test_per_seed_table_lists_failed_and_refused_retrains_with_their_reason() -> None:
    d = with_band()
    view = build_view(d)
    assert len(view.retrains) == len(d.band.seeds) + 1 + len(PINNED_RUNS)  # type: ignore[union-attr]
    refused = [r for r in view.retrains if r.status.label == "refused"]
    assert [r.seed for r in refused] == ["103"]
    assert refused[0].reason is not None and "not the pipeline it stands for" in refused[0].reason
    failed = [r for r in view.retrains if r.status.label == "failed"]
    assert failed and failed[0].reason == "CUDA out of memory"
    html, md = _html(d), _md(d)
    table = html[html.index('<table id="retrains">') :]
    table = table[: table.index("</table>")]
    assert (
        '<td>pinned-snapshot retrain</td><td class="num">101</td><td class="num">90.50</td>'
        in table
    )
    assert "refused</span> not the pipeline it stands for" in table
    assert (
        "| pinned-snapshot retrain | 103 | — | 12.0 | refused: not the pipeline it stands for" in md
    )


def test_unexplained_remainder_in_words_follows_the_numbers() -> None:
    d = with_band()
    words = unexplained_words(d)
    assert words[0].startswith("The confirmed cause, the data change (pinned-snapshot retrain)")
    assert (
        "explains 3.10 of the 4.00 pts gap in accuracy (78 %), 99 % interval 2.54 to 3.66"
        in words[0]
    )
    assert (
        "Left unexplained: 0.90 of the 4.00 pts gap (99 % interval 0.34 to 1.46), beyond the "
        "seed noise" in words[1]
    )
    assert "environment (unversioned" in words[2]
    # a larger share explained: the rest falls within the noise, and the words say so
    ranking = tuple(
        dataclasses.replace(
            r, attribution=dataclasses.replace(r.attribution, points=3.8, low=3.3, high=4.3)
        )
        if r.axis == "data" and r.attribution is not None
        else r
        for r in d.ranking
    )
    close = unexplained_words(dataclasses.replace(d, ranking=ranking))
    assert (
        "Left unexplained: 0.20 of the 4.00 pts gap (99 % interval −0.30 to 0.70), within the "
        "seed noise" in close[1]
    )
    assert "its interval holds 0" in close[1]
    html, md = _html(d), _md(d)
    assert '<div id="unexplained">' in html and words[1] in html.replace("&#39;", "'")
    assert "### What the confirmed causes explain, and what the rest could be" in md
    assert unexplained_words(manifest_only()) == ()  # nothing measured: nothing said


def test_markdown_code_spans_are_code_in_html_and_backticks_stay_in_markdown() -> None:
    base = with_band()
    fixes = (
        dataclasses.replace(base.fixes[1], enforcement="`reprodiag check --tier shipped` in CI"),
    ) + base.fixes[2:]
    d = dataclasses.replace(base, fixes=fixes, summary=base.summary + " Run `make <demo>` next.")
    html, md = _html(d), _md(d)
    assert "<td><code>reprodiag check --tier shipped</code> in CI</td>" in html
    assert "Run <code>make &lt;demo&gt;</code> next." in html
    text = re.sub(r"<pre>.*?</pre>", "", html, flags=re.S)
    assert "`" not in text  # no backtick leaks into the HTML text
    assert "| \\`reprodiag check --tier shipped\\` in CI |" in md  # escaped: shown as typed
    assert str(code_spans("a ` lone")) == "a ` lone"
    assert str(code_spans("``a`b``")) == "<code>a`b</code>"
    evil = _html(hostile())
    assert "<script>" not in evil.split("</style>", 1)[1]


def test_a_run_without_a_point_is_not_a_bisection_row() -> None:
    run = RetrainRun.of(with_band().band.seeds[0])  # type: ignore[union-attr]
    assert run.point is None and run.status == "ok"
