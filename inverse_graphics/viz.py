"""Pictures for people: contact sheets, turntables of a mesh, atomic PNG writes."""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .io_utils import atomic_path
from .render.cameras import CameraRig
from .render.shaded import render_shaded


def _uint8(image) -> np.ndarray:
    """Array/tensor, float in [0, 1] (bool counts as 0/1) or uint8 -> uint8 of the same shape."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.round(np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def to_uint8(image) -> np.ndarray:
    """(H, W, 3) or (H, W) array/tensor, float in [0, 1] (bool counts as 0/1) or uint8 -> uint8 (H, W, 3)."""
    image = _uint8(image)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def contact_sheet(images: Sequence, ncols: int, pad: int = 2, labels: Sequence[str] | None = None) -> Image.Image:
    """Tile ``images`` (each (H, W, 3) or (H, W); sizes may differ) row-major into ``ncols`` columns.

    Tiles sit on a white sheet ``pad`` pixels apart; each ``labels[i]`` is written in a strip above its tile.
    """
    tiles = [to_uint8(im) for im in images]
    if not tiles:
        raise ValueError("contact_sheet needs at least one image")
    ncols = max(1, min(ncols, len(tiles)))
    nrows = math.ceil(len(tiles) / ncols)
    label_h = 12 if labels else 0
    cell_h = max(t.shape[0] for t in tiles) + label_h
    cell_w = max(t.shape[1] for t in tiles)
    sheet = Image.new("RGB", (pad + ncols * (cell_w + pad), pad + nrows * (cell_h + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        x = pad + (i % ncols) * (cell_w + pad)
        y = pad + (i // ncols) * (cell_h + pad)
        if labels:
            draw.text((x + 1, y), str(labels[i]), fill=(0, 0, 0))
        sheet.paste(Image.fromarray(tile), (x, y + label_h))
    return sheet


def turntable_rig(num_views: int = 8, image_size: int = 128, dist: float = 2.2, elev: float = 15.0) -> CameraRig:
    """``num_views`` views evenly spaced in azimuth at one elevation."""
    azim = tuple(float(a) for a in np.arange(num_views) * 360.0 / num_views)
    return CameraRig((float(dist),) * num_views, (float(elev),) * num_views, azim, 60.0, image_size)


def turntable(
    verts: torch.Tensor,
    faces: torch.Tensor,
    num_views: int = 8,
    image_size: int = 128,
    color: tuple[float, float, float] | torch.Tensor = (0.7, 0.72, 0.78),
) -> Image.Image:
    """A row of shaded renders around a normalised mesh ``verts (V, 3)``, ``faces (F, 3)``.

    ``color``: (3,) albedo, or (F, 3) per face.
    """
    images, _ = render_shaded(
        verts.detach().cpu(), faces.detach().cpu(), turntable_rig(num_views, image_size),
        torch.as_tensor(color, dtype=torch.float32), background=torch.ones(3),
    )
    return contact_sheet(list(images), ncols=num_views, pad=0)


def save_png(image, path: str | os.PathLike) -> None:
    """Write a PIL image, an (H, W, 3) array (RGB) or an (H, W) array (8-bit L) as PNG, atomically,
    with no varying metadata. Floats and bools are scaled as in ``to_uint8``."""
    if not isinstance(image, Image.Image):
        image = Image.fromarray(_uint8(image))
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def stack_vertically(images: Sequence[Image.Image]) -> Image.Image:
    """Stack PIL images top to bottom on white, left-aligned (e.g. a target turntable above a fit's)."""
    return contact_sheet([np.asarray(im.convert("RGB")) for im in images], ncols=1, pad=0)
