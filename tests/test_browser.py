"""The HTML report in a real headless Chromium with the network off.

Checks what only a browser can: the page loads without a console error and without trying any
request beyond its own file, every chart is drawn at a visible size, what a reader sees agrees with
the JSON diagnosis, and no markup injected through user strings runs. Needs Debian's chromium
(`make browser`); set REPRODIAG_SKIP_BROWSER=1 to skip on a machine without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reprodiag.diagnosis.model import Diagnosis
from reprodiag.report import diagnosis_to_json, write_reports
from reprodiag.report import formatting as fmt
from tests.helpers.browser import INSTALL_HINT, Chromium, PageLoad, find_chromium
from tests.helpers.report_samples import hostile, manifest_only, with_band

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CHARTS = """[...document.querySelectorAll('svg.chart')].map(s => {
  const r = s.getBoundingClientRect(), st = getComputedStyle(s);
  return {id: s.id, width: r.width, height: r.height, shown: st.display !== 'none'
          && st.visibility !== 'hidden', title: s.querySelector('title').textContent,
          label: s.getAttribute('aria-labelledby').split(' ')
                  .map(id => document.getElementById(id) ? 1 : 0).join('')};
})"""
SEEN = """(() => {
  const text = id => { const e = document.getElementById(id); return e && e.textContent.trim(); };
  const rows = t => [...document.querySelectorAll(t + ' tbody tr')]
    .map(tr => [...tr.children].map(c => c.textContent.trim()));
  return {baseline: text('gap-baseline'), candidate: text('gap-candidate'),
          delta: text('gap-delta'), metric: text('gap-metric'),
          ranking: rows('#ranking-table'), band: rows('#band-numbers')};
})()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    if find_chromium() is None:
        if os.environ.get("REPRODIAG_SKIP_BROWSER") == "1":
            pytest.skip("REPRODIAG_SKIP_BROWSER=1 and Chromium is not installed")
        pytest.fail(f"Chromium is not installed: {INSTALL_HINT}; or set REPRODIAG_SKIP_BROWSER=1")
    with Chromium() as chromium:
        yield chromium


def _open(browser: Chromium, diagnosis: Diagnosis, folder: Path) -> tuple[PageLoad, Any]:
    paths = write_reports(diagnosis, folder)
    page = paths[0].resolve()
    seen = browser.load(page.as_uri())
    assert seen.errors == [], seen.errors
    assert seen.requests == [page.as_uri()], seen.requests  # the page itself, nothing else
    return seen, json.loads(diagnosis_to_json(diagnosis))


def _value(text: str) -> float:
    return float(text.replace(fmt.MINUS, "-").replace(" pts", "").replace("+", ""))


@pytest.mark.parametrize("sample", [with_band, manifest_only], ids=lambda f: f.__name__)
def test_report_in_chromium_agrees_with_the_json(
    browser: Chromium, sample: Any, tmp_path: Path
) -> None:
    _, data = _open(browser, sample(), tmp_path)
    charts = browser.evaluate(CHARTS)
    expected = (
        ["axes-chart", "attribution-chart", "noise-band-chart"] if data["band"] else ["axes-chart"]
    )
    assert [c["id"] for c in charts] == expected
    for chart in charts:
        assert chart["shown"] and chart["width"] > 300 and chart["height"] > 80, chart
        assert chart["label"] == "11" and chart["title"], chart  # title and desc both found

    seen = browser.evaluate(SEEN)
    gap = data["gap"]
    assert seen["metric"] == gap["metric"]
    assert _value(seen["baseline"]) == pytest.approx(gap["baseline"], abs=0.005)
    assert _value(seen["candidate"]) == pytest.approx(gap["candidate"], abs=0.005)
    assert _value(seen["delta"]) == pytest.approx(gap["delta"], abs=0.005)
    ranked = sorted(data["ranking"], key=lambda r: r["rank"])
    assert len(seen["ranking"]) == len(ranked) == 5
    for row, rank in zip(seen["ranking"], ranked, strict=True):
        ordinal, axis, status = row[:3]
        assert int(ordinal.rstrip("stndrh")) == rank["rank"]
        assert axis.lower() == rank["axis"]
        assert status == fmt.AXIS_STATUS[rank["status"]].label
    if data["band"]:
        band = dict(tuple(r) for r in seen["band"])
        assert int(band["seed retrains (n)"]) == data["band"]["n"]
        assert _value(band["mean"]) == pytest.approx(data["band"]["mean"], abs=0.005)
        assert band["outcome"] == data["band"]["outcome"]
    else:
        assert seen["band"] == []
    shot = browser.screenshot(tmp_path / "report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_injected_markup_never_runs(browser: Chromium, tmp_path: Path) -> None:
    _open(browser, hostile(), tmp_path)
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('script, img').length") == 0
    title = browser.evaluate("document.title")
    assert "<script>window.__pwned=1</script>" in title  # shown as text, not run
