"""Pictures of masks for people: the mask's outline drawn over the image it was cut from."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from ..viz import contact_sheet


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """``(H, W) bool`` -> the mask's inner boundary, ``width`` pixels thick."""
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, iterations=width, border_value=0)


def overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (255, 0, 0),
            min_size: int = 128) -> np.ndarray:
    """``image (H, W, 3) uint8`` with the outline of ``mask (H, W)`` in ``colour``; small images are first
    enlarged (nearest) by an integer factor to at least ``min_size`` so a 1-pixel outline stays visible."""
    factor = max(1, -(-min_size // max(image.shape[:2])))
    if factor > 1:
        image = np.repeat(np.repeat(image, factor, 0), factor, 1)
        mask = np.repeat(np.repeat(np.asarray(mask, bool), factor, 0), factor, 1)
    out = image.copy()
    out[outline(mask, width=max(1, factor // 2, max(image.shape[:2]) // 256))] = colour
    return out


def overlay_sheet(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], labels: Sequence[str] | None = None,
                  ncols: int = 10, min_size: int = 128) -> Image.Image:
    """A contact sheet of ``overlay`` tiles, ``ncols`` per row, optionally labelled."""
    tiles = [overlay(im, m, min_size=min_size) for im, m in zip(images, masks)]
    return contact_sheet(tiles, ncols=ncols, labels=labels)
