"""The family fingerprint: which manifests share one seed-noise band.

Two runs belong to the same family when every fact on the data, code, environment and intent axes
is the same, and so are the randomness axis's determinism flags; only the seeds may differ
(DESIGN.md, "Retraining": the band store is keyed by "all axes but the seeds"). The determinism
flags stay in because they change the noise itself: a band measured with cudnn.benchmark on is not
the band of a run with it off.

Left out, besides the seeds:
- noise fields (NOISE_FIELDS: run ids, times, hostnames, run names), which differ between any two
  runs by nature;
- environment.gpu_uuids, which names the physical card, not its kind (gpu_name, gpu_count and the
  driver stay in): a band measured on GPU 0 is the band of GPU 1 of the same model;
- the run and results records (metrics are the outcome, not the configuration) and the schema id.

PYTHONHASHSEED is a determinism flag whose value is a seed: a number (fixed hashing; "0" turns
randomisation off, which is fixed too) is recorded as "fixed", anything else ("random") as itself.
An empty mapping (no params, no tags) adds nothing. A skipped fact goes in as {"skipped": true}
without its reason: the wording of a reason (an error message, a path) is not configuration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from reprodiag.manifest.codec import iter_facts
from reprodiag.manifest.model import AXES, NOISE_FIELDS, JSONValue, Manifest, Skipped

# Bump when the rule for what goes in changes, so fingerprints of two rules never match by accident.
FINGERPRINT_FORMAT = "reprodiag.family/v1"

SEED_FIELDS = frozenset(
    {
        "randomness.python_seed",
        "randomness.numpy_seed",
        "randomness.torch_seed",
        "randomness.cuda_seed",
        "randomness.derivation",  # names the base seed ("seeded with base 1234 by ...")
        "randomness.library_seeding.PL_GLOBAL_SEED",  # Lightning's copy of the seed
    }
)
PHYSICAL_FIELDS = frozenset({"environment.gpu_uuids"})
_HASH_SEED = "randomness.pythonhashseed"


def _excluded(path: str) -> bool:
    if path in NOISE_FIELDS or path in SEED_FIELDS or path in PHYSICAL_FIELDS:
        return True
    return path.split(".", 1)[0] not in AXES


def _empty_mapping(value: JSONValue | Skipped) -> bool:
    # iter_facts marks an empty mapping with {}; it adds nothing, and a mapping whose only keys are
    # seeds ({"PL_GLOBAL_SEED": "7"}) must hash like an empty one.
    return isinstance(value, dict) and not value


def _normalised(path: str, value: JSONValue | Skipped) -> JSONValue:
    if isinstance(value, Skipped):
        return {"skipped": True}
    if isinstance(value, tuple):
        return list(value)
    if path == _HASH_SEED and isinstance(value, str) and value.strip().isdigit():
        return "fixed"
    return value


def fingerprint_facts(manifest: Manifest) -> dict[str, JSONValue]:
    """Every fact that goes into the family fingerprint, by dotted path, as it is hashed.

    Diff two of these to see why two manifests fall into different families.
    """
    return {
        path: _normalised(path, value)
        for path, value in iter_facts(manifest)
        if not _excluded(path) and not _empty_mapping(value)
    }


def family_fingerprint(manifest: Manifest) -> str:
    """ "sha256:" + sha256 of the canonical JSON of `fingerprint_facts`: all axes but the seeds."""
    payload = {"format": FINGERPRINT_FORMAT, "facts": fingerprint_facts(manifest)}
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def band_key(
    manifest: Manifest,
    trainer: Mapping[str, JSONValue] | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> str:
    """The band store's key: the family fingerprint plus how the seeds are trained.

    A trainer given instead of the manifest's entrypoint, an explicit device, or a per-worker
    thread budget each change the bits a seed produces, so seeds trained that way are another
    band. With none of them (the manifest's own trainer, device "auto", inherited threads) the key
    is the family fingerprint itself.
    """
    family = family_fingerprint(manifest)
    setup = {
        k: v
        for k, v in (
            ("trainer", dict(trainer) if trainer else None),
            ("device", None if device in (None, "auto") else device),
            ("threads", threads),
        )
        if v is not None
    }
    if not setup:
        return family
    text = json.dumps({"family": family, "setup": setup}, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
