"""The reference family's Adam: torch.optim.Adam's bits on the CPU, and no torch._dynamo import."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from reprodiag.family.optim import Adam


def _train_pair(
    weight_decay: float, steps: int
) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """The same network trained by each optimizer on the same batches; and its initial state."""
    torch.manual_seed(3)
    mine = torch.nn.Sequential(
        torch.nn.Linear(12, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 1),
    )
    theirs, initial = copy.deepcopy(mine), copy.deepcopy(mine)
    optimizers = (
        Adam(mine.parameters(), lr=0.003, weight_decay=weight_decay),
        torch.optim.Adam(theirs.parameters(), lr=0.003, weight_decay=weight_decay),
    )
    data = torch.Generator().manual_seed(4)
    x = torch.randn(2_000, 12, generator=data)
    y = (torch.rand(2_000, generator=data) < 0.3).float()
    for _ in range(steps):
        rows = torch.randint(0, 2_000, (128,), generator=data)
        for model, optimizer in zip((mine, theirs), optimizers, strict=True):
            optimizer.zero_grad()
            logits = model(x[rows]).squeeze(1)
            torch.nn.functional.binary_cross_entropy_with_logits(logits, y[rows]).backward()
            optimizer.step()
    return mine, theirs, initial


@pytest.mark.parametrize("weight_decay", [0.0, 1e-5, 0.1])
def test_same_bits_as_torch_adam(weight_decay: float) -> None:
    mine, theirs, initial = _train_pair(weight_decay, steps=400)
    for a, b, start in zip(
        mine.parameters(), theirs.parameters(), initial.parameters(), strict=True
    ):
        assert torch.equal(a, b)
        assert not torch.equal(a, start)  # the fit moved every weight: not two untouched copies


def test_a_parameter_without_gradient_is_left_alone() -> None:
    used, unused = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    optimizer = Adam([used, unused], lr=0.1)
    (used * 2.0).sum().backward()
    optimizer.step()
    assert torch.equal(unused.detach(), torch.ones(3))
    assert not torch.equal(used.detach(), torch.ones(3))
    optimizer.zero_grad()
    assert used.grad is None


def test_a_family_fit_never_imports_torch_dynamo(tmp_path) -> None:
    """torch.optim's first step imports torch._dynamo (about 1.8 s here): the reason this class
    exists. A solo and an ensemble fit run in a fresh interpreter and leave it unimported."""
    script = f"""
import sys
from reprodiag.family import create_table
from reprodiag.family.core import MLPParams, fit_and_evaluate
from reprodiag.family.data import eval_table_path, train_table_path
from reprodiag.family.ensemble import fit_and_evaluate_ensemble
from reprodiag.snapshots import open_snapshot
create_table({str(tmp_path)!r}, days=1, rows_per_day=400, seed=1, eval_rows=300)
train = open_snapshot(train_table_path({str(tmp_path)!r})).to_pandas()
evaluation = open_snapshot(eval_table_path({str(tmp_path)!r})).to_pandas()
params = MLPParams(epochs=1)
fit_and_evaluate(train, evaluation, params, 1)
fit_and_evaluate_ensemble(train, evaluation, params, [1, 2])
print("torch._dynamo" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr
