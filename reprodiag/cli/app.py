"""The shared click group and the one place that maps exceptions to exit codes."""

from __future__ import annotations

import io
import math
from typing import Any, TextIO

import click

from reprodiag._text import printable as _printable
from reprodiag.errors import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_GATE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NEEDS_CONSENT,
    EXIT_NO_RETRAIN,
    EXIT_OK,
    EXIT_RETRAINS_FAILED,
    EXIT_RUNTIME,
    EXIT_USAGE,
)

EPILOG = f"""\b
Exit codes:
  {EXIT_OK}  success (for `check`: the manifest meets its tier)
  {EXIT_GATE_FAILED}  the gate failed: `check` found a tier violation
  {EXIT_USAGE}  usage error: unknown option, missing argument
  {EXIT_BAD_INPUT}  unreadable or invalid input: a manifest, snapshot, policy or diagnosis file
  {EXIT_RUNTIME}  a runtime failure inside reprodiag or a trainer
  {EXIT_RETRAINS_FAILED}  `compare --retrain`: the report is written, but the trainer failed its
     smoke retrain, so no verdict could be measured (the report says why)
  {EXIT_NEEDS_CONSENT}  a retrain would run the trainer a manifest names without your consent:
     pass --trainer, --command or --trust-manifest-entrypoint (nothing was run)
  {EXIT_NO_RETRAIN}  `compare --retrain`: the report is written, but no retrain could run at all
     (no trainer, data or code that cannot be had here), or the smoke retrain was refused as
     not the pipeline it stands for (this machine's code or environment is not the
     candidate's); its conclusion says why
  {EXIT_INTERRUPTED}  interrupted: Ctrl-C, SIGTERM or SIGHUP (finished seeds are kept in the
     band store; the next run reuses them)
  {EXIT_BROKEN_PIPE}  stdout was closed early (`| head`): output stopped quietly
"""


# color=True: click never strips escape codes itself (it would only when not on a terminal, and
# silently); main() writes through PrintableWriter, which shows every one of them escaped.
@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"], "color": True})
@click.version_option(package_name="reprodiag")
def app() -> None:
    """reprodiag: why does this training run no longer reproduce?

    Diffs two runs' manifests along five axes (data, code, environment, randomness, intent),
    ranks the likely causes, confirms them with retrains against the seed-noise band, and
    writes an incident report. Captures complete manifests and gates runs on a tier policy.
    """


def echo_error(message: str) -> None:
    """Write "reprodiag: error: <message>" to stderr."""
    click.echo(f"reprodiag: error: {message}", err=True, color=True)  # escaped, not stripped


def printable(text: str) -> str:
    """`text` with every control character, terminal escape code, bidirectional override and
    lone surrogate shown as its escape (``\\x1b``, ``\\u202e``): a value from a manifest
    cannot move the cursor, recolour, retitle or clear a terminal, or hide text. main() applies
    it to everything written to stdout and stderr (PrintableWriter)."""
    return _printable(text)


class FiniteFloat(click.FloatRange):
    """A number option that must be finite (and within the bounds, if any): click's FloatRange
    lets NaN through (it compares false with every bound) and `float` takes nan and inf; a
    timeout of nan skipped every retrain."""

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The number, or a usage error (exit 2) naming the option."""
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


class OutputClosed(BaseException):  # noqa: N818 - a stop, like KeyboardInterrupt, not an error
    """The reader of stdout or stderr went away (`| head`). Not an OSError, so click does not
    turn it into exit 1, and not an Exception, so no `except Exception` on the way swallows it:
    main() ends the command quietly with exit 141."""


class PrintableWriter(io.TextIOBase):
    """A text stream that writes `printable(text)` to the stream it wraps: everything reprodiag
    prints (click.echo, print, warnings) reaches the terminal with control characters escaped.

    click.echo writes to it as is: it reports a text encoding and error handler, so click does
    not look for a binary stream behind it. Other attributes (fileno, buffer) are the wrapped
    stream's."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The wrapped stream's encoding (UTF-8 when it has none)."""
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        """How characters the encoding lacks are written: escaped, never an error."""
        return "backslashreplace"

    def write(self, text: str) -> int:
        """Write `text` escaped; returns len(text), as a text stream does."""
        escaped = _printable(text)
        try:
            try:
                self.stream.write(escaped)
            except UnicodeEncodeError:  # an ASCII terminal: é and → escaped too, nothing lost
                encoding = self.encoding
                self.stream.write(escaped.encode(encoding, "backslashreplace").decode(encoding))
        except BrokenPipeError:
            raise OutputClosed from None
        return len(text)

    def flush(self) -> None:
        """Flush the wrapped stream."""
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise OutputClosed from None

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal (click strips colours when it is not)."""
        return self.stream.isatty()

    def writable(self) -> bool:
        """A writer."""
        return True

    def fileno(self) -> int:
        """The wrapped stream's file descriptor."""
        return self.stream.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
