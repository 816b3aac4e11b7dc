"""A family band at scale (issue 17): `reprodiag noise-band --seeds 200 --executor ray` on a
two-node local Ray cluster, the snapshots and the band store in a local S3 bucket.

It starts moto's S3 server on 127.0.0.1 (tests/helpers/s3.py), writes a small Delta training
table and an evaluation table into its bucket, captures a manifest of a fast numpy trainer
(`tests.helpers.ray_cluster:train`: a least-squares fit of the rows it reads from the bucket),
starts a Ray cluster of `--nodes` separate `ray start` processes with `--cpus` CPUs each
(tests/helpers/ray_cluster.py: loopback addresses, one process group per node), and runs

    reprodiag noise-band run.json --seeds N --executor ray --address HEAD \
        --trainer tests.helpers.ray_cluster:train --device cpu --no-ensemble --quiet \
        --band-store s3://BUCKET/band-store --storage-option KEY=VALUE ...

as a subprocess. `noise-band --seeds N` is already a family band of exactly N seeds (no
sequential stop: that is `compare --retrain`'s candidate band); the script checks it. Then it
counts the rows per seed in the band store (none lost, none doubled, all ok), runs the store's
own verification, and prints the throughput: N over the command's wall time, and the rate
between the first and the last seed recorded (without the start-up). Last it stops the cluster
and the server and checks that no process of the cluster is left.

Run: `.venv/bin/python scripts/family_band_at_scale.py` (options: --seeds, --nodes, --cpus, and
--local-store: the band store in a local folder, to tell the store's commits from the cluster).
Exit status 0 when every seed is in the store exactly once, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.ray_cluster import LocalRayCluster  # noqa: E402
from tests.helpers.s3 import LocalS3, write_line_tables  # noqa: E402

TRAINER = "tests.helpers.ray_cluster:train"


def _options_args(options: dict[str, str]) -> list[str]:
    return [arg for k, v in options.items() for arg in ("--storage-option", f"{k}={v}")]


def _tables(s3: LocalS3) -> tuple[str, str]:
    """200 points of a line to train on, every 4th to evaluate on, in the bucket."""
    return write_line_tables(s3, "scale", rows=200, eval_every=4)


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def measure(seeds: int, nodes: int, cpus: int, folder: Path, local_store: bool = False) -> int:
    """Run the band, check the store, print the figures; returns the exit status."""
    from deltalake import DeltaTable

    from reprodiag.noise.store import verify_store

    s3 = LocalS3(folder / "aws").start()
    cluster: LocalRayCluster | None = None
    try:
        env = s3.isolated_env(os.environ) | {"PYTHONPATH": str(ROOT)}  # credentials: options only
        events, evaluation = _tables(s3)
        marks = folder / "marks"
        marks.mkdir()
        manifest = folder / "run.json"
        captured = subprocess.run(
            [
                sys.executable, "-m", "reprodiag", "capture", str(manifest), "--train", events,
                "--eval", evaluation, "--format", "delta", "--seed", "1234", "--param",
                f"marks={marks}", "--family", "scale-line", "--entrypoint", TRAINER,
                "--metric", "auc=80", "--code-root", str(folder),
                *_options_args(s3.storage_options()),
            ],
            env=env, cwd=folder, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if captured.returncode != 0:
            print(captured.stderr, file=sys.stderr)
            return 1
        names = ["head", *(f"node_{chr(ord('b') + i)}" for i in range(nodes - 1))]
        started = time.monotonic()
        cluster = LocalRayCluster(env=env, names=names, cpus=cpus).start()
        print(f"cluster of {nodes} nodes x {cpus} CPU(s) up in {time.monotonic() - started:.1f} s")
        store = str(folder / "band-store") if local_store else s3.uri("scale/band-store")
        options = s3.storage_options()
        command = [
            "reprodiag", "noise-band", "run.json", "--seeds", str(seeds), "--executor", "ray",
            "--address", cluster.address, "--trainer", TRAINER, "--device", "cpu",
            "--no-ensemble", "--quiet", "--band-store", store, "--out", "band",
        ]  # fmt: skip
        shown = " ".join(command) + " --storage-option KEY=VALUE ... (endpoint, region, keys)"
        load_before = os.getloadavg()
        started = time.monotonic()
        band = subprocess.run(
            [sys.executable, "-m", *command, *_options_args(options)],
            env=env, cwd=folder, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        wall = time.monotonic() - started
        load_after = os.getloadavg()
        if band.returncode != 0:
            print(band.stdout[-3000:], band.stderr[-3000:], sep="\n", file=sys.stderr)
            print(f"noise-band exited {band.returncode}", file=sys.stderr)
            return 1
        store_options = None if local_store else options
        rows = DeltaTable(store, storage_options=store_options).to_pyarrow_table()
        counts = collections.Counter(rows["seed"].to_pylist())
        doubled = sorted(s for s, n in counts.items() if n > 1)
        failed = [
            s
            for s, st in zip(rows["seed"].to_pylist(), rows["status"].to_pylist(), strict=True)
            if st != "ok"
        ]
        lost = seeds - len(counts)
        check = verify_store(store, store_options)
        stamps = sorted(dt.datetime.fromisoformat(t) for t in rows["recorded_at"].to_pylist())
        span = (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else 0.0
        per_node = collections.Counter(p.name.split("-done-")[0] for p in marks.glob("*-done-*"))
        print(f"command: {shown}")
        print(
            f"machine: nproc {os.cpu_count()}, {_cpu()}, Python {platform.python_version()}, "
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; load average "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
        )
        print(
            f"band store: {len(rows)} rows, {len(counts)} distinct seeds of {seeds} asked; "
            f"lost {lost}, doubled {len(doubled)}, failed {len(failed)}; "
            f"verify: {'ok' if not check.problems else check.problems} "
            f"({check.commits} commits, {check.rows} rows)"
        )
        print(f"seeds per node (trainer's markers): {dict(sorted(per_node.items()))}")
        print(
            f"noise-band wall {wall:.1f} s: {seeds / wall:.2f} seeds/s overall; first to last "
            f"seed recorded {span:.1f} s: {(len(stamps) - 1) / span if span else 0.0:.2f} seeds/s"
        )
        print(band.stdout.strip().splitlines()[-2])  # the band itself: mean, std
        ok = lost == 0 and not doubled and not failed and not check.problems
        return 0 if ok else 1
    finally:
        if cluster is not None:
            cluster.stop()
            left = cluster.processes()
            print(f"cluster stopped; processes left: {len(left)}")
        s3.stop()


def main() -> None:
    """Parse the options and measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=1, help="CPUs of each node")
    parser.add_argument(
        "--local-store",
        action="store_true",
        help="the band store in a local folder instead of the bucket (the snapshots stay in the "
        "bucket): separates the store's commits from the cluster's own throughput",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="family-band-") as folder:
        sys.exit(measure(args.seeds, args.nodes, args.cpus, Path(folder), args.local_store))


if __name__ == "__main__":
    main()
