"""Manifests to and from canonical JSON (sorted keys, fixed separators, UTF-8)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reprodiag._atomic import atomic_write_text
from reprodiag.manifest.model import (
    CodeAxis,
    DataAxis,
    EnvironmentAxis,
    FileDigest,
    IntentAxis,
    LockRef,
    Manifest,
    Metric,
    OutputDigests,
    RandomnessAxis,
    Results,
    RunInfo,
    Skipped,
    SnapshotRef,
)


def to_jsonable(value: Any) -> Any:
    """Plain JSON data for a record: a Skipped fact becomes {"skipped": reason}."""
    if isinstance(value, Skipped):
        return {"skipped": value.reason}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not _omitted(f, getattr(value, f.name))
        }
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def _omitted(f: dataclasses.Field[Any], value: Any) -> bool:
    """An optional fact added after v1 (model.OMIT_WHEN_DEFAULT) is left out while unset."""
    return bool(f.metadata.get("omit_when_default")) and value == f.default


def canonical_json(data: Any) -> str:
    """Stable text: sorted keys, two-space indent, no NaN (JSON has none), trailing newline."""
    return (
        json.dumps(to_jsonable(data), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


def write_manifest(manifest: Manifest, path: str | os.PathLike[str]) -> Path:
    return atomic_write_text(path, canonical_json(manifest))


def _fact(raw: Any, build: Any = None) -> Any:
    if isinstance(raw, dict) and set(raw) == {"skipped"}:
        return Skipped(str(raw["skipped"]))
    if build is not None and raw is not None:
        return build(raw)
    return raw


def _facts(cls: type, raw: Mapping[str, Any], nested: Mapping[str, Any] | None = None) -> Any:
    nested = nested or {}
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        kwargs[f.name] = _fact(raw[f.name], nested.get(f.name))
    return cls(**kwargs)


def _snapshot(raw: Mapping[str, Any]) -> SnapshotRef:
    return _facts(SnapshotRef, raw)  # type: ignore[no-any-return]


def _lock(raw: Mapping[str, Any]) -> LockRef:
    return LockRef(kind=raw["kind"], path=raw.get("path"), sha256=raw["sha256"])


def _tuple(raw: Any) -> tuple[Any, ...]:
    return tuple(raw)


def from_jsonable(raw: Mapping[str, Any]) -> Manifest:
    """Build a Manifest from data that already passed the JSON Schema."""
    results = raw["results"]
    metrics = {
        name: Metric(
            value=float(m["value"]),
            direction=m.get("direction", "higher"),
            resolution=_optional_float(m.get("resolution")),
        )
        for name, m in results["metrics"].items()
    }
    return Manifest(
        schema=raw["schema"],
        run=_facts(RunInfo, raw["run"]),
        data=_facts(DataAxis, raw["data"], {"train": _snapshot, "eval": _snapshot}),
        code=_facts(CodeAxis, raw["code"], {"lock": _lock}),
        environment=_facts(EnvironmentAxis, raw["environment"], {"gpu_uuids": _tuple}),
        randomness=_facts(RandomnessAxis, raw["randomness"]),
        intent=_facts(IntentAxis, raw["intent"]),
        results=Results(
            metrics=metrics,
            status=results["status"],
            started_at=_fact(results["started_at"]),
            finished_at=_fact(results["finished_at"]),
            error=results.get("error"),
            primary_metric=results.get("primary_metric"),
            outputs=_outputs(results.get("outputs")),
        ),
    )


def _optional_float(raw: Any) -> float | None:
    return None if raw is None else float(raw)


def _outputs(raw: Mapping[str, Any] | None) -> OutputDigests | None:
    if raw is None:
        return None
    return OutputDigests(
        weights=raw.get("weights"),
        predictions=raw.get("predictions"),
        files=tuple(
            FileDigest(name=f["name"], sha256=f["sha256"], size=int(f["size"]))
            for f in raw.get("files", ())
        ),
    )


def iter_facts(manifest: Manifest) -> Iterator[tuple[str, Any]]:
    """Every leaf fact as (dotted path, value); params, tags and libraries are walked per key.

    A Skipped fact is yielded as the Skipped record itself, so callers can tell
    "captured as X" from "could not be captured".
    """
    yield from _walk("", to_jsonable(manifest))


def _walk(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        if set(value) == {"skipped"}:
            yield prefix, Skipped(str(value["skipped"]))
            return
        if not value and prefix:
            yield prefix, {}
            return
        for key in sorted(value):
            yield from _walk(f"{prefix}.{key}" if prefix else str(key), value[key])
    elif isinstance(value, list):
        yield prefix, tuple(value)
    else:
        yield prefix, value


def finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
