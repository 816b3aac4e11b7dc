"""A warm retrain worker: `python -m reprodiag.retrain.warm` serves many retrain specs in turn.

It imports torch (when installed) and reprodiag's capture machinery once, then reads one JSON
request per line on stdin and answers one JSON line on stdout (never pickle):

    -> {"spec": "/w/003-seed-7.spec.json", "result": "/w/003-seed-7.result.json",
        "log": "/w/003-seed-7.log"}
    <- {"event": "ready", "pid": 4711, "torch": "2.13.0", "seconds": 3.9}      (once, at start)
    <- {"event": "done", "result": "/w/003-seed-7.result.json", "rss": 512000000,
        "recycle": null}

Each spec runs exactly as `python -m reprodiag.retrain.worker` runs it (`run_spec`: seeds and
determinism flags set from the spec's seed, its own manifest captured, the result file written
atomically, the traceback next to it), with what a trainer may have changed put back before and
after it: the environment, the current folder, sys.path, stdio, warnings filters, signal handlers,
NumPy's error state and torch's global flags (`ProcessState`). Imported modules stay cached; that is
the point. What cannot be put back makes the worker ask to be recycled (`"recycle"`: a thread the
trainer left running); processes the trainer left are killed. The trainer's stdout and stderr (C
level too) go to the spec's log file. Opened snapshots are cached by ref within a memory cap
(`SnapshotCache`, REPRODIAG_SNAPSHOT_CACHE_MB, default 1024): the Arrow tables are immutable, each
`to_pandas()` builds a fresh DataFrame, so a trainer that edits its frame changes nothing for the
next. The worker dies with its parent (reprodiag.retrain.lifeline).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from reprodiag._atomic import atomic_write_text
from reprodiag.probes.seeds import set_deterministic_algorithms
from reprodiag.retrain import lifeline

if TYPE_CHECKING:
    import pyarrow

    from reprodiag.manifest.model import SnapshotRef
    from reprodiag.snapshots.interface import Snapshot, SnapshotProvider

CACHE_ENV = "REPRODIAG_SNAPSHOT_CACHE_MB"
DEFAULT_CACHE_MB = 1024


class SnapshotCache:
    """Opened snapshots by ref, and the Arrow tables read from them, within `max_bytes`.

    The least recently used tables are dropped first; a table larger than the cap is never kept.
    A handle is checked readable (`reopen`) the first time only: its data is then in memory.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._handles: dict[tuple[SnapshotRef, str], Snapshot] = {}
        self._tables: OrderedDict[tuple[Any, ...], pyarrow.Table] = OrderedDict()
        self.hits = 0

    def reopen(self, ref: SnapshotRef, storage_options: Mapping[str, str] | None) -> Snapshot:
        """`reprodiag.snapshots.reopen`, cached: the same ref gives a handle reading through the
        cache."""
        from reprodiag.snapshots import reopen
        from reprodiag.snapshots.interface import Snapshot

        key = (ref, json.dumps(dict(storage_options or {}), sort_keys=True))
        handle = self._handles.get(key)
        if handle is None:
            opened = reopen(ref, storage_options)
            handle = Snapshot(ref, _CachedProvider(opened.provider, self), opened.storage_options)
            self._handles[key] = handle
        return handle

    def read(
        self,
        provider: SnapshotProvider,
        ref: SnapshotRef,
        columns: Sequence[str] | None,
        storage_options: Mapping[str, str] | None,
    ) -> pyarrow.Table:
        """The table of `ref` (those columns), from memory when it was read before."""
        key = (
            ref,
            None if columns is None else tuple(columns),
            json.dumps(dict(storage_options or {}), sort_keys=True),
        )
        table = self._tables.get(key)
        if table is not None:
            self._tables.move_to_end(key)
            self.hits += 1
            return table
        table = provider.read_arrow(ref, columns=columns, storage_options=storage_options)
        if table.nbytes <= self.max_bytes:
            self._tables[key] = table
            while sum(t.nbytes for t in self._tables.values()) > self.max_bytes:
                self._tables.popitem(last=False)
        return table


class _CachedProvider:
    """A snapshot provider that reads through a SnapshotCache; everything else is the inner
    provider's."""

    def __init__(self, inner: SnapshotProvider, cache: SnapshotCache) -> None:
        self.inner = inner
        self.cache = cache
        self.format = inner.format

    def detects(self, uri: str) -> bool:
        """As the inner provider."""
        return self.inner.detects(uri)

    def resolve(self, uri: str, **kwargs: Any) -> SnapshotRef:
        """As the inner provider."""
        return self.inner.resolve(uri, **kwargs)

    def check_readable(
        self, ref: SnapshotRef, storage_options: Mapping[str, str] | None = None
    ) -> None:
        """As the inner provider."""
        self.inner.check_readable(ref, storage_options)

    def read_arrow(
        self,
        ref: SnapshotRef,
        *,
        columns: Sequence[str] | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> pyarrow.Table:
        """The pinned table, from the cache when it holds it."""
        return self.cache.read(self.inner, ref, columns, storage_options)


@dataclass
class ProcessState:
    """What a trainer may change in its process and the warm worker puts back between specs."""

    environ: dict[str, str]
    cwd: str
    path: list[str]
    stdio: tuple[IO[str] | None, IO[str] | None, IO[str] | None]
    warning_filters: list[Any]
    handlers: dict[signal.Signals, Any]
    numpy_errors: dict[str, str] | None
    torch_flags: dict[str, Any]

    @classmethod
    def capture(cls) -> ProcessState:
        """This process's state now."""
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        numpy = sys.modules.get("numpy")
        return cls(
            environ=dict(os.environ),
            cwd=os.getcwd(),
            path=list(sys.path),
            stdio=(sys.stdin, sys.stdout, sys.stderr),
            warning_filters=list(warnings.filters),
            handlers=handlers,
            numpy_errors=dict(numpy.geterr()) if numpy is not None else None,
            torch_flags=_torch_flags(),
        )

    def restore(self) -> None:
        """Put this state back."""
        if dict(os.environ) != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        os.chdir(self.cwd)
        sys.path[:] = self.path
        sys.stdin, sys.stdout, sys.stderr = self.stdio
        warnings.filters[:] = self.warning_filters  # type: ignore[index]
        mutated = getattr(warnings, "_filters_mutated", None)  # invalidates the 'once' caches
        if mutated is not None:
            mutated()
        for sig, handler in self.handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
        numpy = sys.modules.get("numpy")
        if numpy is not None and self.numpy_errors is not None:
            numpy.seterr(**self.numpy_errors)
        _set_torch_flags(self.torch_flags)


# torch's process-wide switches a trainer may flip: (name, read, write). Read from torch when it
# is imported; each is best effort (an older torch may lack one).
_TORCH_FLAGS: tuple[tuple[str, Callable[[Any], Any], Callable[[Any, Any], Any]], ...] = (
    (
        "deterministic",
        lambda t: (
            t.are_deterministic_algorithms_enabled(),
            t.is_deterministic_algorithms_warn_only_enabled(),
        ),
        lambda t, v: set_deterministic_algorithms(t, v[0], warn_only=v[1]),
    ),
    (
        "cudnn_deterministic",
        lambda t: t.backends.cudnn.deterministic,
        lambda t, v: setattr(t.backends.cudnn, "deterministic", v),
    ),
    (
        "cudnn_benchmark",
        lambda t: t.backends.cudnn.benchmark,
        lambda t, v: setattr(t.backends.cudnn, "benchmark", v),
    ),
    (
        "cudnn_enabled",
        lambda t: t.backends.cudnn.enabled,
        lambda t, v: setattr(t.backends.cudnn, "enabled", v),
    ),
    (
        "cudnn_tf32",
        lambda t: t.backends.cudnn.allow_tf32,
        lambda t, v: setattr(t.backends.cudnn, "allow_tf32", v),
    ),
    (
        "matmul_tf32",
        lambda t: t.backends.cuda.matmul.allow_tf32,
        lambda t, v: setattr(t.backends.cuda.matmul, "allow_tf32", v),
    ),
    (
        "matmul_precision",
        lambda t: t.get_float32_matmul_precision(),
        lambda t, v: t.set_float32_matmul_precision(v),
    ),
    ("threads", lambda t: t.get_num_threads(), lambda t, v: t.set_num_threads(v)),
    ("default_dtype", lambda t: t.get_default_dtype(), lambda t, v: t.set_default_dtype(v)),
    ("grad", lambda t: t.is_grad_enabled(), lambda t, v: t.set_grad_enabled(v)),
    ("anomaly", lambda t: t.is_anomaly_enabled(), lambda t, v: t.set_anomaly_enabled(v)),
    (
        "fill_uninitialized",
        lambda t: t.utils.deterministic.fill_uninitialized_memory,
        lambda t, v: setattr(t.utils.deterministic, "fill_uninitialized_memory", v),
    ),
)


def _torch_flags() -> dict[str, Any]:
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    flags = {}
    for name, read, _ in _TORCH_FLAGS:
        with contextlib.suppress(Exception):
            flags[name] = read(torch)
    return flags


def _set_torch_flags(flags: Mapping[str, Any]) -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        return
    for name, read, write in _TORCH_FLAGS:
        if name not in flags:
            continue
        with contextlib.suppress(Exception):
            if read(torch) != flags[name]:
                write(torch, flags[name])


def warm_up() -> str | None:
    """Import what every retrain needs, once; returns torch's version (None without torch)."""
    import importlib

    for name in (
        "numpy",
        "pandas",
        "pyarrow",
        "deltalake",
        "reprodiag.probes.run",
        "reprodiag.snapshots",
        "reprodiag.retrain.worker",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    torch: Any = None
    with contextlib.suppress(ImportError):
        import torch
    _rehearse_capture()
    if torch is None:
        return None
    flags = _torch_flags()
    # the determinism switch's first use (set_deterministic_algorithms keeps torch's inductor out)
    with contextlib.suppress(Exception):
        set_deterministic_algorithms(torch, True)
    _set_torch_flags(flags)
    return str(torch.__version__)


def _rehearse_capture() -> None:
    """One empty capture in a scratch folder: the probes' lazy imports and the installed
    distributions' metadata (cached per sys.path state) are paid here, not by the first spec."""
    import tempfile

    from reprodiag.probes.lock import remember_installed_distributions
    from reprodiag.probes.run import capture

    remember_installed_distributions()
    environ = dict(os.environ)
    with contextlib.suppress(Exception), tempfile.TemporaryDirectory() as scratch:
        with capture(Path(scratch) / "rehearsal.json", code_root=scratch):
            pass
    os.environ.clear()
    os.environ.update(environ)


@contextlib.contextmanager
def output_to(log: str) -> Iterator[None]:
    """File descriptors 1 and 2 (so print, C extensions and subprocesses) write to `log` while
    the block runs."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = (os.dup(1), os.dup(2))
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        for stream in (sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for handle in (fd, *saved):
            os.close(handle)


class WarmServer:
    """The request loop: one spec after another, the process state reset around each."""

    def __init__(self, requests: IO[bytes], replies: IO[bytes]) -> None:
        from reprodiag.retrain.worker import storage_options_from_env

        self.requests = requests
        self.replies = replies
        self.storage_options = storage_options_from_env()
        mb = os.environ.get(CACHE_ENV, "")
        self.cache = SnapshotCache((int(mb) if mb.isdigit() else DEFAULT_CACHE_MB) * 2**20)
        self.state = ProcessState.capture()
        self.threads = set(threading.enumerate())
        self.served = 0

    def reply(self, **fields: object) -> None:
        """One JSON line to the parent."""
        self.replies.write(json.dumps(fields).encode("utf-8") + b"\n")
        self.replies.flush()

    def serve(self) -> None:
        """Answer requests until stdin closes."""
        for line in self.requests:
            if line.strip():
                self.reply(**self.handle(json.loads(line)))

    def handle(self, request: Mapping[str, str]) -> dict[str, object]:
        """Run one spec file; returns the reply."""
        from reprodiag.retrain.spec import RetrainResult, RetrainSpec
        from reprodiag.retrain.worker import reason_of, run_spec

        result_path = Path(request["result"])
        try:
            spec_file = Path(request["spec"])
            spec = RetrainSpec.from_json(spec_file.read_text(encoding="utf-8"), str(spec_file))
        except (OSError, ValueError, KeyError) as exc:
            return {"event": "error", "reason": f"unreadable spec: {exc}"}
        folder = os.path.realpath(request.get("cwd") or self.state.cwd)
        if folder != os.path.realpath(self.state.cwd):
            if self.served:  # its modules may come from the old folder: never moved then
                return {"event": "error", "reason": f"this worker serves {self.state.cwd}"}
            self.move_to(folder)
        self.served += 1
        traceback_path = result_path.with_name(result_path.stem + ".traceback.txt")
        with output_to(request["log"]):
            self.state.restore()
            lifeline.install_signal_handlers()
            clock = time.monotonic()
            try:
                result = run_spec(
                    spec,
                    traceback_path=traceback_path,
                    storage_options=self.storage_options,
                    opener=self.cache.reopen,
                )
            except KeyboardInterrupt as exc:  # raised by the trainer: no terminal reaches here
                result = RetrainResult.failed(spec, reason_of(exc), time.monotonic() - clock)
            finally:
                left = lifeline.kill_tree(os.getpid(), include_root=False)
                lifeline.reap_children()
                self.state.restore()
        atomic_write_text(result_path, result.to_json())
        return {
            "event": "done",
            "result": str(result_path),
            "rss": lifeline.rss_bytes(),
            "recycle": self._recycle_reason(left),
        }

    def move_to(self, folder: str) -> None:
        """Take another folder as this worker's own before its first spec: the current folder
        and its sys.path entry (`python -m` put the start folder first)."""
        old = self.state.cwd
        os.chdir(folder)
        sys.path[:] = [folder if entry in (old, "") else entry for entry in sys.path]
        self.state = ProcessState.capture()

    def _recycle_reason(self, killed: list[int]) -> str | None:
        threads = [t for t in threading.enumerate() if t not in self.threads and t.is_alive()]
        if threads:
            names = ", ".join(sorted(t.name for t in threads))[:200]
            return f"the trainer left {len(threads)} thread(s) running ({names})"
        if killed:
            return f"the trainer left {len(killed)} process(es) running (killed)"
        return None


def _protocol_streams() -> tuple[IO[bytes], IO[bytes]]:
    """The request and reply pipes, moved off fds 0 and 1: the trainer's stdin reads /dev/null
    and what it prints never mixes with the replies."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # between specs, prints go to the worker's own log (its stderr)
    return requests, replies


def main() -> int:
    """Serve retrain specs on stdin/stdout until stdin closes."""
    started = time.monotonic()
    parent = lifeline.expected_parent()
    requests, replies = _protocol_streams()
    lifeline.die_with_parent(parent, watch_fd=requests.fileno())
    version = warm_up()
    server = WarmServer(requests, replies)
    server.reply(
        event="ready",
        pid=os.getpid(),
        torch=version,
        seconds=round(time.monotonic() - started, 3),
    )
    server.serve()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # leftover threads must not keep a finished worker alive
