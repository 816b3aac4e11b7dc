"""The JSON Schema of `reprodiag.manifest/v1`, built here and published as schema.json.

`python -m reprodiag.manifest.schema` rewrites the shipped schema.json; a test keeps the two equal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reprodiag.manifest.model import SCHEMA_ID

SCHEMA_PATH = Path(__file__).with_name("schema.json")

_SKIPPED = {"$ref": "#/$defs/skipped"}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_NULLABLE_STR = {"type": ["string", "null"]}


def _fact(schema: dict[str, Any], what: str) -> dict[str, Any]:
    return {"anyOf": [schema, _SKIPPED], "description": f"{what}, or a skipped fact"}


def _obj(props: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": sorted(k for k in props if k not in optional),
        "additionalProperties": False,
    }


def _facts(
    names: dict[str, tuple[dict[str, Any], str]], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    return _obj({name: _fact(s, what) for name, (s, what) in names.items()}, optional)


def build_schema() -> dict[str, Any]:
    Spec = tuple[dict[str, Any], str]
    s: Spec = (_STR, "a string")
    i: Spec = (_INT, "an integer")
    b: Spec = (_BOOL, "true or false")
    snapshot = _obj(
        {
            "format": {**_STR, "description": "delta, iceberg, files, dvc or unversioned"},
            "uri": _STR,
            "version": _fact({"type": ["integer", "string"]}, "a version or snapshot id"),
            "table_id": _fact(_STR, "a table id"),
            "fingerprint": _fact(_STR, "a content fingerprint"),
            "as_of": _NULLABLE_STR,
        },
        optional=("as_of",),
    )
    lock = _obj({"kind": _STR, "path": _NULLABLE_STR, "sha256": _STR})
    str_map = {"type": "object", "additionalProperties": _STR}
    env_facts: dict[str, Spec] = {
        name: s
        for name in (
            "python",
            "os",
            "kernel",
            "cpu_model",
            "cpu_capability",
            "torch_version",
            "torch_build",
            "cuda",
            "cudnn",
            "nccl",
            "gpu_name",
            "driver",
            "cuda_driver",
            "matmul_precision",
            "container_image",
            "hostname",
        )
    }
    env_facts.update(
        threads=i,
        gpu_count=i,
        tf32_matmul=b,
        tf32_cudnn=b,
        gpu_uuids=({"type": "array", "items": _STR}, "a list of GPU UUIDs"),
    )
    environment = _facts(env_facts)
    environment["properties"]["libraries"] = str_map
    rnd_facts = {f"{k}_seed": i for k in ("python", "numpy", "torch", "cuda")}
    rnd_facts.update(
        derivation=s,
        deterministic_algorithms=b,
        warn_only=b,
        cudnn_deterministic=b,
        cudnn_benchmark=b,
        cublas_workspace_config=s,
        pythonhashseed=s,
        fill_uninitialized_memory=b,
        dataloader_seeding=s,
    )
    randomness = _facts(rnd_facts)
    randomness["properties"]["library_seeding"] = str_map
    intent = _facts(
        {k: s for k in ("family", "experiment", "run_name", "hypothesis", "tier", "owner")}
    )
    intent["properties"].update(
        params={"type": "object"},
        ablations={"type": "object", "additionalProperties": _BOOL},
        tags=str_map,
    )
    intent["required"] = sorted([*intent["required"], "params", "ablations", "tags"])
    metric = _obj(
        {
            "value": {"type": "number"},
            "direction": {"enum": ["higher", "lower"]},
            "resolution": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "description": "the smallest step of the metric, when the user stated it",
            },
        },
        optional=("direction", "resolution"),
    )
    digest = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}
    outputs = _obj(
        {
            "weights": {"anyOf": [digest, {"type": "null"}]},
            "predictions": {"anyOf": [digest, {"type": "null"}]},
            "files": {
                "type": "array",
                "items": _obj({"name": _STR, "sha256": digest, "size": {**_INT, "minimum": 0}}),
            },
        },
        optional=("weights", "predictions", "files"),
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "reprodiag run manifest",
        "description": "The five reproducibility axes of one training run, and its results.",
        "type": "object",
        "$defs": {
            "skipped": _obj({"skipped": {**_STR, "description": "why the fact was not captured"}}),
            "snapshot": snapshot,
        },
        "properties": {
            "schema": {"const": SCHEMA_ID},
            "run": _obj(
                {
                    "run_id": _STR,
                    "created_at": _STR,
                    "output_dir": _fact(_STR, "a folder"),
                    "reprodiag_version": _STR,
                    "captured_by": {"enum": ["api", "cli", "import", "fixture"]},
                }
            ),
            "data": _obj(
                {
                    "train": _fact({"$ref": "#/$defs/snapshot"}, "a snapshot reference"),
                    "eval": _fact({"$ref": "#/$defs/snapshot"}, "a snapshot reference"),
                    "feature_store": _fact(_STR, "a version"),
                    "labeling_pipeline": _fact(_STR, "a version"),
                },
                optional=("feature_store", "labeling_pipeline"),
            ),
            "code": _facts(
                {k: s for k in ("commit", "branch", "remote", "diff_sha256", "entrypoint")}
                | {"dirty": b, "lock": (lock, "a lock file")}
            ),
            "environment": environment,
            "randomness": randomness,
            "intent": intent,
            "results": _obj(
                {
                    "metrics": {"type": "object", "additionalProperties": metric},
                    "status": {"enum": ["finished", "failed", "running"]},
                    "started_at": _fact(_STR, "a timestamp"),
                    "finished_at": _fact(_STR, "a timestamp"),
                    "error": _NULLABLE_STR,
                    "primary_metric": _NULLABLE_STR,
                    "outputs": {
                        "anyOf": [outputs, {"type": "null"}],
                        "description": "output digests: the bit-exact bar",
                    },
                },
                optional=("error", "primary_metric", "outputs"),
            ),
        },
        "required": [
            "schema",
            "run",
            "data",
            "code",
            "environment",
            "randomness",
            "intent",
            "results",
        ],
        "additionalProperties": False,
    }


def shipped_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


if __name__ == "__main__":
    SCHEMA_PATH.write_text(
        json.dumps(build_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {SCHEMA_PATH}")
