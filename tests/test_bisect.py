"""Issue 13: the code swap, and bisection of the points between the two runs (real retrains).

A real git repository in tmp_path holds a training module committed 9 times (a range of 8 commits
after the baseline's), one of which drops the informative feature; a real Delta table goes
through 6 versions, one of which is a relabelling job. The runs are captured for real with
reprodiag.capture; confirm() retrains them with a fast numpy trainer (tests/helpers/
bisect_trainers.py: milliseconds per retrain) in this process, each code retrain in the worktree
of its commit. The search logic is also driven on its own with simulated values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import reprodiag
from reprodiag.confirm import RetrainOptions, confirm, contradictions
from reprodiag.confirm.bisect import judge_point, remaining, search
from reprodiag.diagnosis.codec import diagnosis_from_json, diagnosis_to_json
from reprodiag.diagnosis.model import Check, Diagnosis
from reprodiag.manifest import load_manifest
from reprodiag.retrain.interface import TrainContext
from reprodiag.snapshots import open_snapshot
from tests.helpers import bisect_trainers as bt
from tests.helpers.git import git

# ---------------------------------------------------------------------------- the search alone


def _simulated(values: dict[int, list[float | None]]) -> tuple[list[tuple[int, int]], object]:
    calls: list[tuple[int, int]] = []

    def run(index: int, count: int) -> list[float | None]:
        calls.append((index, count))
        return [values[index].pop(0) for _ in range(count)]

    return calls, run


BASE = [90.0, 90.4, 89.8]  # the baseline end (the swap arm)
CAND = [80.0, 80.3, 79.9]  # the candidate end (the band)


def test_judge_point_places_a_point_by_the_end_it_differs_from() -> None:
    assert judge_point(BASE, CAND, [90.1, 89.9, 90.2], toward=1.0).verdict == "like the baseline"
    assert judge_point(BASE, CAND, [80.2, 79.8, 80.1], toward=1.0).verdict == "like the candidate"
    assert judge_point(BASE, CAND, [85.0, 85.2, 84.9], toward=1.0).verdict == "part of the way"
    wide = judge_point(BASE, CAND, [70.0, 99.0], toward=1.0)
    assert wide.verdict == "undecided" and "interval" in wide.words


def test_search_names_the_first_point_that_moves() -> None:
    # points 0..8; the metric moves at point 5: indices 1-4 score like the baseline
    points = [f"p{i}" for i in range(9)]
    like_b = [90.1, 89.9, 90.2, 90.0, 90.1, 89.8, 90.0, 90.3]
    like_c = [80.1, 79.9, 80.2, 80.0, 80.1, 79.8, 80.0, 80.3]
    values = {i: list(like_b if i < 5 else like_c) for i in range(1, 8)}
    calls, run = _simulated(values)
    result = search(points, BASE, CAND, run, budget=24, toward=1.0)  # type: ignore[arg-type]
    assert result.first == 5 and result.stop == "p5 is the first point that moves the metric"
    assert [s.index for s in result.steps] == [4, 6, 5]  # log2(8) = 3 steps
    assert result.retrains == 9 and calls == [(4, 3), (6, 3), (5, 3)]
    assert [s.verdict for s in result.steps] == [
        "like the baseline",
        "like the candidate",
        "like the candidate",
    ]


def test_an_undecided_point_grows_then_the_budget_runs_out() -> None:
    points = [f"p{i}" for i in range(9)]
    # point 4 is noisy at first (undecided at n = 3), decides at n = 5 (like the candidate);
    # point 2 then needs 3 retrains and only 2 are left.
    values: dict[int, list[float | None]] = {
        4: [78.0, 84.0, 80.0, 80.0, 80.0, 80.0, 79.9, 80.2],
        2: [90.0] * 8,
    }
    calls, run = _simulated(values)
    result = search(points, BASE, CAND, run, budget=7, toward=1.0)  # type: ignore[arg-type]
    assert [(s.index, s.retrains, s.verdict) for s in result.steps] == [
        (4, 3, "undecided"),
        (4, 2, "like the candidate"),
    ]
    assert result.first is None and result.retrains == 5 and (result.low, result.high) == (0, 4)
    assert "the budget ran out: p2 needs 3 more retrains and 2 retrains" in result.stop
    assert "lies after p0, up to p4" in result.stop
    assert remaining(result) == ("p1", "p2", "p3", "p4")


def test_a_point_undecided_at_its_last_look_stops_the_search() -> None:
    points = ["b", "m", "c"]
    calls, run = _simulated({1: [70.0, 99.0, 75.0, 97.0, 72.0, 98.0, 71.0, 96.0]})
    result = search(points, BASE, CAND, run, budget=24, toward=1.0)  # type: ignore[arg-type]
    assert [s.retrains for s in result.steps] == [3, 2, 3]  # looks 3, 5, 8
    assert result.first is None and result.retrains == 8
    assert result.stop.startswith("m stays undecided after 8 seeds")


def test_failed_retrains_are_counted_and_stop_a_point() -> None:
    calls, run = _simulated({1: [None, None, None]})
    result = search(["b", "m", "c"], BASE, CAND, run, budget=24, toward=1.0)  # type: ignore[arg-type]
    assert result.retrains == 3 and result.steps[0].failed == 3
    assert "the last 3 retrains at m failed" in result.stop


# ---------------------------------------------------------------------------- real retrains


def _checks(d: Diagnosis) -> dict[str, Check]:
    return {c.key: c for c in d.checks}


def _why(d: Diagnosis) -> str:
    lines = [f"conclusion: {d.conclusion}", f"stop: {d.stop_reason}"]
    lines += [f"{c.key} {c.status} {c.verdict}: {c.observed}" for c in d.checks]
    return "\n".join(lines + list(d.spending))


def _options(work: Path, executor: bt.CodeDirExecutor, budget: int) -> RetrainOptions:
    return RetrainOptions(
        executor=executor, workdir=work / "retrains", max_retrains=budget, device="cpu"
    )


def _tables(root: Path) -> tuple[Path, Path]:
    from deltalake import write_deltalake

    write_deltalake(str(root / "train"), bt.make_rows(400, 1))
    write_deltalake(str(root / "eval"), bt.make_rows(1000, 2))
    return root / "train", root / "eval"


def _capture(
    path: Path, repo: Path, train: object, evaluation: object, seed: int, trainer: object
) -> Path:
    with reprodiag.capture(
        path,
        train=train,
        eval=evaluation,
        seeds=reprodiag.deterministic_seeds(seed),
        params={},
        family="bisect",
        run_name=path.stem,
        entrypoint="bisect_model:train",
        code_root=repo,
        output_dir=path.parent / path.stem,
    ) as run:
        ctx = TrainContext({}, seed, train, evaluation)
        run.log_metrics(trainer(ctx), primary="accuracy")  # type: ignore[operator]
    return path


def _commit(repo: Path, features: Sequence[str], note: str) -> str:
    (repo / "bisect_model.py").write_text(bt.model_source(features, note))
    git(repo, "add", "bisect_model.py")
    git(repo, "commit", "-q", "-m", note)
    return git(repo, "rev-parse", "HEAD")


@pytest.mark.slow  # 16 retrains, each in a worktree with its own capture: 30-40 s on 2 cores
def test_code_swap_confirms_code_and_bisects_to_the_bad_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_path, eval_path = _tables(tmp_path)
    train, evaluation = open_snapshot(train_path), open_snapshot(eval_path, version=0)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "tests").symlink_to(Path(bt.__file__).resolve().parents[1], target_is_directory=True)
    (repo / ".gitignore").write_text("tests\n")
    git(repo, "add", ".gitignore")
    first = _commit(repo, ("x1", "x2"), "the model")
    baseline = _capture(
        tmp_path / "monday.json", repo, train, evaluation, 3,
        bt.load_module(repo / "bisect_model.py").train,
    )  # fmt: skip
    commits = []
    for i in range(1, 9):
        features = ("x1", "x2") if i < 5 else ("x2",)
        note = "drop x1: it looked redundant" if i == 5 else f"tidy step {i}"
        commits.append(_commit(repo, features, note))
    bad = commits[4]
    candidate = _capture(
        tmp_path / "wednesday.json", repo, train, evaluation, 7,
        bt.load_module(repo / "bisect_model.py").train,
    )  # fmt: skip
    b, c = load_manifest(baseline), load_manifest(candidate)
    assert b.code.commit == first and c.code.commit == commits[-1]
    monkeypatch.chdir(repo)
    executor = bt.CodeDirExecutor(module="bisect_model")
    diagnosis = reprodiag.diagnose(b, c)
    assert _checks(diagnosis)["code_swap"].status == "planned", _why(diagnosis)
    done = confirm(b, c, diagnosis, _options(tmp_path, executor, 24))
    why = _why(done)
    checks = _checks(done)
    assert checks["code_swap"].status == "done" and checks["code_swap"].verdict == "explains", why
    assert next(r for r in done.ranking if r.axis == "code").status == "confirmed", why
    bisection = checks["code_bisection"].bisection
    assert bisection is not None, why
    assert bisection.first is not None and bisection.first.startswith(bad[:10]), why
    assert bisection.first_info["commit"] == bad, why
    assert bisection.first_info["subject"] == "drop x1: it looked redundant", why
    assert bisection.first_info["author"] == "reprodiag tests <tests@reprodiag.invalid>", why
    assert len(bisection.points) == 9 and len(bisection.steps) == 3, why
    spent = sum(s.retrains for s in bisection.steps)
    assert spent == checks["code_bisection"].retrains == 9, why
    assert done.stop_reason is not None and done.stop_reason.startswith("16 of 24"), why
    # every retrain ran in a worktree at its commit: the candidate band at the candidate's, the
    # swap at the baseline's, each of the 3 bisection steps at its own
    ran = {git(Path(f), "rev-parse", "HEAD") for f in executor.folders if f is not None}
    assert {first, bad, commits[-1]} <= ran and len(ran) == 5, ran
    assert "drop x1" in done.summary and contradictions(done) == [], why
    # the path survives the diagnosis JSON
    again = diagnosis_from_json(diagnosis_to_json(done))
    assert _checks(again)["code_bisection"].bisection == bisection


def test_code_swap_says_why_when_the_commit_is_not_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_path, eval_path = _tables(tmp_path)
    train, evaluation = open_snapshot(train_path), open_snapshot(eval_path, version=0)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "tests").symlink_to(Path(bt.__file__).resolve().parents[1], target_is_directory=True)
    (repo / ".gitignore").write_text("tests\n")
    git(repo, "add", ".gitignore")
    _commit(repo, ("x1", "x2"), "the model")
    module = bt.load_module(repo / "bisect_model.py")
    baseline = _capture(tmp_path / "b.json", repo, train, evaluation, 3, module.train)
    _commit(repo, ("x2",), "drop x1")
    candidate = _capture(tmp_path / "c.json", repo, train, evaluation, 7, module.train)
    other = tmp_path / "elsewhere"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    monkeypatch.chdir(other)
    b, c = load_manifest(baseline), load_manifest(candidate)
    done = confirm(b, c, reprodiag.diagnose(b, c), _options(tmp_path, bt.CodeDirExecutor(), 6))
    check = _checks(done)["code_swap"]
    assert check.status == "skipped", _why(done)
    assert "is not in the repository" in (check.observed or ""), _why(done)


def test_data_bisection_names_the_relabelling_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    train_path, eval_path = _tables(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("# the team's job\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "job")
    evaluation = open_snapshot(eval_path, version=0)
    baseline = _capture(
        tmp_path / "b.json", repo, open_snapshot(train_path), evaluation, 3, bt.train
    )
    for day in (1, 2):
        write_deltalake(str(train_path), bt.make_rows(400, 10 + day), mode="append")
    rows = DeltaTable(str(train_path)).to_pandas()
    write_deltalake(
        str(train_path),
        bt.relabel(rows),
        mode="overwrite",
        commit_properties=CommitProperties(custom_metadata={"job": "relabel-2026-11"}),
    )
    for day in (4, 5):
        write_deltalake(str(train_path), bt.make_rows(400, 10 + day), mode="append")
    train = open_snapshot(train_path)
    assert train.ref.version == 5
    candidate = _capture(tmp_path / "c.json", repo, train, evaluation, 7, bt.train)
    monkeypatch.chdir(repo)
    b, c = load_manifest(baseline), load_manifest(candidate)
    options = RetrainOptions(
        executor=bt.CodeDirExecutor(), workdir=tmp_path / "retrains", max_retrains=24,
        device="cpu", trainer={"entrypoint": "tests.helpers.bisect_trainers:train"},
    )  # fmt: skip
    done = confirm(b, c, reprodiag.diagnose(b, c), options)
    why = _why(done)
    checks = _checks(done)
    assert checks["pinned_snapshot"].verdict == "explains", why
    bisection = checks["data_bisection"].bisection
    assert bisection is not None and bisection.first == "version 3", why
    assert bisection.first_info["operation"] == "WRITE", why
    assert bisection.first_info["parameters"] == {"mode": "Overwrite"}, why
    assert bisection.first_info["metadata"] == {"job": "relabel-2026-11"}, why
    assert "timestamp" in bisection.first_info, why
    assert "version 3 is the first point that moves accuracy (operation WRITE" in (
        checks["data_bisection"].observed or ""
    ), why
    assert contradictions(done) == [], why


def test_data_bisection_stops_with_the_budget_and_names_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake import write_deltalake

    train_path, eval_path = _tables(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("# the team's job\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "job")
    evaluation = open_snapshot(eval_path, version=0)
    baseline = _capture(
        tmp_path / "b.json", repo, open_snapshot(train_path), evaluation, 3, bt.train
    )
    for day in range(1, 6):
        rows = bt.make_rows(400, 10 + day)
        write_deltalake(str(train_path), bt.relabel(rows) if day == 2 else rows, mode="append")
    candidate = _capture(
        tmp_path / "c.json", repo, open_snapshot(train_path), evaluation, 7, bt.train
    )
    monkeypatch.chdir(repo)
    b, c = load_manifest(baseline), load_manifest(candidate)
    options = RetrainOptions(
        executor=bt.CodeDirExecutor(), workdir=tmp_path / "retrains", max_retrains=10,
        device="cpu", trainer={"entrypoint": "tests.helpers.bisect_trainers:train"},
    )  # fmt: skip
    done = confirm(b, c, reprodiag.diagnose(b, c), options)
    why = _why(done)
    check = _checks(done).get("data_bisection")
    assert check is not None and check.bisection is not None, why
    assert check.bisection.first is None and check.verdict == "cant_tell", why
    assert "the budget ran out" in (check.observed or "") and check.bisection.remaining, why
    assert done.stop_reason is not None and done.stop_reason.startswith("10 of 10"), why
