"""Command templates: parse, check and fill `python train.py --seed {seed} --data {snapshot_uri}`.

The safety rules are in command.py's docstring: a template is a list of arguments split before
substitution, each placeholder is replaced in one pass inside its own argument, and unknown
placeholders are refused up front. This module has no dependency on retrain specs, so a spec can
check its template without a cycle.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from reprodiag.errors import InputError

PLACEHOLDERS: Mapping[str, str] = {
    "seed": "the retrain's base seed",
    "snapshot_uri": "the training snapshot's uri",
    "snapshot_version": "its pinned version (the content fingerprint for plain files)",
    "eval_uri": "the evaluation snapshot's uri",
    "eval_version": "its pinned version",
    "params_file": "a JSON file with the hyperparameters, written by reprodiag",
    "metrics_file": "where the command writes its metrics as JSON",
    "output_dir": "the folder for the model and other outputs",
    "device": "cpu or cuda:N",
}
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_command(text: str) -> tuple[str, ...]:
    """Split a one-string template the way a POSIX shell would, without running any shell."""
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise InputError(
            f"cannot split the command {text!r}: {exc}",
            hint="quote arguments that contain spaces; close every quote",
        ) from None
    if not argv:
        raise InputError(
            "the command is empty",
            hint="for example --command 'python train.py --seed {seed} --metrics {metrics_file}'",
        )
    check_template(argv)
    return argv


def check_template(argv: Sequence[str]) -> None:
    """Refuse `{name}` placeholders reprodiag does not fill, listing the ones it does."""
    unknown = sorted(
        {
            m.group(1)
            for arg in argv
            for m in _TOKEN.finditer(arg)
            if m.group(1) and m.group(1) not in PLACEHOLDERS
        }
    )
    if unknown:
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise InputError(
            f"unknown placeholder {{{unknown[0]}}} in the command"
            + (
                f" (also {', '.join('{' + u + '}' for u in unknown[1:])})"
                if len(unknown) > 1
                else ""
            ),
            hint=f"known placeholders: {known}; write {{{{ and }}}} for literal braces",
        )


def render(argv: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Substitute placeholders inside each argument, in one pass; one argument stays one.

    A value must not turn into an option: an argument that starts with a placeholder whose value
    starts with `-` (a snapshot uri `--output=/etc/x`) is refused with an InputError, unless it
    comes after a `--` argument of the template, where the program reads every argument as an
    operand. Inside an argument that starts with the template's own text (`--data={snapshot_uri}`)
    a value is data, whatever it starts with."""
    check_template(argv)

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values[match.group(1)]

    out: list[str] = []
    operands = False  # after the template's own `--`
    for arg in argv:
        rendered = _TOKEN.sub(substitute, arg)
        first = _TOKEN.match(arg)
        if not operands and rendered.startswith("-") and first and first.group(1):
            value = values[first.group(1)]
            raise InputError(
                f"the value of {{{first.group(1)}}} ({value[:80]!r}) starts with '-': the "
                "command would read it as an option, so it is not run",
                hint=f"put `--` before {{{first.group(1)}}} in the template when the program "
                "takes operands after it (`train.py --seed {seed} -- {snapshot_uri}`), or join "
                f"it to its option: `--data={{{first.group(1)}}}`",
            )
        operands = operands or arg == "--"
        out.append(rendered)
    return out
