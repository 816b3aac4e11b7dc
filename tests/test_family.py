"""The reference family: the click-event generator on real Delta tables, and the MLP trainer."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from reprodiag.errors import InputError
from reprodiag.family.data import (
    META_OP,
    append_days,
    correct_labels,
    create_table,
    eval_table_path,
    generate_events,
    train_table_path,
)
from reprodiag.family.mlp import (
    METRIC_DIRECTIONS,
    MLPParams,
    UnknownParamError,
    binary_metrics,
    from_mapping,
    roc_auc,
    train,
)

FAST = {"epochs": 4, "hidden": [32, 32]}


@dataclass(frozen=True)
class DeltaRows:
    """A pinned Delta read, shaped like the snapshot module's handles (one `to_pandas` method)."""

    path: Path
    version: int

    def to_pandas(self) -> pd.DataFrame:
        return DeltaTable(str(self.path), version=self.version).to_pandas()


@dataclass(frozen=True)
class FrameRows:
    frame: pd.DataFrame

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()


def _ctx(
    train_rows: object,
    eval_rows: object,
    seed: int,
    out: Path,
    params: dict[str, object] | None = None,
) -> SimpleNamespace:
    return SimpleNamespace(
        params=FAST if params is None else params,
        seed=seed,
        data=train_rows,
        eval_data=eval_rows,
        device="cpu",
        output_dir=out,
    )


# --- the generator -------------------------------------------------------------------------------


def test_generate_events_is_deterministic_for_a_seed() -> None:
    first = generate_events(500, day=2, seed=7)
    pd.testing.assert_frame_equal(first, generate_events(500, day=2, seed=7))
    assert not first.equals(generate_events(500, day=2, seed=8))
    assert not first["label"].equals(generate_events(500, day=3, seed=7)["label"])


def test_generate_events_looks_like_a_click_log() -> None:
    rows = generate_events(5_000, day=0, seed=0, n_features=6)
    assert list(rows.columns) == [
        "event_id",
        "day",
        "f0",
        "f1",
        "f2",
        "f3",
        "f4",
        "f5",
        "device",
        "country",
        "hour",
        "label",
    ]
    assert rows["event_id"].is_unique and set(rows["label"]) == {0, 1}
    assert 0.10 < rows["label"].mean() < 0.30
    assert rows["hour"].between(0, 23).all() and rows["device"].between(0, 2).all()
    other_day = generate_events(100, day=1, seed=0, n_features=6)
    assert not set(rows["event_id"]) & set(other_day["event_id"])


def test_create_table_commits_one_version_per_day(tmp_path: Path) -> None:
    create_table(tmp_path, days=3, rows_per_day=200, seed=0, eval_rows=150)
    table = DeltaTable(str(train_table_path(tmp_path)))
    assert table.version() == 2
    for version in range(3):
        rows = DeltaRows(train_table_path(tmp_path), version).to_pandas()
        assert len(rows) == 200 * (version + 1) and rows["day"].max() == version
    assert {entry.get(META_OP) for entry in table.history()} == {"append-day"}
    assert DeltaTable(str(eval_table_path(tmp_path))).version() == 0
    with pytest.raises(InputError, match="already a Delta table"):
        create_table(tmp_path, days=1, rows_per_day=10, seed=0, eval_rows=10)


def test_append_days_adds_later_days_as_new_versions(tmp_path: Path) -> None:
    create_table(tmp_path, days=2, rows_per_day=200, seed=0, eval_rows=100)
    eval_before = DeltaRows(eval_table_path(tmp_path), 0).to_pandas()
    assert append_days(tmp_path, 2, seed=1, drift=0.5) == 3
    latest = DeltaRows(train_table_path(tmp_path), 3).to_pandas()
    # Drifted days carry campaign and bot traffic on top of organic: 1.5x the rows at drift 0.5.
    assert latest.groupby("day").size().to_dict() == {0: 200, 1: 200, 2: 300, 3: 300}
    assert latest["event_id"].is_unique
    assert DeltaTable(str(eval_table_path(tmp_path))).version() == 0
    pd.testing.assert_frame_equal(DeltaRows(eval_table_path(tmp_path), 0).to_pandas(), eval_before)


def test_correct_labels_flips_the_given_fraction_in_a_new_version(tmp_path: Path) -> None:
    create_table(tmp_path, days=2, rows_per_day=500, seed=0, eval_rows=100)
    assert correct_labels(tmp_path, 0.1, seed=3) == 2
    before = DeltaRows(train_table_path(tmp_path), 1).to_pandas().set_index("event_id")
    after = DeltaRows(train_table_path(tmp_path), 2).to_pandas().set_index("event_id")
    assert sorted(before.index) == sorted(after.index)
    changed = (before["label"] != after.loc[before.index, "label"]).mean()
    assert changed == pytest.approx(0.1, abs=0.002)
    feature_columns = [c for c in before.columns if c != "label"]
    pd.testing.assert_frame_equal(before[feature_columns], after.loc[before.index, feature_columns])


# --- the trainer ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data() -> tuple[FrameRows, FrameRows]:
    train_rows = pd.concat([generate_events(2_000, day=d, seed=0) for d in range(2)])
    return FrameRows(train_rows), FrameRows(generate_events(2_000, day=9, seed=0, id_prefix="eval"))


def test_trainer_same_seed_gives_identical_metrics(
    small_data: tuple[FrameRows, FrameRows], tmp_path: Path
) -> None:
    first = train(_ctx(*small_data, seed=11, out=tmp_path / "a"))
    second = train(_ctx(*small_data, seed=11, out=tmp_path / "b"))
    assert first == second
    assert set(first) == set(METRIC_DIRECTIONS)
    assert 50.0 < first["auc"] <= 100.0 and 0.0 <= first["accuracy"] <= 100.0
    assert (tmp_path / "a" / "model.pt").is_file()


def test_trainer_other_seeds_give_different_but_close_metrics(
    small_data: tuple[FrameRows, FrameRows], tmp_path: Path
) -> None:
    aucs = [train(_ctx(*small_data, seed=s, out=tmp_path / str(s)))["auc"] for s in range(3)]
    assert len(set(aucs)) == 3
    assert max(aucs) - min(aucs) < 3.0


def test_drift_lowers_the_auc_on_the_pinned_eval_set(tmp_path: Path) -> None:
    create_table(tmp_path, days=3, rows_per_day=3_000, seed=0, eval_rows=3_000)
    monday = DeltaRows(train_table_path(tmp_path), 2)
    append_days(tmp_path, 2, seed=1, drift=1.0)
    wednesday = DeltaRows(train_table_path(tmp_path), correct_labels(tmp_path, 0.05, seed=2))
    evaluation = DeltaRows(eval_table_path(tmp_path), 0)
    before = [train(_ctx(monday, evaluation, s, tmp_path / f"m{s}", {}))["auc"] for s in range(2)]
    after = [train(_ctx(wednesday, evaluation, s, tmp_path / f"w{s}", {}))["auc"] for s in range(2)]
    # Measured with scripts/measure_family.py: about 4 points down, against a seed std of about 0.3.
    assert statistics.mean(after) < statistics.mean(before) - 2.0


def test_a_much_lower_learning_rate_moves_the_metric(
    small_data: tuple[FrameRows, FrameRows], tmp_path: Path
) -> None:
    usual = train(_ctx(*small_data, seed=0, out=tmp_path / "a"))["auc"]
    slow = train(_ctx(*small_data, seed=0, out=tmp_path / "b", params={**FAST, "lr": 3e-5}))["auc"]
    assert slow < usual - 3.0


# --- hyperparameters and metrics -----------------------------------------------------------------


def test_unknown_param_key_raises_a_clear_error() -> None:
    with pytest.raises(UnknownParamError) as caught:
        from_mapping({"lr": 1e-3, "learning_rate": 1e-3})
    assert isinstance(caught.value, InputError)
    message = str(caught.value)
    assert "'learning_rate'" in message and "allowed keys: hidden, lr, epochs" in message


def test_from_mapping_coerces_and_validates() -> None:
    params = MLPParams.from_mapping({"hidden": [16, 8], "epochs": "4", "lr": "0.01"})
    assert params == MLPParams(hidden=(16, 8), epochs=4, lr=0.01)
    with pytest.raises(InputError, match="out of range: lr"):
        from_mapping({"lr": 0})
    with pytest.raises(InputError, match="wrong type"):
        from_mapping({"epochs": "many"})


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_brute_force_pairs_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(120) < 0.3
    scores = rng.integers(0, 6, 120).astype(float) + labels * rng.integers(0, 2, 120)
    positives, negatives = scores[labels], scores[~labels]
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives)
    ]
    assert roc_auc(labels, scores) == pytest.approx(sum(pairs) / len(pairs), abs=1e-12)


def test_auc_needs_both_classes() -> None:
    with pytest.raises(InputError, match="both classes"):
        roc_auc(np.zeros(4), np.arange(4.0))


def test_binary_metrics_in_percent_and_nats() -> None:
    metrics = binary_metrics(np.array([0, 1, 1, 0]), np.array([-2.0, 3.0, -1.0, 0.5]))
    probs = 1 / (1 + np.exp(-np.array([-2.0, 3.0, -1.0, 0.5])))
    log_loss = -np.mean(np.log([1 - probs[0], probs[1], probs[2], 1 - probs[3]]))
    assert metrics == pytest.approx({"auc": 75.0, "accuracy": 50.0, "log_loss": log_loss})
