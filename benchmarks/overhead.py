"""Per-retrain overhead: wall time per retrain minus the trainer's own time, warm worker and cold.

    .venv/bin/python benchmarks/overhead.py [--retrains 8] [--epochs 8] [--out results.md]

The trainer is the demo's family (reprodiag.family.mlp:train, the demo's default params) on the
demo's data (5 days x 4,000 rows, 5,000 evaluation rows), wrapped by `timed_train` below, which
returns the seconds spent inside the trainer as a metric. For each retrain:

- warm: `SerialExecutor.run([spec])` on one executor, so one warm worker serves them all; the
  first retrain also pays the worker's start-up, reported on its own line and left out of the
  overhead figures;
- cold: `start_worker(...).wait()`, a fresh `python -m reprodiag.retrain.worker` per retrain
  (what every executor did before issue 14).

Overhead = wall time of the call - the trainer's own seconds: the spec and result files, the
hand-over, reopening the snapshots, seeding, the manifest's probes and write; for cold also the
interpreter and its imports (torch, torch._dynamo, deltalake). Every figure printed is measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENTRYPOINT = "overhead:timed_train"  # imported by the workers from this folder (PYTHONPATH)


def timed_train(ctx: Any) -> dict[str, float]:
    """reprodiag.family.mlp:train, with the seconds it took as the metric `trainer_seconds`."""
    from reprodiag.family.mlp import train

    started = time.perf_counter()
    metrics = dict(train(ctx))
    metrics["trainer_seconds"] = time.perf_counter() - started
    return metrics


def world(root: Path, epochs: int) -> Path:
    """The demo's table and a captured source run of the timed trainer; its manifest's path."""
    import reprodiag
    from reprodiag.demo import DemoSettings, default_params
    from reprodiag.family import create_table, eval_table_path, train_table_path
    from reprodiag.snapshots import open_snapshot

    demo = DemoSettings()
    create_table(
        root,
        days=demo.days,
        rows_per_day=demo.rows_per_day,
        seed=demo.seed,
        eval_rows=demo.eval_rows,
    )
    path = root / "source.json"
    with reprodiag.capture(
        path,
        train=open_snapshot(train_table_path(root)),
        eval=open_snapshot(eval_table_path(root)),
        params={**default_params(), "epochs": epochs},
        family="overhead-benchmark",
        entrypoint=ENTRYPOINT,
        code_root=root,
    ) as run:
        run.log_metrics({"auc": 50.0})
    return path


def specs(manifest_path: Path, out: Path, label: str, count: int) -> list[Any]:
    """`count` seed retrains of the source run, each in its own folder under `out`."""
    from reprodiag.manifest import load_manifest
    from reprodiag.retrain import spec_from_manifest

    manifest = load_manifest(manifest_path)
    return [
        spec_from_manifest(
            manifest,
            seed=1000 + i,
            label=f"{label} {i}",
            out_dir=out / f"{label}-{i}",
            metric="auc",
            device="cpu",
        )
        for i in range(count)
    ]


def measure(root: Path, count: int) -> dict[str, Any]:
    """Warm and cold rows: (wall, trainer) seconds per retrain, and the warm start-up."""
    from reprodiag.retrain import SerialExecutor
    from reprodiag.retrain.executor import start_worker, worker_env

    manifest = root / "source.json"
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    warm: list[tuple[float, float]] = []
    with SerialExecutor(root / "warm-work", cwd=root, env=env) as executor:
        for spec in specs(manifest, root / "warm", "warm", count + 1):
            clock = time.perf_counter()
            (result,) = executor.run([spec])
            wall = time.perf_counter() - clock
            assert result.status == "ok", result.reason
            warm.append((wall, result.metrics["trainer_seconds"]))
    cold: list[tuple[float, float]] = []
    for i, spec in enumerate(specs(manifest, root / "cold", "cold", count)):
        clock = time.perf_counter()
        result = start_worker(
            spec, f"cold-{i}", root / "cold-work", worker_env(env, {}), cwd=root
        ).wait()
        wall = time.perf_counter() - clock
        assert result.status == "ok", result.reason
        cold.append((wall, result.metrics["trainer_seconds"]))
    return {"first": warm[0], "warm": warm[1:], "cold": cold}


def table(rows: dict[str, Any]) -> list[str]:
    """The Markdown table of the measured rows."""
    lines = [
        "| worker | retrains | wall per retrain, median (s) | trainer's own, median (s) "
        "| overhead median (s) | overhead min-max (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("warm", "cold"):
        pairs = rows[name]
        over = [wall - own for wall, own in pairs]
        lines.append(
            f"| {name} | {len(pairs)} | {statistics.median(w for w, _ in pairs):.2f} "
            f"| {statistics.median(o for _, o in pairs):.2f} | **{statistics.median(over):.2f}** "
            f"| {min(over):.2f}-{max(over):.2f} |"
        )
    wall, own = rows["first"]
    steady = statistics.median(w - o for w, o in rows["warm"])
    lines.append("")
    lines.append(
        f"The warm worker's first retrain took {wall:.2f} s ({own:.2f} s training): its start-up "
        f"(about {wall - own - steady:.2f} s) is paid once per worker, not per retrain."
    )
    return lines


def machine() -> str:
    """nproc, CPU, torch and its threads, Python, load average, UTC time and commit."""
    import torch

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Machine: nproc {os.cpu_count()}, {cpu}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, load average "
        f"{load}, {when}; commit {commit}"
    )


def main() -> int:
    """Measure and print the table (and append it to --out)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retrains", type=int, default=8, help="retrains per worker kind")
    parser.add_argument("--epochs", type=int, default=8, help="the trainer's epochs (demo: 8)")
    parser.add_argument("--out", type=Path, help="append the section to this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reprodiag-overhead-") as folder:
        root = Path(folder)
        world(root, args.epochs)
        rows = measure(root, args.retrains)
    command = "`.venv/bin/python benchmarks/overhead.py " + " ".join(sys.argv[1:]) + "`"
    lines = [machine(), "", f"Command: {command.replace(' `', '`')}", "", *table(rows)]
    print("\n".join(lines))
    if args.out is not None:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
