"""Filling a noise band: seed retrains of one pipeline, each recorded in the band store as it ends.

Used by `compare --retrain` (sequential looks against a baseline) and by `measure_band`
(a fixed number of seeds for a model family). Seeds come from the store's deterministic sequence,
so a band killed half-way resumes where it stopped and no finished seed is run twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from reprodiag.confirm.options import RetrainOptions
from reprodiag.manifest.model import Manifest
from reprodiag.noise.fingerprint import band_key
from reprodiag.noise.store import BAND_SEED_BASE
from reprodiag.retrain.ensemble import has_ensemble_form
from reprodiag.retrain.seed_result import SeedResult
from reprodiag.retrain.spec import (
    RetrainResult,
    RetrainSpec,
    ensemble_spec,
    member_spec,
    spec_from_manifest,
)


def stored_results(manifest: Manifest, metric: str, options: RetrainOptions) -> list[SeedResult]:
    if options.store is None:
        return []
    return list(options.store.results(key_for(manifest, options), metric))


def key_for(manifest: Manifest, options: RetrainOptions) -> str:
    """The band-store key of this pipeline trained the way `options` trains it."""
    return band_key(manifest, options.trainer, options.device, options.executor.threads)


def ok_values(results: Sequence[SeedResult]) -> list[float]:
    return [r.metric for r in results if r.status == "ok" and r.metric is not None]


def run_seeds(
    manifest: Manifest, metric: str, options: RetrainOptions, count: int, seen: Sequence[SeedResult]
) -> list[SeedResult]:
    """Run `count` new seed retrains of `manifest`'s pipeline; record each as it finishes.

    When the trainer offers an ensemble form (reprodiag.retrain.ensemble) and `options.ensemble`
    allows it, the new seeds train as vmapped ensembles: one per executor worker (one in all for
    a serial executor), each of at least two seeds. An ensemble that fails as a whole (an
    exception, a timeout, a killed worker) fails all its seeds with that reason; a NaN in one
    replica fails that seed only.
    """
    if count <= 0:
        return []
    family = key_for(manifest, options)
    tried = {r.seed for r in seen}
    if options.store is not None:
        seeds = options.store.next_seeds(family, metric, count, exclude=tried)
    else:
        seeds = [
            s for s in range(BAND_SEED_BASE, BAND_SEED_BASE + count + len(tried)) if s not in tried
        ][:count]
    specs = [
        spec_from_manifest(
            manifest,
            seed=s,
            label=f"noise-band-seed-{s}",
            out_dir=options.workdir / f"noise-band-seed-{s}",
            metric=metric,
            trainer=options.trainer,
            device=options.device,
            timeout_s=options.timeout_s,
        )
        for s in seeds
    ]
    specs = _grouped(specs, options)
    by_label = {spec.label: spec for spec in specs}

    def record(result: RetrainResult) -> None:
        for one in expand(result, by_label.get(result.label)):
            if options.store is not None:
                options.store.record(
                    family,
                    metric,
                    one.to_seed_result(),
                    run_id=manifest.run.run_id,
                    manifest_path=one.manifest_path,
                )
            if options.on_result is not None:
                options.on_result(one)

    results = options.executor.run(specs, on_result=record)
    return [
        one.to_seed_result()
        for result, spec in zip(results, specs, strict=True)
        for one in expand(result, spec)
    ]


def _grouped(specs: list[RetrainSpec], options: RetrainOptions) -> list[RetrainSpec]:
    """The solo specs as ensemble specs, when allowed and offered; else unchanged."""
    if not options.ensemble or len(specs) < 2 or not has_ensemble_form(specs[0].trainer):
        return specs
    workers = max(1, options.executor.workers)
    groups = max(1, min(workers, len(specs) // 2))  # every ensemble has two seeds or more
    size = -(-len(specs) // groups)
    out = []
    for chunk in (specs[i : i + size] for i in range(0, len(specs), size)):
        seeds = [spec.seed for spec in chunk]
        folder = options.workdir / f"noise-band-ensemble-{seeds[0]}-k{len(seeds)}"
        out.append(ensemble_spec(chunk[0], seeds, folder) if len(chunk) > 1 else chunk[0])
    return out


def expand(result: RetrainResult, spec: RetrainSpec | None) -> tuple[RetrainResult, ...]:
    """One result per seed: an ensemble's members, or every seed failed with the ensemble's
    reason when it failed as a whole (timed out, killed) before it could report its members."""
    if spec is None or not spec.seeds or result.members:
        return result.per_seed()
    reason = f"the ensemble of {len(spec.seeds)} seeds failed as one: {result.reason}"
    return tuple(
        RetrainResult.failed(member_spec(spec, seed), reason, result.seconds) for seed in spec.seeds
    )
