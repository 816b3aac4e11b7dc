"""Bisection: the first data version or commit between the two runs that moves the metric.

When a swap has been judged "explains" (the pinned-snapshot retrain for data, the code swap for
code) and the two sides are several points apart (versions of one Delta or Iceberg table, or
commits of `git rev-list --ancestry-path baseline..candidate`), the points in between are
retrained: the candidate pipeline with only that axis set to the point (data version N, or the
code at commit C), replicated over seeds. Each point is judged against the two ends' values,
which the investigation already holds (the swap arm is the baseline end, the candidate band the
candidate end), with the same Welch difference at the same 99 % level as every counterfactual
(reprodiag.noise.counterfactual):

* **like the candidate**: it differs from the baseline end (the interval of its move away from
  the baseline end lies above 0) and not from the candidate end: the change is at or before it;
* **like the baseline**: it differs from the candidate end and not from the baseline end: the
  change is after it;
* **part of the way**: it differs from both ends: part of the change is at or before it, so the
  search goes on toward the baseline (the first point that moves the metric is at or before it);
* **undecided**: it differs from neither yet: it grows to the next look (3, 5, 8 seeds); at 8
  seeds, or when the next look does not fit in the budget, the search stops and says so.

The search assumes the metric moves at one point (or moves monotonically); with several changes
it names the first point it meets whose value has left the baseline's. Every step is kept (the
point, its retrains, their values, the verdict) and shown in the report. The retrain budget is
the investigation's: the bisection runs last (it is the most expensive check) with what is left,
and when the budget runs out the report names the range that remains.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from reprodiag.confirm.arms import Arms, arm_spec
from reprodiag.confirm.band import code_dir_for, ok_values, run_specs
from reprodiag.confirm.incident import CANDIDATE_BAND, Incident
from reprodiag.confirm.outcomes import Findings
from reprodiag.diagnosis.model import (
    Bisection,
    BisectionStep,
    Check,
    Diagnosis,
    PointVerdict,
    RetrainRun,
)
from reprodiag.diagnosis.notes import show
from reprodiag.errors import InputError
from reprodiag.manifest.codec import to_jsonable
from reprodiag.manifest.model import Axis, JSONValue, Skipped, SnapshotRef
from reprodiag.noise.counterfactual import (
    LOOK_ALPHA,
    Difference,
    count_words,
    difference,
    format_number,
    toward_baseline,
)
from reprodiag.noise.sequential import LOOKS
from reprodiag.noise.stats import NoiseSampleError
from reprodiag.noise.store import BAND_SEED_BASE
from reprodiag.probes.git import EMPTY_DIFF_SHA256
from reprodiag.retrain.spec import RetrainSpec, slug
from reprodiag.retrain.worktree import recorded_code

MAX_POINT = 8  # seeds per point at most: its looks are 3, 5, 8
FAILS_IN_A_ROW = 3
# A point that has moved (the first point that moves the metric is at or before it).
MOVED: tuple[PointVerdict, ...] = ("like the candidate", "part of the way")


@dataclass(frozen=True)
class PointJudgement:
    """One point's values judged against the two ends.

    `from_baseline`: how far the point moved away from the baseline end, toward the candidate
    (Welch, at the 99 % level); `from_candidate`: how far it moved away from the candidate end,
    toward the baseline. None where no interval could be formed yet.
    """

    verdict: PointVerdict
    from_baseline: Difference | None
    from_candidate: Difference | None
    words: str


def judge_point(
    baseline_end: Sequence[float],
    candidate_end: Sequence[float],
    values: Sequence[float],
    *,
    toward: float,
    alpha: float = LOOK_ALPHA,
) -> PointJudgement:
    """Judge a point's finished values against the baseline end and the candidate end.

    `toward` (+1 or −1) turns a raw metric difference into points toward the baseline, as for
    every swap (reprodiag.noise.counterfactual.toward_baseline).
    """
    d_b = _difference(baseline_end, values, -toward, alpha)
    d_c = _difference(candidate_end, values, toward, alpha)
    left_b = d_b is not None and d_b.low > 0
    left_c = d_c is not None and d_c.low > 0
    verdict: PointVerdict
    if left_b and left_c:
        verdict = "part of the way"
    elif left_b:
        verdict = "like the candidate"
    elif left_c:
        verdict = "like the baseline"
    else:
        verdict = "undecided"
    scale = _scale(baseline_end, candidate_end)
    parts = [f"mean {format_number(_mean(values), scale)} over {count_words(len(values), 'seed')}"]
    for name, d in (("the baseline end", d_b), ("the candidate end", d_c)):
        if d is not None:
            parts.append(
                f"moved {format_number(d.points, scale)} from {name}, {100 * d.level:g} % "
                f"interval [{format_number(d.low, scale)}, {format_number(d.high, scale)}]"
            )
    return PointJudgement(verdict, d_b, d_c, f"{verdict}: " + "; ".join(parts))


def _difference(
    reference: Sequence[float], values: Sequence[float], toward: float, alpha: float
) -> Difference | None:
    if not reference or not values:
        return None
    try:
        return difference(reference, values, toward=toward, alpha=alpha)
    except NoiseSampleError:
        return None


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _scale(a: Sequence[float], b: Sequence[float]) -> float:
    if a and b:
        return abs(_mean(a) - _mean(b)) or 1.0
    return 1.0


@dataclass(frozen=True)
class Step:
    """One round of the search: the point (its index and name), the retrains of this round, every
    finished value of the point so far, and the verdict after the round."""

    index: int
    point: str
    retrains: int
    failed: int
    values: tuple[float, ...]
    verdict: PointVerdict
    words: str


@dataclass(frozen=True)
class Search:
    """Where the search ended: `low` is the last point known like the baseline (0: the baseline
    end), `high` the first known to have moved (the candidate end at first); `first` is `high`
    once they are neighbours, else None (the search stopped, `stop` says why)."""

    points: tuple[str, ...]
    steps: tuple[Step, ...]
    low: int
    high: int
    first: int | None
    retrains: int
    stop: str


# Runs `count` retrains at point `index`; their values, None for a failed retrain.
RunPoint = Callable[[int, int], Sequence[float | None]]


def search(
    points: Sequence[str],
    baseline_end: Sequence[float],
    candidate_end: Sequence[float],
    run: RunPoint,
    *,
    budget: int,
    toward: float,
    alpha: float = LOOK_ALPHA,
    max_point: int = MAX_POINT,
) -> Search:
    """Bisect `points` (points[0] the baseline end, points[-1] the candidate end) for the first
    point whose metric has left the baseline's, within `budget` retrains.

    Pure: `run(index, count)` stands for the retrains, so the search can be driven by simulated
    values. A point starts with a round of 3 seeds and grows to 5, then 8 while undecided.
    """
    if len(points) < 2:
        raise ValueError("a bisection needs at least the two ends")
    looks = [n for n in LOOKS if n <= max_point] or [max_point]
    low, high = 0, len(points) - 1
    steps: list[Step] = []
    spent = 0
    stop = ""
    while high - low > 1:
        mid = (low + high) // 2
        runs: list[float | None] = []
        verdict: PointVerdict = "undecided"
        while True:
            ok = [v for v in runs if v is not None]
            target = next((n for n in looks if n > len(ok)), None)
            if target is None:
                stop = (
                    f"{points[mid]} stays undecided after {count_words(len(ok), 'seed')} (the "
                    f"most a point gets): it differs from neither end at the "
                    f"{100 * (1 - alpha):g} % level; the change there may be small, or spread "
                    "over several points"
                )
                break
            need = target - len(ok)
            if need > budget - spent:
                stop = (
                    f"the budget ran out: {points[mid]} needs {count_words(need, 'more retrain')} "
                    f"and {count_words(budget - spent, 'retrain')} of the budget are left"
                )
                break
            values = [_finite(v) for v in run(mid, need)][:need]
            spent += len(values)
            runs.extend(values)
            ok = [v for v in runs if v is not None]
            judged = judge_point(baseline_end, candidate_end, ok, toward=toward, alpha=alpha)
            verdict = judged.verdict
            words = judged.words if ok else "every retrain at this point failed"
            steps.append(
                Step(
                    mid,
                    points[mid],
                    len(values),
                    sum(v is None for v in values),
                    tuple(ok),
                    verdict,
                    words,
                )
            )
            if verdict != "undecided":
                break
            tail = runs[-FAILS_IN_A_ROW:]
            if len(tail) == FAILS_IN_A_ROW and all(v is None for v in tail):
                stop = f"the last {FAILS_IN_A_ROW} retrains at {points[mid]} failed"
                break
        if verdict == "undecided":
            break
        if verdict in MOVED:
            high = mid
        else:
            low = mid
    first = high if high - low == 1 else None
    if first is not None:
        stop = f"{points[first]} is the first point that moves the metric"
    elif stop:
        stop += (
            f"; the first point that moves the metric lies after {points[low]}, up to "
            f"{points[high]}"
        )
    return Search(tuple(points), tuple(steps), low, high, first, spent, stop)


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def remaining(result: Search) -> tuple[str, ...]:
    """The points the first move may still be at: after `low`, up to and including `high`."""
    return result.points[result.low + 1 : result.high + 1]


# ---------------------------------------------------------------------------- with retrains


@dataclass(frozen=True)
class Line:
    """The points between the two runs on one axis: their names (baseline end first), each
    point's commit info, and how to build the candidate pipeline's spec at a point."""

    axis: Axis
    points: tuple[str, ...]
    infos: tuple[Mapping[str, JSONValue], ...]
    spec: Callable[[int, int], RetrainSpec]  # (point index, seed) -> spec
    # Versions in between that are not points, each with why (an empty table, the delete half
    # of an overwrite): no pipeline trains on them, so they are never retrained.
    skipped: tuple[str, ...] = ()


BISECTED: Mapping[str, Axis] = {"pinned_snapshot": "data", "code_swap": "code"}
ORDER = {"data": 13, "code": 14}  # after every swap and the baseline band: the costliest checks


def bisect_explained(
    diagnosis: Diagnosis, findings: Findings, arms: Arms, incident: Incident
) -> Diagnosis:
    """The diagnosis with a bisection check for each swap judged "explains" whose two sides are
    several points apart, run with what is left of the retrain budget (module docstring)."""
    spent = findings.retrains
    budget = incident.budget
    checks = list(diagnosis.checks)
    words: list[str] = []
    spending = list(diagnosis.spending)
    for finding in findings.checks:
        axis = BISECTED.get(finding.arm)
        if finding.outcome != "explains" or axis is None:
            continue
        line = _line(arms, finding.arm, axis)
        if line is None:
            continue
        if isinstance(line, str):
            checks.append(_skipped(axis, line))
            continue
        check, used = _run_line(line, finding.arm, arms, incident, budget - spent)
        spent += used
        checks.append(check)
        spending.append(f"{used} × {axis} bisection: {check.observed}")
        words.append(f"The {axis} bisection: {check.observed}.")
    if len(checks) == len(diagnosis.checks):
        return diagnosis
    stop = diagnosis.stop_reason
    if stop is not None and spent != findings.retrains:
        head, _, rest = stop.partition(" retrains used")
        if head.split(" of ")[0].strip().isdigit():
            stop = f"{spent} of {budget} retrains used{rest}"
    return replace(
        diagnosis,
        checks=tuple(sorted(checks, key=lambda c: (c.status != "done", c.order))),
        summary=" ".join([diagnosis.summary, *words]).strip(),
        stop_reason=stop,
        spending=tuple(spending),
    )


def _skipped(axis: Axis, why: str) -> Check:
    return Check(
        order=ORDER[axis],
        key=f"{axis}_bisection",
        title=TITLES[axis],
        axis=axis,
        cost="0 retrains",
        retrains=0,
        status="skipped",
        expected=EXPECTED[axis],
        falsified_by=FALSIFIED,
        observed=f"not run: {why}",
        verdict="not_run",
    )


TITLES: Mapping[Axis, str] = {
    "data": "data bisection: the first table version between the two snapshots that moves the "
    "metric",
    "code": "code bisection: the first commit between the two runs' commits that moves the metric",
}
EXPECTED: Mapping[Axis, str] = {
    "data": "the versions in between score like the baseline up to one version, and like the "
    "candidate from it on: that version's commit (operation, time, metadata) is the change",
    "code": "the commits in between score like the baseline up to one commit, and like the "
    "candidate from it on: that commit is the change",
}
FALSIFIED = (
    "a point that scores like neither end (part of the way): the change is spread over several "
    "points, and the search names the first it meets"
)


def _line(arms: Arms, arm: str, axis: Axis) -> Line | str | None:
    """The points to bisect, why they cannot be listed (words), or None: nothing in between."""
    try:
        return _data_line(arms, arm) if axis == "data" else _code_line(arms, arm)
    except InputError as exc:
        return exc.message


def _data_line(arms: Arms, arm: str) -> Line | str | None:
    from reprodiag.snapshots import open_snapshot
    from reprodiag.snapshots.history import same_table, versions_between

    older, newer = arms.baseline.data.train, arms.candidate.data.train
    if not isinstance(older, SnapshotRef) or not isinstance(newer, SnapshotRef):
        return None
    if same_table(older, newer) is not None:
        return None  # two tables, or files: no versions in between
    if to_jsonable(arms.baseline.data.eval) != to_jsonable(arms.candidate.data.eval):
        return (
            "the evaluation set changed too, so a version in between has no candidate end "
            "measured on the same evaluation set"
        )
    # After the baseline's version up to and including the candidate's: the last is the
    # candidate end; the points in between are the others, less those no pipeline trains on.
    versions = versions_between(older, newer)
    between = [v for v in versions[:-1] if v.skip is None]
    skipped = tuple(f"version {v.version} ({v.skip})" for v in versions[:-1] if v.skip)
    if not between:
        if skipped:
            return "no version in between can be retrained: " + "; ".join(skipped)
        return None
    infos: tuple[Mapping[str, JSONValue], ...] = (
        {"version": str(older.version), "side": "baseline"},
        *(v.info() for v in between),
        versions[-1].info(),
    )
    points = (
        (f"version {older.version} (baseline)",)
        + tuple(f"version {v.version}" for v in between)
        + (f"version {newer.version} (candidate)",)
    )
    refs: dict[int, SnapshotRef] = {}

    def spec(index: int, seed: int) -> RetrainSpec:
        version = between[index - 1].version
        if version not in refs:
            refs[version] = open_snapshot(older.uri, format=older.format, version=version).ref
        base = arm_spec(arms.baseline, arms.candidate, arm, seed, arms.metric, arms.options)
        return _relabel(replace(base, train=refs[version]), f"data-bisect-v{version}", seed, arms)

    return Line("data", points, infos, spec, skipped)


def _code_line(arms: Arms, arm: str) -> Line | str | None:
    older, newer = arms.baseline.code, arms.candidate.code
    if not isinstance(older.commit, str) or not isinstance(newer.commit, str):
        return None
    repo = arms.options.repo or Path.cwd()
    listed = _git(
        repo, "rev-list", "--ancestry-path", "--reverse", f"{older.commit}..{newer.commit}"
    )
    commits = [c for c in listed.split() if c]
    if not commits and older.commit != newer.commit:
        return (
            f"the baseline's commit {older.commit[:10]} is not an ancestor of the candidate's "
            f"{newer.commit[:10]}: there is no line of commits between them"
        )
    dirty = recorded_code(newer)[1] is not None
    middle = commits if dirty else commits[:-1]
    if not middle:
        return None
    infos = (
        ({"commit": older.commit, "side": "baseline"},)
        + tuple(_commit_info(repo, c) for c in middle)
        + ({"commit": newer.commit, "side": "candidate"},)
    )
    names = tuple(
        f"{c[:10]} {_subject(info)}".strip() for c, info in zip(middle, infos[1:], strict=False)
    )
    if dirty:  # the candidate's commit without its uncommitted change is one more point
        names = names[:-1] + (f"{middle[-1][:10]} (the candidate's commit, clean)",)
    points = (f"{older.commit[:10]} (baseline)", *names, f"{newer.commit[:10]} (candidate)")
    folders: dict[str, str] = {}

    def spec(index: int, seed: int) -> RetrainSpec:
        commit = middle[index - 1]
        if commit not in folders:
            clean = replace(
                newer,
                commit=commit,
                dirty=False,
                diff_sha256=EMPTY_DIFF_SHA256,
                patch=Skipped("a clean tree has no patch", "not_applicable"),
            )
            folder = code_dir_for(replace(arms.candidate, code=clean), arms.options)
            folders[commit] = str(folder if folder is not None else Path.cwd())
        base = arm_spec(arms.baseline, arms.candidate, arm, seed, arms.metric, arms.options)
        spec = replace(base, code_dir=folders[commit])
        return _relabel(spec, f"code-bisect-{commit[:10]}", seed, arms)

    return Line("code", points, infos, spec)


def _subject(info: Mapping[str, JSONValue]) -> str:
    subject = info.get("subject")
    return f"“{subject}”" if isinstance(subject, str) and subject else ""


def _relabel(spec: RetrainSpec, prefix: str, seed: int, arms: Arms) -> RetrainSpec:
    label = f"{prefix}-seed-{seed}"
    folder = arms.options.workdir / label
    return replace(
        spec,
        label=label,
        output_dir=str(folder / "output"),
        manifest_out=str(folder / "manifest.json"),
        run_name=f"retrain:{slug(label)}",
    )


def _commit_info(repo: Path, commit: str) -> dict[str, JSONValue]:
    text = _git(repo, "log", "-1", "--format=%H%x00%s%x00%an <%ae>%x00%aI", commit)
    full, subject, author, date = (text.strip().split("\x00") + ["", "", "", ""])[:4]
    return {"commit": full, "subject": subject, "author": author, "date": date}


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"git {args[0]} in {repo} failed: {exc}") from None
    if done.returncode != 0:
        raise InputError(
            f"git {args[0]} in {repo} failed: {done.stderr.strip()[:300]}",
            hint="run from the repository both runs were trained from",
        )
    return done.stdout


def _run_line(
    line: Line, arm: str, arms: Arms, incident: Incident, budget: int
) -> tuple[Check, int]:
    key = f"{line.axis}_bisection"
    baseline_end = ok_values(arms.results.get(arm, []))
    candidate_end = ok_values(arms.results.get(CANDIDATE_BAND, []))
    toward = toward_baseline(incident.gap, incident.direction)
    tried: dict[int, int] = {}
    runs: list[RetrainRun] = []  # every retrain, with the point it retrained

    def run(index: int, count: int) -> list[float | None]:
        start = tried.get(index, 0)
        tried[index] = start + count
        specs = [line.spec(index, BAND_SEED_BASE + start + k) for k in range(count)]
        done = run_specs(
            specs,
            arms.options,
            label=key.replace("_", "-"),
            pipeline=arms.candidate,
            swapped=line.axis,
            log=arms.identity,
        )
        arms.paths.setdefault(key, []).extend(r.manifest_path for r in done if r.manifest_path)
        results = [r.to_seed_result() for r in done]
        arms.results.setdefault(key, []).extend(results)
        runs.extend(RetrainRun.of(r, line.points[index]) for r in results)
        return [r.metric if r.status == "ok" else None for r in results]

    result = search(line.points, baseline_end, candidate_end, run, budget=budget, toward=toward)
    first_info = line.infos[result.first] if result.first is not None else {}
    record = Bisection(
        axis=line.axis,
        points=line.points,
        steps=tuple(
            BisectionStep(s.point, s.retrains, s.values, s.verdict, s.words) for s in result.steps
        ),
        first=line.points[result.first] if result.first is not None else None,
        first_info=first_info,
        remaining=remaining(result),
        stop=result.stop,
        infos=line.infos,
    )
    n = result.retrains
    check = Check(
        order=ORDER[line.axis],
        key=key,
        title=TITLES[line.axis],
        axis=line.axis,
        cost=count_words(n, "retrain"),
        retrains=n,
        status="done",
        expected=EXPECTED[line.axis],
        falsified_by=FALSIFIED,
        observed=_observed(record, result, arms.metric) + _skipped_words(line.skipped),
        verdict="explains" if result.first is not None else "cant_tell",
        evidence=tuple(arms.paths.get(key, [])[:3]),
        bisection=record,
        runs=tuple(runs),
    )
    return check, n


def _skipped_words(skipped: tuple[str, ...]) -> str:
    """The versions in between left out of the search, and why, as a closing clause."""
    if not skipped:
        return ""
    return "; not retrained, as no pipeline trains on it: " + "; ".join(skipped)


def _observed(record: Bisection, result: Search, metric: str) -> str:
    between = len(record.points) - 2
    path = (
        f"{count_words(len(record.steps), 'step')}, {count_words(result.retrains, 'retrain')} "
        f"over {between} points in between"
    )
    if record.first is None:
        left = ", ".join(record.remaining)
        return f"can't tell yet: {result.stop} ({path}); still open: {left}"
    info = ", ".join(
        f"{k} {show(v, 80)}" for k, v in record.first_info.items() if k not in ("version", "commit")
    )
    partly = any(s.point == record.first and s.verdict == "part of the way" for s in record.steps)
    return (
        f"{record.first} is the first point that moves {metric}"
        + (f" ({info})" if info else "")
        + (
            ", but only part of the way (it differs from both ends): the rest of the change "
            "lies in the points after it, which were not bisected"
            if partly
            else ""
        )
        + f" ({path})"
    )
