"""Reading the tier policy: the shipped defaults, merged with a project's TOML.

A project configures tiers in pyproject.toml under [tool.reprodiag.policy] (found from the current
folder upward) or in a standalone file given with --policy, whose top-level table has the same
content. What it may say, merged over defaults.toml:

    [tool.reprodiag.policy.require]           # more facts for an axis, in every tier enforcing it
    environment = ["environment.container_image"]

    [tool.reprodiag.policy.tiers.shipped]     # keys given replace the default tier's; require adds
    axes = ["data", "code", "environment", "randomness", "intent"]
    require_deterministic = true
    require = { intent = ["intent.owner"] }
    waive = { environment = ["environment.cpu_capability"] }   # this tier does not require it

    [tool.reprodiag.policy.tiers.nightly]     # a new tier: axes is required
    applies_to = "nightly benchmark runs"
    axes = ["data", "code"]

Requirements grow unless waived: a project can add facts and tiers and change a tier's axes; it
drops a single fact from one tier only by naming it in that tier's `waive` table, which the check
report then lists (an axis missing from `axes` drops all of its facts for that tier). A fact that
does not apply to a run (kind not_applicable: torch facts of a scikit-learn run) is never a hole
and needs no waiver.
Every mistake is an InputError naming the file, the key path and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from reprodiag import _toml
from reprodiag.errors import InputError
from reprodiag.manifest.model import (
    AXES,
    CodeAxis,
    DataAxis,
    EnvironmentAxis,
    IntentAxis,
    LockRef,
    RandomnessAxis,
    SnapshotRef,
)
from reprodiag.policy.model import Policy, Tier

DEFAULTS_PATH = Path(__file__).with_name("defaults.toml")
PYPROJECT_KEYS = ("tool", "reprodiag", "policy")
_AXIS_RECORDS: Mapping[str, type] = {
    "data": DataAxis,
    "code": CodeAxis,
    "environment": EnvironmentAxis,
    "randomness": RandomnessAxis,
    "intent": IntentAxis,
}
_NESTED: Mapping[str, type] = {
    "data.train": SnapshotRef,
    "data.eval": SnapshotRef,
    "code.lock": LockRef,
}
# Mappings walked per key by iter_facts: a requirement may name one key, e.g. intent.params.lr.
_MAPPINGS = frozenset(
    {
        "environment.libraries",
        "randomness.library_seeding",
        "intent.params",
        "intent.ablations",
        "intent.tags",
    }
)
_TIER_TYPES: Mapping[str, type] = {
    "applies_to": str,
    "axes": list,
    "enforcement": str,
    "require": dict,
    "waive": dict,
    "require_deterministic": bool,
    "allow_dirty": bool,
}
_TOP_KEYS = ("require", "tiers")
_AXES_TEXT = ", ".join(AXES)


@dataclass
class _Layer:
    """One policy file's content, validated, with where it came from for later errors."""

    file: str
    prefix: str  # "tool.reprodiag.policy" in a pyproject.toml, "" in a standalone file
    require: dict[str, list[str]] = field(default_factory=dict)
    # Any: parsed TOML before validation; build_policy turns it into Tier records.
    tiers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def where(self, *parts: str) -> str:
        text = ".".join(p for p in (self.prefix, *parts) if p)
        return text.replace(".[", "[") or "(top level)"

    def fail(self, where: str, problem: str, hint: str) -> NoReturn:
        raise InputError(f"{self.file}: {where}: {problem}", hint=hint)


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "true or false", list: "an array", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def fact_path_problem(axis: str, path: str) -> str | None:
    """Why `path` is not a fact of `axis` (None when it is one), e.g. "no field 'comit'"."""
    parts = path.split(".")
    if parts[0] != axis:
        return f"{path!r} is not a fact of the {axis} axis (it should start with '{axis}.')"
    if len(parts) < 2 or not all(parts):
        return f"{path!r} is not a dotted manifest path like '{axis}.<field>'"
    names = {f.name for f in fields(_AXIS_RECORDS[axis])}
    if parts[1] not in names:
        return f"the {axis} axis has no field {parts[1]!r}; it has {', '.join(sorted(names))}"
    head = ".".join(parts[:2])
    if head in _MAPPINGS or len(parts) == 2:
        return None
    nested = _NESTED.get(head)
    if nested is None or len(parts) > 3:
        return f"{head} has no sub-fields; require {head!r} itself"
    sub = {f.name for f in fields(nested)}
    if parts[2] in sub:
        return None
    return f"{head} has no field {parts[2]!r}; it has {', '.join(sorted(sub))}"


def _read_require(layer: _Layer, raw: Any, *where: str) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        layer.fail(
            layer.where(*where),
            f"expected a table of axis = [facts], found {_type_name(raw)}",
            hint='write e.g. require = { environment = ["environment.container_image"] }',
        )
    out: dict[str, list[str]] = {}
    for axis, paths in raw.items():
        here = (*where, axis)
        if axis not in AXES:
            layer.fail(
                layer.where(*here), f"{axis!r} is not an axis", hint=f"use one of: {_AXES_TEXT}"
            )
        if not isinstance(paths, list):
            layer.fail(
                layer.where(*here),
                f"expected an array of fact paths, found {_type_name(paths)}",
                hint=f'write {axis} = ["{axis}.<field>", ...]',
            )
        for i, path in enumerate(paths):
            spot = layer.where(*here) + f"[{i}]"
            if not isinstance(path, str):
                layer.fail(
                    spot,
                    f"expected a fact path string, found {_type_name(path)}",
                    hint=f'write a dotted manifest path such as "{axis}.<field>"',
                )
            problem = fact_path_problem(axis, path)
            if problem:
                layer.fail(spot, problem, hint="see the manifest schema: reprodiag schema")
        out[axis] = list(paths)
    return out


def _read_axes(layer: _Layer, raw: list[Any], *where: str) -> list[str]:
    seen: list[str] = []
    for i, axis in enumerate(raw):
        spot = layer.where(*where) + f"[{i}]"
        if axis not in AXES:
            layer.fail(spot, f"{axis!r} is not an axis", hint=f"use one of: {_AXES_TEXT}")
        if axis in seen:
            layer.fail(spot, f"{axis!r} is listed twice", hint="list each axis once")
        seen.append(axis)
    return seen


def _read_tier(layer: _Layer, name: str, raw: Any) -> dict[str, Any]:
    where = ("tiers", name)
    if not isinstance(raw, dict):
        layer.fail(
            layer.where(*where),
            f"expected a table, found {_type_name(raw)}",
            hint=f"write [{layer.where(*where)}] with axes = [...]",
        )
    tier: dict[str, Any] = {}
    for key, value in raw.items():
        expected: type | None = _TIER_TYPES.get(key)
        if expected is None:
            layer.fail(
                layer.where(*where, key),
                "unknown key",
                hint="a tier takes " + ", ".join(_TIER_TYPES),
            )
        if type(value) is not expected:
            layer.fail(
                layer.where(*where, key),
                f"expected {_type_name(expected())}, found {_type_name(value)}",
                hint=f"see the default policy in {DEFAULTS_PATH.name} for the shape",
            )
        if isinstance(value, list):  # axes
            value = _read_axes(layer, value, *where, key)
        elif key in ("require", "waive"):
            value = _read_require(layer, value, *where, key)
        tier[key] = value
    return tier


def read_layer(table: Any, file: str, prefix: str) -> _Layer:
    """Validate one policy table (the content of [tool.reprodiag.policy] or a standalone file)."""
    layer = _Layer(file, prefix)
    if not isinstance(table, dict):
        layer.fail(
            layer.where(),
            f"expected a table, found {_type_name(table)}",
            hint="write [tool.reprodiag.policy] with tiers and require tables",
        )
    for key in table:
        if key not in _TOP_KEYS:
            layer.fail(
                layer.where(key),
                "unknown key",
                hint="the policy table takes: require, tiers "
                "(the ranking prior is not configured here)",
            )
    layer.require = _read_require(layer, table.get("require", {}), "require")
    tiers = table.get("tiers", {})
    if not isinstance(tiers, dict):
        layer.fail(
            layer.where("tiers"),
            f"expected a table of tiers, found {_type_name(tiers)}",
            hint="write [tool.reprodiag.policy.tiers.<name>] tables",
        )
    layer.tiers = {str(name): _read_tier(layer, str(name), raw) for name, raw in tiers.items()}
    return layer


def _merged_list(*lists: list[str]) -> list[str]:
    return list(dict.fromkeys(p for paths in lists for p in paths))


def _build_tier(
    name: str, spec: dict[str, Any], require: Mapping[str, list[str]], layers: dict[str, _Layer]
) -> Tier:
    """Check the merged tier and build it; `layers` says which file last set each key."""
    if "axes" not in spec:
        layer = layers["tier"]
        layer.fail(
            layer.where("tiers", name),
            "a new tier must list its axes",
            hint=f"add axes = [...] with any of: {_AXES_TEXT}",
        )
    axes: tuple[str, ...] = tuple(a for a in AXES if a in spec["axes"])
    extra: dict[str, list[str]] = spec.get("require", {})
    for axis in extra:
        if axis not in axes:
            layer = layers["require"]
            layer.fail(
                layer.where("tiers", name, "require", axis),
                f"tier {name!r} does not enforce the {axis} axis",
                hint=f"add {axis!r} to tiers.{name}.axes, or drop this requirement",
            )
    waive: dict[str, list[str]] = spec.get("waive", {})
    waived = tuple(p for axis in axes for p in waive.get(axis, []))
    requirements = {
        axis: tuple(
            p for p in _merged_list(require.get(axis, []), extra.get(axis, [])) if p not in waived
        )
        for axis in axes
    }
    return Tier(
        name=name,
        applies_to=spec.get("applies_to", ""),
        axes=axes,
        enforcement=spec.get("enforcement", ""),
        requirements=MappingProxyType(requirements),
        require_deterministic=spec.get("require_deterministic", False),
        allow_dirty=spec.get("allow_dirty", True),
        waived=waived,
    )


def build_policy(*layers: _Layer) -> Policy:
    """Merge layers in order (defaults first): tier keys replace, require lists add up."""
    require: dict[str, list[str]] = {}
    specs: dict[str, dict[str, Any]] = {}
    origin: dict[str, dict[str, _Layer]] = {}
    for layer in layers:
        for axis, paths in layer.require.items():
            require[axis] = _merged_list(require.get(axis, []), paths)
        for name, tier in layer.tiers.items():
            spec = specs.setdefault(name, {})
            where = origin.setdefault(name, {"tier": layer, "require": layer})
            for key, value in tier.items():
                if key in ("require", "waive"):
                    before = spec.get(key, {})
                    spec[key] = {
                        a: _merged_list(before.get(a, []), value.get(a, []))
                        for a in {**before, **value}
                    }
                    where["require"] = layer
                else:
                    spec[key] = value
    tiers = {name: _build_tier(name, spec, require, origin[name]) for name, spec in specs.items()}
    source = layers[-1].file if layers else "built-in defaults"
    return Policy(tiers=MappingProxyType(tiers), source=source)


def _read_toml(path: Path) -> dict[str, Any]:
    from reprodiag.manifest.load import read_user_file  # a regular file, size-capped

    raw = read_user_file(path, "policy file", missing_hint="check the path given to --policy")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read the policy file: {exc}") from None
    try:
        doc: dict[str, Any] = _toml.loads(text)  # a TOML document: free-form until read_layer
        return doc
    except _toml.TOMLDecodeError as exc:
        raise InputError(
            f"{path}: not valid TOML: {exc}", hint="fix the TOML syntax at the line shown"
        ) from None


@lru_cache(maxsize=1)
def _default_layer() -> _Layer:
    return read_layer(
        _toml.loads(DEFAULTS_PATH.read_text(encoding="utf-8")), "built-in defaults", ""
    )


def default_policy() -> Policy:
    """The policy of DESIGN.md: shipped enforces all five axes, experimental data, code and
    intent, debug code and intent."""
    return build_policy(_default_layer())


def _policy_table(doc: dict[str, Any]) -> Any:
    table: Any = doc
    for key in PYPROJECT_KEYS:
        if not isinstance(table, dict) or key not in table:
            return None
        table = table[key]
    return table


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml, from `start` (default: the current folder) upward, that has a
    [tool.reprodiag.policy] table."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _policy_table(_read_toml(candidate)) is not None:
            return candidate
    return None


def load_policy(path: str | os.PathLike[str] | None = None, start: Path | None = None) -> Policy:
    """The project's policy merged over the defaults.

    path: a standalone policy file (its top level is the policy table), or a pyproject.toml (its
    [tool.reprodiag.policy] table). None: the nearest pyproject.toml with that table, looked up
    from `start` (default: the current folder); the defaults when there is none.
    """
    if path is None:
        found = find_pyproject(start)
        if found is None:
            return default_policy()
        path = found
    file = Path(path)
    doc = _read_toml(file)
    if file.name == "pyproject.toml":
        table = _policy_table(doc)
        if table is None:
            raise InputError(
                f"{file}: has no [tool.reprodiag.policy] table",
                hint="add the table, or pass a standalone policy file",
            )
        prefix = ".".join(PYPROJECT_KEYS)
        return build_policy(_default_layer(), read_layer(table, str(file), prefix))
    return build_policy(_default_layer(), read_layer(doc, str(file), ""))
