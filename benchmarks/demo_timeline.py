#!/usr/bin/env python3
"""Where `reprodiag demo`'s seconds go: each line it prints, stamped with the wall-clock seconds
since the command started (the retrain lines and the headings; the long verdict lines are cut).

    .venv/bin/python benchmarks/demo_timeline.py [--out /tmp/demo-timeline]

The gaps between stamps are the phases: imports before the first line, the table, Monday,
Wednesday, each round of retrains, the second incident, the exit after the last line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    default = Path(tempfile.gettempdir()) / "demo-timeline"  # the demo replaces its own folder
    parser.add_argument("--out", type=Path, default=default)
    args = parser.parse_args(argv)
    command = [str(Path(sys.executable).with_name("reprodiag")), "demo", "--out", str(args.out)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        if not line.strip() or (line.startswith("  ") and not line.startswith("  retrain")):
            continue
        print(f"{time.perf_counter() - started:6.2f}  {line.rstrip()[:100]}", flush=True)
    code = child.wait()
    print(f"{time.perf_counter() - started:6.2f}  (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
