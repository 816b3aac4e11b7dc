"""The `reprodiag` command line: one click command per file, registered in COMMANDS."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import signal
import sys
import threading
from typing import Any, TextIO

import click

from reprodiag.cli.app import OutputClosed, PrintableWriter, app, echo_error
from reprodiag.errors import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    ReprodiagError,
)

# (module, command attribute): explicit, no import-time registry. Modules import only click and
# light reprodiag code at top level so `reprodiag --help` stays fast.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("reprodiag.cli.capture", "capture"),
    ("reprodiag.cli.validate", "validate"),
    ("reprodiag.cli.schema", "schema"),
    ("reprodiag.cli.demo", "demo"),
    ("reprodiag.cli.check", "check"),
    ("reprodiag.cli.report", "report"),
    ("reprodiag.cli.diff", "diff"),
    ("reprodiag.cli.compare", "compare"),
    ("reprodiag.cli.noise_band", "noise_band"),
    ("reprodiag.cli.imports", "import_group"),
    ("reprodiag.cli.log", "log_group"),
    ("reprodiag.cli.band_store", "band_store"),
)


def _register() -> None:
    for module_name, attr in COMMANDS:
        app.add_command(getattr(importlib.import_module(module_name), attr))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turn every expected error into a message and an exit code.

    Everything written to stdout and stderr has its control characters escaped (PrintableWriter);
    SIGTERM and SIGHUP stop the command as Ctrl-C does (exit 130, finished seeds kept); a closed
    stdout pipe stops it quietly (exit 141)."""
    _register()
    streams = sys.stdout, sys.stderr
    handlers = _interrupt_on_termination()
    sys.stdout, sys.stderr = PrintableWriter(streams[0]), PrintableWriter(streams[1])
    try:
        code = _run(argv)
        sys.stdout.flush()  # a broken pipe shows here, while it can still be handled
    except (OutputClosed, BrokenPipeError):
        code = _broken_pipe(streams[0])
    finally:
        sys.stdout, sys.stderr = streams
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    sys.exit(code)


def console() -> None:
    """The installed `reprodiag` command and `python -m reprodiag`: main(), then a quick exit.

    A process that imported torch spends 0.7 to 1.2 s after its last line tearing down modules
    and collecting objects it is about to lose anyway (measured on this 2-core CPU). Once main()
    is done and no other thread runs, this flushes stdout and stderr, runs the atexit handlers
    (temporary folders, logging, multiprocessing's and Ray's clean-up, coverage) and ends the
    process with os._exit. With any other thread alive, or when main() is called in-process (the
    tests), Python exits as usual: only this entry point takes the shortcut. Every file
    reprodiag writes is written atomically and closed before main() returns, so nothing waits
    on the teardown. REPRODIAG_SLOW_EXIT=1 turns the shortcut off."""
    try:
        main()
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)


def _exit(code: object) -> None:
    """End the process with `code` (SystemExit's meaning), skipping the interpreter's teardown
    when that is safe (see console)."""
    import atexit

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # SystemExit("message"): Python prints it and exits 1
        sys.stderr.write(f"{code}\n")
        status = 1
    if os.environ.get("REPRODIAG_SLOW_EXIT") == "1" or threading.active_count() > 1:
        sys.exit(status)
    with contextlib.suppress(OSError, ValueError):  # a closed pipe: main() chose its exit code
        sys.stdout.flush()
        sys.stderr.flush()
    atexit._run_exitfuncs()  # noqa: SLF001 - the handlers Python would run, in its order
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _run(argv: list[str] | None) -> int:
    """Run the app; the exit code for every way it ends (see EPILOG)."""
    try:
        app.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click's wrapping of Ctrl-C
            return _interrupted()
        echo_error("aborted")
        return EXIT_RUNTIME
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if exc.exit_code == 2 else exc.exit_code
    except ReprodiagError as exc:
        echo_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        raise  # a write that bypassed PrintableWriter: main() ends it quietly, as OutputClosed
    except (OSError, ValueError) as exc:  # last resort: still no traceback for the user
        echo_error(f"{type(exc).__name__}: {exc}")
        return EXIT_BAD_INPUT if isinstance(exc, OSError) else EXIT_RUNTIME
    except Exception as exc:  # noqa: BLE001 - a bug must not print a traceback into a CI log
        kept = _keep_traceback()
        echo_error(
            f"internal error ({type(exc).__name__}): {str(exc)[:500]}\n"
            "  Tip: this is a bug in reprodiag; please report it with the command you ran"
            + (f" and the traceback kept in {kept}" if kept else "")
        )
        return EXIT_RUNTIME
    return EXIT_OK


def _keep_traceback() -> str | None:
    """The current exception's traceback, written to a fresh file in the temporary folder for a
    bug report (never printed: a CI log is no place for it); its path, or None when it could
    not be written."""
    import tempfile
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix="reprodiag-internal-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            out.write(traceback.format_exc())
    except OSError:
        return None
    return path


def _interrupted() -> int:
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        echo_error("interrupted; finished work was kept")
    return EXIT_INTERRUPTED


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _interrupt_on_termination() -> dict[signal.Signals, Any]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does: the same clean stop (workers
    ended, finished seeds kept, exit 130). Returns the handlers to put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # signal handlers can only be set from the main thread
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, _interrupt)
    return previous


def _broken_pipe(stdout: TextIO) -> int:
    """The reader of stdout went away (`| head`): no message, and the rest of the output, also
    what Python flushes at exit, goes to devnull (as the Python docs advise for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file descriptor (a test's capture): nothing more will be flushed to it
    return EXIT_BROKEN_PIPE
