"""Seeding: same seed, same draws; flags read back; DataLoader batches reproducible."""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from reprodiag.errors import InputError
from reprodiag.manifest.model import RandomnessAxis, Skipped
from reprodiag.probes.seeds import (
    CUBLAS_DETERMINISTIC,
    NOT_RECORDED,
    TORCH_MISSING,
    Seeds,
    dataloader_generator,
    deterministic_seeds,
    probe_randomness,
    seed_worker,
)

ENV_VARS = ("CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED", "PL_GLOBAL_SEED", "PL_SEED_WORKERS")


@pytest.fixture(autouse=True)
def restore_global_state() -> Iterator[None]:
    """deterministic_seeds changes process-wide state; put every piece of it back."""
    saved_env = {name: os.environ.get(name) for name in ENV_VARS}
    det, warn = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    for name in ENV_VARS:
        os.environ.pop(name, None)
    yield
    for name, value in saved_env.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value
    torch.use_deterministic_algorithms(det, warn_only=warn)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    random.setstate(rng[0])
    np.random.set_state(rng[1])
    torch.set_rng_state(rng[2])


def _draws() -> tuple[list[float], list[float], list[float]]:
    return (torch.rand(4).tolist(), np.random.rand(4).tolist(), [random.random() for _ in range(4)])


def test_same_seed_gives_identical_draws():
    deterministic_seeds(1234)
    first = _draws()
    deterministic_seeds(1234)
    assert _draws() == first


def test_different_seeds_differ():
    deterministic_seeds(1)
    first = _draws()
    deterministic_seeds(2)
    second = _draws()
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_record_reads_back_what_was_set():
    seeds = deterministic_seeds(1234)
    assert (seeds.python, seeds.numpy, seeds.torch, seeds.cuda, seeds.base) == (1234,) * 5
    assert seeds.derivation.startswith(
        "all generators seeded with base 1234 by reprodiag.deterministic_seeds"
    )
    assert seeds.deterministic is True and torch.are_deterministic_algorithms_enabled()
    assert seeds.warn_only is False
    assert (seeds.cudnn_deterministic, seeds.cudnn_benchmark) == (True, False)
    assert (
        seeds.cublas_workspace_config
        == CUBLAS_DETERMINISTIC
        == os.environ["CUBLAS_WORKSPACE_CONFIG"]
    )
    assert seeds.pythonhashseed == "1234" == os.environ["PYTHONHASHSEED"]
    assert seeds.fill_uninitialized_memory is True


def test_warn_only_is_read_back():
    seeds = deterministic_seeds(5, warn_only=True)
    assert seeds.warn_only is True and torch.is_deterministic_algorithms_warn_only_enabled()


def test_not_deterministic_switches_off_and_leaves_benchmark_alone():
    deterministic_seeds(5)
    torch.backends.cudnn.benchmark = True
    seeds = deterministic_seeds(5, deterministic=False)
    assert seeds.deterministic is False and not torch.are_deterministic_algorithms_enabled()
    assert seeds.cudnn_deterministic is False
    assert seeds.cudnn_benchmark is True


def test_a_cublas_config_already_set_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    assert deterministic_seeds(5).cublas_workspace_config == ":16:8"


def test_pythonhashseed_reaches_child_processes():
    deterministic_seeds(99)
    code = "print(hash('reprodiag'))"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1


def test_large_seed_is_folded_for_numpy_only():
    seed = 2**40 + 7
    seeds = deterministic_seeds(seed)
    assert (seeds.python, seeds.torch, seeds.numpy) == (seed, seed, 7)
    assert seeds.pythonhashseed == "7"  # PYTHONHASHSEED must be a 32-bit value too


@pytest.mark.parametrize("bad", [-1, 2**64, True, 1.5])
def test_invalid_seed(bad):
    with pytest.raises(InputError, match="is not an integer"):
        deterministic_seeds(bad)


def test_record_round_trips_through_to_axis():
    seeds = deterministic_seeds(1234)
    axis = seeds.to_axis("seed_worker + generator")
    assert isinstance(axis, RandomnessAxis)
    assert (axis.python_seed, axis.numpy_seed, axis.torch_seed, axis.cuda_seed) == (1234,) * 4
    assert axis.derivation == seeds.derivation
    assert (axis.deterministic_algorithms, axis.warn_only) == (True, False)
    assert (axis.cudnn_deterministic, axis.cudnn_benchmark) == (True, False)
    assert axis.cublas_workspace_config == seeds.cublas_workspace_config
    assert axis.pythonhashseed == seeds.pythonhashseed
    assert axis.fill_uninitialized_memory is True
    assert axis.dataloader_seeding == "seed_worker + generator"
    assert probe_randomness(seeds, "seed_worker + generator") == axis


def test_probe_without_seeds_reads_flags_and_library_seeders(monkeypatch):
    torch.use_deterministic_algorithms(True, warn_only=True)
    monkeypatch.setenv("PL_GLOBAL_SEED", "42")
    monkeypatch.setenv("PL_SEED_WORKERS", "1")
    axis = probe_randomness(None)
    for name in ("python_seed", "numpy_seed", "torch_seed", "cuda_seed", "derivation"):
        assert getattr(axis, name) == Skipped(NOT_RECORDED, "not_recorded")
    assert (axis.deterministic_algorithms, axis.warn_only) == (True, True)
    assert axis.cublas_workspace_config == Skipped(
        "CUBLAS_WORKSPACE_CONFIG is not set", "not_given"
    )
    assert isinstance(axis.dataloader_seeding, Skipped)
    assert axis.library_seeding == {"PL_GLOBAL_SEED": "42", "PL_SEED_WORKERS": "1"}


def test_without_torch_only_python_and_numpy_are_seeded(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail, as when absent
    seeds = deterministic_seeds(3)
    first = (np.random.rand(3).tolist(), random.random())
    assert (seeds.python, seeds.numpy) == (3, 3)
    for name in (
        "torch",
        "cuda",
        "deterministic",
        "warn_only",
        "cudnn_deterministic",
        "cudnn_benchmark",
        "fill_uninitialized_memory",
    ):
        assert getattr(seeds, name) == Skipped(TORCH_MISSING, "not_applicable")
    deterministic_seeds(3)
    assert (np.random.rand(3).tolist(), random.random()) == first
    axis = seeds.to_axis()
    assert axis.torch_seed == Skipped(TORCH_MISSING, "not_applicable")
    # no torch, no DataLoader: its seeding does not apply either
    assert axis.dataloader_seeding == Skipped(f"no DataLoader: {TORCH_MISSING}", "not_applicable")


def test_seed_worker_seeds_numpy_and_random_from_torch():
    torch.manual_seed(2**33 + 11)
    seed_worker(0)
    draws = (np.random.rand(2).tolist(), random.random())
    np.random.seed(11)
    random.seed(11)
    assert draws == (np.random.rand(2).tolist(), random.random())


class NoisyDataset(TensorDataset):
    """Draws from NumPy and random in the worker, as augmentation code does."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, float, float]:
        (x,) = super().__getitem__(index)
        return x, float(np.random.rand()), random.random()


def _batches(seed: int) -> list[list[list[float]]]:
    seeds = deterministic_seeds(seed)
    loader = DataLoader(
        NoisyDataset(torch.arange(32.0)),
        batch_size=4,
        shuffle=True,
        num_workers=2,
        worker_init_fn=seed_worker,
        generator=dataloader_generator(seeds),
    )
    return [[t.tolist() for t in batch] for batch in loader]


def test_dataloader_with_two_workers_repeats_its_batches():
    first = _batches(1234)
    assert _batches(1234) == first
    assert _batches(4321) != first
    noise = [value for batch in first for value in batch[1]]
    assert len(set(noise)) == len(noise)  # each worker draws its own numbers


def test_dataloader_generator_needs_a_torch_seed():
    seeds = dataclasses.replace(deterministic_seeds(1), torch=Skipped(TORCH_MISSING))
    with pytest.raises(InputError, match="torch was not seeded"):
        dataloader_generator(seeds)
    assert isinstance(seeds, Seeds)


def test_the_determinism_switch_leaves_inductor_unimported_and_in_the_same_state() -> None:
    # A fresh interpreter: this one may have imported inductor already.
    code = (
        "import os, sys, torch\n"
        "from reprodiag.probes.seeds import deterministic_seeds\n"
        "deterministic_seeds(7)\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert 'torch._inductor.config' not in sys.modules\n"
        "assert os.environ['TORCHINDUCTOR_DETERMINISTIC'] == '1'\n"
        "import torch._inductor.config as inductor\n"
        "assert inductor.deterministic is True\n"
        "deterministic_seeds(7, deterministic=False)\n"  # inductor imported: torch's own function
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "assert inductor.deterministic is False\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
