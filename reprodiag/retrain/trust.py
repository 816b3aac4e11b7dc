"""Consent for code: a retrain runs a trainer a manifest names only when the user agreed to it.

A manifest is data, and someone else may have written it; its `code.entrypoint` (or an MLflow
run's `mlflow.source.name`, imported into it) names code. reprodiag runs that code only when:

1. the user names the trainer on the command line (`--trainer module:function` or `--command`):
   the manifest's entrypoint is then not used at all;
2. the user confirms the manifest's (`--trust-manifest-entrypoint`);
3. the project allows it: `[tool.reprodiag] trusted-entrypoints = ["my_project.train:train",
   "my_project.*"]` in the pyproject.toml of the current folder or the nearest folder above it
   (the folder the workers import the trainer from). A pattern is an exact `module:function`, or
   `package.*`, which allows every `module:function` of that package or module and below;
4. the entrypoint is reprodiag's own reference trainer (BUILTIN_TRUSTED).

Otherwise nothing the manifest names is imported or run: the command writes its plan and stops
with ConsentRequired (exit EXIT_NEEDS_CONSENT). reprodiag itself never imports a trainer module in
its own process (reprodiag.retrain.ensemble.has_ensemble_form reads the source instead); workers do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from reprodiag.errors import EXIT_NEEDS_CONSENT, ConsentRequired, InputError

BUILTIN_TRUSTED = ("reprodiag.family.mlp:train",)
TRUST_FLAG = "--trust-manifest-entrypoint"
PYPROJECT_KEY = "trusted-entrypoints"
_ENTRYPOINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def project_file(start: Path | None = None) -> Path | None:
    """The pyproject.toml of `start` (default: the current folder) or the nearest one above."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def trusted_patterns(start: Path | None = None) -> tuple[tuple[str, ...], Path | None]:
    """The project's allow-list ([tool.reprodiag] trusted-entrypoints) and the file it came from.

    A malformed list is an InputError naming the file: a typo must not silently trust nothing
    (or everything).
    """
    from reprodiag._toml import TOMLDecodeError, loads

    path = project_file(start)
    if path is None:
        return (), None
    try:
        document = loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TOMLDecodeError) as exc:
        raise InputError(
            f"{path}: cannot read it for [tool.reprodiag] {PYPROJECT_KEY}: {exc}",
            hint="fix the file, or pass --trainer module:function to name the trainer yourself",
        ) from None
    tool = document.get("tool", {})
    section = tool.get("reprodiag", {}) if isinstance(tool, dict) else {}
    patterns = section.get(PYPROJECT_KEY, []) if isinstance(section, dict) else []
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise InputError(
            f"{path}: [tool.reprodiag] {PYPROJECT_KEY} must be a list of strings "
            f"('module:function' or 'package.*'), found {patterns!r}",
            hint='for example trusted-entrypoints = ["my_project.train:train"]',
        )
    return tuple(patterns), path


def allowed(entrypoint: str, patterns: Iterable[str]) -> bool:
    """Whether `entrypoint` is BUILTIN_TRUSTED or matches one of `patterns` (exact or `pkg.*`)."""
    if entrypoint in BUILTIN_TRUSTED:
        return True
    module = entrypoint.partition(":")[0]
    for pattern in patterns:
        if pattern == entrypoint:
            return True
        package = pattern[:-2] if pattern.endswith(".*") else ""
        if package and (module == package or module.startswith(package + ".")):
            return True
    return False


def untrusted(entrypoints: Iterable[object], start: Path | None = None) -> list[str]:
    """The entrypoints (module:function strings; other values are ignored: no retrain can run
    them) that neither the built-in list nor the project's allow-list trusts, in order, once."""
    names = [e for e in entrypoints if isinstance(e, str) and _ENTRYPOINT.match(e)]
    if not names or all(name in BUILTIN_TRUSTED for name in names):
        return []
    patterns, _ = trusted_patterns(start)
    return list(dict.fromkeys(name for name in names if not allowed(name, patterns)))


def consent_error(entrypoints: list[str], *, plan: str | None = None) -> ConsentRequired:
    """The error a command stops with when a retrain would run code nobody consented to."""
    names = ", ".join(repr(e) for e in entrypoints)
    written = f" The plan is written to {plan}." if plan else ""
    return ConsentRequired(
        f"the retrains would import and run {names}, the trainer the manifest names "
        f"(code.entrypoint); a manifest is data, so reprodiag runs its code only with your "
        f"consent. Nothing was imported or run (exit {EXIT_NEEDS_CONSENT}).{written}",
        hint=f"read that code, then pass {TRUST_FLAG}, or name the trainer yourself with "
        f"--trainer module:function or --command '...', or allow it for this project with "
        f'[tool.reprodiag] {PYPROJECT_KEY} = ["{entrypoints[0]}"] in pyproject.toml',
    )
