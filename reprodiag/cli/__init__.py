"""The `reprodiag` command line: one click command per file, registered in COMMANDS."""

from __future__ import annotations

import importlib
import sys

import click

from reprodiag.cli.app import app, echo_error
from reprodiag.errors import EXIT_BAD_INPUT, EXIT_RUNTIME, EXIT_USAGE, ReprodiagError

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
    """Entry point: run the app, turn every expected error into a message and an exit code."""
    _register()
    try:
        app.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        echo_error("aborted")
        sys.exit(EXIT_RUNTIME)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if exc.exit_code == 2 else exc.exit_code)
    except ReprodiagError as exc:
        echo_error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        echo_error("interrupted; finished work was kept")
        sys.exit(130)
    except (OSError, ValueError) as exc:  # last resort: still no traceback for the user
        echo_error(f"{type(exc).__name__}: {exc}")
        sys.exit(EXIT_BAD_INPUT if isinstance(exc, OSError) else EXIT_RUNTIME)
    except Exception as exc:  # noqa: BLE001 - a bug must not print a traceback into a CI log
        echo_error(
            f"internal error ({type(exc).__name__}): {str(exc)[:500]}\n"
            "  Tip: this is a bug in reprodiag; please report it with the command you ran"
        )
        sys.exit(EXIT_RUNTIME)
    sys.exit(0)
