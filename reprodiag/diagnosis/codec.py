"""A Diagnosis to and from JSON: the versioned `reprodiag.diagnosis/v1` format.

The JSON is the record's fields as they are (tuples as lists), in canonical sorted-key form. Reading
checks every field against the record's type hints, so an error names the file, the JSON path, what
was expected and what was found; an unknown format version is refused with the versions read here.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union

from reprodiag._atomic import atomic_write_text
from reprodiag.diagnosis import model
from reprodiag.diagnosis.model import DIAGNOSIS_FORMAT, Diagnosis
from reprodiag.errors import InputError
from reprodiag.manifest.codec import canonical_json, to_jsonable
from reprodiag.manifest.load import read_json_file

READABLE_FORMATS = (DIAGNOSIS_FORMAT,)


class DiagnosisError(InputError):
    """A diagnosis file that cannot be read or does not follow its format."""

    def __init__(
        self, file: str, json_path: str, expected: str, found: str, *, hint: str | None = None
    ) -> None:
        self.file, self.json_path, self.expected, self.found = file, json_path, expected, found
        super().__init__(f"{file}: {json_path}: expected {expected}, found {found}", hint=hint)


def diagnosis_to_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """Plain JSON data (tuples become lists); `canonical_json` turns it into text."""
    data = to_jsonable(diagnosis)
    assert isinstance(data, dict)  # noqa: S101 - a dataclass always gives an object
    return data


def write_diagnosis(diagnosis: Diagnosis, path: str | os.PathLike[str]) -> Path:
    return atomic_write_text(path, canonical_json(diagnosis_to_json(diagnosis)))


def load_diagnosis(path: str | os.PathLike[str]) -> Diagnosis:
    """Read a diagnosis.json strictly (no duplicate keys, no NaN) and rebuild the record."""
    return diagnosis_from_json(read_json_file(path), str(path))


def diagnosis_from_json(doc: Any, file: str = "<diagnosis>") -> Diagnosis:
    if not isinstance(doc, dict):
        raise DiagnosisError(file, "$", "a JSON object", _found(doc))
    version = doc.get("format")
    if version not in READABLE_FORMATS:
        raise DiagnosisError(
            file,
            "$.format",
            "one of " + ", ".join(READABLE_FORMATS),
            _found(version),
            hint="this reprodiag reads "
            + ", ".join(READABLE_FORMATS)
            + "; upgrade reprodiag to read a newer diagnosis, or re-run `reprodiag compare`",
        )
    result = _decode(Diagnosis, doc, "$", file)
    assert isinstance(result, Diagnosis)  # noqa: S101
    return result


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


def _decode(hint: Any, value: Any, path: str, file: str) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _record(hint, value, path, file)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _union(args, value, path, file)
    if origin is Literal:
        if value not in args:
            raise DiagnosisError(file, path, "one of " + ", ".join(map(repr, args)), _found(value))
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise DiagnosisError(file, path, "a list", _found(value))
        return tuple(_decode(args[0], v, f"{path}[{i}]", file) for i, v in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise DiagnosisError(file, path, "an object", _found(value))
        return value
    return _scalar(hint, value, path, file)


def _record(cls: type, value: Any, path: str, file: str) -> Any:
    if not isinstance(value, dict):
        raise DiagnosisError(file, path, f"an object ({cls.__name__})", _found(value))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise DiagnosisError(
            file,
            path,
            f"only the fields of {cls.__name__}",
            "unknown field(s) " + ", ".join(map(repr, unknown)),
        )
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _decode(_hints(cls)[name], value[name], f"{path}.{name}", file)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DiagnosisError(file, f"{path}.{name}", f"the field {name!r}", "it missing")
    return cls(**kwargs)


def _union(args: tuple[Any, ...], value: Any, path: str, file: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise DiagnosisError(file, path, " or ".join(map(_name, args)), "null")
    options = [a for a in args if a is not type(None)]
    if len(options) == 1:
        return _decode(options[0], value, path, file)
    for option in options:
        try:
            return _decode(option, value, path, file)
        except DiagnosisError:
            continue
    raise DiagnosisError(file, path, " or ".join(map(_name, options)), _found(value))


def _scalar(hint: Any, value: Any, path: str, file: str) -> Any:
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise DiagnosisError(file, path, _name(hint), _found(value))


def _name(hint: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        type(None): "null",
    }.get(hint, getattr(hint, "__name__", str(hint)))


def _found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
