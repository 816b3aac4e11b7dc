"""The HTML report in a real headless Chromium with the network off.

Checks what only a browser can: the page loads without a console error and without trying any
request beyond its own file, every chart is drawn at a visible size, what a reader sees agrees with
the JSON diagnosis, and no markup injected through user strings runs. Needs Debian's chromium
(`make browser`). Without Chromium the tests fail as root (CI installs it) and skip, saying what
they need, for a user without root; REPRODIAG_SKIP_BROWSER=1 skips, REPRODIAG_REQUIRE_BROWSER=1
fails.
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


NEEDS = (
    "Chromium is not installed (looked for $REPRODIAG_CHROMIUM, chromium, chromium-browser, "
    "google-chrome): these tests need a headless Chromium. Install it (as root: `make browser`, "
    "or `sudo apt-get install chromium`), or set REPRODIAG_CHROMIUM=/path/to/chrome"
)


def when_missing(environ: dict[str, str] | None = None, euid: int | None = None) -> str:
    """What a run without Chromium does: "fail" where it could have been installed (root, as on
    CI, which runs `make browser` first) or where REPRODIAG_REQUIRE_BROWSER=1; else "skip"
    (a user without root cannot install it; REPRODIAG_SKIP_BROWSER=1 asks to skip anyway)."""
    env = os.environ if environ is None else environ
    if env.get("REPRODIAG_SKIP_BROWSER") == "1":
        return "skip"
    if env.get("REPRODIAG_REQUIRE_BROWSER") == "1":
        return "fail"
    return "fail" if (os.geteuid() if euid is None else euid) == 0 else "skip"


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    if find_chromium() is None:
        if when_missing() == "skip":
            pytest.skip(NEEDS)
        pytest.fail(f"{NEEDS}; {INSTALL_HINT}; or set REPRODIAG_SKIP_BROWSER=1")
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


def test_without_root_make_browser_skips_the_install_and_the_tests_say_what_they_need() -> None:
    """`make browser` as a user without root and without Chromium: no apt-get, exit 0."""
    import shutil
    import subprocess
    import tempfile

    # A folder the unprivileged user can enter (pytest's tmp_path is root's own, mode 0700).
    work = Path(tempfile.mkdtemp(prefix="reprodiag-browser-"))
    work.chmod(0o755)
    bin_dir = work / "bin"  # make and a shell, but no chromium and no apt-get
    bin_dir.mkdir()
    for tool in ("make", "sh", "id"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    root = Path(__file__).resolve().parents[1]
    env = {"PATH": str(bin_dir), "HOME": str(work)}
    as_user = (lambda: os.setuid(65534)) if os.geteuid() == 0 else None
    try:
        proc = subprocess.run(
            ["make", "-s", "-f", str(root / "Makefile"), "browser"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=as_user,  # noqa: PLW1509 - drop root in this one child before exec
        )
    finally:
        shutil.rmtree(work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not root: not installing it" in proc.stdout
    assert when_missing({}, euid=1000) == "skip" and when_missing({}, euid=0) == "fail"
    assert when_missing({"REPRODIAG_REQUIRE_BROWSER": "1"}, euid=1000) == "fail"
    assert when_missing({"REPRODIAG_SKIP_BROWSER": "1"}, euid=0) == "skip"


def test_counterfactual_retrains_are_drawn_and_listed_per_seed(
    browser: Chromium, tmp_path: Path
) -> None:
    """Every arm of the investigation (swap, seed replay, bisection points) is a labelled row of
    the noise-band chart, inside the drawn chart; the per-seed table holds every retrain of the
    JSON; the rest of the gap is explained in words; no Markdown backtick reaches the text."""
    from tests.helpers.i13_samples import with_bisection

    _, data = _open(browser, with_bisection(), tmp_path)
    seen = browser.evaluate(
        """(() => {
      const svg = document.getElementById('noise-band-chart'), box = svg.getBoundingClientRect();
      const labels = [...svg.querySelectorAll('text')].map(t => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent, inside: r.left >= box.left - 1 && r.right <= box.right + 1
                && r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && r.width > 0};
      });
      const rows = [...document.querySelectorAll('#retrains tbody tr')].length;
      const text = document.body.innerText.replace(
        [...document.querySelectorAll('pre')].map(p => p.innerText).join(''), '');
      return {labels, rows, unexplained: (document.getElementById('unexplained') || {}).innerText,
              ticks: (text.match(/`/g) || []).length};
    })()"""
    )
    texts = [label["text"] for label in seen["labels"]]
    assert "seed replay" in texts and "pinned-snapshot retrain" in texts
    assert any(t.startswith("data: ") for t in texts) and any(t.startswith("code: ") for t in texts)
    assert all(label["inside"] for label in seen["labels"]), seen["labels"]
    runs = sum(len(c.get("runs", [])) for c in data["checks"]) + len(data["band"]["seeds"])
    assert seen["rows"] == runs
    assert "Left unexplained: " in seen["unexplained"] and "explains" in seen["unexplained"]
    assert seen["ticks"] == 0
