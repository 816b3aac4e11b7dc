"""Filling a noise band: seed retrains of one pipeline, each recorded in the band store as it ends.

Used by `compare --retrain` (sequential looks against a baseline) and by `measure_band`
(a fixed number of seeds for a model family). Seeds come from the store's deterministic sequence,
so a band killed half-way resumes where it stopped and no finished seed is run twice.

Every retrain runs the pipeline's recorded code (`code_dir_for`: a cached git worktree at its
commit with its patch, reprodiag.retrain.worktree) and is checked against the pipeline it stands
for before anything else sees it (reprodiag.confirm.identity): one that is not that pipeline is a
failed seed with the reason, never judged and never recorded in the band store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from reprodiag.confirm.identity import IdentityLog, verify_result
from reprodiag.confirm.options import RetrainOptions
from reprodiag.manifest.model import Axis, Manifest, Patch
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
from reprodiag.retrain.worktree import pipeline_code_dir

# The code folder of each pipeline, built once per process (a retrain must never find its folder
# rebuilt under it): (repo, current folder, commit, diff digest, patch digest) -> folder.
_CODE_DIRS: dict[tuple[str, ...], Path | None] = {}


def code_dir_for(manifest: Manifest, options: RetrainOptions) -> Path | None:
    """The folder the pipeline's retrains run in: its commit with its patch checked out from
    `options.repo` (None: the current folder's repository), or the current folder when that holds
    exactly the recorded code; None when the manifest records no commit. Raises
    reprodiag.retrain.worktree.CodeUnavailable (an InputError) when neither can be had."""
    code = manifest.code
    repo = options.repo
    patch = code.patch.sha256 if isinstance(code.patch, Patch) else ""
    key = (str(repo), str(Path.cwd()), str(code.commit), str(code.diff_sha256), patch)
    if key not in _CODE_DIRS:
        _CODE_DIRS[key] = pipeline_code_dir(code, repo)
    return _CODE_DIRS[key]


def stored_results(manifest: Manifest, metric: str, options: RetrainOptions) -> list[SeedResult]:
    """The pipeline's seeds already in the band store for `metric` (none without a store)."""
    if options.store is None:
        return []
    return list(options.store.results(key_for(manifest, options), metric))


def key_for(manifest: Manifest, options: RetrainOptions) -> str:
    """The band-store key of this pipeline trained the way `options` trains it."""
    return band_key(manifest, options.trainer, options.device, options.executor.threads)


def ok_values(results: Sequence[SeedResult]) -> list[float]:
    """The finished values among `results`: failed seeds and missing metrics left out."""
    return [r.metric for r in results if r.status == "ok" and r.metric is not None]


def run_seeds(
    manifest: Manifest,
    metric: str,
    options: RetrainOptions,
    count: int,
    seen: Sequence[SeedResult],
    *,
    label: str = "noise-band",
    log: IdentityLog | None = None,
) -> list[SeedResult]:
    """Run `count` new seed retrains of `manifest`'s pipeline; record each as it finishes.

    Seeds come from the band store's sequence for this pipeline (or from BAND_SEED_BASE without
    a store), never one in `seen`; each is recorded in the store under this pipeline's key, once
    its manifest shows it is this pipeline (`log` collects those checks). `label` prefixes the
    retrains' folders ("noise-band", "baseline-band").
    """
    if count <= 0:
        return []
    family = key_for(manifest, options)
    code_dir = code_dir_for(manifest, options)
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
            label=f"{label}-seed-{s}",
            out_dir=options.workdir / f"{label}-seed-{s}",
            metric=metric,
            trainer=options.trainer,
            device=options.device,
            timeout_s=options.timeout_s,
            code_dir=code_dir,
        )
        for s in seeds
    ]

    def keep(one: RetrainResult) -> None:
        if options.store is not None:
            options.store.record(
                family,
                metric,
                one.to_seed_result(),
                run_id=manifest.run.run_id,
                manifest_path=one.manifest_path,
            )

    done = run_specs(specs, options, label=label, keep=keep, pipeline=manifest, log=log)
    return [r.to_seed_result() for r in done]


def run_specs(
    specs: list[RetrainSpec],
    options: RetrainOptions,
    *,
    label: str,
    keep: Callable[[RetrainResult], None] | None = None,
    pipeline: Manifest | None = None,
    swapped: Axis | None = None,
    log: IdentityLog | None = None,
) -> list[RetrainResult]:
    """Run solo seed specs of one pipeline, one result per seed, each handed to `keep` (the band
    store) and `options.on_result` (progress) as it finishes.

    With `pipeline`, each finished retrain is first checked against it (all but the `swapped`
    axis; reprodiag.confirm.identity): one that is not that pipeline comes back failed with the
    reason, goes to `options.on_result` but never to `keep`; `log` collects every check.

    When the trainer offers an ensemble form (reprodiag.retrain.ensemble) and `options.ensemble`
    allows it, the seeds train as vmapped ensembles: one per executor worker (one in all for a
    serial executor), each of at least two seeds. An ensemble that fails as a whole (an exception,
    a timeout, a killed worker) fails all its seeds with that reason; a NaN in one replica fails
    that seed only.
    """
    grouped = _grouped(specs, options, label)
    by_label = {spec.label: spec for spec in grouped}
    by_seed = {spec.seed: spec for spec in specs}
    checked: dict[tuple[str, int], RetrainResult] = {}

    def verified(one: RetrainResult) -> RetrainResult:
        spec = by_seed.get(one.seed)
        if pipeline is None or spec is None:
            return one
        if (one.label, one.seed) not in checked:
            checked[one.label, one.seed] = verify_result(pipeline, spec, one, swapped, log)
        return checked[one.label, one.seed]

    def record(result: RetrainResult) -> None:
        for raw in expand(result, by_label.get(result.label)):
            one = verified(raw)
            if keep is not None and one is raw:  # a refused retrain is never stored
                keep(one)
            if options.on_result is not None:
                options.on_result(one)

    results = options.executor.run(grouped, on_result=record)
    return [
        verified(one)
        for result, spec in zip(results, grouped, strict=True)
        for one in expand(result, spec)
    ]


def _grouped(specs: list[RetrainSpec], options: RetrainOptions, label: str) -> list[RetrainSpec]:
    """The solo specs as ensemble specs, when allowed and offered; else unchanged."""
    if not options.ensemble or len(specs) < 2 or not has_ensemble_form(specs[0].trainer):
        return specs
    workers = max(1, options.executor.workers)
    groups = max(1, min(workers, len(specs) // 2))  # every ensemble has two seeds or more
    size = -(-len(specs) // groups)
    out = []
    for chunk in (specs[i : i + size] for i in range(0, len(specs), size)):
        seeds = [spec.seed for spec in chunk]
        folder = options.workdir / f"{label}-ensemble-{seeds[0]}-k{len(seeds)}"
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
