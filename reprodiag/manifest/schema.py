"""The JSON Schema of `reprodiag.manifest/v1`: derived from the records, published as schema.json.

The records in model.py are the only description of the format: reprodiag/_records.py derives the
schema from their type hints and field metadata. `python -m reprodiag.manifest.schema` rewrites the
shipped schema.json; a test keeps the two equal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reprodiag.manifest.codec import MANIFEST_FORMAT
from reprodiag.manifest.model import SCHEMA_ID

SCHEMA_PATH = Path(__file__).with_name("schema.json")


# Any: a JSON Schema document, nested objects and lists as _records.json_schema builds them.
def build_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (draft 2020-12), derived from the records in model.py."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "reprodiag run manifest",
        "description": "The five reproducibility axes of one training run, and its results.",
        **MANIFEST_FORMAT.json_schema(),
    }


def shipped_schema() -> dict[str, Any]:
    """The schema.json shipped in the package (what `reprodiag schema` prints)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


if __name__ == "__main__":
    SCHEMA_PATH.write_text(
        json.dumps(build_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {SCHEMA_PATH}")
