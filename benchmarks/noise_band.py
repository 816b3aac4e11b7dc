#!/usr/bin/env python3
"""The noise-band decision: reprodiag's default against the in-process loop a user would write.

    .venv/bin/python benchmarks/noise_band.py             # the demo's configuration
    .venv/bin/python benchmarks/noise_band.py --heavy     # one fit takes >= 5 s on a 2-core CPU
    .venv/bin/python benchmarks/noise_band.py --ensembles # also: one ensemble of K vs K solo fits

The script rebuilds the demo incident (Monday's pinned run, Wednesday's retrain on drifted,
relabelled data) in a temporary folder and asks one question of Wednesday's pipeline: does
Monday's AUC lie beyond its seed-noise band? Each arm runs as its own child process, timed from
outside (interpreter start-up and imports count for both), with peak memory sampled by psutil
every 50 ms as the SUM of the resident set sizes of the arm's whole process tree:

  (a) the in-process loop, as a user writes it: ONE Python process, one import of the trainer
      (reprodiag.family.mlp:train), the two snapshots opened once, a loop over 10 seeds calling
      the trainer with a TrainContext built as reprodiag's worker builds it, then one decision on
      the 10 values (decide_single(..., final=True): the prediction interval's test);
  (b) reprodiag's default: `measure_band` (the path of `reprodiag noise-band`) with the
      command line's default settings (executor, device, ensembles) and a fresh band store,
      grown look by look (n = 3, 5, 8, 12, 20) with the sequential decision at each look
      (decide_single, Pocock boundary), stopping at the first decided look.

It writes its section ("Noise-band decision: reprodiag vs the in-process loop"; with
--ensembles also "Ensembles against solo runs") into benchmarks/results.md, leaving the other
sections of that file as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
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
SECTION = "Noise-band decision: reprodiag vs the in-process loop"
ENSEMBLE_SECTION = "Ensembles against solo runs"
# --heavy: 3.75x the rows and twice the epochs: one fit >= 5 s on a quiet 2-core CPU (the demo's
# fit, about 0.8 s there, scales with rows x epochs).
HEAVY = {"rows_per_day": 15_000, "params": {"epochs": 16}}


def settings_for(heavy: bool) -> Any:
    """The demo's settings, or the heavy configuration's."""
    from reprodiag.demo import DemoSettings

    if not heavy:
        return DemoSettings()
    return DemoSettings(rows_per_day=HEAVY["rows_per_day"], params=HEAVY["params"])


def build_incident(work: Path, heavy: bool) -> dict[str, str]:
    """The demo's Monday and Wednesday manifests under `work` (demo or heavy settings)."""
    from reprodiag.demo import Pipeline, default_params, team_repository, train_captured
    from reprodiag.family import append_days, correct_labels, create_table
    from reprodiag.family.data import eval_table_path, train_table_path
    from reprodiag.snapshots import open_snapshot

    s = settings_for(heavy)
    repo = team_repository(work / "training-job")
    create_table(work, days=s.days, rows_per_day=s.rows_per_day, seed=s.seed, eval_rows=s.eval_rows)
    params = {**default_params(), **dict(s.params or {})}
    pipeline = Pipeline(
        params=params, code_root=repo, eval_data=open_snapshot(eval_table_path(work))
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
def arm_naive(incident: dict[str, str], a: float) -> dict[str, Any]:
    """One process, one import, a loop over 10 seeds, one decision."""
    import torch

    from reprodiag.family.mlp import train
    from reprodiag.manifest import load_manifest
    from reprodiag.noise.sequential import decide_single
    from reprodiag.retrain.interface import TrainContext
    from reprodiag.snapshots import reopen

    candidate = load_manifest(incident["wednesday"])
    data, eval_data = reopen(candidate.data.train), reopen(candidate.data.eval)
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    out = Path(incident["work"]) / "naive"
    values, fits = [], []
    for seed in range(SEED_BASE, SEED_BASE + NAIVE_SEEDS):
        ctx = TrainContext(
            params=dict(candidate.intent.params),
            seed=seed,
            data=data,
            eval_data=eval_data,
            device=device,
            output_dir=out / f"seed-{seed}",
        )
        started = time.perf_counter()
        values.append(train(ctx)["auc"])
        fits.append(time.perf_counter() - started)
    decision = decide_single(a, values, final=True)
    return {
        "outcome": decision.outcome,
        "n": len(values),
        "reason": decision.reason,
        "how": f"one process, a loop of {NAIVE_SEEDS} calls of reprodiag.family.mlp:train",
        "fit_s": sum(fits) / len(fits),
        "train_s": sum(fits),
        "device": device,
    }


def arm_default(incident: dict[str, str], a: float) -> dict[str, Any]:
    """measure_band with the command line's defaults, grown look by look until decided."""
    from reprodiag.cli.retrain_options import RetrainSettings
    from reprodiag.confirm import RetrainOptions
    from reprodiag.confirm.band import ok_values
    from reprodiag.confirm.measure import measure_band
    from reprodiag.manifest import load_manifest
    from reprodiag.noise.sequential import LOOKS, decide_single
    from reprodiag.noise.store import BandStore
    from reprodiag.retrain.make import make_executor

    candidate = load_manifest(incident["wednesday"])
    defaults = RetrainSettings()
    work = Path(incident["work"]) / "default"
    executor = make_executor(defaults.executor, work / "retrains", workers=defaults.workers)
    options = RetrainOptions(
        executor=executor,
        workdir=work / "retrains",
        max_retrains=LOOKS[-1],
        device=defaults.device,
        store=BandStore(work / "band-store"),
        ensemble=not defaults.no_ensemble,
    )
    try:
        for look in LOOKS:
            report = measure_band(candidate, options, seeds=look, metric="auc")
            decision = decide_single(a, ok_values(report.seeds), final=look == LOOKS[-1])
            if decision.stop:
                break
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
    workers = getattr(executor, "workers", "?")
    return {
        "outcome": decision.outcome,
        "n": decision.n,
        "reason": decision.reason,
        "how": f"measure_band, executor {defaults.executor!r} ({type(executor).__name__}, "
        f"{workers} worker(s)), device {defaults.device}, ensembles "
        f"{'on' if options.ensemble else 'off'}, looks {', '.join(map(str, LOOKS))}",
        "retrains": len(report.seeds),
    }


def run_arm(arm: str, incident_file: Path, result_file: Path) -> None:
    """A child: one arm, its result written to `result_file`."""
    from reprodiag.manifest import load_manifest

    incident = json.loads(incident_file.read_text())
    a = load_manifest(incident["monday"]).results.metrics["auc"].value
    report = (arm_naive if arm == "naive" else arm_default)(incident, a)
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
    argv = [sys.executable, str(Path(__file__).resolve()), "--arm", arm]
    argv += ["--incident", str(incident_file), "--result", str(result_file)]
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd)
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


# --- training alone: ensembles against solo fits ----------------------------------------------
def ensemble_table(incident: dict[str, str]) -> list[dict[str, float]]:
    """K solo fits against one vmapped ensemble of K, in this process (no worker start-up)."""
    from reprodiag.family.data import eval_table_path, train_table_path
    from reprodiag.family.ensemble import fit_and_evaluate_ensemble
    from reprodiag.family.mlp import fit_and_evaluate, from_mapping
    from reprodiag.manifest import load_manifest
    from reprodiag.snapshots import open_snapshot

    work = Path(incident["work"])
    train_df = open_snapshot(train_table_path(work)).to_pandas()
    eval_df = open_snapshot(eval_table_path(work)).to_pandas()
    params = from_mapping(load_manifest(incident["wednesday"]).intent.params)
    rows = []
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
            {"k": k, "solo_s": solo, "ensemble_s": vectorised, "speedup": solo / vectorised}
        )
    return rows


# --- reporting -----------------------------------------------------------------------------
def machine() -> str:
    """Cores, CPU model, torch and its threads, Python, the date."""
    import torch

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    if torch.cuda.is_available():
        model += f"; GPU {torch.cuda.get_device_name(0)}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"nproc {cores}, CPU {model}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, "
        f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def commit() -> str:
    """The checkout's commit, with '+dirty' when files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=HERE,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def protocol_rows(name: str, naive: dict[str, Any], default: dict[str, Any]) -> list[str]:
    """Two table rows (one per arm) for one configuration."""
    out = []
    for arm, label, how in (
        (naive, "(a) in-process loop of 10 seeds", naive["how"]),
        (default, "(b) reprodiag default", default["how"]),
    ):
        out.append(
            f"| {name} | {label} | {how} | {arm['n']} | {arm['outcome']} | "
            f"{arm['wall_s']:.1f} | {arm['peak_mib']:.0f} |"
        )
    return out


def config_words(heavy: bool) -> str:
    """What the configuration is, in words."""
    from reprodiag.demo import default_params

    s = settings_for(heavy)
    params = {**default_params(), **dict(s.params or {})}
    return (
        f"{s.days} + {s.drift_days} days x {s.rows_per_day:,} rows, hidden "
        f"{params['hidden']}, {params['epochs']} epochs"
    )


def section(name: str, command: str, naive: dict[str, Any], default: dict[str, Any]) -> str:
    """The markdown of one run: machine, command, table, ratio, decisions."""
    ratio = default["wall_s"] / naive["wall_s"]
    same = "yes" if naive["outcome"] == default["outcome"] else "NO"
    lines = [
        f"Machine: {machine()}; commit {commit()}",
        "",
        f"Command: `{command}`",
        "",
        f"Configuration **{name}**: {config_words(name == 'heavy')}; one fit in the loop took "
        f"{naive['fit_s']:.2f} s on {naive['device']} (10 fits: {naive['train_s']:.1f} s of "
        "training).",
        "",
        "| configuration | protocol | how | seeds trained | decision | wall time (s) | peak RSS, "
        "summed over processes (MiB) |",
        "|---|---|---|---|---|---|---|",
        *protocol_rows(name, naive, default),
        "",
        f"(b)/(a) wall time: **{ratio:.2f}** (goal on the heavy configuration: <= 0.30); "
        f"peak memory ratio {default['peak_mib'] / naive['peak_mib']:.2f}; same decision: "
        f"**{same}** (baseline AUC {naive['baseline_auc']:.2f})",
        "",
        f"(a) {naive['reason']}",
        "",
        f"(b) {default['reason']}",
    ]
    return "\n".join(lines)


def k_table(rows: list[dict[str, float]]) -> str:
    """The ensembles-against-solo table."""
    lines = [
        "| K | K solo fits, sequential (s) | one ensemble of K (s) | speedup |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['k']} | {r['solo_s']:.2f} | {r['ensemble_s']:.2f} | {r['speedup']:.2f}x |"
        for r in rows
    ]
    lines += ["", "Training alone, in one process (no worker start-up), on the Wednesday data."]
    return "\n".join(lines)


def write_section(path: Path, title: str, body: str, *, run: str | None = None) -> None:
    """Replace `## title` (or its `### run` subsection) in `path`, keeping every other section."""
    from reprodiag._atomic import atomic_write_text

    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head = f"## {title}"
    start = text.find(f"\n{head}\n")
    if start < 0:
        text = text.rstrip("\n") + f"\n\n{head}\n\n"
        start = text.find(f"\n{head}\n")
    after = text.find("\n## ", start + 1)
    end = after if after >= 0 else len(text)
    current = text[start + 1 : end]
    if run is None:
        current = f"{head}\n\n{body}\n"
    else:
        sub = f"### {run}"
        pattern = re.compile(rf"^{re.escape(sub)}\n.*?(?=^### |\Z)", re.M | re.S)
        block = f"{sub}\n\n{body}\n\n"
        current = (
            pattern.sub(lambda _: block, current)
            if pattern.search(current)
            else current.rstrip("\n") + f"\n\n{block}"
        )
    atomic_write_text(path, text[: start + 1] + current.rstrip("\n") + "\n" + text[end:])


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results.md",
        help="the markdown file whose section is (re)written (default benchmarks/results.md)",
    )
    parser.add_argument(
        "--heavy",
        action="store_true",
        help=f"a heavier configuration (one fit >= 5 s on a 2-core CPU): {HEAVY}",
    )
    parser.add_argument(
        "--ensembles", action="store_true", help="also time one ensemble of K against K solo fits"
    )
    parser.add_argument(
        "--label", default=None, help="a name for this run's subsection (default: the date)"
    )
    parser.add_argument("--arm", choices=("naive", "default"), help=argparse.SUPPRESS)
    parser.add_argument("--incident", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the incident, run both arms, print and write the section."""
    args = parse(argv)
    if args.arm:  # a child: one arm
        run_arm(args.arm, args.incident, args.result)
        return 0
    name = "heavy" if args.heavy else "demo"
    command = shlex.join([".venv/bin/python", "benchmarks/noise_band.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="reprodiag-bench-") as tmp:
        incident = build_incident(Path(tmp) / "incident", args.heavy)
        incident_file = Path(tmp) / "incident.json"
        incident_file.write_text(json.dumps(incident))
        naive = measure_arm("naive", incident_file, Path(incident["repo"]))
        default = measure_arm("default", incident_file, Path(incident["repo"]))
        rows = ensemble_table(incident) if args.ensembles else None
    body = section(name, command, naive, default)
    run = f"{name}, {args.label or dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M')}"
    print(f"### {run}\n\n{body}\n")
    write_section(args.out, SECTION, body, run=run)
    if rows is not None:
        table = k_table(rows)
        print(table)
        write_section(args.out, ENSEMBLE_SECTION, f"Command: `{command}`\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
