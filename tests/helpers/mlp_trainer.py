"""A torch trainer for the verdict tests: a one-hidden-layer MLP on a small Delta table.

Entrypoint `tests.helpers.mlp_trainer:train` (the trainer contract of
reprodiag/retrain/interface.py): reads `ctx.data` and `ctx.eval_data` through their handles,
seeds its generators from `ctx.seed`, records its weights and evaluation predictions with
`ctx.log_outputs(...)`, and returns {"log_loss": ..., "accuracy": ...}; log loss (lower is
better) is the primary metric. One run is about 0.15 s on one CPU thread.

The data (`make_rows`): 4 standard-normal features z0..z3, a label from a rule unlike the
reference family's, `sin(2·z0) + z1·z2 − 0.4·z3 + N(0, 0.6) > 0.2`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

FEATURES = tuple(f"z{i}" for i in range(4))
METRIC = "log_loss"
DIRECTIONS = {"log_loss": "lower", "accuracy": "higher"}
DEFAULT_PARAMS: dict[str, Any] = {
    "hidden": 16,
    "lr": 0.02,
    "epochs": 4,
    "batch_size": 128,
    "weight_decay": 0.0,
}


def make_rows(n: int, seed: int) -> dict[str, np.ndarray]:
    """`n` rows of the MLP's table (columns z0..z3, label), drawn from `seed`."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(FEATURES)))
    score = np.sin(2.0 * z[:, 0]) + z[:, 1] * z[:, 2] - 0.4 * z[:, 3]
    label = (score + rng.normal(0.0, 0.6, n) > 0.2).astype(np.float32)
    return {**{name: z[:, i] for i, name in enumerate(FEATURES)}, "label": label}


def _tensors(snapshot: Any) -> tuple[Any, Any]:
    import torch

    frame = snapshot.to_pandas()
    x = torch.tensor(frame[list(FEATURES)].to_numpy(), dtype=torch.float32)
    y = torch.tensor(frame["label"].to_numpy(), dtype=torch.float32)
    return x, y


def train(ctx: Any) -> Mapping[str, float]:
    """Train the MLP on ctx.data, score it on ctx.eval_data (log loss, accuracy in percent).

    It trains on one thread (a model this small is slower on more) and restores the caller's
    thread count, so an in-process retrain leaves the test process as it found it.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(ctx)
    finally:
        torch.set_num_threads(threads)


def _train(ctx: Any) -> Mapping[str, float]:
    import torch

    params = {**DEFAULT_PARAMS, **dict(ctx.params)}
    x, y = _tensors(ctx.data)
    x_eval, y_eval = _tensors(ctx.eval_data)
    torch.manual_seed(ctx.seed)
    order = torch.Generator().manual_seed(ctx.seed + 1)
    hidden = int(params["hidden"])
    model = torch.nn.Sequential(
        torch.nn.Linear(len(FEATURES), hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
    )
    optimizer = torch.optim.Adam(
        model.parameters(), lr=float(params["lr"]), weight_decay=float(params["weight_decay"])
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batch = int(params["batch_size"])
    for _ in range(int(params["epochs"])):
        for rows in torch.randperm(len(x), generator=order).split(batch):
            optimizer.zero_grad()
            loss_fn(model(x[rows]).squeeze(1), y[rows]).backward()
            optimizer.step()
    with torch.no_grad():
        logits = model(x_eval).squeeze(1)
        log_loss = float(loss_fn(logits, y_eval))
        accuracy = 100.0 * float(((logits > 0).float() == y_eval).float().mean())
    ctx.log_outputs(weights=model, predictions=logits)
    return {"log_loss": log_loss, "accuracy": accuracy}
