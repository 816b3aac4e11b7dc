"""Clean deaths: a retrain worker dies with its parent and takes the training it started along.

A worker calls `die_with_parent()` first thing. On Linux it asks the kernel for SIGTERM when its
parent goes (prctl PR_SET_PDEATHSIG), becomes the subreaper of everything it starts (prctl
PR_SET_CHILD_SUBREAPER: a trainer's orphaned grandchildren, `setsid` ones included, are re-parented
to the worker instead of init, so they stay in its tree), and starts a watchdog thread that exits
the worker when its parent pid changes or its request pipe closes (what covers a trainer that
replaced the SIGTERM handler, and systems without prctl). Every way out kills the worker's whole
process tree first: `kill_tree`. The parent side uses `kill_tree` too, on a timeout or at close.

The process tree is read from /proc (psutil where there is no /proc): psutil is not a dependency.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path

PARENT_ENV = "REPRODIAG_PARENT_PID"  # the pid the worker must outlive no longer than WATCH_S
WATCH_S = 0.2  # how often the watchdog looks at its parent: a kill is seen within this
EXIT_PARENT_GONE = 143  # 128 + SIGTERM: what the shell reports for a terminated process
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def expected_parent() -> int:
    """The pid named in REPRODIAG_PARENT_PID (removed from the environment: the trainer's
    children are not workers), else the current parent."""
    text = os.environ.pop(PARENT_ENV, "")
    return int(text) if text.isdigit() else os.getppid()


def die_with_parent(parent: int, watch_fd: int | None = None) -> None:
    """Make this process end, its tree killed, when `parent` ends or `watch_fd` (the read end of
    the request pipe) hangs up; also on SIGTERM and SIGHUP."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the prctl: no signal will ever come
        _die(EXIT_PARENT_GONE)
    install_signal_handlers()
    threading.Thread(
        target=_watch, args=(parent, watch_fd), daemon=True, name="reprodiag-lifeline"
    ).start()


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP kill this process's tree and exit 143 / 129 (re-installed by the warm
    worker before each retrain: a trainer may have replaced them)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def _on_signal(signum: int, frame: object) -> None:
    _die(128 + signum)


def _watch(parent: int, watch_fd: int | None) -> None:
    poller = None
    if watch_fd is not None:
        poller = select.poll()
        poller.register(watch_fd, 0)  # POLLHUP and POLLERR are reported whatever the mask
    while True:
        if os.getppid() != parent:
            _die(EXIT_PARENT_GONE)
        if poller is not None and any(
            ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in poller.poll(0)
        ):
            _die(EXIT_PARENT_GONE)
        time.sleep(WATCH_S)


def _die(code: int) -> None:
    kill_tree(os.getpid(), include_root=False)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return  # the watchdog thread alone covers other systems
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # no libc symbol: the watchdog still works
        pass


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren...), parents before children."""
    children = _children_map()
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), ()):
            found.append(child)
            queue.append(child)
    return found


def _children_map() -> dict[int, list[int]]:
    proc = Path("/proc")
    if not proc.is_dir():
        return _children_map_psutil()
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _children_map_psutil() -> dict[int, list[int]]:
    try:
        import psutil
    except ImportError:
        return {}
    children: dict[int, list[int]] = {}
    for process in psutil.process_iter(["pid", "ppid"]):
        children.setdefault(process.info["ppid"], []).append(process.info["pid"])
    return children


def kill_tree(pid: int, *, include_root: bool = True) -> list[int]:
    """SIGKILL `pid`'s descendants (and `pid` itself with include_root); returns the pids
    signalled. Twice: a process forked while the first round ran is caught by the second."""
    signalled: list[int] = []
    for _ in range(2):
        targets = descendants(pid) + ([pid] if include_root and not signalled else [])
        for target in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(target, signal.SIGKILL)
                signalled.append(target)
        if not targets:
            break
    return signalled


def reap_children() -> None:
    """Collect exited children without blocking (a subreaper inherits the orphans' zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def rss_bytes(pid: int | None = None) -> int | None:
    """Resident memory of `pid` (default: this process) in bytes, or None when it cannot be
    read."""
    path = Path(f"/proc/{pid or 'self'}/status")
    try:
        for line in path.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.Process(pid or os.getpid()).memory_info().rss)
    except Exception:  # no psutil, or the process is gone
        return None
