"""The reference ensemble's forward pass as batched matrix products (reprodiag.family.ensemble.
stacked_forward) against torch.func.vmap over the same stacked weights: the same numbers, its own
dropout masks per replica; real torch, small shapes, well under a second of compute."""

from __future__ import annotations

import pytest


def test_stacked_forward_computes_what_vmap_over_the_module_computes() -> None:
    import torch

    from reprodiag.family.ensemble import stacked_forward
    from reprodiag.family.mlp import MLPParams, build_model
    from reprodiag.retrain.ensemble import stack_seeded, vmapped_forward

    params = MLPParams(hidden=(16, 8))
    stacked, buffers, base = stack_seeded(lambda: build_model(12, params), [3, 1234, 99])
    torch.manual_seed(0)
    per_replica, shared = torch.randn(3, 40, 12), torch.randn(25, 12)
    for x, one_batch in ((per_replica, False), (shared, True)):
        ours = stacked_forward(base, stacked, x, training=True, dropout=0.0)
        theirs = vmapped_forward(base, stacked, buffers, x, shared_input=one_batch)
        assert ours.shape == theirs.shape == (3, x.shape[-2], 1)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    # Gradients flow to every replica's own leaves only: replica 1's loss moves replica 1.
    stacked = {k: v.detach().requires_grad_() for k, v in stacked.items()}
    stacked_forward(base, stacked, per_replica, training=True, dropout=0.0)[1].sum().backward()
    grads = {k: v.grad for k, v in stacked.items()}
    assert all(g is not None and g[1].abs().sum() > 0 for g in grads.values())
    assert all(g is not None and g[0].abs().sum() == 0 == g[2].abs().sum() for g in grads.values())


def test_dropout_draws_its_own_masks_per_replica_and_only_in_training() -> None:
    import torch

    from reprodiag.family.ensemble import stacked_forward
    from reprodiag.family.mlp import MLPParams, build_model
    from reprodiag.retrain.ensemble import stack_seeded

    params = MLPParams(hidden=(32,), dropout=0.5)
    stacked, _, base = stack_seeded(lambda: build_model(6, params), [7, 7 + 1])
    same = {k: v[:1].expand(2, *v.shape[1:]) for k, v in stacked.items()}  # twin replicas
    x = torch.randn(50, 6)
    trained = stacked_forward(base, same, x, training=True, dropout=0.5)
    assert not torch.equal(trained[0], trained[1])  # the twins drew different masks
    evaluated = stacked_forward(base, same, x, training=False, dropout=0.5)
    assert torch.equal(evaluated[0], evaluated[1])  # no dropout outside training


def test_a_layer_without_a_batched_form_is_refused() -> None:
    import torch

    from reprodiag.family.ensemble import stacked_forward

    base = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())
    stacked = {k: v.unsqueeze(0) for k, v in base.state_dict().items()}
    with pytest.raises(TypeError, match="no batched form of Tanh"):
        stacked_forward(base, stacked, torch.zeros(1, 3, 2), training=False, dropout=0.0)
