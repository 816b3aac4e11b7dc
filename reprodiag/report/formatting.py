"""Display strings for numbers, ranks and statuses: one place, so html and md agree to the digit."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from reprodiag._text import printable
from reprodiag.manifest.codec import skipped_of

MINUS = "\u2212"  # a real minus sign: "−4.00 pts" reads (and prints) better than a hyphen
DASH = "\u2014"  # shown where a value is absent
_MAX_VALUE_CHARS = 160


@dataclass(frozen=True)
class Status:
    """A status as words (always shown) and a CSS class from a fixed whitelist (colour on top)."""

    label: str
    css: str


# Every CSS class a report can carry. A value outside these tables is shown by its own words with
# the neutral class, so a new status from the engine renders (plainly) instead of failing.
_UNKNOWN = "st-unknown"
AXIS_STATUS = {
    "confirmed": Status("confirmed cause", "st-confirmed"),
    "candidate": Status("candidate", "st-candidate"),
    "unversioned": Status("unversioned: cannot be ruled out", "st-unversioned"),
    "noise": Status("within the noise band", "st-noise"),
    "ruled_out": Status("ruled out", "st-ruled-out"),
    "excluded": Status("excluded by a retrain", "st-ruled-out"),
    "cant_tell": Status("can't tell yet", "st-inconclusive"),
}
CHECK_STATUS = {
    "done": Status("done", "st-done"),
    "planned": Status("to run", "st-planned"),
    "skipped": Status("skipped", "st-skipped"),
}
VERDICT = {
    "confirms": Status("confirms", "st-confirmed"),
    "candidate": Status("candidate", "st-candidate"),
    "unversioned": Status("unversioned", "st-unversioned"),
    "rules_out": Status("rules out", "st-ruled-out"),
    "inconclusive": Status("inconclusive", "st-inconclusive"),
    "not_run": Status("not run yet", "st-planned"),
    "explains": Status("explains", "st-confirmed"),
    "excluded": Status("excluded", "st-ruled-out"),
    "cant_tell": Status("can't tell yet", "st-inconclusive"),
    "consistent": Status("consistent with noise", "st-noise"),
}
FIELD_STATUS = {
    "same": Status("same", "st-same"),
    "differs": Status("differs", "st-differs"),
    "unversioned": Status("unversioned", "st-unversioned"),
}
BAND_OUTCOME = {
    "beyond noise": Status("beyond noise", "st-beyond"),
    "consistent with noise": Status("consistent with noise", "st-noise"),
    "inconclusive": Status("inconclusive", "st-inconclusive"),
    "unusual baseline draw": Status("the baseline is an unusual draw", "st-noise"),
}
SEED_STATUS = {"ok": Status("ok", "st-done"), "failed": Status("failed", "st-failed")}
CSS_CLASSES = frozenset(
    s.css
    for table in (AXIS_STATUS, CHECK_STATUS, VERDICT, FIELD_STATUS, BAND_OUTCOME, SEED_STATUS)
    for s in table.values()
) | {_UNKNOWN}

AXIS_TITLES = {
    "data": "Data",
    "code": "Code",
    "environment": "Environment",
    "randomness": "Randomness",
    "intent": "Intent",
}
SIDE = {
    "baseline": "missing on the baseline",
    "candidate": "missing on the candidate",
    "both": "missing on both",
}


def status(table: dict[str, Status], value: str) -> Status:
    """The display words and CSS class of `value` in `table`; unknown values show plainly."""
    return table.get(value, Status(one_line(str(value)), _UNKNOWN))


def axis_title(axis: str) -> str:
    """The axis as a heading word ("Data"); anything else as given."""
    return AXIS_TITLES.get(axis, axis)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def number(value: float | None, decimals: int | None = None) -> str:
    """A metric value: 2 decimals from 1 up, 4 below (accuracy as 0.9123 or as 91.23)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH if value is None else str(value)
    if decimals is None:
        decimals = 2 if abs(value) >= 1 or value == 0 else 4
    text = f"{abs(value):.{decimals}f}"
    return f"{MINUS}{text}" if value < 0 and float(text) != 0 else text


def decimals_for(*scale: float | None) -> int:
    """Decimals for numbers on the scale of these values: 2 for 91.2, 4 for 0.912."""
    known = [abs(v) for v in scale if v is not None]
    return 2 if not known or max(known) >= 1 else 4


def points(value: float | None, *, signed: bool = True) -> str:
    """A difference in metric points: "−4.00 pts", "+0.0040 pts"."""
    if value is None:
        return DASH
    decimals = 2 if abs(value) >= 0.1 or value == 0 else 4
    text = number(value, decimals)
    if signed and value > 0:
        text = "+" + text
    return f"{text} pts"


def worse_by(value: float) -> str:
    """A gap in points with a real minus sign ("−4.00 pts"), better or worse by its sign."""
    if value > 0:
        return f"{points(value, signed=False)} worse"
    if value < 0:
        return f"{points(-value, signed=False)} better"
    return "no change"


def p_value(value: float | None) -> str:
    """A p-value with four decimals, "< 0.0001" below that, a dash when absent."""
    if value is None:
        return DASH
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def fact(value: object) -> str:
    """A manifest value from the diff, on one line: absent, skipped-with-reason, or compact JSON."""
    if value is None:
        return "absent"
    if (skipped := skipped_of(value)) is not None:
        text = f"skipped: {skipped.reason}"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    text = one_line(text)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "\u2026"
    return text


def one_line(text: str) -> str:
    """Newlines and runs of whitespace collapsed to one space: a value never breaks a table row;
    control characters, terminal escape codes, bidirectional overrides and lone surrogates shown
    as their escapes (``\\x1b``): a value cannot hide text or reach a terminal that shows the
    Markdown report raw."""
    return printable(re.sub(r"\s+", " ", text).strip())
