"""Manifests to and from canonical JSON (sorted keys, fixed separators, UTF-8).

The records in model.py are the format: reprodiag/_records.py writes and reads them and derives the
published JSON Schema from them (schema.py), so a new field needs no change here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

from reprodiag import _records
from reprodiag._atomic import atomic_write_text
from reprodiag._records import RecordFormat, canonical_json
from reprodiag.manifest.model import READABLE_SCHEMAS, SCHEMA_ID, JSONValue, Manifest, Skipped

__all__ = [
    "MANIFEST_FORMAT",
    "canonical_json",
    "iter_facts",
    "skipped_of",
    "to_jsonable",
    "write_manifest",
]

# reprodiag.manifest/v1: the five axes and the results. Optional facts added since, written only
# when set so older files stay byte-identical (model.OMIT_WHEN_DEFAULT): results.primary_metric,
# results.outputs, results.metrics.*.resolution.
MANIFEST_FORMAT = RecordFormat(
    SCHEMA_ID,
    Manifest,
    key="schema",
    readable=READABLE_SCHEMAS,
    hint="this reprodiag reads "
    + ", ".join(READABLE_SCHEMAS)
    + "; upgrade reprodiag to read a newer manifest, or re-capture the run",
)


def to_jsonable(value: object) -> JSONValue:
    """Plain JSON data for a record: a Skipped fact becomes {"skipped": reason}."""
    data: JSONValue = _records.to_json(value)
    return data


def write_manifest(manifest: Manifest, path: str | os.PathLike[str]) -> Path:
    """Write a manifest as canonical JSON, atomically."""
    return atomic_write_text(path, canonical_json(manifest))


def iter_facts(manifest: Manifest) -> Iterator[tuple[str, JSONValue | Skipped]]:
    """Every leaf fact as (dotted path, value); params, tags and libraries are walked per key.

    A Skipped fact is yielded as the Skipped record itself, so callers can tell
    "captured as X" from "could not be captured".
    """
    yield from _walk("", to_jsonable(manifest))


def skipped_of(value: object) -> Skipped | None:
    """The Skipped fact a JSON value holds (`{"skipped": reason}`, with "kind" beside it when the
    kind is not the one its reason implies), else None."""
    if isinstance(value, dict) and "skipped" in value and set(value) <= {"skipped", "kind"}:
        skipped: Skipped = _records.from_json(Skipped, value)
        return skipped
    return None


def _walk(prefix: str, value: JSONValue) -> Iterator[tuple[str, JSONValue | Skipped]]:
    if isinstance(value, dict):
        if (skipped := skipped_of(value)) is not None:
            yield prefix, skipped
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
