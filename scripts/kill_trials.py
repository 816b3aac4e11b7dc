"""Kill trials for issue 16: SIGKILL / SIGTERM at random moments of the long commands.

For each long command (`reprodiag noise-band` and `reprodiag compare --retrain`) and each signal
(SIGKILL, SIGTERM) the command is started `--trials` times as a real subprocess on a fast numpy
trainer of this script's own (written into a temporary folder, named with `--trainer` so consent
is given) that reads a small local Delta table, with a unique marker in its environment. It is
killed at a moment drawn uniformly within the command's measured run time. Then:

- processes left: any process whose environment still carries the marker 5 s after the kill
  (a scan of /proc/*/environ);
- doubled: a seed with more than one ok row in the band store for the run's family;
- lost: a seed the killed run reported finished (its stderr progress lines, read as they came)
  that is not in the store.

After each trial the same command is run to completion on the same store, and the store must
hold distinct seeds only. Last, 8 `reprodiag noise-band` writers run at once on one store and one
family: every seed any of them reported finished must be in the store once.

Run: `.venv/bin/python scripts/kill_trials.py --trials 20` (prints a table and the wall time).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reprodiag.manifest.codec import write_manifest  # noqa: E402
from reprodiag.manifest.model import Skipped  # noqa: E402
from reprodiag.noise.store import BandStore  # noqa: E402
from reprodiag.snapshots import open_snapshot  # noqa: E402
from tests.helpers.manifests import example_manifest  # noqa: E402

MOD = Path()  # the trainer module's folder, set by setup()
TRAINER_MODULE = "kt_trainer"
TRAINER = f"{TRAINER_MODULE}:fit"
TRAINER_SOURCE = '''"""A fast numpy trainer for scripts/kill_trials.py: a least-squares fit."""

import time

import numpy as np


def fit(ctx):
    """Sleeps a little, fits y on x with seeded noise, scores 70 plus a seed-dependent bit."""
    time.sleep(float(__import__("os").environ.get("KT_SLEEP", "0.3")))
    table = ctx.data.to_pandas()
    rng = np.random.default_rng(ctx.seed)
    x = table["x"].to_numpy(dtype=float) + rng.normal(0, 0.1, len(table))
    y = table["y"].to_numpy(dtype=float)
    slope = float(np.polyfit(x, y, 1)[0])
    return {"auc": 70.0 + (ctx.seed % 97) / 100.0 + slope * 0.0}
'''
# "  retrain noise-band-seed-10001   seed 10001   0.3 s  70.1000  [elapsed ...]": a finished seed
SEED_LINE = re.compile(r"^\s*retrain\s+\S+\s+seed (\d+)\s+[\d.]+ s\s+-?\d+\.\d+")


def _table(path: Path, rows: int) -> None:
    data = pa.table({"x": list(range(rows)), "y": [i % 2 for i in range(rows)]})
    write_deltalake(path, data)  # type: ignore[arg-type]


def setup(folder: Path) -> tuple[Path, Path]:
    """The trainer module, a Delta table pair, and a baseline and candidate manifest on them."""
    global MOD
    MOD = folder / "mod"
    (folder / "mod").mkdir(parents=True)
    (folder / "mod" / f"{TRAINER_MODULE}.py").write_text(TRAINER_SOURCE)
    _table(folder / "events", 60)
    _table(folder / "eval", 20)
    manifests = []
    for name, auc, run_id in (("base.json", 80.0, "run-a"), ("cand.json", 78.0, "run-b")):
        m = example_manifest(auc=auc, run_id=run_id)
        m = dataclasses.replace(
            m,
            data=dataclasses.replace(
                m.data,
                train=open_snapshot(folder / "events").ref,
                eval=open_snapshot(folder / "eval").ref,
            ),
            code=dataclasses.replace(
                m.code,
                commit=Skipped("not a git repository"),
                diff_sha256=Skipped("not a git repository"),
                lock=Skipped("no lock file"),
            ),
        )
        write_manifest(m, folder / name)
        manifests.append(folder / name)
    return manifests[0], manifests[1]


def command(kind: str, base: Path, cand: Path, store: Path, out: Path, seeds: int) -> list[str]:
    """The argument list of one long command."""
    common = ["--trainer", TRAINER, "--band-store", str(store), "--device", "cpu"]
    if kind == "noise-band":
        return [sys.executable, "-m", "reprodiag", "noise-band", str(base), "--seeds", str(seeds),
                "--out", str(out), "--no-ensemble", *common]  # fmt: skip
    return [sys.executable, "-m", "reprodiag", "compare", str(base), str(cand), "--retrain",
            "--max-retrains", "8", "--out", str(out), *common]  # fmt: skip


def marked_pids(marker: str) -> list[int]:
    """Pids of processes whose environment holds KT_MARKER=marker."""
    needle = f"KT_MARKER={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(int(entry))
    return found


class Run:
    """One command as a subprocess with a marker; stderr read line by line as it comes."""

    def __init__(self, argv: Sequence[str], folder: Path, marker: str) -> None:
        env = {**os.environ, "KT_MARKER": marker, "PYTHONPATH": f"{MOD}:{ROOT}"}
        self.marker = marker
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            list(argv), env=env, cwd=folder, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def finish(self, timeout: float = 300) -> int:
        """Wait for the exit and the end of stderr."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def reported_seeds(self) -> set[int]:
        """Seeds its progress lines say finished."""
        return {int(m.group(1)) for line in self.lines if (m := SEED_LINE.search(line))}


def store_seeds(store: Path) -> tuple[Counter[int], Counter[int]]:
    """(raw, counted): ok rows per seed as written, and seeds as `BandStore.results` counts them.

    Raw rows of every family and metric count; a seed written twice (two concurrent runs) is
    allowed by the store's rules and counted once by `results` (the first ok row wins).
    """
    if not store.exists():
        return Counter(), Counter()
    from deltalake import DeltaTable

    rows = DeltaTable(str(store)).to_pyarrow_table().to_pylist()
    raw = Counter(r["seed"] for r in rows if r["status"] == "ok")
    counted: Counter[int] = Counter()
    bands = BandStore(store)
    for family, metric in sorted({(r["family"], r["metric"]) for r in rows}):
        counted.update(r.seed for r in bands.results(family, metric) if r.status == "ok")
    return raw, counted


_LOCK = threading.Lock()
AFTER_FIRST_SEED = False  # --after-first-seed


@dataclasses.dataclass
class Tally:
    """Counts of one row of the table."""

    trials: int = 0
    lost: int = 0
    doubled: int = 0
    left: int = 0
    rerun_doubled: int = 0
    raw_twice: int = 0
    seeds_before_kill: int = 0  # trials whose killed run had reported at least one finished seed
    notes: list[str] = dataclasses.field(default_factory=list)


def trial(kind: str, sig: signal.Signals, base: Path, cand: Path, work: Path,
          expected: float, tally: Tally, rng: random.Random, n: int) -> None:  # fmt: skip
    """One kill, the checks, then the same command to completion and the distinct-seed check."""
    store, out = work / f"store-{n}", work / f"out-{n}"
    marker = uuid.uuid4().hex
    run = Run(command(kind, base, cand, store, out, 4), work, marker)
    if AFTER_FIRST_SEED:  # wait for a finished seed, then kill within the rest of the run
        deadline = time.monotonic() + 120
        while not run.reported_seeds() and run.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 2.0))
    else:
        time.sleep(rng.uniform(0, expected))
    if run.proc.poll() is None:
        run.proc.send_signal(sig)
    run.finish(timeout=120)
    time.sleep(5)
    with _LOCK:
        tally.trials += 1
    left = marked_pids(marker)
    if left:
        with _LOCK:
            tally.left += 1
        tally.notes.append(f"{kind} {sig.name} trial {n}: processes left {left}")
        for pid in left:  # do not let them spoil the next trial
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    _, counts = store_seeds(store)
    doubled = sorted(s for s, c in counts.items() if c > 1)
    lost = sorted(run.reported_seeds() - set(counts))
    if run.reported_seeds():
        with _LOCK:
            tally.seeds_before_kill += 1
    if doubled:
        with _LOCK:
            tally.doubled += 1
        tally.notes.append(f"{kind} {sig.name} trial {n}: doubled seeds {doubled}")
    if lost:
        with _LOCK:
            tally.lost += 1
        tally.notes.append(f"{kind} {sig.name} trial {n}: lost seeds {lost}")
    again = Run(command(kind, base, cand, store, out, 4), work, uuid.uuid4().hex)
    code = again.finish()
    raw, counts = store_seeds(store)
    if any(c > 1 for c in raw.values()):  # a finished seed trained again after the kill
        with _LOCK:
            tally.raw_twice += 1
        tally.notes.append(f"{kind} {sig.name} trial {n}: seed rows written twice {dict(raw)}")
    if code != 0 or any(c > 1 for c in counts.values()):
        with _LOCK:
            tally.rerun_doubled += 1
        tally.notes.append(f"{kind} {sig.name} trial {n}: rerun exit {code}, rows {dict(counts)}")


def writers(base: Path, work: Path, count: int) -> tuple[int, int, int, int, int]:
    """`count` noise-band processes at once on one store.

    Returns (seeds reported, seeds stored, lost, counted twice, seeds with two raw rows).
    """
    store = work / "store-writers"
    runs = [
        Run(command("noise-band", base, base, store, work / f"w-{i}", 4), work, uuid.uuid4().hex)
        for i in range(count)
    ]
    reported: set[int] = set()
    for r in runs:
        r.finish(timeout=600)
        reported |= r.reported_seeds()
    raw, counts = store_seeds(store)
    doubled = sum(1 for c in counts.values() if c > 1)
    twice = sum(1 for c in raw.values() if c > 1)
    return len(reported), len(counts), len(reported - set(counts)), doubled, twice


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trials and print the table; exit 1 when anything was lost, doubled or left."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per command and signal")
    parser.add_argument("--writers", type=int, default=8, help="concurrent noise-band writers")
    parser.add_argument("--sleep", type=float, default=0.3, help="trainer seconds per fit")
    parser.add_argument("--jobs", type=int, default=4, help="trials run at once")
    parser.add_argument("--seed", type=int, default=16, help="seed of the kill moments")
    parser.add_argument(
        "--after-first-seed",
        action="store_true",
        help="kill within 2 s after the run reports its first finished seed (tests 'lost')",
    )
    args = parser.parse_args(argv)
    global AFTER_FIRST_SEED
    AFTER_FIRST_SEED = args.after_first_seed
    os.environ["KT_SLEEP"] = str(args.sleep)
    rng = random.Random(args.seed)
    start = time.monotonic()
    failed = False
    with tempfile.TemporaryDirectory(prefix="kill-trials-") as tmp:
        work = Path(tmp)
        base, cand = setup(work)
        rows = []
        for kind in ("noise-band", "compare --retrain"):
            t0 = time.monotonic()  # the expected run time: one full run on a fresh store
            probe_store = work / f"probe-{kind[:7]}"
            probe = Run(command(kind, base, cand, probe_store, probe_store.with_suffix(".out"), 4),
                        work, uuid.uuid4().hex)  # fmt: skip
            probe.finish()
            expected = time.monotonic() - t0
            print(f"[kill-trials] {kind}: full run {expected:.1f} s "
                  f"(reported seeds {sorted(probe.reported_seeds())})", flush=True)  # fmt: skip
            for sig in (signal.SIGKILL, signal.SIGTERM):
                tally = Tally()
                folder = work / f"{kind[:7]}-{sig.name}"
                folder.mkdir()
                with ThreadPoolExecutor(args.jobs) as pool:
                    done = [pool.submit(trial, kind, sig, base, cand, folder, expected,
                                        tally, random.Random(rng.random()), n)
                            for n in range(args.trials)]  # fmt: skip
                    for future in done:
                        future.result()
                rows.append((kind, sig.name, tally))
                print(f"[kill-trials] {kind} {sig.name}: {tally.trials} trials "
                      f"({time.monotonic() - start:.0f} s so far)", flush=True)  # fmt: skip
        w0 = time.monotonic()
        reported, stored, lost, doubled, twice = writers(base, work, args.writers)
        w_wall = time.monotonic() - w0
    print()
    print(
        "| command | signal | trials | lost | doubled | processes left | rerun not clean "
        "| seed retrained after the kill | killed after a finished seed |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, name, t in rows:
        print(f"| {kind} | {name} | {t.trials} | {t.lost} | {t.doubled} | {t.left} | "
              f"{t.rerun_doubled} | {t.raw_twice} | {t.seeds_before_kill} |")  # fmt: skip
        failed |= bool(t.lost or t.doubled or t.left or t.rerun_doubled or t.raw_twice)
    print(f"\n{args.writers} concurrent noise-band writers: {reported} seeds reported, {stored} "
          f"stored, {lost} lost, {doubled} counted twice; {twice} seed(s) trained by two writers "
          f"(two raw rows, counted once) ({w_wall:.0f} s)")  # fmt: skip
    failed |= bool(lost or doubled)
    for _, _, t in rows:
        for note in t.notes:
            print(note)
    print(f"wall time {time.monotonic() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
