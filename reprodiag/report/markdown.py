"""The Markdown report: pastes into a GitHub or Jira ticket; plain text, no HTML at all.

Every value from the diagnosis goes through `escape`: `|` and newlines cannot break a table row,
backticks and brackets cannot open code or links, `<` cannot start HTML, and a line never starts
with a heading, list or quote marker. A patch (the content diff of the code axis) is shown in a
fenced code block whose fence is longer than any run of backticks in it, so it cannot close it;
inside a code block Markdown interprets nothing.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence

from reprodiag.diagnosis.model import Diagnosis
from reprodiag.report.charts import ChartText
from reprodiag.report.formatting import one_line
from reprodiag.report.view import (
    BandView,
    BisectionView,
    CheckView,
    ContentView,
    DiffView,
    ReportView,
    build_view,
)

WIDTH = 100
_SPECIAL = re.compile(r"([\\`*\[\]<>|~&])")
_LINE_START = re.compile(r"^(#|[+=-]|\d+(?=[.)]))")


def cell(text: str) -> str:
    """One line of Markdown-inert text for a table cell or after a heading marker."""
    text = _SPECIAL.sub(r"\\\1", one_line(text))
    return "\\" + text if text.startswith("#") else text


def escape(text: str) -> str:
    """One line of Markdown-inert text that may start a line."""
    return _guard(cell(text))


def _guard(line: str) -> str:
    """Escape a marker that would turn the start of a line into a heading, list or rule."""
    match = _LINE_START.match(line)
    if not match:
        return line
    end = match.end()
    if match.group(1)[0].isdigit():  # "12." -> "12\.": the dot is what makes a list
        return line[:end] + "\\" + line[end:]
    return "\\" + line


def _para(text: str, first: str = "", rest: str = "") -> list[str]:
    lines = textwrap.wrap(
        escape(text), WIDTH - len(first), break_long_words=False, break_on_hyphens=False
    ) or [""]
    return [(first if i == 0 else rest) + _guard(line) for i, line in enumerate(lines)]


def _bullets(items: Iterable[str]) -> list[str]:
    return [line for item in items for line in _para(item, "- ", "  ")]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return out + [""]


def _header(view: ReportView) -> list[str]:
    h = view.header
    lines = [f"# {cell(h.title)}", ""]
    if h.subtitle:
        lines += _para(h.subtitle) + [""]
    meta = f"Diagnosed {h.created_at}" + (f" · owner: {h.owner}" if h.owner else "")
    gap = (
        f"{h.metric} ({h.direction}): baseline {h.baseline_value} → candidate "
        f"{h.candidate_value}: {h.worse_by} ({h.delta}, {h.gap_source})"
    )
    lines += _para(meta) + [""] + _para(gap, "**Gap:** ") + [""]
    return lines + _table(
        ("run", "name", "run id", "manifest", "created"),
        ((r.label, r.name, r.run_id, r.path, r.created_at) for r in (h.baseline, h.candidate)),
    )


def _summary(view: ReportView) -> list[str]:
    lines = ["## Summary", ""] + _para(view.summary) + [""]
    if view.conclusion:
        lines += _para(view.conclusion, "**Conclusion:** ") + [""]
    if view.bar:
        lines += _para(view.bar, "**Reproducibility bar:** ") + [""]
    if view.stop_reason:
        lines += _para(view.stop_reason, "**Why the checks stopped:** ") + [""]
    if view.spending:
        lines += ["**Where the retrains went:**", ""] + _bullets(view.spending) + [""]
    if view.warnings:
        lines += ["### Warnings", ""] + _bullets(view.warnings) + [""]
    if view.timeline:
        lines += ["### Timeline", ""] + _table(
            ("when", "what"), ((e.when, e.what) for e in view.timeline)
        )
    return lines


def _checks(title: str, checks: tuple[CheckView, ...], empty: str) -> list[str]:
    lines = [f"### {title} ({len(checks)})", ""]
    if not checks:
        return lines + [empty, ""]
    header = (
        "step",
        "check",
        "axis",
        "cost",
        "expected if this axis is the cause",
        "falsified by",
        "observed",
        "verdict",
    )
    lines += _table(
        header,
        (
            (
                c.order,
                f"{c.title} ({c.status.label})",
                c.axis,
                c.cost,
                c.expected,
                c.falsified_by,
                c.observed
                + (f" (evidence: {c.evidence})" if c.evidence else "")
                + (f" (the path: {c.bisection.title}, below)" if c.bisection else ""),
                c.verdict.label,
            )
            for c in checks
        ),
    )
    return lines + [line for c in checks if c.bisection for line in _bisection(c.bisection)]


def _bisection(b: BisectionView) -> list[str]:
    """A bisection's path: one row per round of retrains, then where the search ended."""
    lines = [f"#### {cell(b.title)}", ""]
    if not b.steps:  # stopped before its first point (the budget left was too small)
        return lines + _para(b.result, "**Result:** ") + [""]
    lines += _table(
        ("step", "point", "commit info", "retrains", "mean ± 99 % interval", "verdict", "why"),
        ((s.step, s.point, s.info, s.retrains, s.values, s.verdict, s.why) for s in b.steps),
    )
    return lines + _para(b.result, "**Result:** ") + [""]


def _diff(diff: DiffView) -> list[str]:
    lines = ["### Classified diff per axis", ""]
    if diff.family_note:
        lines += _para(diff.family_note, "**Warning:** ") + [""]
    for a in diff.axes:
        lines += [f"#### {cell(f'{a.axis}: {a.status.label} ({a.counts})')}", ""]
        if a.fields:
            lines += _table(
                ("field", "status", "baseline", "candidate", "note"),
                ((f.path, f.status.label, f.baseline, f.candidate, f.note) for f in a.fields),
            )
        if a.content is not None:
            lines += _content(a.axis, a.content)
    return lines + _para(diff.noise) + [""]


def _content(axis: str, content: ContentView) -> list[str]:
    """What changed inside an axis: its lines, the commits, the packages, each patch fenced."""
    lines = [f"**What changed inside {cell(axis.lower())}:**", ""] + _bullets(content.lines)
    lines += [""]
    if content.commits:
        lines += _table(
            ("snapshot", "version", "time (UTC)", "operation", "parameters and metadata"),
            content.commits,
        )
    if content.packages:
        lines += _table(("package", "change", "baseline", "candidate"), content.packages)
    for patch in content.patches:
        lines += _para(patch.title, "**Patch:** ") + [""]
        if patch.note:
            lines += _para(patch.note) + [""]
        lines += fenced(patch.text, "diff") + [""]
    return lines


def fenced(text: str, info: str = "") -> list[str]:
    """A fenced code block that `text` cannot close: its fence is longer than any run of
    backticks inside it. Inside a code block Markdown interprets nothing (no HTML, no link)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *text.rstrip("\n").split("\n"), fence]


def _chart(chart: ChartText | None) -> list[str]:
    """A chart's text alternative: a ticket shows no SVG, so its title and data as a table."""
    if chart is None:
        return []
    return _para(chart.title + ".", "**Chart:** ") + [""] + _table(chart.columns, chart.rows)


def _provenance(view: ReportView) -> list[str]:
    if not view.provenance:
        return []
    return ["### How this diagnosis was made", ""] + _table(("what", "value"), view.provenance)


def _band(band: BandView | None, chart: ChartText | None) -> list[str]:
    if band is None:
        return _para(
            "No seed-noise band was measured (manifest-only mode): run the plan above "
            "to measure it."
        ) + [""]
    lines = [f"### {cell(f'Seed-noise band: {band.metric} ({band.outcome.label})')}", ""]
    lines += _chart(chart) + _table(("what", "value"), band.numbers)
    if band.note:
        lines += _para(band.note) + [""]
    return lines


def _retrains(view: ReportView) -> list[str]:
    """Every retrain, one row per seed, failed and refused ones with their reason."""
    if not view.retrains:
        return []
    title = (
        f"**Every retrain, per seed ({len(view.retrains)}):** the candidate band, then each "
        "check in cost order"
    )
    return [title, ""] + _table(
        ("arm", "seed", view.header.metric, "seconds", "status"),
        (
            (
                r.arm,
                r.seed,
                r.metric,
                r.seconds,
                r.status.label + (f": {r.reason}" if r.reason else ""),
            )
            for r in view.retrains
        ),
    )


def render_view(view: ReportView) -> str:
    """The Markdown report of a view: it pastes into a ticket."""
    (_, rank_t), (_, conf_t), (_, fix_t), (_, pol_t) = view.sections
    lines = _header(view) + _summary(view) + [f"## {cell(view.open_title)}", ""]
    lines += _bullets(view.open_items) if view.open_items else ["Nothing: the gap is explained."]
    lines += [""]
    lines += [f"## {rank_t}", ""] + _table(
        ("rank", "axis", "status", "reason", "explains"),
        (
            (
                r.ordinal,
                r.axis,
                r.status.label,
                r.reason
                + (f" (evidence: {r.evidence})" if r.evidence else "")
                + (f" (what changed inside: {r.content})" if r.content else ""),
                r.explains,
            )
            for r in view.ranking
        ),
    )
    lines += _chart(view.attribution_chart)
    if view.unexplained:
        lines += ["### What the confirmed causes explain, and what the rest could be", ""]
        lines += [line for sentence in view.unexplained for line in _para(sentence) + [""]]
    lines += [f"## {conf_t}", ""]
    lines += _checks("Checks done", view.checks_done, "No check has run yet.")
    lines += _checks("Plan still to run", view.checks_planned, "Nothing left to run.")
    lines += [f"## {fix_t}", ""] + _table(
        ("axis", "structural fix", "cost", "enforcement"),
        ((f.axis, f.fix, f.cost, f.enforcement) for f in view.fixes),
    )
    lines += [f"## {pol_t}", ""] + _table(
        ("tier", "what counts as it", "enforced axes", "enforcement point"),
        ((t.tier, t.applies_to, t.axes, t.enforcement) for t in view.policy),
    )
    lines += ["## Evidence", ""] + _provenance(view) + _diff(view.diff)
    lines += _band(view.band, view.band_chart) + _retrains(view)
    lines += [
        "---",
        "",
        f"{view.report_format} · diagnosis format {view.diagnosis_format} · generated by reprodiag",
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


class MarkdownRenderer:
    """Renders a Diagnosis as Markdown (report.md)."""

    format = "md"
    suffix = ".md"

    def render(self, diagnosis: Diagnosis) -> str:
        """The Markdown text of `diagnosis`."""
        return render_view(build_view(diagnosis))
