"""One codec for every versioned reprodiag format: frozen dataclasses to JSON and back.

A format is a format id, the record class it holds and a changelog comment (coverage.py's
FORMAT_VERSION habit); `RecordFormat` ties the three together. The type hints of the records are
the only description of the JSON:

- `to_json(record)` gives plain JSON data: fields as they are, tuples as lists, mapping keys as
  strings, and a *tagged* record (a class with `json_tag = "skipped"`, the manifest's `Skipped`)
  as the object `{"skipped": reason}`: its first field under the tag, and any other field (all of
  them optional) only where it differs from the record built from the first field alone.
- `from_json(cls, data, file=...)` rebuilds the record strictly from the hints (nested records,
  tuples, lists, Literals, Optional, unions such as `Fact[T] = T | Skipped`, mappings); an error
  names the file, the JSON path, what was expected and what was found.
- `json_schema(cls)` derives the JSON Schema (draft 2020-12) from the same hints.

Field metadata extends a field without a codec change: `omit_when_default` leaves a field added
after its format shipped out of the JSON while it holds its default (older files stay
byte-identical), and `schema(...)` adds JSON Schema keywords (enum, pattern, minimum, ...) that
the decoder enforces too. This module imports nothing heavy: the manifest model sits on it.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import json
import math
import re
import types
import typing
from functools import cache
from typing import Any, Generic, Literal, TypeVar, Union

from reprodiag.errors import InputError

R = TypeVar("R")

OMIT_WHEN_DEFAULT = "omit_when_default"  # field metadata key: written only when not its default
SCHEMA = "json_schema"  # field metadata key: extra JSON Schema keywords for the field
_CHECKED = ("enum", "pattern", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
_NONE = type(None)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# Any: this codec walks arbitrary records and JSON by their type hints, so values are free-form.
def schema(**keywords: Any) -> dict[str, Any]:
    """Field metadata adding JSON Schema keywords, e.g. `field(metadata=schema(minimum=0))`.

    enum, pattern, minimum, exclusiveMinimum, maximum and exclusiveMaximum are checked on decode as
    well; description only documents the field in the derived schema.
    """
    return {SCHEMA: keywords}


class RecordError(InputError):
    """A JSON document that does not follow its record's type hints."""

    def __init__(
        self, file: str, json_path: str, expected: str, found: str, *, hint: str | None = None
    ) -> None:
        self.file, self.json_path, self.expected, self.found = file, json_path, expected, found
        super().__init__(f"{file}: {json_path}: expected {expected}, found {found}", hint=hint)


# ---- encoding ----------------------------------------------------------------------------------


def _default(f: dataclasses.Field[object]) -> object:
    """A field's default value (calling its factory), or MISSING when it has none."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def to_json(value: Any) -> Any:
    """Plain JSON data for a record (or any value holding records): tuples become lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        tag = _tag(type(value))
        if tag is not None:
            return _tagged(value, tag)
        return {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get(OMIT_WHEN_DEFAULT) and getattr(value, f.name) == _default(f))
        }
    if isinstance(value, collections.abc.Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def _tagged(value: Any, tag: str) -> dict[str, Any]:
    """`{tag: first field}`, plus each other field whose value differs from the one the record
    built from the first field alone holds (`Skipped(reason)` implies its kind)."""
    first, *rest = (f for f in dataclasses.fields(value) if f.init)
    head = getattr(value, first.name)
    data = {tag: to_json(head)}
    if rest:
        plain = type(value)(head)
        data.update(
            (f.name, to_json(getattr(value, f.name)))
            for f in rest
            if getattr(value, f.name) != getattr(plain, f.name)
        )
    return data


def canonical_json(data: Any) -> str:
    """Stable text: sorted keys, two-space indent, no NaN (JSON has none), trailing newline."""
    return (
        json.dumps(to_json(data), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


# ---- decoding ----------------------------------------------------------------------------------


def from_json(
    cls: type[R], data: Any, *, file: str = "<json>", error: type[RecordError] = RecordError
) -> R:
    """Rebuild a `cls` record from JSON data, checking every value against the type hints.

    Raises `error` (a RecordError) naming `file`, the JSON path, what was expected and what was
    found. Errors a record's own constructor raises (its invariants) pass through unchanged.
    """
    return _Decoder(file, error).decode(cls, data, "$")  # type: ignore[no-any-return]


class _Decoder:
    def __init__(self, file: str, error: type[RecordError]) -> None:
        self.file, self.error = file, error

    def fail(self, path: str, expected: str, value: Any, found: str | None = None) -> RecordError:
        return self.error(self.file, path, expected, found if found is not None else _found(value))

    def decode(self, hint: Any, value: Any, path: str) -> Any:
        if _is_record(hint):
            return self.record(hint, value, path)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any or hint is object:
            return value
        if origin in (Union, types.UnionType):
            return self.union(hint, args, value, path)
        if origin is Literal:
            if not any(value == a and type(value) is type(a) for a in args):
                raise self.fail(path, _name(hint), value)
            return value
        if origin in (tuple, list) or hint in (tuple, list):
            return self.sequence(hint, origin or hint, args, value, path)
        if _is_mapping(hint):
            return self.mapping(args, value, path)
        return self.scalar(hint, value, path)

    def record(self, cls: type, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise self.fail(path, f"an object ({cls.__name__})", value)
        fields = _json_fields(cls)
        unknown = [key for key in value if key not in fields]
        if unknown:
            rest = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise self.fail(
                _child(path, unknown[0]),
                f"only the fields of {cls.__name__}",
                None,
                "an unknown field" + rest,
            )
        kwargs = {}
        for key, f in fields.items():
            if key in value:
                decoded = self.decode(_hints(cls)[f.name], value[key], _child(path, key))
                self.constrain(f, decoded, _child(path, key))
                kwargs[f.name] = decoded
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise self.fail(_child(path, key), f"the field {key!r}", None, "it missing")
        return cls(**kwargs)

    def union(self, hint: Any, args: tuple[Any, ...], value: Any, path: str) -> Any:
        options = _candidates(args, value)
        if not options:
            raise self.fail(path, _name(hint), value)
        if len(options) == 1:
            return self.decode(options[0], value, path)
        errors = []
        for option in options:
            try:
                return self.decode(option, value, path)
            except RecordError as exc:
                errors.append(exc)
        raise max(errors, key=lambda e: len(e.json_path))  # the one that got furthest

    def sequence(self, hint: Any, origin: Any, args: tuple[Any, ...], value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise self.fail(path, _name(hint), value)
        if origin is tuple and args and args[-1] is not Ellipsis:  # a fixed-length tuple
            if len(value) != len(args):
                raise self.fail(path, _name(hint), value)
            items = args
        else:
            items = (args[0] if args else Any,) * len(value)
        decoded = [
            self.decode(h, v, f"{path}[{i}]")
            for i, (h, v) in enumerate(zip(items, value, strict=True))
        ]
        return tuple(decoded) if origin is tuple else decoded

    def mapping(self, args: tuple[Any, ...], value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise self.fail(path, "an object", value)
        item = args[1] if len(args) == 2 else Any
        return {k: self.decode(item, v, _child(path, k)) for k, v in value.items()}

    def scalar(self, hint: Any, value: Any, path: str) -> Any:
        if hint in (str, bool, _NONE) and type(value) is hint:
            return value
        if hint is int and _kind(value) == "integer":
            return int(value)
        if hint is float and _kind(value) in ("integer", "number"):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number):
                return number
            raise self.fail(path, "a finite number", value)
        raise self.fail(path, _name(hint), value)

    def constrain(self, f: dataclasses.Field[Any], value: Any, path: str) -> None:
        keywords = f.metadata.get(SCHEMA, {})
        for keyword in _CHECKED:
            if keyword in keywords and not _satisfies(keyword, keywords[keyword], value):
                limit = keywords[keyword]
                expected = {
                    "enum": "one of " + ", ".join(map(repr, limit or ())),
                    "pattern": f"text matching {limit}",
                    "minimum": f"a number >= {limit}",
                    "exclusiveMinimum": f"a number > {limit}",
                    "maximum": f"a number <= {limit}",
                    "exclusiveMaximum": f"a number < {limit}",
                }[keyword]
                raise self.fail(path, expected, value)


def _satisfies(keyword: str, limit: Any, value: Any) -> bool:
    """JSON Schema semantics: each keyword only constrains values of its own type."""
    if keyword == "enum":
        return value in limit
    if keyword == "pattern":
        return not isinstance(value, str) or re.search(limit, value) is not None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return True
    within: bool = {  # limit is a JSON number here: the comparison is a bool
        "minimum": value >= limit,
        "exclusiveMinimum": value > limit,
        "maximum": value <= limit,
        "exclusiveMaximum": value < limit,
    }[keyword]
    return within


def _candidates(args: tuple[Any, ...], value: Any) -> list[Any]:
    """The union members `value` could be by its JSON kind; a tagged record wins on its tag."""
    kind = _kind(value)
    fits = [a for a in args if kind in _kinds(a)]
    tagged = [a for a in fits if _is_record(a) and _tag(a) is not None]
    if isinstance(value, dict) and tagged:
        chosen = [a for a in tagged if _tag(a) in value]
        return chosen or [a for a in fits if a not in tagged]
    return fits


# ---- the JSON Schema ---------------------------------------------------------------------------


def json_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a record: nested records go in `$defs` by class name."""
    defs: dict[str, Any] = {}
    root = _object_schema(cls, defs)
    if defs:
        root["$defs"] = defs
    return root


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    fields = _json_fields(cls)
    properties = {}
    for key, f in fields.items():
        extra = f.metadata.get(SCHEMA, {})
        base = {} if "enum" in extra else _schema(_hints(cls)[f.name], defs)  # enum names the type
        properties[key] = {**base, **extra}
    required = [
        key
        for key, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    result: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,
    }
    doc = inspect.getdoc(cls)
    if doc and not doc.startswith(f"{cls.__name__}("):  # not dataclass's generated signature
        result["description"] = doc
    return result


def _schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if _is_record(hint):
        name = hint.__name__
        if name not in defs:
            defs[name] = {}  # a placeholder first: a record may hold itself (result members)
            defs[name] = _object_schema(hint, defs)
        return {"$ref": f"#/$defs/{name}"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return _union_schema(hint, args, defs)
    if origin is Literal:
        return {"enum": list(args)}
    if origin is tuple and args and args[-1] is not Ellipsis:
        items = [_schema(a, defs) for a in args]
        return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
    if origin in (tuple, list) or hint in (tuple, list):
        return {"type": "array", **({"items": _schema(args[0], defs)} if args else {})}
    if _is_mapping(hint):
        if len(args) == 2 and args[1] not in (Any, object):
            return {"type": "object", "additionalProperties": _schema(args[1], defs)}
        return {"type": "object"}
    types_ = {str: "string", int: "integer", float: "number", bool: "boolean", _NONE: "null"}
    return {"type": types_[hint]} if hint in types_ else {}


def _union_schema(hint: Any, args: tuple[Any, ...], defs: dict[str, Any]) -> dict[str, Any]:
    """Plain types merge into one `type` list; anything else is an anyOf, described in words."""
    plain: list[str] = []
    others: list[dict[str, Any]] = []
    for arg in args:
        part = _schema(arg, defs)
        if set(part) == {"type"} and isinstance(part["type"], str):
            plain.append(part["type"])
        else:
            others.append(part)
    merged = [{"type": plain[0] if len(plain) == 1 else plain}] if plain else []
    if not others:
        return merged[0]
    return {"anyOf": merged[:1] + others if plain else others, "description": _name(hint)}


# ---- versioned formats -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RecordFormat(Generic[R]):
    """A versioned JSON format: its id, the record it holds and the key that carries the id.

    The id is written under `key` (a field of the record, or added beside its fields); reading
    refuses any id not in `readable` with `hint` as the next step.
    """

    id: str
    record: type[R]
    key: str = "format"
    readable: tuple[str, ...] = ()  # the ids this reprodiag reads; () means just `id`
    hint: str | None = None
    error: type[RecordError] = RecordError

    @property
    def ids(self) -> tuple[str, ...]:
        """The format ids this reprodiag reads."""
        return self.readable or (self.id,)

    def to_json(self, record: R) -> dict[str, Any]:
        """The record's JSON data with the format id under `key`."""
        return {self.key: self.id, **to_json(record)}

    def dumps(self, record: R) -> str:
        """The record as canonical JSON text."""
        return canonical_json(self.to_json(record))

    def from_json(self, data: Any, *, file: str = "<json>") -> R:
        """Check the format id, then rebuild the record strictly (see `from_json`)."""
        if not isinstance(data, dict):
            raise self.error(file, "$", "a JSON object", _found(data))
        if data.get(self.key) not in self.ids:
            raise self.error(
                file,
                f"$.{self.key}",
                "one of " + ", ".join(self.ids),
                _found(data.get(self.key)),
                hint=self.hint
                or f"this reprodiag reads {', '.join(self.ids)}; upgrade reprodiag to read a "
                "newer file",
            )
        if self.key not in _json_fields(typing.cast(type, self.record)):
            data = {k: v for k, v in data.items() if k != self.key}
        return from_json(self.record, data, file=file, error=self.error)

    def json_schema(self) -> dict[str, Any]:
        """The record's JSON Schema with the format id required under `key`."""
        result = json_schema(self.record)
        ids = self.ids
        result["properties"][self.key] = {"const": ids[0]} if len(ids) == 1 else {"enum": [*ids]}
        result["required"] = sorted({*result["required"], self.key})
        return result


# ---- type hints --------------------------------------------------------------------------------


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _tag(cls: type) -> str | None:
    """The one key a tagged record is written under (`{"skipped": reason}`), else None."""
    tag = getattr(cls, "json_tag", None)
    return tag if isinstance(tag, str) else None


@cache
def _json_fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    fields = [f for f in dataclasses.fields(cls) if f.init]
    tag = _tag(cls)
    if tag is not None:
        if any(f.default is dataclasses.MISSING for f in fields[1:]):
            raise TypeError(f"{cls.__name__}: a tagged record's other fields are optional")
        return {tag: fields[0], **{f.name: f for f in fields[1:]}}
    return {f.name: f for f in fields}


def _is_mapping(hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    return origin in (dict, collections.abc.Mapping)


def _kind(value: Any) -> str:
    """The JSON kind of a value; an integral float counts as an integer, as in JSON Schema."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    kinds: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return kinds.get(type(value), "other")


_ANY = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


def _kinds(hint: Any) -> frozenset[str]:
    """The JSON kinds a value of `hint` can have."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return _ANY
    if _is_record(hint) or _is_mapping(hint):
        return frozenset({"object"})
    if origin in (Union, types.UnionType):
        return frozenset().union(*map(_kinds, args))
    if origin is Literal:
        return frozenset(map(_kind, args))
    if origin in (tuple, list) or hint in (tuple, list):
        return frozenset({"array"})
    scalar = {str: "string", int: "integer", bool: "boolean", _NONE: "null"}
    if hint is float:
        return frozenset({"integer", "number"})
    return frozenset({scalar[hint]}) if hint in scalar else frozenset()


def _name(hint: Any) -> str:
    """A type hint in words, for error messages and schema descriptions."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return ", or ".join(_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (tuple, list) or hint in (tuple, list):
        return "a list"
    if _is_mapping(hint):
        return "an object"
    if _is_record(hint):
        tag = _tag(hint)
        return f"a {tag} fact" if tag else f"an object ({hint.__name__})"
    words = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    return words.get(hint, "null" if hint is _NONE else getattr(hint, "__name__", str(hint)))


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{json.dumps(key)}]"


def _found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
