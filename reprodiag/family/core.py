"""The reference family's model: a small torch MLP classifier on the click events.

The entrypoint reprodiag retrains is ``reprodiag.family.mlp:train`` (mlp.py, beside this file,
with its ensemble form); this module holds what both forms share. ``Preprocessor``,
``build_model`` and ``binary_metrics`` are public so a vectorised ensemble reuses exactly the same
preprocessing and scoring. AUC and accuracy are reported in percent, so "4 points" reads
naturally; log loss is in nats.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn

from reprodiag.errors import InputError
from reprodiag.family.data import CATEGORICAL_CARDINALITY, LABEL
from reprodiag.family.optim import Adam
from reprodiag.manifest.model import JSONValue

METRIC_DIRECTIONS: dict[str, str] = {"auc": "higher", "accuracy": "higher", "log_loss": "lower"}


class UnknownParamError(InputError):
    """A hyperparameter the MLP family does not have (a typo would otherwise go unnoticed)."""


@dataclass(frozen=True)
class MLPParams:
    """Hyperparameters; the defaults train in about a second on 20k rows on a 2-core CPU."""

    hidden: tuple[int, ...] = (64, 64)
    # Chosen on the family data (scripts/measure_family.py): lr 3e-3 without dropout reaches a
    # higher AUC in 8 epochs than 1e-3 with dropout 0.1, at the same seed spread (~0.3 points).
    lr: float = 3e-3
    epochs: int = 8
    batch_size: int = 256
    weight_decay: float = 1e-5
    dropout: float = 0.0

    @classmethod
    def from_mapping(cls, params: Mapping[str, JSONValue]) -> MLPParams:
        """MLPParams from a manifest's hyperparameters; raises UnknownParamError for a key the
        family does not have."""
        return from_mapping(params)


def from_mapping(params: Mapping[str, JSONValue]) -> MLPParams:
    """MLPParams from a manifest's hyperparameters; keys the family does not know are refused."""
    allowed = [f.name for f in fields(MLPParams)]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise UnknownParamError(
            f"unknown MLP hyperparameter {unknown[0]!r}"
            + (f" (and {unknown[1:]})" if len(unknown) > 1 else ""),
            hint=f"allowed keys: {', '.join(allowed)}",
        )
    values: dict[str, Any] = dict(params)  # JSON values, converted and checked below
    try:
        if "hidden" in values:
            values["hidden"] = tuple(int(h) for h in values["hidden"])
        for name in ("lr", "weight_decay", "dropout"):
            if name in values:
                values[name] = float(values[name])
        for name in ("epochs", "batch_size"):
            if name in values:
                values[name] = int(values[name])
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"MLP hyperparameters {dict(params)!r}: a value of the wrong type: {exc}",
            hint="hidden is a list of ints; lr, weight_decay, dropout are floats; "
            "epochs, batch_size are ints",
        ) from None
    return _validated(MLPParams(**values))


def _validated(params: MLPParams) -> MLPParams:
    problems = [
        name
        for name, ok in (
            ("hidden", all(h > 0 for h in params.hidden)),
            ("lr", params.lr > 0),
            ("epochs", params.epochs > 0),
            ("batch_size", params.batch_size > 0),
            ("weight_decay", params.weight_decay >= 0),
            ("dropout", 0 <= params.dropout < 1),
        )
        if not ok
    ]
    if problems:
        raise InputError(
            f"MLP hyperparameters out of range: {', '.join(problems)} in {params}",
            hint="sizes, lr and epochs must be positive; dropout in [0, 1)",
        )
    return params


@dataclass(frozen=True)
class Preprocessor:
    """Standardise dense columns with train-only statistics; one-hot the categorical columns."""

    dense: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    categorical: tuple[tuple[str, int], ...]

    @classmethod
    def fit(cls, train_df: pd.DataFrame) -> Preprocessor:
        """Learn the dense columns' mean and standard deviation from the training rows only."""
        dense = tuple(c for c in train_df.columns if c[:1] == "f" and c[1:].isdigit())
        if not dense:
            raise InputError(
                "the training rows have no dense feature columns f0, f1, ...",
                hint="read a table written by reprodiag.family.data.create_table",
            )
        values = train_df[list(dense)].to_numpy(np.float64)
        std = np.where(values.std(axis=0) > 1e-12, values.std(axis=0), 1.0)
        categorical = tuple((c, n) for c, n in CATEGORICAL_CARDINALITY.items() if c in train_df)
        return cls(dense, tuple(values.mean(axis=0)), tuple(std), categorical)

    @property
    def n_inputs(self) -> int:
        """The width of a transformed row: one per dense column plus one per categorical value."""
        return len(self.dense) + sum(n for _, n in self.categorical)

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Rows as a float32 matrix: standardised dense columns, then one-hot categoricals (an
        unknown code is an all-zero block)."""
        values = df[list(self.dense)].to_numpy(np.float64)
        dense = (values - np.array(self.mean)) / np.array(self.std)
        blocks = [dense.astype(np.float32)]
        for column, cardinality in self.categorical:
            codes = df[column].to_numpy(np.int64)
            # Codes outside the known range (a new country) become an all-zero row, not a crash.
            blocks.append((codes[:, None] == np.arange(cardinality)[None, :]).astype(np.float32))
        return np.concatenate(blocks, axis=1)


def build_model(n_inputs: int, params: MLPParams) -> nn.Module:
    """The MLP: Linear, ReLU and Dropout per hidden layer, then one output logit."""
    layers: list[nn.Module] = []
    width = n_inputs
    for hidden in params.hidden:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(params.dropout)]
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC in [0, 1] by the Mann-Whitney rank sum; tied scores share their average rank."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise InputError(
            f"AUC needs both classes; got {n_pos} positives and {n_neg} negatives",
            hint="evaluate on a set that contains clicks and non-clicks",
        )
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Average 1-based rank of each distinct score: ranks below it, plus the middle of its tie group.
    average_rank = np.cumsum(counts) - counts + (counts + 1) / 2.0
    rank_sum = float(average_rank[inverse][labels].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def binary_metrics(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """AUC and accuracy (threshold 0.5) in percent, log loss in nats, all from logits."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    logits = np.asarray(logits, dtype=np.float64).ravel()
    # softplus(z) - y*z is the log loss of sigmoid(z), without overflow for large |z|.
    log_loss = np.mean(np.logaddexp(0.0, logits) - labels * logits)
    return {
        "auc": 100.0 * roc_auc(labels, logits),
        "accuracy": 100.0 * float(np.mean((logits > 0) == (labels > 0.5))),
        "log_loss": float(log_loss),
    }


def seed_everything(seed: int) -> dict[str, int]:
    """Seed Python, NumPy and torch (CPU and every CUDA device); returns what it set."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return {"python": seed, "numpy": seed % 2**32, "torch": seed}


def _fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    params: MLPParams,
    generator: torch.Generator,
) -> None:
    optimizer = Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(params.epochs):
        # Slicing a permuted index is the DataLoader's shuffle without its per-row collate cost;
        # the dedicated generator makes the batch order a function of the seed alone.
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), params.batch_size):
            batch = order[start : start + params.batch_size]
            optimizer.zero_grad()
            loss_fn(model(x[batch]).squeeze(1), y[batch]).backward()
            optimizer.step()


def prepare(
    train_df: pd.DataFrame, device: str = "cpu"
) -> tuple[Preprocessor, torch.Tensor, torch.Tensor]:
    """The fitted preprocessor and the training tensors: shared by the solo and ensemble paths."""
    prep = Preprocessor.fit(train_df)
    x = torch.from_numpy(prep.transform(train_df)).to(device)
    y = torch.from_numpy(train_df[LABEL].to_numpy(np.float32)).to(device)
    return prep, x, y


def fit_and_evaluate(
    train_df: pd.DataFrame, eval_df: pd.DataFrame, params: MLPParams, seed: int, device: str = "cpu"
) -> tuple[dict[str, float], nn.Module]:
    """Fit on ``train_df``, score ``eval_df``; same seed, same host: the same bits."""
    metrics, model, _ = fit_and_predict(train_df, eval_df, params, seed, device)
    return metrics, model


def fit_and_predict(
    train_df: pd.DataFrame, eval_df: pd.DataFrame, params: MLPParams, seed: int, device: str = "cpu"
) -> tuple[dict[str, float], nn.Module, torch.Tensor]:
    """``fit_and_evaluate`` that also returns the evaluation logits (on the CPU)."""
    seed_everything(seed)
    prep, x, y = prepare(train_df, device)
    model = build_model(prep.n_inputs, params).to(device)
    generator = torch.Generator().manual_seed(seed)
    _fit(model, x, y, params, generator)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(prep.transform(eval_df)).to(device)).squeeze(1).cpu()
    return binary_metrics(eval_df[LABEL].to_numpy(), logits.numpy()), model, logits


class _Rows(Protocol):
    def to_pandas(self) -> pd.DataFrame: ...


class TrainContext(Protocol):
    """What ``train`` reads from the retrain context (duck-typed; any object with these works).

    Read-only properties, so a frozen record such as reprodiag.retrain.interface.TrainContext
    satisfies it.
    """

    @property
    def params(self) -> Mapping[str, JSONValue]:
        """The hyperparameters, as recorded in the manifest."""
        ...

    @property
    def seed(self) -> int:
        """The base seed every generator is seeded from."""
        ...

    @property
    def data(self) -> _Rows:
        """The training rows."""
        ...

    @property
    def eval_data(self) -> _Rows:
        """The evaluation rows."""
        ...

    @property
    def device(self) -> str:
        """Where to train: "cpu" or "cuda:N"."""
        ...

    @property
    def output_dir(self) -> Path:
        """The folder the run writes its files to."""
        ...
