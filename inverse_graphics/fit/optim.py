"""Optimizers shared by the fitting loops: SGD with momentum (the tutorials' choice) or Adam."""

from __future__ import annotations

import torch


def make_optimizer(params: list[torch.Tensor], name: str, lr: float, momentum: float) -> torch.optim.Optimizer:
    """``sgd`` uses ``momentum``; ``adam`` ignores it (PyTorch's default betas)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r} (expected 'sgd' or 'adam')")
