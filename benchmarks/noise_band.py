#!/usr/bin/env python3
"""The noise band's cost: the naive protocol against reprodiag's default, and ensembles vs solo.

    .venv/bin/python benchmarks/noise_band.py            # full run, writes benchmarks/results.md

Table 1 rebuilds the demo incident (Monday's pinned run, Wednesday's retrain on drifted data) in a
temporary folder and runs each arm as its own child process, timed from outside, with peak memory
sampled with psutil every 50 ms as the SUM of the resident set sizes of the arm's whole process
tree (the orchestrating process plus every worker alive at that moment):
  (a) naive: 10 seeds retrained one after another (SerialExecutor, one spec per seed, no band store
      reuse, no sequential stopping), then one decision on the 10;
  (b) default: sequential looks (3, 5, 8, 12, 20) + vectorised ensembles + the parallel executor
      (make_executor("processes") when it exists, else SerialExecutor: the table says which).
Table 2 times training alone, in this process (no worker start-up): K solo fits one after another
against one vmapped ensemble of K, on the Wednesday data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NAIVE_SEEDS = 10
SEED_BASE = 10_000
KS = (1, 4, 8, 16)


def build_incident(work: Path) -> dict[str, str]:
    """The demo's Monday and Wednesday manifests (its default settings), under `work`."""
    from reprodiag.demo import (
        DemoSettings,
        Pipeline,
        default_params,
        team_repository,
        train_captured,
    )
    from reprodiag.family import append_days, correct_labels, create_table
    from reprodiag.family.data import eval_table_path, train_table_path
    from reprodiag.snapshots import open_snapshot

    s = DemoSettings()
    repo = team_repository(work / "training-job")
    create_table(work, days=s.days, rows_per_day=s.rows_per_day, seed=s.seed, eval_rows=s.eval_rows)
    pipeline = Pipeline(
        params=default_params(), code_root=repo, eval_data=open_snapshot(eval_table_path(work))
    )
    monday = train_captured(
        work / "monday.json",
        pipeline,
        data=open_snapshot(train_table_path(work)),
        seed=s.monday_seed,
        run_name="monday",
        output_dir=work / "runs" / "monday",
    )
    append_days(work, s.drift_days, seed=s.seed + 1, drift=s.drift)
    correct_labels(work, s.label_fraction, seed=s.seed + 2)
    wednesday = train_captured(
        work / "wednesday.json",
        pipeline,
        data=open_snapshot(train_table_path(work)),
        seed=s.wednesday_seed,
        run_name="wednesday",
        output_dir=work / "runs" / "wednesday",
    )
    return {
        "work": str(work),
        "repo": str(repo),
        "monday": str(monday),
        "wednesday": str(wednesday),
    }


# --- the two arms, each run as a child process ---------------------------------------------------
def default_executor(workdir: Path) -> tuple[Any, str]:
    from reprodiag.retrain import executor as module

    make = getattr(module, "make_executor", None)
    if make is None:
        return module.SerialExecutor(workdir), "SerialExecutor (make_executor not available)"
    try:
        built = make("processes", workdir=workdir)
    except TypeError:  # an older signature: the workdir positionally
        built = make("processes", workdir)
    workers = getattr(built, "workers", "?")
    return built, f"make_executor('processes'), {workers} workers"


def arm_naive(incident: dict[str, str], candidate: Any, a: float) -> dict[str, Any]:
    from reprodiag.noise.sequential import decide_single
    from reprodiag.retrain import SerialExecutor, spec_from_manifest

    work = Path(incident["work"]) / "naive"
    specs = [
        spec_from_manifest(
            candidate, seed=s, label=f"naive-seed-{s}", out_dir=work / f"seed-{s}", metric="auc"
        )
        for s in range(SEED_BASE, SEED_BASE + NAIVE_SEEDS)
    ]
    results = SerialExecutor(work / "work").run(specs)
    values = [r.metric_value for r in results if r.status == "ok" and r.metric_value is not None]
    decision = decide_single(a, values, final=True)
    return {
        "outcome": decision.outcome,
        "n": len(values),
        "reason": decision.reason,
        "executor": "SerialExecutor, one spec per seed",
    }


def arm_default(incident: dict[str, str], candidate: Any, a: float) -> dict[str, Any]:
    from reprodiag.confirm import RetrainOptions
    from reprodiag.confirm.retrains import _Budget, run_band
    from reprodiag.noise.store import BandStore

    work = Path(incident["work"]) / "default"
    executor, name = default_executor(work / "work")
    options = RetrainOptions(
        executor=executor,
        workdir=work,
        max_retrains=20,
        store=BandStore(work / "band-store"),
        ensemble=True,
    )
    decision, seeds = run_band(candidate, a, "auc", options, _Budget(20))
    return {
        "outcome": decision.outcome,
        "n": decision.n,
        "reason": decision.reason,
        "executor": f"{name}; ensembles on",
        "retrains": len(seeds),
    }


def run_arm(arm: str, incident_file: Path, result_file: Path) -> None:
    from reprodiag.manifest import load_manifest

    incident = json.loads(incident_file.read_text())
    monday, candidate = load_manifest(incident["monday"]), load_manifest(incident["wednesday"])
    a = monday.results.metrics["auc"].value
    report = (arm_naive if arm == "naive" else arm_default)(incident, candidate, a)
    result_file.write_text(json.dumps({**report, "baseline_auc": a}))


# --- measuring an arm from outside ---------------------------------------------------------------
def _tree_rss(process: Any) -> int:
    import psutil

    total = 0
    for one in [process, *process.children(recursive=True)]:
        try:
            total += one.memory_info().rss
        except psutil.Error:  # a worker that ended between listing and reading
            continue
    return total


def measure_arm(arm: str, incident_file: Path, cwd: Path) -> dict[str, Any]:
    """Wall time and peak summed RSS of one arm's process tree; its decision."""
    import psutil

    result_file = incident_file.with_name(f"{arm}.result.json")
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--arm",
            arm,
            "--incident",
            str(incident_file),
            "--result",
            str(result_file),
        ],
        cwd=cwd,
    )
    process, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            peak = max(peak, _tree_rss(process))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"the {arm} arm failed with exit code {child.returncode}")
    return {**json.loads(result_file.read_text()), "wall_s": wall, "peak_mib": peak / 2**20}


# --- table 2: training alone ---------------------------------------------------------------
def ensemble_table(incident: dict[str, str]) -> list[dict[str, float]]:
    from reprodiag.family.data import eval_table_path, train_table_path
    from reprodiag.family.ensemble import fit_and_evaluate_ensemble
    from reprodiag.family.mlp import MLPParams, fit_and_evaluate
    from reprodiag.snapshots import open_snapshot

    work = Path(incident["work"])
    train_df = open_snapshot(train_table_path(work)).to_pandas()
    eval_df = open_snapshot(eval_table_path(work)).to_pandas()
    params, rows = MLPParams(), []
    fit_and_evaluate(train_df, eval_df, params, 1)  # warm-up: first-call allocations
    for k in KS:
        seeds = list(range(SEED_BASE, SEED_BASE + k))
        started = time.perf_counter()
        for seed in seeds:
            fit_and_evaluate(train_df, eval_df, params, seed)
        solo = time.perf_counter() - started
        started = time.perf_counter()
        fit_and_evaluate_ensemble(train_df, eval_df, params, seeds)
        vectorised = time.perf_counter() - started
        rows.append(
            {
                "k": k,
                "solo_s": solo,
                "ensemble_s": vectorised,
                "speedup": solo / vectorised,
                "rows": len(train_df),
            }
        )
    return rows


# --- reporting -----------------------------------------------------------------------------
def machine() -> str:
    import torch

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"nproc {cores}, CPU {model}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, "
        f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def protocol_table(naive: dict[str, Any], default: dict[str, Any]) -> str:
    lines = [
        "| protocol | executor | seeds trained | decision | wall time (s) | peak RSS, "
        "summed over processes (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, arm in (
        ("(a) naive: 10 seeds, serial, no stopping", naive),
        ("(b) default: sequential looks + ensembles", default),
    ):
        lines.append(
            f"| {name} | {arm['executor']} | {arm['n']} | {arm['outcome']} | "
            f"{arm['wall_s']:.1f} | {arm['peak_mib']:.0f} |"
        )
    same = "yes" if naive["outcome"] == default["outcome"] else "NO"
    lines += [
        "",
        f"(b)/(a) wall time: **{default['wall_s'] / naive['wall_s']:.2f}** "
        f"(target <= 0.25); peak memory ratio {default['peak_mib'] / naive['peak_mib']:.2f}; "
        f"same decision: **{same}** (baseline AUC {naive['baseline_auc']:.2f})",
        "",
        f"(a) {naive['reason']}",
        "",
        f"(b) {default['reason']}",
    ]
    return "\n".join(lines)


def k_table(rows: list[dict[str, float]]) -> str:
    lines = [
        "| K | K solo fits, sequential (s) | one ensemble of K (s) | speedup |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['k']} | {r['solo_s']:.2f} | {r['ensemble_s']:.2f} | {r['speedup']:.2f}x |"
        for r in rows
    ]
    lines += [
        "",
        f"Training alone, in one process (no worker start-up), {rows[0]['rows']:.0f} "
        "training rows, the reference MLP's default params; target K=16 >= 1.7x.",
    ]
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results.md",
        help="where the markdown results go (default benchmarks/results.md)",
    )
    parser.add_argument("--arm", choices=("naive", "default"), help=argparse.SUPPRESS)
    parser.add_argument("--incident", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.arm:  # a child: one arm of table 1
        run_arm(args.arm, args.incident, args.result)
        return 0
    with tempfile.TemporaryDirectory(prefix="reprodiag-bench-") as tmp:
        incident = build_incident(Path(tmp) / "incident")
        incident_file = Path(tmp) / "incident.json"
        incident_file.write_text(json.dumps(incident))
        naive = measure_arm("naive", incident_file, Path(incident["repo"]))
        default = measure_arm("default", incident_file, Path(incident["repo"]))
        rows = ensemble_table(incident)
    text = (
        f"# Noise-band benchmark\n\nMachine: {machine()}\n\n"
        f"Command: `.venv/bin/python benchmarks/noise_band.py`\n\n"
        f"## The naive protocol against reprodiag's default (the demo's gap)\n\n"
        f"{protocol_table(naive, default)}\n\n## Ensembles against solo runs\n\n"
        f"{k_table(rows)}\n"
    )
    print(text)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
