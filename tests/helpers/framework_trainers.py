"""Trainers without torch for tests/test_frameworks.py: scikit-learn and LightGBM on a Delta table.

Both follow the trainer contract (`module:function(ctx) -> {metric: value}`): they read the
training and evaluation sets only through `ctx.data` / `ctx.eval_data` and seed everything from
`ctx.seed`, so a retrain changes exactly one axis. The same file is committed into the test's
"team repository" as the job the retrains import.

The data (`make_rows`): 5 standard-normal features and a label from a nonlinear rule with noise;
`flip_labels` is the data change the tests inject (a relabelling job that went wrong).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FEATURES = tuple(f"x{i}" for i in range(5))
METRIC = "auc"
BOOST_PARAMS: dict[str, Any] = {
    "n_estimators": 40,
    "num_leaves": 15,
    "learning_rate": 0.1,
    "subsample": 0.7,  # bagging: the seed changes which rows each tree sees
    "subsample_freq": 1,
    "colsample_bytree": 0.7,
}
FOREST_PARAMS: dict[str, Any] = {"n_estimators": 20, "max_depth": 6}


def make_rows(n: int, seed: int) -> dict[str, np.ndarray]:
    """`n` rows (columns x0..x4, y) drawn from `seed`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(FEATURES)))
    score = x[:, 0] + x[:, 1] * x[:, 2] - 0.6 * x[:, 3] ** 2 + 0.4 * x[:, 4]
    y = (score + rng.normal(0.0, 0.7, n) > 0).astype(np.int64)
    return {**{name: x[:, i] for i, name in enumerate(FEATURES)}, "y": y}


def flip_labels(rows: dict[str, np.ndarray], share: float, seed: int) -> dict[str, np.ndarray]:
    """`rows` with `share` of the labels flipped at random (drawn from `seed`)."""
    rng = np.random.default_rng(seed)
    y = rows["y"].copy()
    flip = rng.random(len(y)) < share
    y[flip] = 1 - y[flip]
    return {**rows, "y": y}


def _xy(snapshot: Any) -> tuple[np.ndarray, np.ndarray]:
    frame = snapshot.to_pandas()
    return frame[list(FEATURES)].to_numpy(), frame["y"].to_numpy()


def boosted(ctx: Any) -> dict[str, float]:
    """A LightGBM classifier, deterministic for a fixed seed (one thread, deterministic=True)."""
    import lightgbm
    from sklearn.metrics import log_loss, roc_auc_score

    x, y = _xy(ctx.data)
    x_eval, y_eval = _xy(ctx.eval_data)
    params = {**BOOST_PARAMS, **dict(ctx.params)}
    model = lightgbm.LGBMClassifier(
        **params, random_state=ctx.seed % 2**31, deterministic=True, n_jobs=1, verbose=-1
    )
    model.fit(x, y)
    proba = model.predict_proba(x_eval)[:, 1]
    return {"auc": 100 * roc_auc_score(y_eval, proba), "log_loss": log_loss(y_eval, proba)}


def forest(ctx: Any) -> dict[str, float]:
    """A scikit-learn random forest seeded from ctx.seed."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    x, y = _xy(ctx.data)
    x_eval, y_eval = _xy(ctx.eval_data)
    params = {**FOREST_PARAMS, **dict(ctx.params)}
    model = RandomForestClassifier(**params, random_state=ctx.seed % 2**32, n_jobs=1)
    model.fit(x, y)
    return {"auc": 100 * roc_auc_score(y_eval, model.predict_proba(x_eval)[:, 1])}
