"""From car probabilities to one clean mask: threshold, largest connected component, hole filling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Postprocess:
    """``threshold`` on the probability; keep only the ``largest_component`` (8-connected); ``fill_holes``."""

    threshold: float = 0.5
    largest_component: bool = True
    fill_holes: bool = True


def clean_mask(probs: torch.Tensor | np.ndarray, settings: Postprocess = Postprocess()) -> np.ndarray:
    """``probs: (H, W)`` in [0, 1] -> ``(H, W) bool`` mask (all False when nothing passes the threshold)."""
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    mask = p >= settings.threshold
    if settings.largest_component and mask.any():
        labels, count = ndimage.label(mask, structure=_EIGHT)
        if count > 1:
            sizes = np.bincount(labels.ravel())[1:]
            mask = labels == (1 + int(np.argmax(sizes)))
    if settings.fill_holes and mask.any():
        mask = ndimage.binary_fill_holes(mask)
    return mask


def mask_iou(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """IoU of two boolean masks ``(H, W)``; 1.0 when both are empty."""
    pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    union = np.logical_or(pred, target).sum()
    return float(np.logical_and(pred, target).sum() / union) if union else 1.0
