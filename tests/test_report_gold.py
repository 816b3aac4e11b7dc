"""Golden-file tests: rendered reports compared with tests/gold/, after scrubbing times and paths.

Refresh the gold files after an intended change with `make gold` (REPRODIAG_REFRESH_GOLD=1), then
review the diff in git like any other change (coveragepy's tests/goldtest.py habit).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

from reprodiag.report import renderer_for
from tests.helpers.report_samples import SAMPLES

GOLD = Path(__file__).parent / "gold"
REFRESH = os.environ.get("REPRODIAG_REFRESH_GOLD") == "1"
DIFF_LINES = 60

# (pattern, placeholder): what legitimately changes between machines and runs.
SCRUBS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "TIMESTAMP",
    ),
    # an absolute path after a space, quote, bracket, tag end or table bar; "</td>" is no path
    (re.compile(r"(?<=[\s\"'(>|])/(?:[\w.@+-]+/)+[\w.@+-]+"), "/ABS/PATH"),
)


def scrub(text: str) -> str:
    for pattern, placeholder in SCRUBS:
        text = pattern.sub(placeholder, text)
    return text


def compare_gold(actual: str, name: str) -> None:
    """Compare with tests/gold/NAME, or rewrite it when REPRODIAG_REFRESH_GOLD=1."""
    gold = GOLD / name
    actual = scrub(actual)
    if REFRESH:
        gold.parent.mkdir(parents=True, exist_ok=True)
        gold.write_text(actual, encoding="utf-8")
        return
    if not gold.exists():
        pytest.fail(f"no gold file {gold}; write it with `make gold` and review it")
    expected = gold.read_text(encoding="utf-8")
    if actual != expected:
        diff = list(
            difflib.unified_diff(
                expected.splitlines(), actual.splitlines(), f"gold/{name}", "rendered", lineterm=""
            )
        )
        more = f"\n... {len(diff) - DIFF_LINES} more diff lines" if len(diff) > DIFF_LINES else ""
        pytest.fail(
            f"{name} differs from its gold file (refresh with `make gold` if intended):\n"
            + "\n".join(diff[:DIFF_LINES])
            + more
        )


@pytest.mark.parametrize("fmt", ["html", "md", "json"])
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_report_matches_gold(sample: str, fmt: str) -> None:
    renderer = renderer_for(fmt)
    compare_gold(renderer.render(SAMPLES[sample]()), f"{sample}{renderer.suffix}")


def test_scrub_replaces_times_and_paths_only() -> None:
    text = (
        '<td class="path">/srv/runs/a/manifest.json</td> at 2026-11-26T10:15:00Z '
        '| /tmp/x/y | </td></tr> "path": "/a/b.json" 3..20 retrains 2026-11-25 09:00'
    )
    assert scrub(text) == (
        '<td class="path">/ABS/PATH</td> at TIMESTAMP | /ABS/PATH | '
        '</td></tr> "path": "/ABS/PATH" 3..20 retrains 2026-11-25 09:00'
    )
