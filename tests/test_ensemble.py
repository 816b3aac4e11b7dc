"""Vectorised seed ensembles: exact initial weights and data orders, per-model clipping, the
statistical equivalence of K=8 ensemble replicas with 8 solo runs, and the wiring (ensemble
specs, the worker's per-seed results and manifests, the band's grouping, failures per seed).

The fake trainers below (`fake`, `fake_ensemble`, `boom_ensemble`) are entrypoints
`tests.test_ensemble:fake`; worker subprocesses import them with the repository root on
PYTHONPATH.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from reprodiag.confirm import RetrainOptions
from reprodiag.retrain import InProcessExecutor, RetrainResult, RetrainSpec, SerialExecutor
from reprodiag.retrain.ensemble import find_ensemble, has_ensemble_form
from reprodiag.retrain.spec import RetrainSpecError, ensemble_spec, member_spec
from reprodiag.snapshots import open_snapshot

ROOT = Path(__file__).resolve().parents[1]
MLP = {"entrypoint": "reprodiag.family.mlp:train"}
FAKE = {"entrypoint": f"{__name__}:fake"}


# --- fake trainers: no torch, under a millisecond ------------------------------------------------
def fake(ctx: Any) -> Mapping[str, float]:
    return {"auc": 70.0 + ctx.seed % 100 / 10.0}


def fake_ensemble(ctx: Any, seeds: Sequence[int]) -> list[Mapping[str, float]]:
    # Seed 13 "diverges": only that seed may fail.
    return [{"auc": math.nan} if s == 13 else fake(dataclasses.replace(ctx, seed=s)) for s in seeds]


fake.ensemble = fake_ensemble  # type: ignore[attr-defined]  # the attribute rule


def boom(ctx: Any) -> Mapping[str, float]:
    return fake(ctx)


def boom_ensemble(ctx: Any, seeds: Sequence[int]) -> list[Mapping[str, float]]:  # suffix rule
    raise RuntimeError("CUDA out of memory (simulated)")


# --- a small real world ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from reprodiag.family import create_table, eval_table_path, train_table_path

    root = tmp_path_factory.mktemp("ensemble-world")
    create_table(root, days=5, rows_per_day=4_000, seed=20261123, eval_rows=5_000)
    train, evaluation = open_snapshot(train_table_path(root)), open_snapshot(eval_table_path(root))
    return {
        "train": train,
        "eval": evaluation,
        "train_df": train.to_pandas(),
        "eval_df": evaluation.to_pandas(),
    }


def solo_spec(
    tables: dict[str, Any], out: Path, seed: int, trainer: Mapping[str, Any] = FAKE, **kwargs: Any
) -> RetrainSpec:
    return RetrainSpec(
        label=f"noise-band-seed-{seed}",
        trainer=trainer,
        params=kwargs.pop("params", {"epochs": 1}),
        seed=seed,
        train=tables["train"].ref,
        eval=tables["eval"].ref,
        metric="auc",
        output_dir=str(out / f"s{seed}" / "output"),
        manifest_out=str(out / f"s{seed}" / "manifest.json"),
        device="cpu",
        **kwargs,
    )


# --- the torch.func pieces -----------------------------------------------------------------------
def test_initial_weights_equal_the_solo_runs_bit_for_bit() -> None:
    import torch

    from reprodiag.family.ensemble import initial_weights
    from reprodiag.family.mlp import MLPParams, build_model, seed_everything

    params, seeds = MLPParams(hidden=(16, 8), dropout=0.1), [3, 1234, 99, 10_000]
    for seed, replica in zip(seeds, initial_weights(12, params, seeds), strict=True):
        seed_everything(seed)  # what fit_and_evaluate does before build_model
        solo = build_model(12, params).state_dict()
        assert solo.keys() == replica.keys()
        assert all(torch.equal(solo[k], replica[k]) for k in solo)


def test_every_replica_shuffles_like_its_solo_run() -> None:
    import torch

    from reprodiag.retrain.ensemble import seed_generators, seed_orders

    generators = seed_generators([5, 6])
    solo = [torch.Generator().manual_seed(s) for s in (5, 6)]
    for _ in range(3):  # epochs: each generator advances on its own
        orders = seed_orders(generators, 50)
        assert torch.equal(orders[0], torch.randperm(50, generator=solo[0]))
        assert torch.equal(orders[1], torch.randperm(50, generator=solo[1]))


def test_gradients_are_clipped_per_model_never_across_models() -> None:
    import torch

    from reprodiag.retrain.ensemble import per_model_clip_

    weight = torch.tensor([[[3.0, 4.0]], [[0.3, 0.4]], [[math.nan, 1.0]]])  # norms 5, 0.5, NaN
    bias = torch.zeros(3, 1)
    norms = per_model_clip_([weight, bias], max_norm=1.0)
    assert norms[:2].tolist() == pytest.approx([5.0, 0.5])
    assert weight[0].norm().item() == pytest.approx(1.0, rel=1e-5)  # clipped to 1
    assert torch.equal(weight[1], torch.tensor([[0.3, 0.4]]))  # under the limit: untouched
    assert math.isnan(weight[2, 0, 0].item())  # a NaN stays in its own replica


@pytest.mark.slow
def test_k8_ensemble_metrics_are_equivalent_to_8_solo_runs(tables: dict[str, Any]) -> None:
    """TOST with delta = 1.5 solo seed stds: a shift the n=8 band (k = 2.5) could not resolve.

    The replicas share init and data order with their solo twins, so the means agree far inside
    the tolerance; the spread check guards against a narrowed (correlated) band.
    """
    import numpy as np

    from reprodiag.family.ensemble import fit_and_evaluate_ensemble
    from reprodiag.family.mlp import MLPParams, fit_and_evaluate
    from reprodiag.noise.stats import welch_tost

    params, seeds = MLPParams(epochs=4), list(range(500, 508))
    solo = [
        fit_and_evaluate(tables["train_df"], tables["eval_df"], params, s)[0]["auc"] for s in seeds
    ]
    ensemble, _ = fit_and_evaluate_ensemble(tables["train_df"], tables["eval_df"], params, seeds)
    vectorised = [m["auc"] for m in ensemble]
    std = float(np.std(solo, ddof=1))
    test = welch_tost(vectorised, solo, delta=1.5 * std)
    assert test.equivalent, test
    assert 0.5 * std < float(np.std(vectorised, ddof=1)) < 2.0 * std


# --- the opt-in rule and specs -------------------------------------------------------------------
def test_the_ensemble_form_is_found_by_attribute_or_suffix() -> None:
    assert find_ensemble(f"{__name__}:fake") is fake_ensemble
    assert find_ensemble(f"{__name__}:boom") is boom_ensemble
    assert find_ensemble("reprodiag.family.mlp:train") is not None
    assert find_ensemble(f"{__name__}:solo_spec") is None
    assert find_ensemble("no_such_module_here:train") is None
    assert not has_ensemble_form({"command": ["python", "train.py"]})


def test_an_ensemble_spec_round_trips_and_its_members_are_solo(
    tables: dict[str, Any], tmp_path: Path
) -> None:
    solo = solo_spec(tables, tmp_path, 11, timeout_s=10)
    assert "seeds" not in solo.to_json()  # solo spec files are unchanged
    spec = ensemble_spec(solo, [11, 12, 13], tmp_path / "ens")
    assert RetrainSpec.from_json(spec.to_json()) == spec
    assert spec.label == "noise-band-ensemble-11-k3" and spec.timeout_s == 30
    member = member_spec(spec, 12)
    assert (member.label, member.seed, member.seeds, member.timeout_s) == (
        "noise-band-seed-12",
        12,
        (),
        10,
    )
    with pytest.raises(RetrainSpecError, match="seeds"):
        dataclasses.replace(spec, seeds=(11, 11))


# --- the worker and the band ---------------------------------------------------------------------
def test_one_nan_replica_fails_only_its_seed_and_each_seed_has_its_manifest(
    tables: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reprodiag.manifest import load_manifest

    monkeypatch.chdir(tmp_path)  # the code probe looks at the current folder: keep it small
    spec = ensemble_spec(solo_spec(tables, tmp_path, 12), [12, 13, 14], tmp_path / "ens")
    [result] = InProcessExecutor().run([spec])
    assert [(r.seed, r.status) for r in result.members] == [(12, "ok"), (13, "failed"), (14, "ok")]
    assert "NaN" in str(result.members[1].reason)
    for member in result.members:
        manifest = load_manifest(str(member.manifest_path))
        assert manifest.randomness.torch_seed == member.seed
        assert "replica" in str(manifest.randomness.derivation)
        assert "of 3 vmapped replicas" in str(manifest.randomness.derivation)


def test_an_ensemble_that_raises_fails_all_its_seeds_through_a_worker_process(
    tables: dict[str, Any], tmp_path: Path
) -> None:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    executor = SerialExecutor(tmp_path / "work", cwd=tmp_path, env={"PYTHONPATH": path})
    ok = ensemble_spec(solo_spec(tables, tmp_path, 20), [20, 21], tmp_path / "ok")
    bad = ensemble_spec(
        solo_spec(tables, tmp_path, 30, trainer={"entrypoint": f"{__name__}:boom"}),
        [30, 31],
        tmp_path / "bad",
    )
    good, failed = executor.run([ok, bad])
    assert [r.metric_value for r in good.members] == [72.0, 72.1]  # members survive the JSON
    assert [r.status for r in failed.members] == ["failed", "failed"]
    assert all(
        "failed as one" in str(r.reason) and "out of memory" in str(r.reason)
        for r in failed.members
    )


class Recording:
    """An executor that records the specs it is given and runs them in this process."""

    def __init__(self, workers: int = 1) -> None:
        self.workers, self.specs = workers, []  # type: ignore[var-annotated]
        self.threads = None

    def run(
        self, specs: Sequence[RetrainSpec], on_result: Any = None, on_start: Any = None
    ) -> list[RetrainResult]:
        self.specs.extend(specs)
        return InProcessExecutor().run(specs, on_result=on_result)


@pytest.mark.parametrize(
    ("ensemble", "workers", "expected"),
    [
        (True, 1, [(10_000, 10_001, 10_002, 10_003)]),
        (True, 2, [(10_000, 10_001), (10_002, 10_003)]),
        (False, 1, [(), (), (), ()]),
    ],
)
def test_the_band_groups_new_seeds_into_ensembles_when_allowed(
    tables: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ensemble: bool,
    workers: int,
    expected: list[tuple[int, ...]],
) -> None:
    import reprodiag
    from reprodiag.confirm.band import run_seeds
    from reprodiag.manifest import load_manifest

    monkeypatch.chdir(tmp_path)
    with reprodiag.capture(
        tmp_path / "m.json",
        train=tables["train"],
        eval=tables["eval"],
        params={"epochs": 1},
        entrypoint=FAKE["entrypoint"],
        code_root=tmp_path,
    ) as run:
        run.log_metric("auc", 71.0)
    executor, seen = Recording(workers), list[Any]()
    options = RetrainOptions(
        executor=executor, workdir=tmp_path / "band", ensemble=ensemble, on_result=seen.append
    )
    results = run_seeds(load_manifest(tmp_path / "m.json"), "auc", options, 4, [])
    assert [s.seeds for s in executor.specs] == expected
    assert [r.seed for r in results] == [10_000, 10_001, 10_002, 10_003]
    assert [r.seed for r in seen] == [10_000, 10_001, 10_002, 10_003]  # one callback per seed
    assert all(r.status == "ok" for r in results)


def test_an_ensemble_killed_as_a_whole_fails_every_seed_with_the_reason(
    tables: dict[str, Any], tmp_path: Path
) -> None:
    from reprodiag.confirm.band import expand

    spec = ensemble_spec(solo_spec(tables, tmp_path, 40), [40, 41, 42], tmp_path / "e")
    killed = RetrainResult.failed(spec, "timed out after 30 s", 30.0)
    seeds = expand(killed, spec)
    assert [(r.seed, r.status) for r in seeds] == [(40, "failed"), (41, "failed"), (42, "failed")]
    assert all("timed out after 30 s" in str(r.reason) for r in seeds)


def test_seed_replay_stays_solo(tables: dict[str, Any], tmp_path: Path) -> None:
    """confirm() builds its counterfactuals (the seed replay among them) as one-seed specs."""
    from reprodiag.confirm.arms import arm_spec

    options = RetrainOptions(executor=Recording(), workdir=tmp_path)
    manifest = _manifest(tables, tmp_path)
    replay = arm_spec(manifest, manifest, "seed_replay", 1234, "auc", options)
    assert replay.seeds == () and not replay.is_ensemble


def _manifest(tables: dict[str, Any], tmp_path: Path) -> Any:
    import reprodiag
    from reprodiag.manifest import load_manifest

    with reprodiag.capture(
        tmp_path / "r.json",
        train=tables["train"],
        eval=tables["eval"],
        entrypoint=FAKE["entrypoint"],
        code_root=tmp_path,
    ) as run:
        run.log_metric("auc", 71.0)
    return load_manifest(tmp_path / "r.json")
