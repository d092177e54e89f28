"""Measuring a segmenter on held-out renders pasted over backgrounds it never saw, and running it on pictures."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .backgrounds import make_backgrounds
from .model import Segmenter
from .postprocess import Postprocess, clean_mask, mask_iou


def to_chw(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3) uint8`` -> ``(N, 3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0


def to_hwc(pictures: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` float in [0, 1] -> ``(N, H, W, 3) uint8``."""
    return (pictures.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


def composites(images: torch.Tensor, masks: torch.Tensor, family: str, seed: int,
               size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Renders ``images (N, 3, S, S)`` with masks ``(N, S, S) bool`` pasted (hard edge) over ``family``
    backgrounds drawn from ``seed``; at ``size`` (area downsampling, target = covered fraction >= 0.5) when given.

    Returns ``pictures (N, 3, s, s)`` and ``targets (N, s, s) bool``.
    """
    g = torch.Generator().manual_seed(seed)
    m = masks[:, None].float()
    pictures = images * m + make_backgrounds(family, len(images), images.shape[-1], g) * (1 - m)
    if size is None or size == images.shape[-1]:
        return pictures, masks.bool()
    pictures = F.interpolate(pictures, size=(size, size), mode="area")
    return pictures, F.interpolate(m, size=(size, size), mode="area")[:, 0] >= 0.5


def segment_pictures(segmenter: Segmenter, pictures: torch.Tensor, post: Postprocess) -> np.ndarray:
    """``pictures (N, 3, H, W)`` in [0, 1] -> cleaned masks ``(N, H, W) bool``."""
    probs = segmenter(pictures)
    return np.stack([clean_mask(p, post) for p in probs])


def ious(pred: np.ndarray, target: np.ndarray | torch.Tensor) -> list[float]:
    """Per-picture IoU of ``pred, target: (N, H, W) bool``."""
    target = target.numpy() if isinstance(target, torch.Tensor) else target
    return [mask_iou(p, t) for p, t in zip(pred, target)]
