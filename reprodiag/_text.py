"""Text made safe to show: control characters, escape codes and lone surrogates escaped.

Shared by the terminal (reprodiag.cli wraps stdout and stderr with it) and the Markdown report
(reprodiag.report.formatting.one_line), which sit in different layers.
"""

from __future__ import annotations

import re

# C0 controls but newline and tab, DEL, C1 controls, bidirectional overrides and isolates (text
# that reads differently than it is), and lone surrogates (which no encoder writes).
UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every control character, terminal escape code, bidirectional override and
    lone surrogate shown as its escape (``\\x1b``, ``\\u202e``): a value from a manifest
    cannot move the cursor, recolour, retitle or clear a terminal, or hide text. Newlines and
    tabs are kept."""
    return UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape", "backslashreplace").decode("ascii")
