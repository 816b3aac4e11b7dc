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
The kept patch's text and size (code.patch) stay out: diff_sha256 identifies the same change.

The band store's key (`band_key`) is the fingerprint plus the pipeline's identity, named on its
own (`pipeline_identity`: the code's commit and diff digest, the lock's digest, Python, torch
and the libraries that change bits) so that it stays in the key whatever the fingerprint's rule
becomes: seeds of a clean tree are never reused for the same commit with a patch, nor seeds of
one lock for another. Keys of this rule (reprodiag.band-key/v2) never equal those written
before it, so older store rows simply stop matching.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from reprodiag.manifest.codec import iter_facts
from reprodiag.manifest.model import AXES, NOISE_FIELDS, JSONValue, LockRef, Manifest, Skipped

# Bump when the rule for what goes in changes, so fingerprints of two rules never match by accident.
FINGERPRINT_FORMAT = "reprodiag.family/v1"
BAND_KEY_FORMAT = "reprodiag.band-key/v2"

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
PATCH_CONTENT_FIELDS = frozenset({"code.patch.text", "code.patch.size"})
_HASH_SEED = "randomness.pythonhashseed"


def _excluded(path: str) -> bool:
    if path in NOISE_FIELDS or path in SEED_FIELDS or path in PHYSICAL_FIELDS:
        return True
    if path in PATCH_CONTENT_FIELDS:
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


def pipeline_identity(
    manifest: Manifest, *, code: bool = True, environment: bool = True
) -> dict[str, JSONValue | Skipped]:
    """What makes a pipeline this pipeline, by dotted path: the code (code.commit,
    code.diff_sha256) and the environment (code.lock.sha256, environment.python,
    environment.torch_version, environment.libraries.NAME for each library recorded). A fact
    that was not captured is its Skipped record. `code` / `environment` False leave that part out.
    """
    out: dict[str, JSONValue | Skipped] = {}
    if code:
        out["code.commit"] = manifest.code.commit
        out["code.diff_sha256"] = manifest.code.diff_sha256
    if environment:
        lock = manifest.code.lock
        out["code.lock.sha256"] = lock.sha256 if isinstance(lock, LockRef) else lock
        env = manifest.environment
        out["environment.python"] = env.python
        out["environment.torch_version"] = env.torch_version
        for name, version in sorted(env.libraries.items()):
            out[f"environment.libraries.{name}"] = version
    return out


def band_key(
    manifest: Manifest,
    trainer: Mapping[str, JSONValue] | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> str:
    """The band store's key: the family fingerprint, the pipeline's identity (code and
    environment, `pipeline_identity`), and how the seeds are trained.

    A trainer given instead of the manifest's entrypoint, an explicit device, or a per-worker
    thread budget each change the bits a seed produces, so seeds trained that way are another
    band (the manifest's own trainer, device "auto" and inherited threads add nothing).
    """
    setup = {
        k: v
        for k, v in (
            ("trainer", dict(trainer) if trainer else None),
            ("device", None if device in (None, "auto") else device),
            ("threads", threads),
        )
        if v is not None
    }
    identity = {
        path: _normalised(path, value) for path, value in pipeline_identity(manifest).items()
    }
    payload = {
        "format": BAND_KEY_FORMAT,
        "family": family_fingerprint(manifest),
        "identity": identity,
        "setup": setup,
    }
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
