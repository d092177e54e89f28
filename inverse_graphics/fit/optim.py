"""Optimizers shared by the fitting loops: SGD with momentum (the tutorials' choice) or Adam, and the lr schedule."""

from __future__ import annotations

import torch


def make_optimizer(params: list[torch.Tensor], name: str, lr: float, momentum: float) -> torch.optim.Optimizer:
    """``sgd`` uses ``momentum``; ``adam`` ignores it (PyTorch's default betas)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r} (expected 'sgd' or 'adam')")


def final_decay_schedule(
    optimizer: torch.optim.Optimizer, iterations: int, decay_fraction: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant lr, then a linear ramp to zero over the last ``decay_fraction`` of ``iterations``.

    Step it once per iteration, after ``optimizer.step()``. With ``decay_fraction = 0`` the lr is
    constant (the tutorials' schedule). The ramp lets the last, noisy single-view updates settle:
    iteration ``i`` of ``T`` runs at ``lr * min(1, (T - i) / (decay_fraction * T))``.
    """
    ramp = decay_fraction * iterations

    def factor(step: int) -> float:
        return 1.0 if ramp <= 0 else min(1.0, (iterations - step) / ramp)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
