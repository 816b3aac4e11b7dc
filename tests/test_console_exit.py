"""The installed command's quick exit (reprodiag.cli.console): same exit codes, same output, the
atexit handlers still run, and a live thread gets the ordinary exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROGRAM = """
import atexit, sys, threading, time
from pathlib import Path
mark = Path(sys.argv[1])
atexit.register(lambda: mark.write_text("atexit ran"))
class Teardown:  # collected only by the interpreter's teardown, which the quick exit skips
    def __del__(self):
        Path(str(mark) + ".teardown").write_text("torn down")
kept = Teardown()
if sys.argv[2] == "thread":  # a non-daemon thread that finishes its work after main() returns
    def late():
        time.sleep(0.5)
        Path(str(mark) + ".thread").write_text("thread finished")
    threading.Thread(target=late).start()
sys.argv = ["reprodiag", *sys.argv[3:]]
from reprodiag.cli import console
console()
"""


def _run(tmp_path: Path, mode: str, *args: str, env: dict[str, str] | None = None):
    mark = tmp_path / "mark"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(mark), mode, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return done, mark


def test_exit_code_output_and_atexit_survive_the_quick_exit(tmp_path: Path) -> None:
    done, mark = _run(tmp_path, "plain", "validate", str(tmp_path / "missing.json"))
    assert done.returncode == 3  # bad input, as main() decides
    assert "missing.json: no such file" in done.stderr
    assert mark.read_text() == "atexit ran"
    assert not Path(str(mark) + ".teardown").exists()  # the quick exit was taken

    done, mark = _run(tmp_path, "plain", "schema")
    assert done.returncode == 0
    assert '"$schema"' in done.stdout  # all of stdout arrived before os._exit
    assert done.stdout.rstrip().endswith("}")
    assert mark.read_text() == "atexit ran"


def test_a_live_thread_gets_the_ordinary_exit(tmp_path: Path) -> None:
    done, mark = _run(tmp_path, "thread", "validate", str(tmp_path / "missing.json"))
    assert done.returncode == 3
    assert Path(str(mark) + ".thread").read_text() == "thread finished"
    assert mark.read_text() == "atexit ran"
    assert Path(str(mark) + ".teardown").read_text() == "torn down"


def test_the_switch_turns_the_quick_exit_off(tmp_path: Path) -> None:
    env = {**os.environ, "REPRODIAG_SLOW_EXIT": "1"}
    done, mark = _run(tmp_path, "plain", "validate", str(tmp_path / "x.json"), env=env)
    assert done.returncode == 3
    assert mark.read_text() == "atexit ran"
    assert Path(str(mark) + ".teardown").read_text() == "torn down"


def test_python_dash_m_takes_the_same_entry(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reprodiag", "validate", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3
    assert "no such file" in done.stderr
