"""The trainer contract: what reprodiag hands a user's training function.

A trainer is a Python entrypoint `module:function(ctx) -> {metric: value}`. reprodiag calls it for
the runs it captures in the demo and, later, for seed replays, pinned-snapshot retrains and the
noise band. It must seed every generator from `ctx.seed` (reprodiag.deterministic_seeds does) and
read its data only through `ctx.data` and `ctx.eval_data`, so a retrain on another snapshot or seed
changes exactly one axis. It may record digests of what it produced with `ctx.log_outputs(...)`
(weights, evaluation predictions, files), so the retrain's manifest carries the bit-exact bar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from reprodiag.errors import InputError, ReprodiagError
from reprodiag.manifest.model import JSONValue, OutputDigests

if TYPE_CHECKING:
    from reprodiag.probes.outputs import FilesArg
    from reprodiag.snapshots.interface import Snapshot


@dataclass(frozen=True)
class TrainContext:
    """What a trainer receives: the hyperparameters, the base seed, the training and evaluation
    snapshots, the device and the folder to write outputs to."""

    params: Mapping[str, JSONValue]  # hyperparameters, as recorded in the manifest's intent
    seed: int  # the base seed; seed every generator from it
    data: Snapshot  # .to_pandas(), .to_arrow(), .ref
    eval_data: Snapshot  # the evaluation snapshot
    device: str = "cpu"  # "cpu" or "cuda:N"
    output_dir: Path = field(default_factory=lambda: Path("."))
    # Where log_outputs sends its digests: the captured run's Run.record_outputs in a retrain
    # worker or the demo; None records nothing (a bare context, an ensemble's shared context).
    record_outputs: Callable[[OutputDigests], object] | None = field(
        default=None, repr=False, compare=False
    )

    def log_outputs(
        self, weights: object = None, predictions: object = None, files: FilesArg = ()
    ) -> OutputDigests:
        """Record sha256 digests of the trained model's outputs in this run's manifest.

        Same arguments as `Run.log_outputs`: weights (a torch module, a state_dict, a mapping
        of arrays, an array, or a "sha256:<hex>" digest), predictions (the evaluation
        predictions as an array or tensor, or a digest), files (paths, named relative to
        `output_dir`, or a mapping name -> path). Returns the digests of this call.
        """
        from reprodiag.probes.outputs import output_digests

        digests = output_digests(
            weights=weights, predictions=predictions, files=files, root=self.output_dir
        )
        if self.record_outputs is not None:
            self.record_outputs(digests)
        return digests


class Trainer(Protocol):
    """A trainer: `module:function` that trains on the context and returns its metrics by name."""

    def __call__(self, ctx: TrainContext) -> Mapping[str, float]:
        """Train once from ctx (seeding every generator from ctx.seed); the final metrics by
        name."""
        ...


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
