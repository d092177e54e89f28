"""Car masks of synth-style views without a trained segmenter: subtract the background read off the image borders.

``synth`` renders every car in front of a vertical two-colour gradient with the car clear of the left and right
borders (at the multiview rig's distance), and the generator learned the same scenes. So each row's background
colour is read from its outermost columns, a straight line in the row index is fitted to those colours (rows where
the car or a generator artefact reaches the border count less after a first pass), and a pixel is car when its
colour is farther from the fitted background than ``max(threshold, NOISE_FACTOR * r)``, with ``r`` the median
distance of the border pixels from the fit: 0 for synth's clean renders, about 0.02 for the generator's views,
whose backgrounds also shade across each row. The largest connected region, holes filled, is the mask.
``threshold`` (0.03) gave the best IoU against synth's own masks among 0.02-0.18 steps of 0.01-0.06;
``NOISE_FACTOR`` (6) was chosen by looking at the masks of generated views (at 0.03 flat their backgrounds
flood), never by their IoU. This is a measuring aid for synthetic scenes only (real photos have no such background): the stage
reports how well it recovers synth's own ground-truth masks beside every figure it is used for.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

BORDER = 2          # columns read on each side
THRESHOLD = 0.03    # colour distance (RGB in [0, 1], Euclidean) above which a pixel is car, at least
NOISE_FACTOR = 6.0  # ... and at least this many times the border pixels' median distance from the fit


def _row_background(image: np.ndarray) -> tuple[np.ndarray, float]:
    """``image (S, S, 3)`` in [0, 1] -> fitted background colour per row ``(S, 3)`` and the border pixels'
    median distance from it."""
    size = image.shape[0]
    border = np.concatenate([image[:, :BORDER], image[:, -BORDER:]], axis=1)     # (S, 2B, 3)
    rows = np.median(border, axis=1)                                               # (S, 3)
    y = np.linspace(0.0, 1.0, size)
    design = np.stack([np.ones_like(y), y], 1)                                     # (S, 2)
    weights = np.ones(size)
    for _ in range(2):
        coef, *_ = np.linalg.lstsq(design * weights[:, None], rows * weights[:, None], rcond=None)
        residual = np.linalg.norm(rows - design @ coef, axis=1)
        weights = 1.0 / (1.0 + (residual / 0.02) ** 2)                             # down-weight odd rows
    fitted = design @ coef
    return fitted, float(np.median(np.linalg.norm(border - fitted[:, None, :], axis=2)))


def background_masks(images: torch.Tensor, threshold: float = THRESHOLD) -> torch.Tensor:
    """``images (N, 3, S, S)`` in [-1, 1] -> car masks ``(N, S, S)`` bool (see the module docstring)."""
    array = ((images.detach().cpu().float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    masks = []
    for image in array:
        background, noise = _row_background(image)
        distance = np.linalg.norm(image - background[:, None, :], axis=2)
        mask = distance > max(threshold, NOISE_FACTOR * noise)
        labels, count = ndimage.label(mask)
        if count > 1:
            sizes = ndimage.sum(mask, labels, index=np.arange(1, count + 1))
            mask = labels == 1 + int(np.argmax(sizes))
        masks.append(ndimage.binary_fill_holes(mask))
    return torch.from_numpy(np.stack(masks))
