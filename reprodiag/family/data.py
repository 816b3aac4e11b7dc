"""The reference family's data: click-style events in Delta, and the drift that breaks a retrain.

One row is an impression: dense user/item features ``f0..f{k-1}``, three small categorical
columns (``device``, ``country``, ``hour``) and ``label`` (1 = clicked). The click probability is
the logistic of a nonlinear function with user x item interactions, so a small MLP beats a linear
model but stays far from perfect (Bayes AUC about 0.88, MLP about 0.84, base rate about 18 %).

Layout under a root folder: ``events/`` (the training table, one append commit per day) and
``eval/`` (the pinned evaluation set, written once). The drift operations only touch ``events/``:

- ``append_days``: new, bigger days from a shifted world. Part of the traffic comes from a mobile
  campaign in three countries (feature means shift, and the user x item affinity reverses:
  promoted items get clicked by the wrong users), part is bot traffic that clicks at night
  whatever the features say. Both are realistic ways a retrain on "the latest data" scores
  lower on an unchanged evaluation set.
- ``correct_labels``: a relabelling pass that flips a fraction of labels: a data change, a new
  version.

The ground-truth "world" (coefficients) comes from the table's seed and is written into every
commit's metadata, so a later ``append_days`` keeps that world whatever seed samples its rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

TRAIN_TABLE = "events"
EVAL_TABLE = "eval"
LABEL = "label"
CATEGORICAL_CARDINALITY: dict[str, int] = {"device": 3, "country": 8, "hour": 24}
DEFAULT_N_FEATURES = 8
BASE_CLICK_RATE = 0.18
# Commit-metadata keys, namespaced because Delta merges them into the top level of a history entry.
META_OP, META_DAY, META_WORLD = "reprodiag.op", "reprodiag.day", "reprodiag.world_seed"

_MOBILE, _WEB = 0, 2
_NIGHT = (22, 23, 0, 1, 2, 3, 4, 5)
# Share of each traffic source per unit of drift (drift=1: 45 % campaign, 12 % bots).
_CAMPAIGN_SHARE, _BOT_SHARE, _BOT_CLICK_RATE = 0.45, 0.12, 0.7


def dense_columns(n_features: int) -> list[str]:
    """The names of the dense feature columns: f0, f1, ..., f{n_features - 1}."""
    return [f"f{j}" for j in range(n_features)]


def train_table_path(root: str | os.PathLike[str]) -> Path:
    """Where the family's training table lives under `root`."""
    return Path(root) / TRAIN_TABLE


def eval_table_path(root: str | os.PathLike[str]) -> Path:
    """Where the family's evaluation table lives under `root`."""
    return Path(root) / EVAL_TABLE


@dataclass(frozen=True)
class World:
    """The ground truth every day shares: a function of (world seed, number of dense features)."""

    linear: np.ndarray
    affinity: np.ndarray
    device_bias: np.ndarray
    country_bias: np.ndarray
    intercept: float

    @classmethod
    def from_seed(cls, world_seed: int, n_features: int) -> World:
        """The world for (world_seed, n_features); raises ValueError below 4 features (the user
        and item halves need two each)."""
        if n_features < 4:
            raise ValueError(
                f"n_features must be at least 4 (user and item halves), got {n_features}"
            )
        rng = np.random.default_rng([world_seed, 7919])
        half = n_features // 2
        world = cls(
            linear=rng.normal(0.0, 0.35, n_features),
            affinity=rng.choice([-1.0, 1.0], half) * rng.uniform(0.4, 0.8, half),
            device_bias=np.array([0.3, 0.0, -0.4]),
            country_bias=rng.normal(0.0, 0.4, CATEGORICAL_CARDINALITY["country"]),
            intercept=0.0,
        )
        return _calibrated(world, rng)


def _calibrated(world: World, rng: np.random.Generator) -> World:
    """Solve the intercept by bisection so that clean traffic clicks at BASE_CLICK_RATE."""
    rows = _normal_traffic(rng, 20_000, len(world.linear))
    logits = _logits(world, rows, campaign=np.zeros(20_000, dtype=bool))
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logits + mid)))) > BASE_CLICK_RATE:
            hi = mid
        else:
            lo = mid
    return World(world.linear, world.affinity, world.device_bias, world.country_bias, (lo + hi) / 2)


def _normal_traffic(rng: np.random.Generator, n: int, n_features: int) -> dict[str, np.ndarray]:
    # Evening-heavy hours and a mobile-heavy device mix, as in real click logs.
    hour_weights = 1.0 + 0.8 * np.cos(2 * np.pi * (np.arange(24) - 20) / 24)
    return {
        "x": rng.normal(0.0, 1.0, (n, n_features)),
        "device": rng.choice(3, n, p=[0.55, 0.15, 0.30]),
        "country": rng.choice(8, n, p=[0.3, 0.2, 0.12, 0.1, 0.1, 0.08, 0.05, 0.05]),
        "hour": rng.choice(24, n, p=hour_weights / hour_weights.sum()),
    }


def _logits(world: World, rows: dict[str, np.ndarray], campaign: np.ndarray) -> np.ndarray:
    x, device, hour = rows["x"], rows["device"], rows["hour"]
    half = x.shape[1] // 2
    # The user x item affinity is the signal a linear model cannot see; a campaign reverses it.
    affinity = (x[:, :half] * x[:, half : 2 * half]) @ world.affinity
    affinity = np.where(campaign, -affinity, affinity)
    nonlinear = 0.8 * np.sin(1.5 * x[:, 0]) + 0.4 * np.minimum(x[:, 1], 2.5) ** 2 - 0.5
    night = np.isin(hour, _NIGHT)
    context = (
        0.5 * np.cos(2 * np.pi * (hour - 20) / 24)
        + world.device_bias[device]
        + world.country_bias[rows["country"]]
        + 0.6 * (night & (device == _MOBILE))
    )
    logits: np.ndarray = world.intercept + x @ world.linear + affinity + nonlinear + context
    return logits


def generate_events(
    n_rows: int,
    *,
    day: int,
    seed: int,
    n_features: int = DEFAULT_N_FEATURES,
    drift: float = 0.0,
    world_seed: int | None = None,
    id_prefix: str = "d",
) -> pd.DataFrame:
    """One day of impressions; ``drift`` in [0, 1] mixes in campaign and bot traffic.

    Rows depend on (seed, day, id_prefix); the ground truth on ``world_seed`` (default: ``seed``),
    so days sampled with different seeds still share one world.
    """
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be in [0, 1], got {drift}")
    world = World.from_seed(seed if world_seed is None else world_seed, n_features)
    rng = np.random.default_rng([seed, day, _stream(id_prefix)])
    rows = _normal_traffic(rng, n_rows, n_features)
    source = rng.random(n_rows)
    campaign = source < _CAMPAIGN_SHARE * drift
    bots = (source >= _CAMPAIGN_SHARE * drift) & (source < (_CAMPAIGN_SHARE + _BOT_SHARE) * drift)
    _shift_campaign(rng, rows, campaign)
    _shift_bots(rng, rows, bots)
    clicked = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-_logits(world, rows, campaign)))
    # Click fraud: bots click at a fixed rate whatever the features say.
    clicked = np.where(bots, rng.random(n_rows) < _BOT_CLICK_RATE, clicked)
    return _frame(rows, clicked, day=day, id_prefix=id_prefix)


def _stream(id_prefix: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(id_prefix))


def _shift_campaign(
    rng: np.random.Generator, rows: dict[str, np.ndarray], mask: np.ndarray
) -> None:
    # A mobile promotion in three countries pulls in users with other profiles (covariate shift).
    n = int(mask.sum())
    rows["x"][mask, :2] += 0.8
    rows["device"][mask] = _MOBILE
    rows["country"][mask] = rng.choice(3, n)


def _shift_bots(rng: np.random.Generator, rows: dict[str, np.ndarray], mask: np.ndarray) -> None:
    n = int(mask.sum())
    rows["device"][mask] = _WEB
    rows["hour"][mask] = rng.choice(_NIGHT, n)


def _frame(
    rows: dict[str, np.ndarray], clicked: np.ndarray, *, day: int, id_prefix: str
) -> pd.DataFrame:
    n, k = rows["x"].shape
    frame = pd.DataFrame(
        {
            "event_id": [f"{id_prefix}{day}-{i:07d}" for i in range(n)],
            "day": np.full(n, day, dtype=np.int64),
        }
    )
    for j, name in enumerate(dense_columns(k)):
        frame[name] = rows["x"][:, j].astype(np.float32)
    for name in CATEGORICAL_CARDINALITY:
        frame[name] = rows[name].astype(np.int64)
    frame[LABEL] = clicked.astype(np.int64)
    return frame


def create_table(
    path: str | os.PathLike[str],
    *,
    days: int = 5,
    rows_per_day: int = 4_000,
    seed: int,
    eval_rows: int = 5_000,
    n_features: int = DEFAULT_N_FEATURES,
) -> None:
    """Write ``events/`` (versions 0..days-1, one per day) and the pinned ``eval/`` (version 0)."""
    from deltalake import DeltaTable

    from reprodiag.errors import InputError

    train, evaluation = train_table_path(path), eval_table_path(path)
    for table in (train, evaluation):
        if DeltaTable.is_deltatable(str(table)):
            raise InputError(
                f"{table} is already a Delta table",
                hint="pick an empty folder, or delete this one to regenerate",
            )
    for day in range(days):
        rows = generate_events(rows_per_day, day=day, seed=seed, n_features=n_features)
        _commit(
            train,
            rows,
            "append",
            {META_OP: "append-day", META_DAY: str(day), META_WORLD: str(seed)},
        )
    # The evaluation set is a held-out next day of clean traffic, written once and never touched.
    held_out = generate_events(
        eval_rows, day=days, seed=seed, n_features=n_features, id_prefix="eval"
    )
    _commit(evaluation, held_out, "overwrite", {META_OP: "create-eval", META_WORLD: str(seed)})


def append_days(
    path: str | os.PathLike[str],
    n_days: int,
    *,
    seed: int,
    drift: float,
    rows_per_day: int | None = None,
) -> int:
    """Append ``n_days`` drifted days after the table's last day; returns the new latest version."""
    from deltalake import DeltaTable

    table = DeltaTable(str(train_table_path(path)))
    world = _world_seed(table)
    days = table.to_pandas(columns=["day"])["day"]
    n_features = sum(1 for f in table.schema().fields if f.name[1:].isdigit() and f.name[0] == "f")
    # Campaign and bot traffic come on top of the organic traffic: drifted days are bigger.
    last_day = int((days == days.max()).sum())
    per_day = round(last_day * (1.0 + drift)) if rows_per_day is None else rows_per_day
    version = table.version()
    for day in range(int(days.max()) + 1, int(days.max()) + 1 + n_days):
        rows = generate_events(
            per_day, day=day, seed=seed, n_features=n_features, drift=drift, world_seed=world
        )
        version = _commit(
            train_table_path(path),
            rows,
            "append",
            {
                META_OP: "append-day",
                META_DAY: str(day),
                META_WORLD: str(world),
                "reprodiag.drift": str(drift),
            },
        )
    return version


def correct_labels(path: str | os.PathLike[str], fraction: float, *, seed: int) -> int:
    """Flip the labels of ``round(fraction * rows)`` random rows; overwrite; return the new version.

    Models a relabelling job (late click attribution, fraud clean-up) that rewrites history: the
    table keeps its id, but every row now comes from new files under a new version.
    """
    from deltalake import DeltaTable

    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    table = DeltaTable(str(train_table_path(path)))
    world = _world_seed(table)
    # Sorting first makes the chosen rows depend on the seed only, not on the file layout.
    rows = table.to_pandas().sort_values("event_id", kind="stable").reset_index(drop=True)
    chosen = np.random.default_rng([seed, 104729]).choice(
        len(rows), round(fraction * len(rows)), replace=False
    )
    rows.loc[chosen, LABEL] = 1 - rows.loc[chosen, LABEL]
    return _commit(
        train_table_path(path),
        rows,
        "overwrite",
        {META_OP: "correct-labels", "reprodiag.fraction": str(fraction), META_WORLD: str(world)},
    )


def _commit(
    table: Path, rows: pd.DataFrame, mode: Literal["append", "overwrite"], metadata: dict[str, str]
) -> int:
    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    write_deltalake(
        str(table),
        pa.Table.from_pandas(rows, preserve_index=False),
        mode=mode,
        commit_properties=CommitProperties(custom_metadata=metadata),
    )
    return DeltaTable(str(table)).version()


def _world_seed(table: object) -> int:
    from reprodiag.errors import InputError

    for entry in table.history():  # type: ignore[attr-defined]
        if META_WORLD in entry:
            return int(entry[META_WORLD])
    raise InputError(
        f"{table} was not written by reprodiag.family.data: no {META_WORLD} in its history",
        hint="create it with reprodiag.family.data.create_table",
    )
