"""Retraining: the trainer contract, retrain specs, the worker and the executors that run them.

    specs = [spec_from_manifest(baseline, seed=s, label=f"noise band seed {s}", out_dir=out,
                                metric="auc") for s in (1001, 1002, 1003)]
    results = SerialExecutor(out / "work").run(specs, on_result=store.record)

Nothing heavy is imported here: torch and deltalake load in the worker process, ray only when a
RayExecutor first runs.
"""

from reprodiag.retrain.executor import Executor, InProcessExecutor, SerialExecutor
from reprodiag.retrain.interface import (
    RetrainFailed,
    RetrainSpecError,
    TrainContext,
    Trainer,
    load_entrypoint,
)
from reprodiag.retrain.make import EXECUTORS, make_executor
from reprodiag.retrain.pool import ProcessExecutor, worker_slots
from reprodiag.retrain.ray_executor import RayExecutor
from reprodiag.retrain.spec import RetrainResult, RetrainSpec, slug, spec_from_manifest
from reprodiag.retrain.template import PLACEHOLDERS, check_template, parse_command, render

__all__ = [
    "EXECUTORS",
    "PLACEHOLDERS",
    "Executor",
    "InProcessExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "RetrainFailed",
    "RetrainResult",
    "RetrainSpec",
    "RetrainSpecError",
    "SerialExecutor",
    "TrainContext",
    "Trainer",
    "check_template",
    "load_entrypoint",
    "make_executor",
    "parse_command",
    "render",
    "slug",
    "spec_from_manifest",
    "worker_slots",
]
