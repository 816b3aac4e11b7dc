"""diagnose(): two manifests in, one Diagnosis out. Manifest-only: no retrain runs here.

The steps follow DESIGN.md: classified diff → free checks in cost order → ranking → the paid checks
as a plan → fixes and the tier policy → summary. Nothing is printed; the CLI renders the record.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from reprodiag.diagnosis.bar import is_zero_gap, manifest_bar, resolution
from reprodiag.diagnosis.checks import Probe, baseline_readability, free_checks
from reprodiag.diagnosis.content import (
    DEFAULT_CONTENT,
    ContentDiff,
    ContentOptions,
    content_diff,
)
from reprodiag.diagnosis.diff import diff_manifests
from reprodiag.diagnosis.fixes import policy_rows, structural_fixes
from reprodiag.diagnosis.gap import measure_gap
from reprodiag.diagnosis.model import (
    AxisRank,
    Check,
    Conclusion,
    Diagnosis,
    Gap,
    RunLabel,
)
from reprodiag.diagnosis.plan import paid_checks
from reprodiag.diagnosis.ranking import DEFAULT_PRIOR, rank_axes
from reprodiag.diagnosis.seeds import join_words
from reprodiag.manifest.model import Manifest

VERDICT_WORDS = {
    "explains": "explains",
    "excluded": "excluded",
    "cant_tell": "can't tell yet",
    "confirms": "confirms",
    "rules_out": "rules out",
    "inconclusive": "inconclusive",
    "consistent": "consistent with noise",
}
NOT_RUN = "not run: "  # how a check the retrains stopped before begins (confirm.findings)
MANIFEST_ONLY = "manifest-only: no retrain was run; the plan lists the retrains that confirm"


def diagnose(
    baseline: Manifest,
    candidate: Manifest,
    *,
    metric: str | None = None,
    gap: float | None = None,
    baseline_path: str | os.PathLike[str] | None = None,
    candidate_path: str | os.PathLike[str] | None = None,
    prior: Sequence[str] = DEFAULT_PRIOR,
    check_snapshots: bool = True,
    title: str | None = None,
    now: Callable[[], str] | None = None,
    snapshot_probe: Probe | None = None,
    threshold: float | None = None,
    content: ContentOptions | None = DEFAULT_CONTENT,
) -> Diagnosis:
    """Diagnose why `candidate` no longer reproduces `baseline`, from their manifests alone.

    `threshold` is the user's acceptance threshold in the metric's units (the bar is
    conclusion-equivalent when both runs fall on the same side of it). A gap within the metric's
    resolution needs no retrain: the plan is empty and the conclusion is "reproduces".
    `metric` defaults to the baseline's recorded primary metric, else the candidate's, else
    the first (sorted) both manifests hold; `gap` is how much
    worse the candidate is, in the metric's units (positive = worse). `snapshot_probe` replaces
    `reprodiag.snapshots.reopen` for the readability check (tests; other storage).
    `content` bounds the content diff (what changed inside the code, environment and data:
    diagnosis/content.py; None leaves it out); with `check_snapshots` False it reads no table.
    Raises InputError for a missing metric or a gap whose sign contradicts the manifests.
    """
    measured, warnings = measure_gap(
        baseline,
        candidate,
        metric=metric,
        gap=gap,
        baseline_file=_file(baseline_path, "baseline"),
        candidate_file=_file(candidate_path, "candidate"),
    )
    diff = diff_manifests(baseline, candidate)
    if not diff.same_family and diff.family_note:
        warnings.append(diff.family_note)
    readability = baseline_readability(baseline, enabled=check_snapshots, probe=snapshot_probe)
    checks = free_checks(baseline, candidate, diff, readability) + paid_checks(
        baseline, diff, measured, readability
    )
    ranking = rank_axes(diff, prior=prior)
    step = resolution(baseline, candidate, measured.metric)
    measured = dataclasses.replace(measured, threshold=threshold)
    bar = manifest_bar(baseline, candidate, measured, step)
    diagnosis = Diagnosis(
        title=title or _title(baseline, candidate, measured),
        created_at=(now or _utc_now)(),
        baseline=_label("baseline", baseline, baseline_path),
        candidate=_label("candidate", candidate, candidate_path),
        gap=measured,
        diff=diff,
        checks=checks,
        ranking=ranking,
        fixes=structural_fixes(diff, ranking),
        policy=policy_rows(),
        summary=summarize(measured, ranking, checks),
        conclusion_open=open_questions(ranking, checks),
        stop_reason=MANIFEST_ONLY,
        warnings=tuple(warnings),
        bar=bar,
        content=_content(baseline, candidate, content, read=check_snapshots),
    )
    return _reproduces(diagnosis) if is_zero_gap(measured, step) else diagnosis


def _reproduces(diagnosis: Diagnosis) -> Diagnosis:
    """A zero gap: every retrain is unneeded, and the summary says so with the bar reached."""
    bar = diagnosis.bar
    assert bar is not None  # noqa: S101 - set by the caller for this case
    sentence = f"The candidate reproduces the baseline at the {bar.level} bar: {bar.reason}."
    differing = [a.axis for a in diagnosis.diff.axes if a.status == "differs"]
    if differing:
        sentence += (
            f" The recorded differences ({join_words(differing)}) left the metric unchanged in "
            "this pair."
        )
    why = (
        "not needed: the gap is zero (within the metric's resolution): there is nothing to explain"
    )
    checks = tuple(
        dataclasses.replace(c, status="skipped", observed=why) if c.status == "planned" else c
        for c in diagnosis.checks
    )
    return dataclasses.replace(
        diagnosis,
        checks=checks,
        summary=sentence + " No retrain is needed.",
        conclusion=Conclusion("reproduces", sentence),
        conclusion_open=(),
        stop_reason="the gap is zero: no retrain was planned or run",
    )


def _content(
    baseline: Manifest, candidate: Manifest, options: ContentOptions | None, *, read: bool
) -> ContentDiff | None:
    if options is None:
        return None
    return content_diff(
        baseline, candidate, options if read else dataclasses.replace(options, read_data=False)
    )


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _file(path: str | os.PathLike[str] | None, label: str) -> str:
    return os.fspath(path) if path is not None else f"the {label} manifest"


def _label(label: str, manifest: Manifest, path: str | os.PathLike[str] | None) -> RunLabel:
    name = manifest.intent.run_name
    return RunLabel(
        label=label,
        path=os.fspath(path) if path is not None else None,
        run_id=manifest.run.run_id,
        run_name=name if isinstance(name, str) else None,
        created_at=manifest.run.created_at,
    )


def _run_name(manifest: Manifest) -> str:
    name = manifest.intent.run_name
    return name if isinstance(name, str) else manifest.run.run_id


def _title(baseline: Manifest, candidate: Manifest, gap: Gap) -> str:
    return f"{_run_name(candidate)} vs {_run_name(baseline)}: {gap_words(gap)}"


def points_text(value: float) -> str:
    """Two decimals for metric points (5.43), three significant digits below 1 (0.0234)."""
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def gap_words(gap: Gap) -> str:
    """`4 auc points lower than the baseline`, with the verdict when the words alone mislead."""
    if gap.delta == 0:
        return f"the same {gap.metric} as the baseline"
    way = "lower" if gap.delta < 0 else "higher"
    points = "point" if abs(gap.delta) == 1 else "points"
    words = f"{points_text(abs(gap.delta))} {gap.metric} {points} {way} than the baseline"
    if gap.worse_by < 0:
        return words + f" (better: {gap.direction} is better)"
    return words + (" (worse: lower is better)" if gap.direction == "lower" else "")


def summarize(gap: Gap, ranking: Sequence[AxisRank], checks: Sequence[Check]) -> str:
    """Two or three sentences: the gap, the leading axis and why, what would confirm it."""
    first = f"The candidate scores {gap_words(gap)}."
    live = [r for r in ranking if r.status != "ruled_out"]
    if not live:
        second = (
            "Every axis is recorded on both sides and identical: the manifests explain "
            "nothing, so seed noise is the remaining suspect."
        )
    else:
        top = live[0]
        second = f"{top.axis.capitalize()} ranks first ({top.status}): {_first_clause(top.reason)}."
        if len(live) > 1:
            second = second[:-1] + f"; then {join_words([r.axis for r in live[1:]])}."
    return " ".join((first, second, _plan_sentence(ranking, checks)))


def _plan_sentence(ranking: Sequence[AxisRank], checks: Sequence[Check]) -> str:
    planned = [c.name for c in checks if c.status == "planned"]
    live = {r.axis for r in ranking if r.status != "ruled_out"}
    blocked = [
        f"the {c.name} cannot run: {c.observed.split(':')[0]}"
        for c in checks
        if c.status == "skipped" and c.axis in live and c.observed and c.key == "pinned_snapshot"
    ]
    done = [c for c in checks if c.status == "done" and c.retrains > 0]
    if done:
        return (
            "Retrains: "
            + "; ".join(f"{c.name} {VERDICT_WORDS.get(c.verdict, c.verdict)}" for c in done)
            + "."
        )
    text = "No retrain was run"
    text += (
        f": confirm with the {join_words(planned)} (plan below)"
        if planned
        else ", and none is planned"
    )
    return text + "".join(f"; {b}" for b in blocked) + "."


def _first_clause(reason: str) -> str:
    """The reason up to its first "; " outside parentheses (a p-value's "(T = …; …)" stays)."""
    depth = 0
    for i, char in enumerate(reason):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth == 0 and reason.startswith("; ", i):
            return reason[:i]
    return reason


def open_questions(ranking: Sequence[AxisRank], checks: Sequence[Check]) -> tuple[str, ...]:
    """What the manifests leave open, and what would close it."""
    by_key = {c.key: c for c in checks}
    ran = [c for c in checks if c.status == "done" and c.retrains > 0]
    found = (
        []
        if ran
        else [
            "No retrain has run: every placement above comes from the manifests alone; the "
            "planned checks confirm or rule out each candidate against the seed-noise band."
        ]
    )
    found += [f"The {c.name} stays open: {c.observed}" for c in ran if c.verdict == "inconclusive"]
    pinned = by_key.get("pinned_snapshot")
    data = next((r for r in ranking if r.axis == "data"), None)
    if pinned is not None and pinned.status == "skipped" and data and data.status != "ruled_out":
        if (pinned.observed or "").startswith(NOT_RUN):
            # the retrains stopped before it (their conclusion did not need it): it can still run
            found.append(
                f"Whether data explains the gap stays open: {pinned.observed}. A small effect "
                "of the data change stays possible; the pinned-snapshot retrain, not needed for "
                "this conclusion, would measure it."
            )
        else:  # the baseline's snapshot cannot be retrained on (unpinned, or no longer readable)
            found.append(
                f"Whether data explains the gap stays open: {pinned.observed}. "
                "The noise band can still show whether the gap exceeds seed noise; if it does "
                "and the other axes are ruled out, data remains the leading explanation but "
                "cannot be confirmed by a retrain. Pinning snapshots from now on lets the next "
                "incident be closed by one."
            )
    return tuple(found)
