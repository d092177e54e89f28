"""Scores against ground truth: reconstruction PSNR and SSIM, camera error, per-view mask IoU.

Images ``(N, 3, R, R)`` in [-1, 1] (scored in [0, 1]); masks ``(N, S, S)`` bool or in [0, 1] (object where >= 0.5).
"""

from __future__ import annotations

import torch


def psnr(image: torch.Tensor, target: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of ``image`` against ``target``, both ``(N, 3, R, R)`` in [-1, 1], over [0, 1]."""
    a, b = (image.clamp(-1, 1) + 1) / 2, (target.clamp(-1, 1) + 1) / 2
    mse = float((a - b).square().mean())
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(1.0 / mse)).item()


def ssim(image: torch.Tensor, target: torch.Tensor) -> float:
    """Structural similarity (Gaussian window 11, sigma 1.5; torchmetrics) over [0, 1]."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    a, b = (image.clamp(-1, 1) + 1) / 2, (target.clamp(-1, 1) + 1) / 2
    return float(structural_similarity_index_measure(a.float(), b.float(), data_range=1.0))


def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(N,)`` intersection over union of ``pred`` and ``target`` masks ``(N, S, S)`` (1 when both are empty)."""
    p, t = pred.float() >= 0.5, target.float() >= 0.5
    inter = (p & t).flatten(1).sum(1).float()
    union = (p | t).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
