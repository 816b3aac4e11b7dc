"""The report's view model: plain frozen records derived from a Diagnosis, every string precomputed.

Renderers only lay these out (coveragepy's html.py habit): no number is formatted, no status is
labelled and no decision is taken inside a template. Strings here are plain text; each renderer
escapes them for its own format.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass

from reprodiag.diagnosis.content import ContentDiff, content_lines
from reprodiag.diagnosis.model import (
    AxisDiff,
    AxisRank,
    Bisection,
    Check,
    Diagnosis,
    FieldDiff,
    IncidentInfo,
    NoiseBand,
    Provenance,
    RetrainRun,
    RunLabel,
)
from reprodiag.report import formatting as fmt
from reprodiag.report.charts import (
    ChartText,
    arm_rows,
    attribution_text,
    axes_text,
    band_text,
    refused,
    unexplained_words,
)
from reprodiag.report.formatting import Status
from reprodiag.report.interface import REPORT_FORMAT

# (anchor, title): the four sections an incident write-up is judged by, in this order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("ranking", "1. Ranked axis candidates"),
    ("confirmation", "2. Confirmation, in cost order"),
    ("fixes", "3. Structural fix per axis"),
    ("policy", "4. Policy for future runs"),
)
_TIMELINE_AT = re.compile(r"^(\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?)\s+(.+)$")


@dataclass(frozen=True)
class RunView:
    """One run as the report's header shows it: label, name, id, manifest path, time."""

    label: str
    name: str
    run_id: str
    path: str
    created_at: str


@dataclass(frozen=True)
class HeaderView:
    """The report's header: title, incident, owner, both runs and the gap in words."""

    title: str
    subtitle: str | None  # the diagnosis' own title when an incident title replaces it
    owner: str | None
    created_at: str
    metric: str
    direction: str
    baseline_value: str
    candidate_value: str
    delta: str
    worse_by: str
    gap_source: str
    baseline: RunView
    candidate: RunView


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the incident's timeline."""

    when: str
    what: str


@dataclass(frozen=True)
class RankView:
    """One ranked axis: its place, status in words and colour, reason and evidence."""

    ordinal: str
    axis: str
    status: Status
    reason: str
    evidence: str | None
    explains: str  # "3.10 pts (2.50 to 3.70)" when a retrain measured it, else a dash
    content: str | None = None  # what changed inside the axis, in one line (evidence section)
    content_anchor: str | None = None  # where the evidence section shows it in full


@dataclass(frozen=True)
class BisectionStepView:
    """One round of a bisection as a table row: the point and its commit info, this round's
    retrains, the point's values so far (mean ± the 99 % interval of the mean), the verdict."""

    step: str
    point: str
    info: str  # data: operation · time · parameters · metadata; code: author · date
    retrains: str  # "3", or "3 (1 failed)"
    values: str  # "84.21 ± 0.53 (n = 3)"
    verdict: str
    why: str  # the Welch differences from the two ends, in words


@dataclass(frozen=True)
class BisectionView:
    """A bisection check's path, step by step (reprodiag.confirm.bisect)."""

    anchor: str  # "bisection-data": the check's row links to it
    title: str
    steps: tuple[BisectionStepView, ...]
    result: str  # the first point that moves the metric, or why the search stopped


@dataclass(frozen=True)
class CheckView:
    """One check: cost order, what it expects, what falsifies it, what was seen, verdict."""

    order: str
    title: str
    axis: str
    cost: str
    status: Status
    expected: str
    falsified_by: str
    observed: str
    verdict: Status
    evidence: str | None
    bisection: BisectionView | None = None  # the path of a data or code bisection


@dataclass(frozen=True)
class FixView:
    """One structural fix: the axis, the fix, its cost and how it is enforced."""

    axis: str
    fix: str
    cost: str
    enforcement: str


@dataclass(frozen=True)
class TierView:
    """One tier of the policy: what counts as it, its axes and where it is enforced."""

    tier: str
    applies_to: str
    axes: str
    enforcement: str


@dataclass(frozen=True)
class FieldView:
    """One field of the classified diff, both values shown as text."""

    path: str
    status: Status
    baseline: str
    candidate: str
    note: str  # unversioned side and the version-aware note; "" when neither


@dataclass(frozen=True)
class PatchView:
    """One side's uncommitted patch: a title in numbers, its text, and a note when cut."""

    title: str
    text: str
    note: str | None


@dataclass(frozen=True)
class ContentView:
    """What changed inside one axis (diagnosis/content.py): lines in words, then the commits
    between two data versions, the packages that changed, and the patches, as text."""

    anchor: str  # "content-data": the ranking links to it
    lines: tuple[str, ...]
    commits: tuple[tuple[str, str, str, str, str], ...]  # snapshot, version, time, operation, …
    packages: tuple[tuple[str, str, str, str], ...]  # package, change, baseline, candidate
    patches: tuple[PatchView, ...]


@dataclass(frozen=True)
class AxisDiffView:
    """One axis of the classified diff and its fields."""

    axis: str
    status: Status
    fields: tuple[FieldView, ...]  # only the fields that differ or are unversioned
    counts: str  # "1 differs, 2 unversioned, 14 same"
    content: ContentView | None = None  # what changed inside it, when the diagnosis holds it


@dataclass(frozen=True)
class DiffView:
    """The classified diff: the axes, the noise fields that differ, the family note."""

    axes: tuple[AxisDiffView, ...]
    noise: str  # "3 noise fields differ (run ids, times, hosts): never a cause"
    family_note: str | None


@dataclass(frozen=True)
class SeedView:
    """One seed of the noise band: seed, value or failure reason, seconds."""

    seed: str
    metric: str
    status: Status
    reason: str | None


@dataclass(frozen=True)
class RetrainRowView:
    """One retrain of the per-seed table: its arm, seed, value, seconds, status and why it
    failed or was refused."""

    arm: str
    seed: str
    metric: str
    seconds: str
    status: Status
    reason: str | None


@dataclass(frozen=True)
class BandView:
    """The noise band as rows of numbers, its outcome, its seeds and its note."""

    metric: str
    outcome: Status
    numbers: tuple[tuple[str, str], ...]  # (what, value) rows, in reading order
    seeds: tuple[SeedView, ...]
    note: str | None


@dataclass(frozen=True)
class ReportView:
    """Everything a report shows, as text, in reading order: the templates only lay it out."""

    report_format: str
    diagnosis_format: str
    sections: tuple[tuple[str, str], ...]
    header: HeaderView
    summary: str
    conclusion: str | None  # "lucky baseline: …", only after retrains (or a zero gap)
    bar: str | None  # "statistically equivalent: …", the reproducibility bar the pair meets
    stop_reason: str | None
    spending: tuple[str, ...]  # where the retrain budget went, and why
    warnings: tuple[str, ...]
    open_items: tuple[str, ...]
    timeline: tuple[TimelineEntry, ...]
    ranking: tuple[RankView, ...]
    checks_done: tuple[CheckView, ...]
    checks_planned: tuple[CheckView, ...]
    fixes: tuple[FixView, ...]
    policy: tuple[TierView, ...]
    diff: DiffView
    band: BandView | None
    axes_chart: ChartText
    attribution_chart: ChartText | None  # only when a retrain measured an axis
    band_chart: ChartText | None  # only when a noise band was measured
    open_title: str
    # How the diagnosis was made (label, value), shown first in the evidence; empty when the
    # diagnosis records no provenance (made through the API, or before it was recorded).
    provenance: tuple[tuple[str, str], ...] = ()
    # Every retrain, one row per seed: the candidate band's, then each check's in cost order.
    retrains: tuple[RetrainRowView, ...] = ()
    # What part of the gap the confirmed causes explain and what the rest could be, in words.
    unexplained: tuple[str, ...] = ()


def build_view(diagnosis: Diagnosis) -> ReportView:
    """Everything the templates show, as text, from one Diagnosis."""
    places = fmt.decimals_for(diagnosis.gap.baseline, diagnosis.gap.candidate)
    return ReportView(
        report_format=REPORT_FORMAT,
        diagnosis_format=diagnosis.format,
        sections=SECTIONS,
        header=_header(diagnosis),
        summary=diagnosis.summary,
        conclusion=_conclusion(diagnosis),
        bar=f"{diagnosis.bar.level}: {diagnosis.bar.reason}" if diagnosis.bar else None,
        stop_reason=diagnosis.stop_reason,
        spending=diagnosis.spending,
        warnings=diagnosis.warnings,
        open_items=diagnosis.conclusion_open,
        timeline=_timeline(diagnosis.incident.timeline if diagnosis.incident else ()),
        ranking=tuple(
            _rank(r, places, _content_summary(diagnosis.content, r.axis))
            for r in sorted(diagnosis.ranking, key=lambda r: r.rank)
        ),
        checks_done=tuple(_check(c) for c in diagnosis.checks if c.status != "planned"),
        checks_planned=tuple(_check(c) for c in diagnosis.checks if c.status == "planned"),
        fixes=tuple(
            FixView(fmt.axis_title(f.axis), f.fix, f.cost, f.enforcement) for f in diagnosis.fixes
        ),
        policy=tuple(
            TierView(t.tier, t.applies_to, _axes(t.axes), t.enforcement) for t in diagnosis.policy
        ),
        diff=_diff(diagnosis),
        band=_band(diagnosis.band) if diagnosis.band is not None else None,
        axes_chart=axes_text(diagnosis.ranking),
        attribution_chart=attribution_text(diagnosis),
        band_chart=(
            band_text(diagnosis.band, diagnosis.gap, arm_rows(diagnosis))
            if diagnosis.band
            else None
        ),
        open_title=_open_title(diagnosis),
        provenance=_provenance(diagnosis.provenance),
        retrains=_retrains(diagnosis),
        unexplained=unexplained_words(diagnosis),
    )


def _conclusion(d: Diagnosis) -> str | None:
    """The conclusion's line (Conclusion.line), or None before any retrain."""
    return None if d.conclusion is None else d.conclusion.line


REFUSED = Status("refused", "st-failed")  # not the pipeline it stands for: never judged


def _retrains(d: Diagnosis) -> tuple[RetrainRowView, ...]:
    """The per-seed table: the candidate band's seeds, then every check's retrains in cost
    order (a bisection's with their point), failed and refused ones with their reason."""
    places = fmt.decimals_for(d.gap.baseline, d.gap.candidate)
    band = tuple(RetrainRun.of(s) for s in d.band.seeds) if d.band is not None else ()
    groups = [("candidate band", band)] + [
        (c.name, c.runs) for c in sorted(d.checks, key=lambda c: c.order) if c.runs
    ]
    return tuple(
        RetrainRowView(
            arm=f"{name} at {r.point}" if r.point else name,
            seed=str(r.seed),
            metric=fmt.number(r.metric, places),
            seconds=f"{r.seconds:.1f}" if r.seconds is not None else fmt.DASH,
            status=REFUSED if refused(r) else fmt.status(fmt.SEED_STATUS, r.status),
            reason=r.reason,
        )
        for name, runs in groups
        for r in runs
    )


def _provenance(p: Provenance | None) -> tuple[tuple[str, str], ...]:
    if p is None:
        return ()
    rows = [
        ("reprodiag", p.reprodiag_version),
        ("command", "reprodiag " + shlex.join(p.command)),
        ("trainer", p.trainer or "none: no retrain ran"),
        ("retrain budget", str(p.budget) if p.budget is not None else "none: no retrain ran"),
        ("executor", p.executor or "none: no retrain ran"),
        ("seeds retrained", ", ".join(map(str, p.seeds)) or "none"),
        ("wall time", f"{p.wall_seconds:.1f} s"),
    ]
    return tuple(rows)


def _open_title(d: Diagnosis) -> str:
    if not d.conclusion_open:
        return "What stays open"
    retrained = any(c.retrains > 0 and c.status == "done" for c in d.checks)
    return (
        "What stays open, and what would close it"
        if retrained
        else "No retrain ran: what stays open, and what would close it"
    )


def _run(run: RunLabel) -> RunView:
    return RunView(
        label=run.label,
        name=run.run_name or run.run_id,
        run_id=run.run_id,
        path=run.path or fmt.DASH,
        created_at=run.created_at,
    )


def _header(d: Diagnosis) -> HeaderView:
    info = d.incident or IncidentInfo()
    incident = _text(info.title)
    gap = d.gap
    return HeaderView(
        title=incident or d.title,
        subtitle=d.title if incident and incident != d.title else None,
        owner=_text(info.owner),
        created_at=d.created_at,
        metric=gap.metric,
        direction=f"{gap.direction} is better",
        baseline_value=fmt.number(gap.baseline),
        candidate_value=fmt.number(gap.candidate),
        delta=fmt.points(gap.delta),
        worse_by=fmt.worse_by(gap.worse_by),
        gap_source="from the two manifests" if gap.source == "manifests" else "given as an option",
        baseline=_run(d.baseline),
        candidate=_run(d.candidate),
    )


def _text(value: str | None) -> str | None:
    return fmt.one_line(value) or None if value else None


def _timeline(lines: tuple[str, ...]) -> tuple[TimelineEntry, ...]:
    """Timeline lines as given to --timeline ("2026-11-25 09:00 retrain scored 4 pts lower")."""
    entries = []
    for item in lines:
        line = fmt.one_line(item)
        match = _TIMELINE_AT.match(line)
        entries.append(TimelineEntry(*match.groups()) if match else TimelineEntry("", line))
    return tuple(entries)


def _rank(r: AxisRank, places: int, content: str | None = None) -> RankView:
    explains = fmt.DASH
    if r.attribution is not None:
        a = r.attribution
        explains = (
            f"{fmt.points(a.points, signed=False)} "
            f"({fmt.number(a.low, places)} to {fmt.number(a.high, places)})"
        )
    return RankView(
        ordinal=fmt.ordinal(r.rank),
        axis=fmt.axis_title(r.axis),
        status=fmt.status(fmt.AXIS_STATUS, r.status),
        reason=r.reason,
        evidence=", ".join(r.evidence) or None,
        explains=explains,
        content=content,
        content_anchor=f"content-{r.axis}" if content else None,
    )


def _check(c: Check) -> CheckView:
    return CheckView(
        order=str(c.order),
        title=c.title,
        axis=fmt.axis_title(c.axis),
        cost=c.cost,
        status=fmt.status(fmt.CHECK_STATUS, c.status),
        expected=c.expected,
        falsified_by=c.falsified_by,
        observed=c.observed if c.observed is not None else "not run yet",
        verdict=fmt.status(fmt.VERDICT, c.verdict),
        evidence=", ".join(c.evidence) or None,
        bisection=_bisection(c.bisection) if c.bisection is not None else None,
    )


# The level of each point's interval: the bisection's own looks (reprodiag.noise.counterfactual).
_BISECTION_LEVEL = 0.99


def _bisection(b: Bisection) -> BisectionView:
    """The path of a bisection as rows of text: one per round of retrains."""
    infos = dict(zip(b.points, b.infos, strict=False))
    places = fmt.decimals_for(*(v for s in b.steps for v in s.values))
    seen: dict[str, int] = {}  # the point's finished values before this round
    rows = []
    for i, s in enumerate(b.steps, 1):
        new = len(s.values) - seen.get(s.point, 0)
        seen[s.point] = len(s.values)
        failed = s.retrains - new
        # the words are "VERDICT: mean M over n seeds; moved ... from the baseline end, ...":
        # the verdict and the mean have their own columns
        why = s.words.removeprefix(f"{s.verdict}: ").split("; ")
        why = why[1:] if len(why) > 1 and why[0].startswith("mean ") else why
        rows.append(
            BisectionStepView(
                step=str(i),
                point=s.point,
                info=_point_info(infos.get(s.point, {})),
                retrains=str(s.retrains) + (f" ({failed} failed)" if failed > 0 else ""),
                values=_mean_interval(s.values, places),
                verdict=s.verdict,
                why="; ".join(why),
            )
        )
    between = max(len(b.points) - 2, 0)
    ends = f"{b.points[0]} and {b.points[-1]}" if b.points else "the two runs"
    title = (
        f"{fmt.axis_title(b.axis)} bisection: {between} point{'s' if between != 1 else ''} "
        f"between {ends}, {len(rows)} step{'s' if len(rows) != 1 else ''}"
    )
    result = b.stop
    if b.first is None and b.remaining:
        result += "; still open: " + ", ".join(b.remaining)
    elif any(s.point == b.first and s.verdict == "part of the way" for s in b.steps):
        result += (
            ", but only part of the way (it differs from both ends): the rest of the change lies "
            "in the points after it, which were not bisected"
        )
    return BisectionView(
        anchor=f"bisection-{b.axis}", title=title, steps=tuple(rows), result=result
    )


def _mean_interval(values: tuple[float, ...], places: int) -> str:
    """ "84.21 ± 0.53 (n = 3)": the mean and the half-width of its 99 % Student-t interval."""
    n = len(values)
    if n == 0:
        return "no finished retrain"
    mean = math.fsum(values) / n
    if n < 2:
        return f"{fmt.number(mean, places)} (n = 1)"
    from scipy import special

    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = float(special.stdtrit(n - 1, 0.5 + _BISECTION_LEVEL / 2)) * math.sqrt(var / n)
    return f"{fmt.number(mean, places)} ± {fmt.number(half, places)} (n = {n})"


def _point_info(info: object) -> str:
    """A point's commit info in one line: a table version's operation, time (UTC), parameters
    and user metadata; a commit's author and date (its subject is in the point's name)."""
    if not isinstance(info, dict):
        return fmt.DASH
    parts: list[str] = []
    for key in ("operation", "timestamp", "author", "date"):
        value = info.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    for key in ("parameters", "metadata"):
        value = info.get(key)
        if isinstance(value, dict) and value:
            pairs = ", ".join(f"{k}={fmt.fact(v)}" for k, v in sorted(value.items()))
            parts.append(("metadata: " if key == "metadata" else "") + pairs)
    text = fmt.one_line(" · ".join(parts))
    return (text[:237] + "…" if len(text) > 240 else text) or fmt.DASH


def _axes(axes: tuple[str, ...]) -> str:
    return ", ".join(axes) if axes else "none"


def _field(f: FieldDiff) -> FieldView:
    note = "; ".join(n for n in (fmt.SIDE.get(f.unversioned_side or ""), f.note) if n)
    return FieldView(
        path=f.path,
        status=fmt.status(fmt.FIELD_STATUS, f.status),
        baseline=fmt.fact(f.baseline),
        candidate=fmt.fact(f.candidate),
        note=note,
    )


def _axis_diff(a: AxisDiff, content: ContentDiff | None = None) -> AxisDiffView:
    shown = tuple(_field(f) for f in a.fields if f.status != "same")
    counts = []
    for key, word in (("differs", "differs"), ("unversioned", "unversioned"), ("same", "same")):
        n = sum(1 for f in a.fields if f.status == key)
        if n:
            counts.append(f"{n} {'differ' if key == 'differs' and n > 1 else word}")
    return AxisDiffView(
        axis=fmt.axis_title(a.axis),
        status=fmt.status(fmt.FIELD_STATUS, a.status),
        fields=shown,
        counts=", ".join(counts) or "no fields recorded",
        content=_content(content, a.axis) if content is not None else None,
    )


def _diff(d: Diagnosis) -> DiffView:
    n = len(d.diff.noise)
    noise = (
        f"{n} noise field{'s' if n != 1 else ''} differ{'s' if n == 1 else ''} "
        "(run ids, times, hosts): these differ between any two runs and are never a cause"
    )
    note = d.diff.family_note
    if not d.diff.same_family and not note:
        note = "the two manifests look like different model families"
    return DiffView(
        axes=tuple(_axis_diff(a, d.content) for a in d.diff.axes), noise=noise, family_note=note
    )


def _files(files: tuple[str, ...]) -> str:
    if not files:
        return "no file named"
    more = f" and {len(files) - 5} more" if len(files) > 5 else ""
    return ", ".join(files[:5]) + more


def _content_summary(content: ContentDiff | None, axis: str) -> str | None:
    lines = content_lines(content).get(axis) if content is not None else None
    return lines[0] if lines else None


def _content(content: ContentDiff, axis: str) -> ContentView | None:
    """The axis' content diff as text; None when the diagnosis holds none for it."""
    lines = content_lines(content).get(axis)
    if not lines:
        return None
    commits = tuple(
        (
            data.role,
            str(c.version),
            c.timestamp or fmt.DASH,
            c.operation or fmt.DASH,
            c.details or fmt.DASH,
        )
        for data in (content.data if axis == "data" else ())
        for c in data.commits
    )
    env = content.environment if axis == "environment" else None
    packages = tuple(
        (c.name, c.kind, c.baseline or fmt.DASH, c.candidate or fmt.DASH)
        for c in (env.changes if env is not None else ())
    )
    code = content.code if axis == "code" else None
    patches = tuple(
        PatchView(
            title=(
                f"{p.side} patch: {_files(p.files)} "
                f"(+{p.added} −{p.removed} lines, {p.size:,} bytes, {p.sha256[:19]})"
            ),
            text=p.text,
            note=(
                f"cut after {len(p.text):,} characters of {p.size:,} bytes: the manifest's "
                "code.patch holds the whole patch"
                if p.truncated
                else None
            ),
        )
        for p in (code.patches if code is not None else ())
    )
    return ContentView(
        anchor=f"content-{axis}",
        lines=lines,
        commits=commits,
        packages=packages,
        patches=patches,
    )


def _band(b: NoiseBand) -> BandView:
    outcome = fmt.status(fmt.BAND_OUTCOME, b.outcome)
    places = fmt.decimals_for(b.mean)
    numbers: list[tuple[str, str]] = [
        ("seed retrains (n)", str(b.n)),
        ("mean", fmt.number(b.mean, places)),
        ("standard deviation", fmt.number(b.std, places)),
        (
            "band (mean \u00b1 k\u00b7std)",
            f"{fmt.number(b.low, places)} to {fmt.number(b.high, places)} "
            f"(k = {fmt.number(b.k, 2)})",
        ),
        ("outcome", outcome.label),
        ("test statistic", fmt.number(b.statistic, 2) if b.statistic is not None else fmt.DASH),
        ("p-value", fmt.p_value(b.p_value)),
        ("baseline rank among the seeds", b.baseline_rank or fmt.DASH),
        ("minimum detectable effect", fmt.points(b.min_detectable_effect, signed=False)),
    ]
    seeds = tuple(
        SeedView(
            seed=str(s.seed),
            metric=fmt.number(s.metric, places),
            status=fmt.status(fmt.SEED_STATUS, s.status),
            reason=s.reason,
        )
        for s in b.seeds
    )
    return BandView(
        metric=b.metric, outcome=outcome, numbers=tuple(numbers), seeds=seeds, note=b.note
    )
