"""Runs seeded by Lightning's seed_everything or transformers' enable_full_determinism.

Neither library is installed here: both leave environment variables behind, which the capture
records in `randomness.library_seeding`; these tests set those variables the way the libraries
do and check the record, the diff notes and the words of the randomness check.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from reprodiag.diagnosis import diagnose
from reprodiag.diagnosis.diff import diff_manifests, fields_by_path
from reprodiag.manifest.model import Manifest, RandomnessAxis, Skipped
from reprodiag.probes.seeds import LIBRARY_SEEDING_ENV, probe_randomness
from tests.helpers.manifests import example_manifest

NOW = "2026-11-25T12:00:00+00:00"
HF_DETERMINISM = {
    "CUDA_LAUNCH_BLOCKING": "1",
    "FLASH_ATTENTION_DETERMINISTIC": "1",
    "ASCEND_LAUNCH_BLOCKING": "1",
    "HCCL_DETERMINISTIC": "1",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LIBRARY_SEEDING_ENV:
        monkeypatch.delenv(name, raising=False)


def lightning_axis(
    monkeypatch: pytest.MonkeyPatch, seed: str, workers: str = "1"
) -> RandomnessAxis:
    """The axis a run seeded only by `seed_everything(seed, workers=True)` captures."""
    with monkeypatch.context() as env:
        env.setenv("PL_GLOBAL_SEED", seed)  # what seed_everything sets
        env.setenv("PL_SEED_WORKERS", workers)
        return probe_randomness(None)


def lightning_run(monkeypatch: pytest.MonkeyPatch, seed: str, **kwargs: str) -> Manifest:
    return example_manifest(randomness=lightning_axis(monkeypatch, seed, **kwargs))


def test_lightning_seeding_is_recorded_next_to_the_skipped_seeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    axis = lightning_axis(monkeypatch, "42")
    assert axis.library_seeding == {"PL_GLOBAL_SEED": "42", "PL_SEED_WORKERS": "1"}
    for seed in (axis.python_seed, axis.numpy_seed, axis.torch_seed, axis.cuda_seed):
        assert isinstance(seed, Skipped)


def test_transformers_full_determinism_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in HF_DETERMINISM.items():
        monkeypatch.setenv(name, value)
    assert probe_randomness(None).library_seeding == HF_DETERMINISM


def test_nothing_set_records_an_empty_mapping() -> None:
    assert probe_randomness(None).library_seeding == {}


def test_lightning_seeded_runs_are_understood_as_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    base, cand = lightning_run(monkeypatch, "42"), lightning_run(monkeypatch, "42")
    d = diagnose(base, cand, check_snapshots=False, now=lambda: NOW)
    check = next(c for c in d.checks if c.key == "randomness")
    assert "seeded by Lightning's seed_everything(42) (on both sides)" in (check.observed or "")
    assert "no seed was recorded" not in (check.observed or "")
    rank = next(r for r in d.ranking if r.axis == "randomness")
    assert "seed_everything(42) replays the baseline's seeding" in rank.reason


def test_a_different_lightning_seed_is_a_noted_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    base, cand = lightning_run(monkeypatch, "42"), lightning_run(monkeypatch, "7")
    row = fields_by_path(diff_manifests(base, cand))["randomness.library_seeding.PL_GLOBAL_SEED"]
    assert row.status == "differs"
    assert "Lightning's seed_everything seeded every generator from PL_GLOBAL_SEED" in (
        row.note or ""
    )
    assert "a different value is a different seed for python, numpy and torch" in (row.note or "")
    d = diagnose(base, cand, check_snapshots=False, now=lambda: NOW)
    observed = next(c for c in d.checks if c.key == "randomness").observed or ""
    assert "seed_everything(42) on the baseline" in observed
    assert "seed_everything(7) on the candidate" in observed


def test_worker_seeding_and_hf_determinism_on_one_side_are_noted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = lightning_run(monkeypatch, "42", workers="1")
    cand = lightning_run(monkeypatch, "42", workers="0")
    hf = replace(
        cand.randomness, library_seeding={**cand.randomness.library_seeding, **HF_DETERMINISM}
    )
    rows = fields_by_path(diff_manifests(base, replace(cand, randomness=hf)))
    assert "DataLoader worker" in (rows["randomness.library_seeding.PL_SEED_WORKERS"].note or "")
    hf_note = rows["randomness.library_seeding.CUDA_LAUNCH_BLOCKING"].note or ""
    assert "enable_full_determinism" in hf_note


def test_runs_seeded_by_reprodiag_keep_their_words(monkeypatch: pytest.MonkeyPatch) -> None:
    # A recorded seed wins over PL_GLOBAL_SEED: the words name the four seeds, not Lightning.
    base = example_manifest()
    with_pl = replace(base.randomness, library_seeding={"PL_GLOBAL_SEED": "42"})
    d = diagnose(base, replace(base, randomness=with_pl), check_snapshots=False, now=lambda: NOW)
    observed = next(c for c in d.checks if c.key == "randomness").observed or ""
    assert "Lightning" not in observed and "all four seeds recorded and equal" in observed
