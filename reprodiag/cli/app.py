"""The shared click group and the one place that maps exceptions to exit codes."""

from __future__ import annotations

import re

import click

from reprodiag.errors import (
    EXIT_BAD_INPUT,
    EXIT_GATE_FAILED,
    EXIT_NEEDS_CONSENT,
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
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reprodiag")
def app() -> None:
    """reprodiag: why does this training run no longer reproduce?

    Diffs two runs' manifests along five axes (data, code, environment, randomness, intent),
    ranks the likely causes, confirms them with retrains against the seed-noise band, and
    writes an incident report. Captures complete manifests and gates runs on a tier policy.
    """


def echo_error(message: str) -> None:
    """Write "reprodiag: error: <message>" to stderr."""
    click.echo(f"reprodiag: error: {message}", err=True)


# C0 controls but newline and tab, DEL, C1 controls, bidirectional overrides and isolates (text
# that reads differently than it is), and lone surrogates (which no encoder writes).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every control character, terminal escape code, bidirectional override and
    lone surrogate shown as its escape (``\\x1b``, ``\\u202e``): a value from a manifest
    cannot move the cursor, recolour, retitle or clear a terminal, or hide text."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
