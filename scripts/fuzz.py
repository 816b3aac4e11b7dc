"""Run the fuzz targets of tests/test_fuzz.py at scale and print the figures docs/robustness.md
quotes: cases per target, the total, the wall time, and how many ended in a traceback (any
exception the contract does not allow: a failed test).

    .venv/bin/python scripts/fuzz.py            # scale 4: over 10,000 cases, a few minutes
    .venv/bin/python scripts/fuzz.py --scale 1  # what the test suite runs

Hypothesis draws new cases each run (no example database).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^\[fuzz\] (?P<target>.+?): (?P<n>\d+) cases in (?P<s>[\d.]+) s(?P<rest>.*)$")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=4, help="examples multiplier (default 4)")
    args = parser.parse_args()
    env = {**os.environ, "REPRODIAG_FUZZ_SCALE": str(args.scale), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-s",
            "-q",
            "--tb=short",
            "-rf",
            "-m",
            "",  # the slow targets too
            "tests/test_fuzz.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    total = 0
    for line in done.stdout.splitlines():
        match = LINE.match(line.strip())
        if match:
            total += int(match["n"])
            n, seconds = int(match["n"]), float(match["s"])
            print(f"{n:>7,}  {seconds:6.1f} s  {match['target']}{match['rest']}")
    failed = re.search(r"(\d+) failed", done.stdout)
    tracebacks = int(failed.group(1)) if failed else 0
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    print(f"{total:>7,}  {wall:6.1f} s  total (scale {args.scale}); pytest: {summary}")
    print(f"tracebacks (targets that raised what the contract does not allow): {tracebacks}")
    if done.returncode != 0:  # each failure: its short traceback and the summary line
        failures = done.stdout[done.stdout.find("= FAILURES =") :]
        print(failures[-20000:], file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
