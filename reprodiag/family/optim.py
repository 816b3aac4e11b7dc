"""Adam for the reference family, written out: torch.optim.Adam's update, operation for operation.

Why not `torch.optim.Adam`: its first `step()` imports `torch._dynamo` (the optimizer wraps its
step to break compiled graphs), about 1.8 s on this project's 2-core CPU: longer than a whole
demo-size fit, paid once by every process that trains. This class does the same arithmetic as
torch's single-tensor Adam (the path torch takes for CPU tensors) in the same order, with the
same float64 bias corrections, so a CPU run gives the same bits as `torch.optim.Adam` with L2
weight decay, `amsgrad=False`, `maximize=False` (tests/test_family_optim.py checks it bit for
bit). On a GPU torch would take its multi-tensor path, whose rounding differs; this class keeps
the single-tensor path everywhere, so a model's bits do not depend on which path torch picks.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    """Adam with L2 weight decay (added to the gradient, as torch.optim.Adam does)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        *,
        lr: float,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        self.lr, self.weight_decay, self.eps = float(lr), float(weight_decay), float(eps)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.steps = 0
        self._exp_avg = [torch.zeros_like(p) for p in self.params]
        self._exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        """Drop every gradient (torch's `set_to_none=True`)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        self.steps += 1
        # torch keeps the step count in a float32 tensor and reads it back as a Python float:
        # the same value for any count a fit reaches (below 2**24).
        step = float(self.steps)
        bias_correction1 = 1 - self.beta1**step
        bias_correction2 = 1 - self.beta2**step
        step_size = self.lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        moments = zip(self.params, self._exp_avg, self._exp_avg_sq, strict=True)
        for param, exp_avg, exp_avg_sq in moments:
            grad = param.grad
            if grad is None:
                continue
            if self.weight_decay != 0:
                grad = grad.add(param, alpha=self.weight_decay)
            exp_avg.lerp_(grad, 1 - self.beta1)
            exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)
