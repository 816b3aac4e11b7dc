"""Bisection paths for the report tests (issue 13): the `with_band()` incident with a data
bisection that found its version and a code bisection the budget stopped.

Each path is what reprodiag.confirm.bisect produces: the pure `search` is driven with fixed
values per point and its steps become the `Bisection` record the way `_run_line` builds it, so
every verdict and every "why" in the report is computed, not typed. The gold files
`tests/gold/with_bisection.*` show how the reports lay the path out beside the check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from reprodiag.confirm.bisect import remaining, search
from reprodiag.diagnosis.model import Bisection, BisectionStep, Check, Diagnosis, RetrainRun
from reprodiag.manifest.model import Axis, JSONValue

# The pinned-snapshot swap's seeds (the baseline end) and the candidate band (the candidate end)
BASELINE_END = (90.3, 90.1, 90.5)
CANDIDATE_END = (87.1, 87.6, 86.9, 87.4, 87.8, 87.2, 87.5, 87.3)
LIKE_BASELINE = [90.2, 90.4, 90.0, 90.3, 90.1, 90.2, 90.4, 90.0]
LIKE_CANDIDATE = [87.3, 87.0, 87.5, 87.2, 87.4, 87.1, 87.6, 87.3]

DATA_POINTS = ("version 4 (baseline)", "version 5", "version 6", "version 7 (candidate)")
DATA_INFOS: tuple[Mapping[str, JSONValue], ...] = (
    {"version": "4", "side": "baseline"},
    {
        "version": 5,
        "operation": "WRITE",
        "timestamp": "2026-11-24T02:00:00Z",
        "parameters": {"mode": "Append"},
    },
    {
        "version": 6,
        "operation": "WRITE",
        "timestamp": "2026-11-25T02:00:00Z",
        "parameters": {"mode": "Append"},
    },
    {
        "version": 7,
        "operation": "UPDATE",
        "timestamp": "2026-11-25T03:10:00Z",
        "parameters": {"predicate": '["(click_id IN ...)"]'},
        "metadata": {"job": "correct-labels", "ticket": "DATA-88"},
    },
)

COMMITS = ("3f2a9c1d0e", "4b1c2d3e4f", "5c2d3e4f5a", "6d3e4f5a6b", "7e4f5a6b7c", "8f5a6b7c8d")
CODE_POINTS = (
    f"{COMMITS[0]} (baseline)",
    f"{COMMITS[1]} “tidy the loader”",
    f"{COMMITS[2]} “drop x1: it looked redundant”",
    f"{COMMITS[3]} “rename a metric”",
    f"{COMMITS[4]} “bump the batch size”",
    f"{COMMITS[5]} (candidate)",
)
CODE_INFOS: tuple[Mapping[str, JSONValue], ...] = (
    {"commit": COMMITS[0], "side": "baseline"},
    *(
        {
            "commit": c + "0" * 30,
            "subject": p.split(" ", 1)[1].strip("“”"),
            "author": "Dana Ortiz <dana@example.com>",
            "date": f"2026-11-2{i}T10:00:00+01:00",
        }
        for i, (c, p) in enumerate(zip(COMMITS[1:-1], CODE_POINTS[1:-1], strict=True), 1)
    ),
    {"commit": COMMITS[-1], "side": "candidate"},
)


def bisection(
    axis: Axis,
    points: Sequence[str],
    infos: Sequence[Mapping[str, JSONValue]],
    values: Mapping[int, list[float | None]],
    budget: int,
) -> tuple[Bisection, int]:
    """The record reprodiag.confirm.bisect keeps for a search over `points` with these values
    per point index, and the retrains it spent."""
    queue = {i: list(v) for i, v in values.items()}

    def run(index: int, count: int) -> list[float | None]:
        return [queue[index].pop(0) for _ in range(count)]

    result = search(points, BASELINE_END, CANDIDATE_END, run, budget=budget, toward=1.0)
    record = Bisection(
        axis=axis,
        points=tuple(points),
        steps=tuple(
            BisectionStep(s.point, s.retrains, s.values, s.verdict, s.words) for s in result.steps
        ),
        first=points[result.first] if result.first is not None else None,
        first_info=infos[result.first] if result.first is not None else {},
        remaining=remaining(result),
        stop=result.stop,
        infos=tuple(infos),
    )
    return record, result.retrains


def data_bisection() -> tuple[Bisection, int]:
    """Versions 5 and 6 are appends scoring like Monday; version 7 relabels: found in 2 steps."""
    return bisection(
        "data",
        DATA_POINTS,
        DATA_INFOS,
        {1: list(LIKE_BASELINE), 2: list(LIKE_BASELINE)},
        budget=12,
    )


def code_bisection() -> tuple[Bisection, int]:
    """The middle commit stays undecided through its looks (one of its retrains fails); its last
    look needs 3 more retrains and 1 is left: the search stops and names the range."""
    noisy: list[float | None] = [87.0, None, 90.9, 87.3, 87.1, 87.2, 87.4, 87.2]
    return bisection("code", CODE_POINTS, CODE_INFOS, {2: noisy, 1: list(LIKE_BASELINE)}, 7)


def _check(axis: Axis, order: int, record: Bisection, spent: int, observed: str) -> Check:
    return Check(
        order=order,
        key=f"{axis}_bisection",
        title=f"{axis} bisection: the first point between the two runs that moves the metric",
        axis=axis,
        cost=f"{spent} retrains",
        retrains=spent,
        status="done",
        expected="the points in between score like the baseline up to one point",
        falsified_by="a point that scores like neither end (part of the way)",
        observed=observed,
        verdict="explains" if record.first is not None else "cant_tell",
        evidence=(f"{axis}-bisection-seed-101",),
        bisection=record,
        runs=_runs(record),
    )


def _runs(record: Bisection) -> tuple[RetrainRun, ...]:
    """Each step's retrains as the bisection records them: its new finished values, then its
    failed ones (seeds 101, 102, ... per point, as the search numbers them)."""
    runs: list[RetrainRun] = []
    seen: dict[str, int] = {}
    for step in record.steps:
        before = seen.get(step.point, 0)
        new = step.values[before:]
        seeds = iter(range(101 + before, 101 + before + step.retrains))
        runs += [RetrainRun(next(seeds), v, "ok", None, 38.5, step.point) for v in new]
        runs += [
            RetrainRun(
                next(seeds), None, "failed", "the trainer raised: RuntimeError", 2.0, step.point
            )
            for _ in range(step.retrains - len(new))
        ]
        seen[step.point] = len(step.values)
    return tuple(runs)


def with_bisection() -> Diagnosis:
    """with_band() with a data bisection (found) and a code bisection (stopped by the budget)."""
    from tests.helpers.report_samples import with_band

    base = with_band()
    data, data_spent = data_bisection()
    code, code_spent = code_bisection()
    checks = base.checks + (
        _check(
            "data", 13, data, data_spent, f"{data.first} is the first point that moves accuracy"
        ),
        _check("code", 14, code, code_spent, f"can't tell yet: {code.stop}"),
    )
    return dataclasses.replace(base, checks=checks)
