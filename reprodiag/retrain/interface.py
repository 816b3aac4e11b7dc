"""The trainer contract: what reprodiag hands a user's training function.

A trainer is a Python entrypoint `module:function(ctx) -> {metric: value}`. reprodiag calls it for
the runs it captures in the demo and, later, for seed replays, pinned-snapshot retrains and the
noise band. It must seed every generator from `ctx.seed` (reprodiag.deterministic_seeds does) and
read its data only through `ctx.data` and `ctx.eval_data`, so a retrain on another snapshot or seed
changes exactly one axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reprodiag.errors import InputError, ReprodiagError


@dataclass(frozen=True)
class TrainContext:
    params: Mapping[str, Any]  # hyperparameters, as recorded in the manifest's intent
    seed: int  # the base seed; seed every generator from it
    data: Any  # a reprodiag.snapshots.Snapshot: .to_pandas(), .to_arrow(), .ref
    eval_data: Any  # the evaluation snapshot, same interface
    device: str = "cpu"  # "cpu" or "cuda:N"
    output_dir: Path = field(default_factory=lambda: Path("."))


class Trainer(Protocol):
    def __call__(self, ctx: TrainContext) -> Mapping[str, float]: ...


def load_entrypoint(spec: str) -> Trainer:
    """Import `module:function`; a bad spec is an InputError that says what was expected."""
    import importlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(
            f"trainer {spec!r}: expected module:function",
            hint="for example reprodiag.family.mlp:train",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(
            f"trainer {spec!r}: cannot import {module_name}: {exc}",
            hint="run from the project folder or install the package that holds it",
        ) from None
    trainer = getattr(module, attr, None)
    if not callable(trainer):
        raise InputError(f"trainer {spec!r}: {module_name} has no function {attr!r}")
    return trainer  # type: ignore[no-any-return]


class RetrainSpecError(InputError):
    """A retrain spec (or result) file that is not what the worker expects; names the field."""


class RetrainFailed(ReprodiagError):
    """A retrain that ran but gave no usable metric: a failed seed, never a failed diagnosis."""
