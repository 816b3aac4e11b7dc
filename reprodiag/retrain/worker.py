"""One retrain in its own process: `python -m reprodiag.retrain.worker SPEC.json RESULT.json`.

The worker reopens the pinned snapshots, seeds every generator from the spec's seed, runs the
trainer under reprodiag.capture (so each retrain leaves its own manifest, also when it fails) and
writes RESULT.json atomically. Anything that goes wrong in training is a failed result with its
reason, and the full traceback goes to RESULT.traceback.txt next to it; the exit code is 0 either
way. A non-zero exit means the worker itself could not run (a bad spec, a crash, a kill).

Storage options for object-store snapshots come from REPRODIAG_STORAGE_OPTIONS (a JSON object
set by the executor); the variable is removed before the trainer runs.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsFloat

from reprodiag._atomic import atomic_write_text
from reprodiag.errors import InputError, ReprodiagError
from reprodiag.manifest.model import OutputDigests
from reprodiag.retrain.interface import RetrainFailed, TrainContext, load_entrypoint
from reprodiag.retrain.spec import (
    DEVICE_AUTO,
    STORAGE_OPTIONS_ENV,
    RetrainResult,
    RetrainSpec,
    existing_manifest,
    member_spec,
)

if TYPE_CHECKING:
    from typing import TypeGuard

    from reprodiag.manifest.model import SnapshotRef
    from reprodiag.probes.run import Run
    from reprodiag.probes.seeds import Seeds
    from reprodiag.retrain.ensemble import EnsembleTrainer
    from reprodiag.snapshots.interface import Snapshot

    # reprodiag.snapshots.reopen, or the warm worker's cached one
    Opener = Callable[[SnapshotRef, Mapping[str, str] | None], Snapshot]


def resolve_device(device: str) -> str:
    """ "auto" is cuda:0 when torch sees a GPU, else cpu; anything else is kept as given."""
    if device != DEVICE_AUTO:
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def storage_options_from_env() -> dict[str, str] | None:
    """The object-store options the executor handed over in the environment (removed from it once
    read), or None when there are none."""
    text = os.environ.pop(STORAGE_OPTIONS_ENV, None)
    if not text:
        return None
    options = json.loads(text)
    if not isinstance(options, dict):
        raise InputError(f"{STORAGE_OPTIONS_ENV} is not a JSON object of storage options")
    return {str(k): str(v) for k, v in options.items()}


def _metrics_mapping(raw: object, metric: str) -> Mapping[object, object]:
    if not isinstance(raw, Mapping):
        raise RetrainFailed(
            f"the trainer returned {type(raw).__name__}, not a mapping of metric "
            f"names to numbers such as {{{metric!r}: 81.2}}"
        )
    return raw


def finite_metrics(raw: object, metric: str) -> dict[str, float]:
    """The finite numeric metrics a trainer returned: what its manifest can record."""
    items = _metrics_mapping(raw, metric).items()
    return {str(k): float(v) for k, v in items if _number(v) and math.isfinite(float(v))}


def metric_value(raw: Mapping[object, object], metric: str) -> float:
    """The value of `metric`; RetrainFailed with the reason when it is missing or unusable."""
    if metric not in raw:
        names = ", ".join(sorted(map(str, raw))) or "nothing"
        raise RetrainFailed(f"returned no {metric!r} metric (it returned: {names})")
    value = raw[metric]
    if not _number(value):
        raise RetrainFailed(
            f"returned {type(value).__name__} {str(value)[:40]!r} for {metric}, not a number"
        )
    if not math.isfinite(float(value)):
        shown = "NaN" if math.isnan(float(value)) else str(float(value))
        raise RetrainFailed(f"returned {shown} for {metric}: the run diverged")
    return float(value)


def check_metrics(raw: object, metric: str) -> tuple[dict[str, float], float]:
    """Both of the above: the recordable metrics and the value of `metric`."""
    return finite_metrics(raw, metric), metric_value(_metrics_mapping(raw, metric), metric)


def _number(value: Any) -> TypeGuard[SupportsFloat]:  # Any: whatever a trainer returned
    # numbers.Real covers int, float and numpy scalars; 0-d tensors convert through __float__.
    if isinstance(value, (bool, str, bytes)):
        return False
    if isinstance(value, numbers.Real):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _train(spec: RetrainSpec, data: Snapshot, eval_data: Snapshot, device: str, run: Run) -> object:
    if spec.command is not None:
        from reprodiag.retrain.command import run_command

        return run_command(spec, device=device)
    trainer = load_entrypoint(str(spec.entrypoint))
    return trainer(train_context(spec, data, eval_data, device, run.record_outputs))


def train_context(
    spec: RetrainSpec,
    data: Snapshot,
    eval_data: Snapshot,
    device: str,
    record_outputs: Callable[[OutputDigests], object] | None = None,
) -> TrainContext:
    """What the trainer receives (solo or as an ensemble), its output folder created.

    `record_outputs` receives what the trainer logs with `ctx.log_outputs(...)`: the solo
    retrain's Run.record_outputs, so its manifest carries the output digests."""
    Path(spec.output_dir).mkdir(parents=True, exist_ok=True)
    return TrainContext(
        params=dict(spec.params),
        seed=spec.seed,
        data=data,
        eval_data=eval_data,
        device=device,
        output_dir=Path(spec.output_dir),
        record_outputs=record_outputs,
    )


def retrain_capture(
    spec: RetrainSpec,
    manifest: str | Path,
    run_name: str | None,
    output_dir: str,
    data: Snapshot,
    eval_data: Snapshot,
    seeds: Seeds,
) -> Run:
    """The capture of one retrain (or one ensemble member): never gated by a tier, the code
    recorded as it is in the spec's code folder (where the worker runs when it has none)."""
    from reprodiag.probes.run import capture

    if spec.code_dir:  # a checked-out pipeline: no __pycache__ may change the tree it records
        sys.dont_write_bytecode = True

    return capture(
        manifest,
        train=data,
        eval=eval_data,
        seeds=seeds,
        params=spec.params,
        family=spec.family,
        experiment=spec.experiment,
        run_name=run_name,
        hypothesis=spec.hypothesis,
        owner=spec.owner,
        tags=spec.tags,
        tier=None,
        entrypoint=_recorded_entrypoint(spec),
        code_root=Path(spec.code_dir) if spec.code_dir else Path.cwd(),
        output_dir=output_dir,
    )


def _recorded_entrypoint(spec: RetrainSpec) -> str:
    if spec.command is not None:
        import shlex

        return shlex.join(spec.command)
    return str(spec.entrypoint)


def run_spec(
    spec: RetrainSpec,
    *,
    traceback_path: Path | None = None,
    storage_options: Mapping[str, str] | None = None,
    opener: Opener | None = None,
) -> RetrainResult:
    """Run one retrain in this process; never raises for a training failure.

    An ensemble spec (``spec.seeds``) gives one result whose ``members`` hold one result per seed.
    `opener` reopens the pinned snapshots (default reprodiag.snapshots.reopen; the warm worker
    passes its cache's).
    """
    if spec.seeds:
        return _run_ensemble(spec, traceback_path, storage_options, opener)
    from reprodiag.probes.seeds import deterministic_seeds

    reopen = opener or _reopen

    started = time.monotonic()
    manifest = Path(spec.manifest_out)
    manifest.unlink(missing_ok=True)  # a manifest left by an earlier attempt is not this run's
    try:
        device = resolve_device(spec.device)
        seeds = deterministic_seeds(spec.seed)
        data, eval_data = reopen(spec.train, storage_options), reopen(spec.eval, storage_options)
        with retrain_capture(
            spec, manifest, spec.run_name, spec.output_dir, data, eval_data, seeds
        ) as run:
            raw = _train(spec, data, eval_data, device, run)
            metrics = finite_metrics(raw, spec.metric)
            # also when `metric` itself is unusable
            run.log_metrics(metrics, spec.directions, primary=_primary(metrics, spec.metric))
            value = metric_value(_metrics_mapping(raw, spec.metric), spec.metric)
    except (Exception, SystemExit) as exc:  # a failed seed, not a failed diagnosis
        if traceback_path is not None:
            atomic_write_text(traceback_path, traceback.format_exc())
        return RetrainResult.failed(
            spec,
            reason_of(exc),
            time.monotonic() - started,
            str(manifest) if manifest.exists() else None,
        )
    return RetrainResult(
        label=spec.label,
        seed=spec.seed,
        status="ok",
        metrics=metrics,
        metric_value=value,
        reason=None,
        seconds=round(time.monotonic() - started, 3),
        manifest_path=str(manifest),
    )


def _reopen(ref: SnapshotRef, storage_options: Mapping[str, str] | None) -> Snapshot:
    from reprodiag.snapshots import reopen

    return reopen(ref, storage_options)


def _run_ensemble(
    spec: RetrainSpec,
    traceback_path: Path | None,
    storage_options: Mapping[str, str] | None,
    opener: Opener | None,
) -> RetrainResult:
    """All seeds of an ensemble spec; without an ensemble form, each seed solo, one by one."""
    from reprodiag.retrain.ensemble import find_ensemble

    started = time.monotonic()
    members = [member_spec(spec, seed) for seed in spec.seeds]
    form = find_ensemble(str(spec.entrypoint))
    if form is None:
        results = [
            run_spec(
                m, traceback_path=traceback_path, storage_options=storage_options, opener=opener
            )
            for m in members
        ]
    else:
        results = _train_members(spec, members, form, traceback_path, storage_options, opener)
    ok = sum(r.status == "ok" for r in results)
    failed = [r for r in results if r.status == "failed"]
    return RetrainResult(
        label=spec.label,
        seed=spec.seed,
        status="ok" if ok else "failed",
        metrics={},
        metric_value=None,
        reason=f"{ok} of {len(results)} seeds ok"
        + (f"; first failure: {failed[0].reason}" if failed else ""),
        seconds=round(time.monotonic() - started, 3),
        manifest_path=None,
        members=tuple(results),
    )


def _train_members(
    spec: RetrainSpec,
    members: list[RetrainSpec],
    form: EnsembleTrainer,
    traceback_path: Path | None,
    storage_options: Mapping[str, str] | None,
    opener: Opener | None,
) -> list[RetrainResult]:
    """One ensemble training, one manifest per seed. An exception fails every seed (they shared
    one process and one optimizer step); an unusable metric fails only its own seed."""
    reopen = opener or _reopen
    started, runs = time.monotonic(), []  # runs started so far: each must finish
    try:
        device = resolve_device(spec.device)
        data, eval_data = reopen(spec.train, storage_options), reopen(spec.eval, storage_options)
        for k, member in enumerate(members):
            runs.append(_member_run(member, k, spec, data, eval_data))
        raw = list(form(train_context(spec, data, eval_data, device), list(spec.seeds)))
        if len(raw) != len(members):
            raise RetrainFailed(
                f"the ensemble trainer returned {len(raw)} metric mappings for {len(members)} seeds"
            )
    except (Exception, SystemExit) as exc:
        if traceback_path is not None:
            atomic_write_text(traceback_path, traceback.format_exc())
        reason = f"the ensemble of {len(members)} seeds failed as one: {reason_of(exc)}"
        for run in runs:
            run.finish(exc)
        return [
            RetrainResult.failed(m, reason, time.monotonic() - started, existing_manifest(m))
            for m in members
        ]
    share = (time.monotonic() - started) / len(members)  # each seed's share of the wall time
    return [
        _member_result(m, run, r, spec, share) for m, run, r in zip(members, runs, raw, strict=True)
    ]


def _member_run(
    member: RetrainSpec, index: int, spec: RetrainSpec, data: Snapshot, eval_data: Snapshot
) -> Run:
    """Seed `member.seed`'s capture, started: its manifest says it was one of K replicas."""
    import dataclasses

    from reprodiag.probes.seeds import deterministic_seeds

    Path(member.manifest_out).unlink(missing_ok=True)
    seeds = deterministic_seeds(member.seed)
    seeds = dataclasses.replace(
        seeds,
        derivation=(
            f"{seeds.derivation}; trained as replica {index + 1} of {len(spec.seeds)} vmapped "
            f"replicas (torch.func, independent models, seeds {list(spec.seeds)}) in one process: "
            "statistically equivalent to a solo run, not bit-identical; replay it solo"
        ),
    )
    return retrain_capture(
        spec, member.manifest_out, member.run_name, member.output_dir, data, eval_data, seeds
    ).start()


def _member_result(
    member: RetrainSpec, run: Run, raw: object, spec: RetrainSpec, seconds: float
) -> RetrainResult:
    try:
        metrics = finite_metrics(raw, spec.metric)
        run.log_metrics(metrics, spec.directions, primary=_primary(metrics, spec.metric))
        value = metric_value(_metrics_mapping(raw, spec.metric), spec.metric)
    except RetrainFailed as exc:  # a NaN in one replica fails that seed only
        run.finish(exc)
        return RetrainResult.failed(member, reason_of(exc), seconds, member.manifest_out)
    run.finish()
    return RetrainResult(
        label=member.label,
        seed=member.seed,
        status="ok",
        metrics=metrics,
        metric_value=value,
        reason=None,
        seconds=round(seconds, 3),
        manifest_path=member.manifest_out,
    )


def _primary(metrics: Mapping[str, float], metric: str) -> str | None:
    """A retrain is judged on the metric it was run for: its manifest records it as primary."""
    return metric if metric in metrics else None


def reason_of(exc: BaseException) -> str:
    """'ValueError: boom'; reprodiag's own errors read as their message (and tip)."""
    if isinstance(exc, RetrainFailed):
        return exc.message
    if isinstance(exc, ReprodiagError):
        return str(exc)
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[-2000:]


def main(argv: list[str] | None = None) -> int:
    """Run one spec file and write its result file; the exit status is 0 even for a failed
    retrain (the result says so) and 2 for bad arguments."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m reprodiag.retrain.worker SPEC.json RESULT.json", file=sys.stderr)
        return 2
    spec_path, result_path = Path(args[0]), Path(args[1])
    from reprodiag.retrain import lifeline

    lifeline.die_with_parent(lifeline.expected_parent())
    try:
        spec = RetrainSpec.from_json(spec_path.read_text(encoding="utf-8"), str(spec_path))
        options = storage_options_from_env()
    except (OSError, ValueError, InputError) as exc:
        print(f"reprodiag retrain worker: {exc}", file=sys.stderr)
        return 2
    traceback_path = result_path.with_name(result_path.stem + ".traceback.txt")
    try:
        result = run_spec(spec, traceback_path=traceback_path, storage_options=options)
    except KeyboardInterrupt as exc:  # raised by the trainer: no terminal reaches a worker
        result = RetrainResult.failed(spec, reason_of(exc), 0.0)
    atomic_write_text(result_path, result.to_json())
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the result is written: a thread the trainer left must not hold the exit
