"""The errors reprodiag raises on bad input, and the exit codes the CLI maps them to.

Every error carries the thing it is about (a file, a field) and the next step, so the CLI can print
one clear message instead of a traceback.
"""

from __future__ import annotations

# Exit codes, documented in `reprodiag --help` and README.md. "The gate failed" (1) is kept apart
# from usage errors (2) and unreadable input (3) so CI can tell a policy violation from a typo.
EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_RUNTIME = 4
# The report was written, but the trainer failed its smoke retrain (or every retrain of the
# investigation failed): the verdicts could not be measured. CI must not read this as success.
EXIT_RETRAINS_FAILED = 5
# A retrain would run code the manifest names (code.entrypoint) that the user has not named or
# trusted: nothing was imported or run; the plan is written. Consent: --trainer, --command,
# --trust-manifest-entrypoint or [tool.reprodiag] trusted-entrypoints (reprodiag.retrain.trust).
EXIT_NEEDS_CONSENT = 6
# `compare --retrain` wrote its report, but no retrain could run at all: the candidate cannot be
# retrained here (no trainer, data that cannot be re-read, code that cannot be checked out or
# rebuilt), or the smoke retrain's own manifest shows it did not run the candidate's pipeline
# (conclusion "retrain refused"). Its own code, apart from 5: the trainer is not broken, the run
# is not retrainable here, and the next step differs. The report's conclusion says why.
EXIT_NO_RETRAIN = 7
# Ctrl-C, SIGTERM or SIGHUP: stopped; finished retrains are kept in the band store (128 + SIGINT,
# what a shell reports for a command Ctrl-C stopped).
EXIT_INTERRUPTED = 130
# stdout was closed before everything was written (`reprodiag diff A B | head -1`): stopped
# quietly, as a command killed by SIGPIPE (128 + 13) is; never 0, so a gate cut short never passes.
EXIT_BROKEN_PIPE = 141


class ReprodiagError(Exception):
    """Base of every error reprodiag expects; `hint` is the next step for the user."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  Tip: {self.hint}"
        return self.message


class InputError(ReprodiagError):
    """A file or value given by the user cannot be read or is not valid."""

    exit_code = EXIT_BAD_INPUT


class PolicyViolation(ReprodiagError):
    """A run or manifest does not meet the facts its tier requires."""

    exit_code = EXIT_GATE_FAILED


class ConsentRequired(ReprodiagError):
    """A retrain would run a trainer named only by a manifest; the user has not consented."""

    exit_code = EXIT_NEEDS_CONSENT


class RetrainsFailed(ReprodiagError):
    """The trainer could not run: the report says what failed, and no verdict was measured."""

    exit_code = EXIT_RETRAINS_FAILED


class NoRetrainRan(RetrainsFailed):
    """`compare --retrain` could run no retrain at all: the report says why (exit 7)."""

    exit_code = EXIT_NO_RETRAIN
