"""The reference family's trainer entrypoint: ``reprodiag.family.mlp:train`` and its ensemble form.

``train(ctx)`` is what reprodiag retrains; ``train_ensemble(ctx, seeds)`` is its vectorised form
(found by the ``train`` + ``train_ensemble`` naming rule). The model, preprocessing and scoring
they share live in core.py and are re-exported here, so ``reprodiag.family.mlp`` stays the one
name users import. AUC and accuracy are reported in percent; log loss is in nats.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from reprodiag.family import ensemble
from reprodiag.family.core import (
    METRIC_DIRECTIONS,
    MLPParams,
    Preprocessor,
    TrainContext,
    UnknownParamError,
    binary_metrics,
    build_model,
    fit_and_evaluate,
    fit_and_predict,
    from_mapping,
    prepare,
    roc_auc,
    seed_everything,
)

__all__ = [
    "METRIC_DIRECTIONS",
    "MLPParams",
    "Preprocessor",
    "TrainContext",
    "UnknownParamError",
    "binary_metrics",
    "build_model",
    "fit_and_evaluate",
    "fit_and_predict",
    "from_mapping",
    "prepare",
    "roc_auc",
    "seed_everything",
    "train",
    "train_ensemble",
]


def train(ctx: TrainContext) -> dict[str, float]:
    """The trainer entrypoint: train on ``ctx.data``, score ``ctx.eval_data``, save model.pt.

    When the context can record output digests (``ctx.log_outputs``, as reprodiag's own
    TrainContext does), the weights and the evaluation logits are recorded in the run's manifest.
    """
    params = from_mapping(ctx.params)
    metrics, model, logits = fit_and_predict(
        ctx.data.to_pandas(),
        ctx.eval_data.to_pandas(),
        params,
        int(ctx.seed),
        device=str(ctx.device),
    )
    output_dir = Path(ctx.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), output_dir / "model.pt")
    log_outputs = getattr(ctx, "log_outputs", None)  # optional: the Protocol stays duck-typed
    if callable(log_outputs):
        log_outputs(weights=model, predictions=logits)
    return metrics


def train_ensemble(ctx: TrainContext, seeds: Sequence[int]) -> list[dict[str, float]]:
    """The ensemble form of ``train`` (found by the ``train`` + ``train_ensemble`` rule): K seeds
    as K independent vmapped replicas; see reprodiag.family.ensemble."""
    return ensemble.train_ensemble(ctx, seeds)
