"""Retrains that confirm, with the reference family on small real data (Delta, torch)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from reprodiag.confirm import RetrainOptions, confirm, contradictions
from reprodiag.demo import Pipeline, default_params, team_repository, train_captured
from reprodiag.diagnosis.engine import diagnose
from reprodiag.family import create_table
from reprodiag.family.data import eval_table_path, train_table_path
from reprodiag.manifest import load_manifest
from reprodiag.noise.store import BandStore
from reprodiag.retrain.executor import InProcessExecutor, SerialExecutor
from reprodiag.snapshots import open_snapshot

pytestmark = pytest.mark.slow
ROOT = str(Path(__file__).resolve().parents[1])  # workers import tests.helpers from here


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("world")
    create_table(root, days=3, rows_per_day=1500, seed=7, eval_rows=1500)
    return {
        "root": root,
        "repo": team_repository(root / "job"),
        "data": open_snapshot(train_table_path(root)),
        "eval": open_snapshot(eval_table_path(root)),
    }


def _run(world: dict[str, Any], path: Path, *, seed: int, **params: Any) -> Path:
    pipeline = Pipeline(
        params={**default_params(), "epochs": 4, **params},
        code_root=world["repo"],
        eval_data=world["eval"],
        hypothesis="test",
    )
    return train_captured(
        path,
        pipeline,
        data=world["data"],
        seed=seed,
        run_name=path.stem,
        output_dir=path.parent / path.stem,
    )


def _confirm(
    world: dict[str, Any],
    baseline: Path,
    candidate: Path,
    tmp_path: Path,
    executor: Any = None,
    max_retrains: int = 24,
    trainer: dict | None = None,
) -> Any:
    b, c = load_manifest(baseline), load_manifest(candidate)
    first = diagnose(b, c, metric="auc")
    work = tmp_path / "retrains"
    options = RetrainOptions(
        executor=executor or InProcessExecutor(),
        workdir=work,
        max_retrains=max_retrains,
        store=BandStore(tmp_path / "store"),
        trainer=trainer,
        repo=world["repo"],  # the pipelines' code is checked out from the team's repository
    )
    return confirm(b, c, first, options)


def test_only_the_seeds_changed_is_consistent_with_noise(world, tmp_path: Path) -> None:
    diagnosis = _confirm(
        world,
        _run(world, tmp_path / "a.json", seed=1),
        _run(world, tmp_path / "b.json", seed=2),
        tmp_path,
    )
    # The exact seed replay settles it before the band's sequential test decides at n = 3: the
    # band is then inconclusive on its own, and never "beyond noise" (that would contradict it).
    assert diagnosis.band is not None and diagnosis.band.outcome != "beyond noise"
    assert contradictions(diagnosis) == []
    top = diagnosis.ranking[0]
    # The seed replay reproduces the baseline exactly (deterministic CPU): the gap is the seed,
    # and the reason says so with where the baseline sits in the band.
    assert top.axis == "randomness" and top.status in ("confirmed", "noise")
    assert "reproduces the baseline exactly" in top.reason
    assert diagnosis.conclusion is not None
    assert diagnosis.conclusion.kind in ("within noise", "lucky baseline")
    assert diagnosis.bar is not None and diagnosis.bar.level == "statistically equivalent"
    assert {r.axis: r.status for r in diagnosis.ranking}["data"] == "ruled_out"
    assert diagnosis.band.n >= 3 and diagnosis.band.std > 0


def test_a_learning_rate_change_is_confirmed_as_intent(world, tmp_path: Path) -> None:
    diagnosis = _confirm(
        world,
        _run(world, tmp_path / "a.json", seed=1, lr=3e-3),
        _run(world, tmp_path / "b.json", seed=1, lr=3e-5),
        tmp_path,
    )
    top = diagnosis.ranking[0]
    assert (top.axis, top.status) == ("intent", "confirmed")
    assert top.attribution is not None and top.attribution.check == "intent_swap"
    assert top.attribution.low > 0  # the swap recovers points, beyond the band
    checks = {c.key: c for c in diagnosis.checks}
    assert checks["intent_swap"].status == "done" and checks["intent_swap"].verdict == "explains"
    # The swap arm (3 seeds against 3 band seeds, Welch) decides before the single baseline value
    # can pass the band's Pocock boundary at n = 3: the band is left open, never "consistent".
    assert diagnosis.conclusion is not None and diagnosis.conclusion.kind == "explained"
    assert diagnosis.band is not None and diagnosis.band.outcome != "consistent with noise"
    assert diagnosis.bar is not None and diagnosis.bar.level == "not reproduced"


def test_failed_seeds_are_recorded_and_the_diagnosis_uses_the_smaller_n(
    world, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.syspath_prepend(ROOT)
    diagnosis = _confirm(
        world,
        _run(world, tmp_path / "a.json", seed=1),
        _run(world, tmp_path / "b.json", seed=2),
        tmp_path,
        trainer={"entrypoint": "tests.helpers.trainers:flaky"},
        max_retrains=6,
    )
    band = diagnosis.band
    failed = {s.seed: s.reason for s in band.seeds if s.status == "failed"}
    assert set(failed) == {10001, 10002}
    assert "illegal memory access" in failed[10001] and "NaN" in failed[10002]
    assert band.n == len([s for s in band.seeds if s.status == "ok"]) >= 3
    assert "2 seed retrain(s) failed" in (band.note or "")
    stored = BandStore(tmp_path / "store")
    assert len([r for r in stored.results(*_family(tmp_path), "auc") if r.status == "ok"]) == band.n


def _family(tmp_path: Path) -> tuple[str]:
    from reprodiag.noise.fingerprint import band_key

    return (
        band_key(
            load_manifest(tmp_path / "b.json"), {"entrypoint": "tests.helpers.trainers:flaky"}
        ),
    )


def test_a_crashing_worker_is_a_failed_seed_not_a_failed_diagnosis(world, tmp_path: Path) -> None:
    env_path = {"PYTHONPATH": ROOT + ":" + ":".join(sys.path)}
    executor = SerialExecutor(tmp_path / "w", env=env_path)
    diagnosis = _confirm(
        world,
        _run(world, tmp_path / "a.json", seed=1),
        _run(world, tmp_path / "b.json", seed=2),
        tmp_path,
        executor=executor,
        trainer={"entrypoint": "tests.helpers.trainers:crashes"},
        max_retrains=12,
    )
    assert diagnosis.band is None or diagnosis.band.n == 0
    assert all(c.verdict not in ("confirms", "explains") for c in diagnosis.checks)
    assert diagnosis.conclusion is not None and diagnosis.conclusion.kind == "trainer failed"
    assert "smoke retrain failed" in diagnosis.stop_reason
    # A trainer that fails its smoke retrain stops the investigation at once instead of burning
    # the budget on worker start-ups (it used to stop after one look's worth of failures, 3).
    used = int(diagnosis.stop_reason.split(" of 12 retrains used")[0])
    assert used == 1
    band_check = next(c for c in diagnosis.checks if c.key == "noise_band")
    assert band_check.status == "skipped" and "smoke retrain failed" in band_check.observed
    sentence = diagnosis.conclusion.sentence
    assert "killed" in sentence or "exited" in sentence
