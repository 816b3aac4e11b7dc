"""Filling a noise band: seed retrains of one pipeline, each recorded in the band store as it ends.

Used by `compare --retrain` (sequential looks against a baseline) and by `reprodiag noise-band`
(a fixed number of seeds for a model family). Seeds come from the store's deterministic sequence,
so a band killed half-way resumes where it stopped and no finished seed is run twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reprodiag.diagnose.model import SeedResult
from reprodiag.manifest.model import Manifest

FALLBACK_SEED_BASE = 10_000  # the store's sequence too: clear of hand-picked seeds (0, 42, 1234)


def stored_results(manifest: Manifest, metric: str, options: Any) -> list[SeedResult]:
    from reprodiag.noise.fingerprint import family_fingerprint

    if options.store is None:
        return []
    return list(options.store.results(family_fingerprint(manifest), metric))


def ok_values(results: Sequence[SeedResult]) -> list[float]:
    return [r.metric for r in results if r.status == "ok" and r.metric is not None]


def run_seeds(manifest: Manifest, metric: str, options: Any, count: int,
              seen: Sequence[SeedResult]) -> list[SeedResult]:
    """Run `count` new seed retrains of `manifest`'s pipeline; record each as it finishes."""
    from reprodiag.noise.fingerprint import family_fingerprint
    from reprodiag.retrain.spec import spec_from_manifest

    if count <= 0:
        return []
    family = family_fingerprint(manifest)
    tried = {r.seed for r in seen}
    if options.store is not None:
        seeds = options.store.next_seeds(family, metric, count, exclude=tried)
    else:
        seeds = [s for s in range(FALLBACK_SEED_BASE, FALLBACK_SEED_BASE + count + len(tried))
                 if s not in tried][:count]
    specs = [spec_from_manifest(manifest, seed=s, label=f"noise-band-seed-{s}",
                                out_dir=options.workdir / f"noise-band-seed-{s}", metric=metric,
                                trainer=options.trainer, device=options.device,
                                timeout_s=options.timeout_s) for s in seeds]

    def record(result: Any) -> None:
        if options.store is not None:
            options.store.record(family, metric, result.to_seed_result(),
                                 run_id=manifest.run.run_id, manifest_path=result.manifest_path)
        if options.on_result is not None:
            options.on_result(result)

    return [r.to_seed_result() for r in options.executor.run(specs, on_result=record)]
