"""Cost before it is spent (issue 14): the plan with an estimate, progress lines, --max-minutes.

Real command-line runs (click's CliRunner, whose stderr is a plain buffer, not a terminal) of
`noise-band` and `compare --retrain` with trainers of our own (tests/helpers/budget_trainers.py,
no torch) retrained in real worker processes, on a real Delta table captured by
`reprodiag.capture`. stdout keeps the results; the plan, the estimate and one line per retrain go
to stderr, also when it is not a terminal, and `--quiet` silences them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from reprodiag.cli.compare import compare
from reprodiag.cli.noise_band import noise_band
from reprodiag.errors import EXIT_NO_RETRAIN, NoRetrainRan

ROOT = Path(__file__).resolve().parents[1]  # workers import tests.helpers from here
QUICK = "tests.helpers.budget_trainers:quick"
SLOW = "tests.helpers.budget_trainers:slow"
RETRAIN_LINE = re.compile(
    r"^  retrain (\S+)\s+seed (\d+)\s+([\d.]+) s  ([\d.]+)  \[elapsed [^;]+; (.+)\]$", re.M
)


def _capture(root: Path, name: str, auc: float, entrypoint: str) -> Path:
    import reprodiag
    from reprodiag.family import eval_table_path, train_table_path
    from reprodiag.snapshots import open_snapshot

    path = root / f"{name}.json"
    with reprodiag.capture(
        path,
        train=open_snapshot(train_table_path(root)),
        eval=open_snapshot(eval_table_path(root)),
        params={"epochs": 1},
        family="budget-tests",
        run_name=name,
        entrypoint=entrypoint,
        code_root=root,
    ) as run:
        run.log_metrics({"auc": auc})
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reprodiag.family import create_table

    root = tmp_path_factory.mktemp("budget-world")
    create_table(root, days=1, rows_per_day=200, seed=7, eval_rows=100)
    return root


@pytest.fixture(autouse=True)
def _workers_find_the_trainers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.chdir(tmp_path)


def _run(command: click.Command, args: list[str]) -> Result:
    result = CliRunner().invoke(command, args, catch_exceptions=False)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def _noise_band(manifest: Path, tmp_path: Path, seeds: int, *extra: str) -> Result:
    return _run(
        noise_band,
        [
            str(manifest),
            "--seeds",
            str(seeds),
            "--trainer",
            QUICK,
            "--device",
            "cpu",
            "--band-store",
            str(tmp_path / "store"),
            "--out",
            str(tmp_path / "band"),
            *extra,
        ],
    )


def test_noise_band_plans_then_prints_a_line_per_retrain_on_a_non_terminal_stderr(
    world: Path, tmp_path: Path
) -> None:
    manifest = _capture(world, "band-run", 70.0, QUICK)
    first = _noise_band(manifest, tmp_path, 3)
    err = first.stderr
    # The plan comes before any retrain: nothing in the band store yet, so the estimate is the
    # pipeline's own recorded run (under a second here, counted as one); without a time budget
    # nothing needs timing, so no seed runs alone first.
    plan = err.index(
        "plan: 3 seed retrains of this pipeline; time: ~3.0 s (1.0 s per retrain, this "
        "pipeline's own recorded run: under 1 s (recorded to the second), from "
        "results.started_at to finished_at)"
    )
    lines = RETRAIN_LINE.findall(err)
    assert len(lines) == 3 and plan < err.index("  retrain ")
    assert "the first seed retrain took" not in err
    # label, seed, seconds, metric value, elapsed and what is left: exactly what was retrained.
    labels, seeds = [line[0] for line in lines], [int(line[1]) for line in lines]
    assert labels == [f"noise-band-seed-{s}" for s in seeds]
    assert [float(line[3]) for line in lines] == [69.0 + (s % 1000) / 100.0 for s in seeds]
    assert lines[-1][4] == "nothing left to run" and lines[0][4].startswith("2 retrains left")
    assert "retrain " not in first.stdout and "auc: 3 seed(s)" in first.stdout

    # A second run estimates before its first retrain, from the durations the store recorded.
    second = _noise_band(manifest, tmp_path, 4)
    recorded = sorted(float(line[2]) for line in lines)
    estimate = re.search(
        r"plan: 1 seed retrain of this pipeline \(3 reused from the band store\); "
        r"time: ~([\d.]+) s \(([\d.]+) s per retrain, the median of 3 recorded durations",
        second.stderr,
    )
    assert estimate is not None, second.stderr
    assert float(estimate.group(2)) == pytest.approx(recorded[1], abs=0.6)  # shown rounded
    assert "the first seed retrain took" not in second.stderr  # no timing retrain needed
    assert len(RETRAIN_LINE.findall(second.stderr)) == 1

    # --quiet: the same results on stdout, nothing on stderr.
    quiet = _noise_band(manifest, tmp_path, 5, "--quiet")
    assert quiet.stderr == "" and "auc: 5 seed(s) (4 reused from the band store)" in quiet.stdout


def _without_run_times(manifest: Path) -> Path:
    """The manifest with its run's start and end not recorded (an imported run without them)."""
    record = json.loads(manifest.read_text())
    for key in ("started_at", "finished_at"):
        record["results"][key] = {"skipped": "not recorded by the tracker"}
    out = manifest.with_name(f"{manifest.stem}-untimed.json")
    out.write_text(json.dumps(record))
    return out


def test_noise_band_times_its_first_seed_alone_only_under_a_time_budget_with_no_estimate(
    world: Path, tmp_path: Path
) -> None:
    manifest = _without_run_times(_capture(world, "untimed", 70.0, QUICK))
    # No time budget: nothing to time, so the three seeds go as one round and no seed runs alone.
    free = _noise_band(manifest, tmp_path / "free", 3)
    assert "time: not estimated (no duration recorded for this pipeline)" in free.stderr
    assert "the first seed retrain took" not in free.stderr
    assert len(RETRAIN_LINE.findall(free.stderr)) == 3
    # A time budget and nothing to estimate from: the first seed runs alone and times the rest.
    timed = _noise_band(manifest, tmp_path / "timed", 3, "--max-minutes", "5")
    err = timed.stderr
    assert "time: estimated after the first retrain, which runs alone to time it" in err
    lines = RETRAIN_LINE.findall(err)
    assert len(lines) == 3
    assert err.index(f"  retrain {lines[0][0]}") < err.index("the first seed retrain took")
    assert err.index("the first seed retrain took") < err.index(f"  retrain {lines[1][0]}")


def test_max_minutes_stops_compare_before_a_round_that_would_not_fit(
    world: Path, tmp_path: Path
) -> None:
    baseline = _capture(world, "monday", 75.0, SLOW)
    candidate = _capture(world, "tuesday", 69.0, SLOW)
    out = tmp_path / "report"
    result = _run(
        compare,
        [
            str(baseline),
            str(candidate),
            "--retrain",
            "--trainer",
            SLOW,
            "--device",
            "cpu",
            "--no-band-store",
            "--max-retrains",
            "24",
            "--max-minutes",
            "0.05",
            "--out",
            str(out),
            "--format",
            "json",
        ],
    )
    err = result.stderr
    assert re.search(r"plan: the smoke check \(1 retrain\); .*at most 24 retrains in all", err)
    assert "time budget 0.05 min" in err and "the smoke retrain took" in err
    ran = RETRAIN_LINE.findall(err)
    diagnosis = json.loads((out / "diagnosis.json").read_text())
    # Each retrain sleeps 1 s on top of its worker's start-up: 3 s allow the smoke and no round.
    assert 1 <= len(ran) < 24
    assert diagnosis["stop_reason"].startswith(f"{len(ran)} of 24 retrains used; ")
    assert "the time budget of 0.05 min ran out" in diagnosis["stop_reason"]
    conclusion = diagnosis["conclusion"]
    assert conclusion["kind"] == "can't tell yet"
    assert "the time budget of 0.05 min ran out" in conclusion["sentence"]
    assert "more time would settle" in conclusion["sentence"]
    assert "time budget of 0.05 min ran out" in result.stdout  # the printed conclusion says so too


def test_the_plan_line_names_the_smoke_check_it_will_run() -> None:
    """The plan printed before the first retrain says which smoke check runs: one band seed, the
    first look as one ensemble, or the seed replay when the store holds the first look (it said
    "the smoke check (1 retrain)" only when nothing was stored, and then ran one anyway)."""
    from reprodiag.confirm.incident import Incident
    from reprodiag.confirm.progress import Progress, investigation_plan

    def plan(stored: int, **facts: Any) -> str:
        incident = Incident(
            baseline=0.8,
            candidate=0.7,
            stored_band=(0.7,) * stored,
            **facts,
        )
        return investigation_plan(incident, stored, Progress(total=12))

    solo = plan(0, seed_replay=True)
    assert solo.startswith("plan: the smoke check (1 retrain); the candidate band to n = 3; ")
    assert "the seed replay (1)" in solo and "which runs alone to time it" in solo
    ensemble = plan(0, seed_replay=True, ensembles=True)
    assert ensemble.startswith(
        "plan: the smoke check: the candidate band to n = 3 as one ensemble (3 seeds); "
        "the seed replay (1); "
    )
    assert "after the smoke check's ensemble, which runs first to time the rest" in ensemble
    replay = plan(3, seed_replay=True)
    assert replay.startswith(
        "plan: the candidate band's first look from the band store (3 stored); "
        "the seed replay (1), which is also the smoke check; "
    )
    assert replay.count("seed replay") == 1
    band = plan(3)
    assert "the smoke check (1 more seed of the candidate band)" in band


def test_a_refused_smoke_retrain_exits_7_and_is_not_a_failed_trainer(
    world: Path, tmp_path: Path
) -> None:
    """The candidate recorded another Python than this machine's (its manifest edited, as if it
    trained elsewhere): the smoke retrain runs, its own manifest shows this machine's Python, and
    it is refused as not the pipeline it stands for. The trainer works: the conclusion is "retrain
    refused", exit 7 (not 5, "fix the trainer"), and the bar does not send the reader to run
    compare --retrain, which is what just ran."""
    baseline = _capture(world, "refused-base", 75.0, QUICK)
    candidate = _capture(world, "refused-cand", 69.0, QUICK)
    document = json.loads(candidate.read_text())
    document["environment"]["python"] = "3.99.0"
    candidate.write_text(json.dumps(document))
    out = tmp_path / "report"
    args = [str(baseline), str(candidate), "--retrain", "--trainer", QUICK, "--device", "cpu"]
    args += ["--no-band-store", "--out", str(out), "--format", "json"]
    with pytest.raises(NoRetrainRan) as raised:  # main() turns it into its exit code
        CliRunner().invoke(compare, args, catch_exceptions=False)
    assert raised.value.exit_code == EXIT_NO_RETRAIN == 7
    message = str(raised.value)
    assert "the smoke retrain was refused, not the pipeline it stands for" in message
    assert "environment.python is CPython 3." in message and "the pipeline's is 3.99.0" in message
    diagnosis = json.loads((out / "diagnosis.json").read_text())
    assert diagnosis["conclusion"]["kind"] == "retrain refused"
    assert "does not work" not in diagnosis["conclusion"]["sentence"]
    assert diagnosis["bar"]["level"] == "undetermined"
    assert "refused" in diagnosis["bar"]["reason"]
    assert "compare --retrain" not in diagnosis["bar"]["reason"]
