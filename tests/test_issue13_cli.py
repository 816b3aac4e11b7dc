"""Issue 13 through the command line and on Iceberg: the code swap, bisection, --repo, --env-cache.

* A code change confirmed by `reprodiag compare --retrain` itself: a real git repository in
  tmp_path with a NumPy trainer of our own (tests/helpers/i13_repo.py), two runs captured from two
  commits (the second drops a feature), the command run as a user runs it, from a folder outside
  the repository (--repo names it), with the default executor (a real worker process per retrain,
  each in the worktree of the commit it stands for).
* A data bisection on Iceberg: a table on a local SQL catalog goes through 6 snapshots, one of
  which relabels the rows (one OVERWRITE snapshot with the job's properties); the bisection names
  that snapshot, and both reports show the path step by step.
* The options: --repo and --env-cache reach the retrain options; the bisection path in a report
  stays text (escaped) whatever the points and commit messages hold.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import reprodiag
from reprodiag.confirm import RetrainOptions, confirm, contradictions
from reprodiag.diagnosis.model import Check, Diagnosis
from reprodiag.manifest import load_manifest
from reprodiag.probes import lock as probes_lock
from reprodiag.report import renderer_for, write_reports
from reprodiag.snapshots import open_snapshot
from tests.helpers import bisect_trainers, i13_repo
from tests.helpers.git import git
from tests.helpers.i13_samples import data_bisection


def _checks(d: Diagnosis) -> dict[str, Check]:
    return {c.key: c for c in d.checks}


def _why(d: Diagnosis) -> str:
    lines = [f"conclusion: {d.conclusion}", f"stop: {d.stop_reason}"]
    lines += [f"{c.key} {c.status} {c.verdict}: {c.observed}" for c in d.checks]
    return "\n".join(lines + list(d.spending) + list(d.warnings))


# ---------------------------------------------------------------------------- the code swap


# Two worker processes start (one per worktree; each imports reprodiag, numpy and the capture
# probes) around 6 retrains of 0.1-0.5 s: 14 s at load 1.5 on 2 cores, 32-64 s at load 5-10.
def test_compare_retrain_confirms_a_code_change_by_the_code_swap(tmp_path: Path) -> None:
    """Monday's run and Wednesday's read the same pinned tables with the same seed; Wednesday's
    commit dropped a feature. `compare --retrain`, run outside the repository with --repo, says
    the code swap (Wednesday's pipeline on Monday's code) explains the gap."""
    train_path, eval_path = i13_repo.delta_tables(tmp_path)
    data, evaluation = open_snapshot(str(train_path)), open_snapshot(str(eval_path))
    repo = i13_repo.make_repository(tmp_path / "churn-job")
    monday_commit = git(repo, "rev-parse", "HEAD")
    runs = tmp_path / "runs"
    monday = i13_repo.capture_run(runs / "monday.json", repo, data, evaluation, seed=1)
    wednesday_commit = i13_repo.commit_features(repo, ("x2",), "drop x1: it looked redundant")
    wednesday = i13_repo.capture_run(runs / "wednesday.json", repo, data, evaluation, seed=1)
    b, c = load_manifest(monday), load_manifest(wednesday)
    assert (b.code.commit, c.code.commit) == (monday_commit, wednesday_commit)
    gap = b.results.metrics["accuracy"].value - c.results.metrics["accuracy"].value
    assert gap > 10  # the dropped feature costs many points: the retrains have a gap to explain

    elsewhere = tmp_path / "elsewhere"  # not a git repository: only --repo finds the commits
    elsewhere.mkdir()
    out = tmp_path / "report"
    argv = [sys.executable, "-m", "reprodiag", "compare", str(monday), str(wednesday)]
    argv += ["--retrain", "--trainer", i13_repo.ENTRYPOINT, "--repo", str(repo)]
    argv += ["--env-cache", str(tmp_path / "envs"), "--max-retrains", "8", "--device", "cpu"]
    argv += ["--band-store", str(tmp_path / "band-store"), "--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(argv, cwd=elsewhere, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr

    d = reprodiag.load_diagnosis(out / "diagnosis.json")
    why = _why(d)
    swap = _checks(d)["code_swap"]
    assert (swap.status, swap.verdict) == ("done", "explains"), why
    ranks = {r.axis: r for r in d.ranking}
    assert ranks["code"].status == "confirmed", why
    assert d.conclusion is not None and d.conclusion.kind == "explained", why
    assert contradictions(d) == [], why
    # the swapped code is not compared, and not reported as "not recorded" either
    assert not [w for w in d.warnings if "not recorded by the pipeline" in w], d.warnings
    report = (out / "report.md").read_text()
    assert "code swap" in report.lower() and "explains" in report
    # Each retrain ran the code it stands for, in a worktree of the user's repository: the code
    # swap Monday's commit, the candidate band Wednesday's; none ran in `elsewhere`.
    seen: dict[str, set[str]] = {}
    for path in (out / "retrains").rglob("manifest.json"):
        retrain = load_manifest(path)
        arm = "code-swap" if "code-swap" in path.parent.name else "other"
        seen.setdefault(arm, set()).add(str(retrain.code.commit))
        assert retrain.code.dirty is False
    assert seen.get("code-swap") == {monday_commit}, seen
    assert seen.get("other") == {wednesday_commit}, seen
    assert "reprodiag/worktrees" in git(repo, "worktree", "list")
    assert git(repo, "status", "--porcelain") == ""  # the user's tree is untouched
    assert not (tmp_path / "envs").exists()  # no environment swap was needed, none built


def test_repo_must_be_a_folder(tmp_path: Path) -> None:
    """A --repo that does not exist is a usage error naming the option, not a traceback."""
    argv = [sys.executable, "-m", "reprodiag", "compare", "a.json", "b.json", "--retrain"]
    argv += ["--repo", str(tmp_path / "missing")]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--repo" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_repo_and_env_cache_reach_the_retrain_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reprodiag.cli.retrain_options import RetrainSettings, build_options

    monkeypatch.chdir(tmp_path)
    settings = RetrainSettings(repo="job", env_cache="~/envs", no_band_store=True)
    options = build_options(settings, default_workdir=tmp_path / "w", max_retrains=4)
    try:
        assert options.repo == tmp_path / "job"
        assert options.env_cache == Path("~/envs").expanduser()
    finally:
        options.executor.close()
    plain = build_options(
        RetrainSettings(no_band_store=True), default_workdir=tmp_path / "w", max_retrains=4
    )
    try:  # left out: the current folder's repository, REPRODIAG_ENV_CACHE or ~/.cache
        assert plain.repo is None and plain.env_cache is None
    finally:
        plain.executor.close()


def test_the_environment_is_rebuilt_under_env_cache(tmp_path: Path) -> None:
    """The environment swap builds the baseline's environment under RetrainOptions.env_cache
    (uv for real: needs the package index this machine's pip uses; skipped, saying so, without)."""
    from reprodiag.confirm.arms import rebuilt_python
    from reprodiag.manifest.model import LockRef
    from reprodiag.probes.lock import probe_lock
    from reprodiag.retrain.envs import EnvironmentUnavailable
    from reprodiag.retrain.executor import SerialExecutor
    from tests.helpers.manifests import example_manifest

    (tmp_path / "lock").mkdir()
    (tmp_path / "lock" / "requirements.txt").write_text("six==1.16.0\n")
    lock = probe_lock(tmp_path / "lock")
    assert isinstance(lock, LockRef)
    manifest = example_manifest()
    baseline = dataclasses.replace(manifest, code=dataclasses.replace(manifest.code, lock=lock))
    cache = tmp_path / "my-envs"
    executor = SerialExecutor(tmp_path / "w")
    options = RetrainOptions(executor=executor, workdir=tmp_path / "w", env_cache=cache)
    try:
        python = rebuilt_python(baseline, options)
    except EnvironmentUnavailable as exc:
        if exc.kind == "unreachable":
            pytest.skip(f"no package index reachable, the environment cannot be rebuilt: {exc}")
        raise
    finally:
        executor.close()
    assert cache in python.parents and python.exists()


def test_a_swapped_axis_is_neither_compared_nor_noted_as_unrecorded(tmp_path: Path) -> None:
    """A code swap's retrain runs other code on purpose: no mismatch, and no note that the
    pipeline did not record its code (it did; the swap replaced it)."""
    from reprodiag.confirm.identity import check_identity
    from reprodiag.retrain.spec import spec_from_manifest
    from tests.helpers.manifests import example_manifest

    pipeline = example_manifest()
    retrain = dataclasses.replace(
        pipeline, code=dataclasses.replace(pipeline.code, commit="c" * 40, diff_sha256="d" * 64)
    )
    spec = spec_from_manifest(
        pipeline, seed=1234, label="code-swap-seed-1234", out_dir=tmp_path, metric="auc"
    )
    identity = check_identity(pipeline, spec, retrain, swapped="code")
    assert identity.ok and not [n for n in identity.notes if n.startswith("code.")]
    assert not check_identity(pipeline, spec, retrain).ok  # unswapped, the commit is compared


# ---------------------------------------------------------------------------- Iceberg bisection


def test_iceberg_bisection_names_the_relabelling_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six snapshots of an Iceberg table: appends, one OVERWRITE that relabels every row, more
    appends. Monday trained on the first, Wednesday on the last; the pinned-snapshot swap
    explains the gap and the bisection names the relabelling snapshot, with its properties."""
    i13_repo.use_catalog(monkeypatch, tmp_path / "lake")
    train = i13_repo.iceberg_table("ml.train", bisect_trainers.make_rows(400, 1))
    i13_repo.iceberg_table("ml.eval", bisect_trainers.make_rows(1000, 2))
    repo = i13_repo.make_repository(tmp_path / "churn-job")
    evaluation = open_snapshot("iceberg://local/ml.eval")
    monday_data = open_snapshot("iceberg://local/ml.train")
    snapshots = [monday_data.ref.version]
    snapshots.append(i13_repo.append_iceberg(train, bisect_trainers.make_rows(400, 11)))
    snapshots.append(i13_repo.append_iceberg(train, bisect_trainers.make_rows(400, 12)))
    relabelled = i13_repo.relabel_iceberg(train, {"job": "relabel-2026-11", "owner": "data-eng"})
    snapshots.append(relabelled)
    snapshots.append(i13_repo.append_iceberg(train, bisect_trainers.make_rows(400, 14)))
    snapshots.append(i13_repo.append_iceberg(train, bisect_trainers.make_rows(400, 15)))
    wednesday_data = open_snapshot("iceberg://local/ml.train")
    assert wednesday_data.ref.version == snapshots[-1] and len(set(snapshots)) == 6
    runs = tmp_path / "runs"
    capture = i13_repo.capture_run
    monday = capture(runs / "monday.json", repo, monday_data, evaluation, 3, bisect_trainers.train)
    wednesday = capture(
        runs / "wednesday.json", repo, wednesday_data, evaluation, 7, bisect_trainers.train
    )
    b, c = load_manifest(monday), load_manifest(wednesday)
    assert (b.data.train.format, b.data.train.version) == ("iceberg", snapshots[0])

    monkeypatch.chdir(repo)  # the pipelines' code is the current folder's (a clean checkout)
    # What a warm retrain worker does (reprodiag.probes.lock.remember_installed_distributions):
    # the retrains run in this process, so the installed distributions are read once, not per
    # retrain's capture (0.2-1.5 s each); undone after the test.
    monkeypatch.setitem(probes_lock._cache, "on", True)
    options = RetrainOptions(
        executor=bisect_trainers.CodeDirExecutor(),  # in this process: milliseconds per retrain
        workdir=tmp_path / "retrains",
        max_retrains=24,
        device="cpu",
        trainer={"entrypoint": "tests.helpers.bisect_trainers:train"},
    )
    d = confirm(b, c, reprodiag.diagnose(b, c, metric="accuracy"), options)
    why = _why(d)
    checks = _checks(d)
    assert checks["pinned_snapshot"].verdict == "explains", why
    check = checks["data_bisection"]
    bisection = check.bisection
    assert bisection is not None and check.verdict == "explains", why
    assert bisection.first == f"version {relabelled}", why
    assert bisection.first_info["operation"] == "overwrite", why
    metadata = bisection.first_info["metadata"]
    assert isinstance(metadata, dict) and metadata["job"] == "relabel-2026-11", why
    assert [p.split()[1] for p in bisection.points] == [str(s) for s in snapshots], why
    # 0..5: version 2 scores like Monday, version 3 (the relabelling) like Wednesday
    assert [s.point for s in bisection.steps] == [
        f"version {snapshots[2]}",
        f"version {snapshots[3]}",
    ], why
    assert [s.verdict for s in bisection.steps] == ["like the baseline", "like the candidate"]
    assert len(bisection.infos) == 6 and bisection.infos[3]["version"] == relabelled, why
    assert contradictions(d) == [], why

    # Both reports show the path: the two steps, the snapshot's operation and properties.
    written = write_reports(d, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    html = (tmp_path / "report" / "report.html").read_text()
    assert f"| 2 | version {relabelled} | overwrite · " in md
    assert "job=relabel-2026-11" in md and "like the candidate" in md
    assert 'id="bisection-data"' in html and 'href="#bisection-data"' in html
    assert f"<code>version {relabelled}</code>" in html and "job=relabel-2026-11" in html
    saved = json.loads((tmp_path / "report" / "diagnosis.json").read_text())
    entry = next(c for c in saved["checks"] if c["key"] == "data_bisection")
    assert entry["bisection"]["first"] == f"version {relabelled}"
    assert len(written) >= 3


# ---------------------------------------------------------------------------- the report


def test_the_bisection_path_stays_text_in_both_reports() -> None:
    """Points, commit info and words come from the user's repository and table history: markup
    in them is shown, never run, and cannot break a Markdown table."""
    from tests.helpers.report_samples import EVIL, with_band

    record, spent = data_bisection()
    evil_points = tuple(f"{p} {EVIL}" for p in record.points)
    evil_infos = tuple({**i, "metadata": {"job": EVIL}} for i in record.infos)
    record = dataclasses.replace(
        record,
        points=evil_points,
        infos=evil_infos,
        steps=tuple(
            dataclasses.replace(s, point=f"{s.point} {EVIL}", words=f"{s.words} {EVIL}")
            for s in record.steps
        ),
        stop=EVIL,
    )
    check = Check(
        13, "data_bisection", EVIL, "data", f"{spent} retrains", spent, "done", EVIL, EVIL, EVIL,
        "explains", (EVIL,), bisection=record,
    )  # fmt: skip
    d = dataclasses.replace(with_band(), checks=(*with_band().checks, check))
    html = renderer_for("html").render(d)
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert html.count('id="bisection-data"') == 1
    md = renderer_for("md").render(d)
    table = md[md.index("#### Data bisection") :].split("**Result:**")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(record.steps)  # the header and one row per step, none broken
    assert all(line.count(" | ") == 6 for line in rows), rows  # seven cells each
    assert "<script>" not in md and "\\<script\\>" in md


def test_a_bisection_stopped_before_its_first_point_says_why() -> None:
    """With fewer retrains left than a point's first look, the search runs no step: the reports
    say the budget ran out and which range stays open, with no empty table."""
    from tests.helpers import i13_samples
    from tests.helpers.report_samples import with_band

    record, spent = i13_samples.bisection(
        "data", i13_samples.DATA_POINTS, i13_samples.DATA_INFOS, {}, budget=2
    )
    assert spent == 0 and record.steps == () and record.first is None
    check = Check(
        13, "data_bisection", "data bisection", "data", "0 retrains", 0, "done", "e", "f",
        f"can't tell yet: {record.stop}", "cant_tell", bisection=record,
    )  # fmt: skip
    d = dataclasses.replace(with_band(), checks=(*with_band().checks, check))
    md = renderer_for("md").render(d)
    part = md[md.index("#### Data bisection") :]
    assert part.split("\n\n")[1].startswith(
        "**Result:** the budget ran out: version 5 needs 3 more retrains and 2 retrains"
    )
    assert "still open: version 5, version 6, version 7 (candidate)" in " ".join(part.split())
    html = renderer_for("html").render(d)
    assert '<p id="bisection-data"><strong>Data bisection' in html
    assert "the budget ran out: version 5 needs 3 more retrains" in html


def test_a_first_point_that_moves_only_part_of_the_way_is_said_so() -> None:
    """A point between the two ends (it differs from both) is the first that moves the metric,
    but not the whole change: the check's sentence says the rest lies after it."""
    from reprodiag.confirm.bisect import _observed, search
    from tests.helpers import i13_samples
    from tests.helpers.report_samples import with_band

    halfway = [88.7, 88.9, 88.6, 88.8, 88.7, 88.9, 88.6, 88.8]
    record, spent = i13_samples.bisection(
        "data", i13_samples.DATA_POINTS, i13_samples.DATA_INFOS, {1: halfway}, budget=12
    )
    assert record.first == "version 5" and [s.verdict for s in record.steps] == ["part of the way"]
    queue = {1: list(halfway)}
    result = search(
        i13_samples.DATA_POINTS, i13_samples.BASELINE_END, i13_samples.CANDIDATE_END,
        lambda i, n: [queue[i].pop(0) for _ in range(n)], budget=12, toward=1.0,
    )  # fmt: skip
    words = _observed(record, result, "accuracy")
    assert words.startswith("version 5 is the first point that moves accuracy (operation WRITE")
    assert "but only part of the way (it differs from both ends): the rest of the change" in words
    # the report's path says it too, under the table
    d = dataclasses.replace(
        with_band(),
        checks=(
            *with_band().checks,
            Check(
                13,
                "data_bisection",
                "data bisection",
                "data",
                f"{spent} retrains",
                spent,
                "done",
                "e",
                "f",
                words,
                "explains",
                bisection=record,
            ),  # fmt: skip
        ),
    )
    md = " ".join(renderer_for("md").render(d).split())
    assert (
        "**Result:** version 5 is the first point that moves the metric, but only part of the way"
        in md
    )
