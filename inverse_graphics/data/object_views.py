"""Reading one object's views from disk: ``cameras.json`` + masks, the layout fitting stages consume.

An object folder (written by ``synth`` for held-out cars, later by ``segment``) holds
``cameras.json`` (see ``render.cameras``) whose views name their ``mask`` files
(default ``masks/NNN.png``), and optionally ``mesh.obj``, the ground truth.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import UserError
from ..render.cameras import CameraRig, load_rig


def find_objects(folder: str | os.PathLike, marker: str = "cameras.json") -> list[Path]:
    """Sorted sub-folders of ``folder`` that contain ``marker``; a one-line error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: input folder not found (expected one sub-folder per object with {marker})")
    objects = sorted(p for p in folder.iterdir() if (p / marker).is_file())
    if not objects:
        raise UserError(f"{folder}: no object folders with {marker} found")
    return objects


def read_mask(path: Path, image_size: int) -> torch.Tensor:
    """An 8-bit mask PNG/JPEG (any mode) -> ``(image_size, image_size)`` float in [0, 1]."""
    if not path.is_file():
        raise UserError(f"{path}: mask file not found")
    try:
        with Image.open(path) as img:
            img = img.convert("L")
            if img.size != (image_size, image_size):
                img = img.resize((image_size, image_size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: not a readable image ({exc})") from None
    return torch.from_numpy(array)


def load_object_masks(obj_dir: str | os.PathLike, image_size: int) -> tuple[torch.Tensor, CameraRig]:
    """Masks ``(N, image_size, image_size)`` in [0, 1] and the object's rig resized to ``image_size``.

    Raises ``UserError`` when a mask is missing, unreadable or empty, or when ``masks/`` holds
    a different number of images than ``cameras.json`` has views.
    """
    obj_dir = Path(obj_dir)
    rig = load_rig(obj_dir / "cameras.json")
    mask_dir = obj_dir / "masks"
    if mask_dir.is_dir():
        count = sum(1 for p in mask_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if count != len(rig):
            raise UserError(f"{mask_dir}: {count} mask images but {len(rig)} cameras in {obj_dir / 'cameras.json'}")
    names = [f.get("mask", f"masks/{i:03d}.png") for i, f in enumerate(rig.files)] if rig.files else None
    if names is None:
        names = [f"masks/{i:03d}.png" for i in range(len(rig))]
    masks = []
    for name in names:
        mask = read_mask(obj_dir / name, image_size)
        if mask.max() < 0.5:
            raise UserError(f"{obj_dir / name}: mask is empty (no pixel >= 0.5); the object is not in view")
        masks.append(mask)
    return torch.stack(masks), replace(rig, image_size=image_size)
