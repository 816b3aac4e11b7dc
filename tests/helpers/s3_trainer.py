"""A fast trainer for tests/test_s3.py: reads its snapshots from the bucket, trains nothing heavy.

`tests.helpers.s3_trainer:train` reads the training and evaluation snapshots through the handles
(so from S3 when the manifest pinned an s3:// table or an iceberg:// table warehoused there),
checks they really are object-store snapshots, and scores from the rows it read and the seed: a
least-squares fit of y on x over the training rows, evaluated on the eval rows, plus a seed term
of a few hundredths (the seed noise a band measures). Well under a second, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def train(ctx: Any) -> Mapping[str, float]:
    """auc-like score in points from the rows read; `rows` is how many training rows it read."""
    for handle in (ctx.data, ctx.eval_data):
        uri = handle.ref.uri
        if not uri.startswith(("s3://", "iceberg://")):
            raise RuntimeError(f"expected a snapshot in the bucket, got {uri}")
    return line_fit_score(ctx)


def line_fit_score(ctx: Any) -> dict[str, float]:
    """A least-squares line of y on x over the training rows, scored on the evaluation rows with
    a seed term: `auc` in points and `rows`, how many training rows were read."""
    import numpy as np

    data = ctx.data.to_pandas()
    evaluation = ctx.eval_data.to_pandas()
    slope, intercept = np.polyfit(data["x"].to_numpy(float), data["y"].to_numpy(float), 1)
    residual = evaluation["y"] - (slope * evaluation["x"] + intercept)
    noise = np.random.default_rng(ctx.seed).normal(0.0, 0.05)
    score = 90.0 - 10.0 * float(np.sqrt(np.mean(residual**2))) + float(noise)
    return {"auc": score, "rows": float(len(data))}
