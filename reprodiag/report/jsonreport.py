"""The JSON report: the Diagnosis itself, in the versioned `reprodiag.diagnosis/v1` format.

The codec in reprodiag.diagnosis.codec owns that format. Until it is present in a checkout, a local
fallback writes the same shape (every dataclass field by name, the format tag included) and reads
it back, so `reprodiag report` can re-render a saved diagnosis either way.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, Union

from reprodiag.diagnosis import model
from reprodiag.diagnosis.model import DIAGNOSIS_FORMAT, Diagnosis
from reprodiag.errors import InputError


def _codec() -> types.ModuleType | None:
    try:
        return importlib.import_module("reprodiag.diagnosis.codec")
    except ModuleNotFoundError as exc:
        if exc.name == "reprodiag.diagnosis.codec":
            return None
        raise


def diagnosis_to_json(diagnosis: Diagnosis) -> str:
    """The diagnosis as canonical JSON text (sorted keys, 2-space indent, trailing newline)."""
    codec = _codec()
    if codec is None or not hasattr(codec, "diagnosis_to_json"):
        return _canonical(dataclasses.asdict(diagnosis))
    data = codec.diagnosis_to_json(diagnosis)  # plain JSON data; text from older drafts
    return data if isinstance(data, str) else _canonical(data)


def load_diagnosis(path: str | os.PathLike[str]) -> Diagnosis:
    """Read a saved diagnosis; InputError (with the next step) when it is not one."""
    codec = _codec()
    if codec is not None and hasattr(codec, "load_diagnosis"):
        return typing.cast(Diagnosis, codec.load_diagnosis(path))
    source = Path(path)
    try:
        raw = json.loads(source.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"cannot read diagnosis {source}: {exc}",
            hint="give the diagnosis.json written by `reprodiag compare`",
        ) from exc
    return _fallback_from_dict(raw, source)


class JsonRenderer:
    format = "json"
    suffix = ".json"

    def render(self, diagnosis: Diagnosis) -> str:
        return diagnosis_to_json(diagnosis)


def _canonical(data: Any) -> str:
    # Same conventions as manifests (reprodiag.manifest.codec.canonical_json): sorted keys, 2-space
    # indent, UTF-8, no NaN, trailing newline.
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _fallback_from_dict(raw: Any, source: Path) -> Diagnosis:
    tag = raw.get("format") if isinstance(raw, dict) else None
    if tag != DIAGNOSIS_FORMAT:
        raise InputError(
            f"{source} is not a {DIAGNOSIS_FORMAT} diagnosis (format: {tag!r})",
            hint="give the diagnosis.json written by `reprodiag compare`",
        )
    try:
        return typing.cast(Diagnosis, _decode(Diagnosis, raw))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{source} is not a valid diagnosis: {exc}",
            hint="re-run `reprodiag compare` to write it again",
        ) from exc


def _decode(hint: Any, raw: Any) -> Any:
    """JSON data back into the model's dataclasses, guided by the type hints of model.py."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(raw, dict):
            raise TypeError(f"{hint.__name__} must be an object, not {type(raw).__name__}")
        hints = typing.get_type_hints(hint, vars(model))
        return hint(
            **{
                f.name: _decode(hints[f.name], raw[f.name])
                for f in dataclasses.fields(hint)
                if f.name in raw
            }
        )
    if origin in (Union, types.UnionType):
        if raw is None:
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(inner[0], raw) if len(inner) == 1 else raw
    if origin is tuple:
        return tuple(_decode(typing.get_args(hint)[0], item) for item in raw)
    return raw
