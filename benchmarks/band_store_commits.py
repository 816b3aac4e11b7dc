"""Band-store commits on object storage: a Delta checkpoint every 10 commits against none.

Each finished seed is its own Delta commit (reprodiag.noise.store.BandStore.record), so a team's
store in a bucket grows by one JSON commit per seed, and every reader and writer replays the log
since its last checkpoint: one more request per commit. The store writes a checkpoint every
`CHECKPOINT_EVERY` commits. This benchmark records N seeds into a fresh store on moto's S3 server
(127.0.0.1, tests/helpers/s3.py; nothing leaves the machine), once as the store does it and once
with checkpoints switched off (delta-rs then checkpoints only every 100 commits, its default),
and reports the time of the last commits and of reading the store back (what `noise-band` does
before it plans: `next_seeds`), as ratios.

Run: `.venv/bin/python benchmarks/band_store_commits.py [--seeds 60]`
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reprodiag.noise import store as store_module  # noqa: E402
from reprodiag.noise.store import BandStore  # noqa: E402
from reprodiag.retrain.seed_result import SeedResult  # noqa: E402
from tests.helpers.s3 import LocalS3  # noqa: E402


def run(s3: LocalS3, key: str, seeds: int, every: int) -> dict[str, float]:
    """Record `seeds` seeds with a checkpoint every `every` commits; the timings."""
    store_module.CHECKPOINT_EVERY = every
    store = BandStore(s3.uri(key), storage_options=s3.storage_options())
    times = []
    for i in range(seeds):
        start = time.perf_counter()
        store.record("family", "auc", SeedResult(10_000 + i, 80.0, "ok", seconds=1.0), run_id="b")
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    store.next_seeds("family", "auc", 3)
    read = time.perf_counter() - start
    tail = times[-10:]
    return {
        "last10": statistics.median(tail),
        "first10": statistics.median(times[:10]),
        "read": read,
    }


def main() -> int:
    """Both arms, then the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        s3 = LocalS3(Path(tmp)).start()
        try:
            os.environ.update(s3.isolated_env(os.environ))
            naive = run(s3, "naive", args.seeds, 10**9)
            ours = run(s3, "ours", args.seeds, 10)
        finally:
            s3.stop()
    load = os.getloadavg()[0]
    print(f"{args.seeds} seeds into a store on moto S3 (127.0.0.1); load average {load:.1f}\n")
    print(
        "| store | commit, median of the first 10 (s) | commit, median of the last 10 (s) "
        "| read back before planning (s) |"
    )
    print("|---|---|---|---|")
    for name, r in (
        ("no checkpoint of ours (delta-rs default: every 100)", naive),
        ("checkpoint every 10 (reprodiag)", ours),
    ):
        print(f"| {name} | {r['first10']:.2f} | {r['last10']:.2f} | {r['read']:.2f} |")
    print(
        f"\nratios, ours / naive: last commits {ours['last10'] / naive['last10']:.2f}, "
        f"read back {ours['read'] / naive['read']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
