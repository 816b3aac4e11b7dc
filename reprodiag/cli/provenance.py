"""The provenance a command records in its diagnosis: version, arguments, trainer, budget, seeds.

The command line is recorded as its arguments only, with secrets redacted: the value of any
option or KEY=VALUE pair whose name says it is a secret (key, token, secret, password,
credential, sas, signature, storage option), and the user:password part of a URL. What is
redacted is replaced by "<redacted>", so the reader still sees that something was given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import click
from click.core import ParameterSource

from reprodiag.diagnosis.model import Diagnosis, Provenance

REDACTED = "<redacted>"
_SECRET = re.compile(
    r"(key|token|secret|passw|credential|sas|signature|auth|storage[-_]option)", re.IGNORECASE
)
_URL_USER = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """`argv` with secrets replaced by <redacted>: the value after a secret-named option
    (`--storage-option K=V`, `--token X`, `--api-key=X`), the value of a secret-named
    KEY=VALUE, and user:password@ in URLs."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(_redact_pair(arg, force=True))
            hide_next = False
            continue
        if arg.startswith("--"):
            name, eq, _ = arg.partition("=")
            if _SECRET.search(name):
                out.append(f"{name}={REDACTED}" if eq else name)
                hide_next = not eq
                continue
        out.append(_redact_pair(_URL_USER.sub(rf"\g<scheme>{REDACTED}@", arg)))
    return tuple(out)


def command_args(ctx: click.Context) -> list[str]:
    """The command's arguments as the user gave them on the command line (defaults left out),
    rebuilt from what click parsed: the command name, its arguments, then its options."""
    args = [ctx.info_name or ctx.command.name or ""]
    options: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params.get(name)
        values = list(value) if isinstance(value, (tuple, list)) else [value]
        if isinstance(param, click.Argument):
            args += [str(v) for v in values]
        elif isinstance(param, click.Option) and param.is_flag:
            options.append(param.opts[0] if value else (param.secondary_opts or param.opts)[0])
        else:
            for v in values:
                options += [param.opts[0], str(v)]
    return args + options


def _redact_pair(arg: str, force: bool = False) -> str:
    key, eq, _ = arg.partition("=")
    if eq and key and not key.startswith("-") and (force or _SECRET.search(key)):
        return f"{key}={REDACTED}"
    return REDACTED if force else arg


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reprodiag")
    except PackageNotFoundError:
        return "0+unknown"


def provenance(
    diagnosis: Diagnosis,
    argv: Sequence[str],
    wall_seconds: float,
    *,
    trainer: str | None = None,
    budget: int | None = None,
    executor: str | None = None,
) -> Provenance:
    """The provenance of `diagnosis` as made by the command `argv` (arguments after the program
    name): the seeds retrained are read from its band and from every check's retrains, in the
    order first used."""
    band = [s.seed for s in diagnosis.band.seeds] if diagnosis.band else []
    checks = [r.seed for c in diagnosis.checks for r in c.runs]
    seeds = tuple(dict.fromkeys([*band, *checks]))
    return Provenance(
        reprodiag_version=_version(),
        command=redact_argv(argv),
        wall_seconds=round(wall_seconds, 1),
        trainer=trainer,
        budget=budget,
        executor=executor,
        seeds=seeds,
    )
