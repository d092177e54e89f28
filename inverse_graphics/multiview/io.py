"""What ``multiview`` reads and writes: input images (object folders or image files) and output object folders.

Inputs (``find_inputs``): a folder of object folders each holding ``input.png`` (+ ``input.json``, the true camera,
and ``rig/``, the ground-truth views at the multiview rig, as ``synth`` writes held-out cars), one such object
folder, a folder of image files, or one image file. Images are framed square (``crop``: centre square;
``letterbox``: the LSUN-car 4:3 framing of ``data/image_folder.py``) and resized (Lanczos) to the generator's size.

Output: one object folder per input in the shared format (``docs/object_folder.md``, written by
``data/object_views.write_object_folder``):
``cameras.json`` of the rig with ``images/NNN.png``, ``input.png`` + ``input.json`` (the ESTIMATED camera of the
input), plus ``recon.png`` (the generator's reconstruction of the input) and ``latent.npz``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.image_folder import letterbox
from ..errors import UserError
from ..render.cameras import CameraRig, load_rig

INPUT_IMAGE, INPUT_RIG, GT_RIG_FOLDER = "input.png", "input.json", "rig"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class InputSource:
    """One input: its name (object folder name or file stem), the image file, and the object folder if any."""

    name: str
    image: Path
    folder: Path | None = None

    @property
    def true_rig(self) -> CameraRig | None:
        """The input's true camera (``input.json``), when the folder has one."""
        path = self.folder / INPUT_RIG if self.folder is not None else None
        return load_rig(path) if path is not None and path.is_file() else None

    @property
    def gt_views(self) -> Path | None:
        """The object's ground-truth views at the multiview rig (``rig/`` with ``cameras.json``), if present."""
        path = self.folder / GT_RIG_FOLDER if self.folder is not None else None
        return path if path is not None and (path / "cameras.json").is_file() else None


def find_inputs(path: str | os.PathLike) -> list[InputSource]:
    """The inputs under ``path`` (see the module docstring), sorted by name; a one-line ``UserError`` when none."""
    path = Path(path)
    if path.is_file():
        return [InputSource(path.stem, path)]
    if not path.is_dir():
        raise UserError(f"{path}: input not found (expected an image file, a folder of images, or object folders "
                        f"with {INPUT_IMAGE})")
    if (path / INPUT_IMAGE).is_file():
        return [InputSource(path.name, path / INPUT_IMAGE, path)]
    objects = sorted(p for p in path.iterdir() if p.is_dir() and (p / INPUT_IMAGE).is_file())
    if objects:
        return [InputSource(p.name, p / INPUT_IMAGE, p) for p in objects]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if files:
        return [InputSource(p.stem, p) for p in files]
    raise UserError(f"{path}: no inputs found (expected object folders with {INPUT_IMAGE}, or image files "
                    f"{'/'.join(IMAGE_SUFFIXES)})")


def read_input_image(path: str | os.PathLike, resolution: int, framing: str = "crop") -> torch.Tensor:
    """An image file -> ``(1, 3, resolution, resolution)`` in [-1, 1]; missing or unreadable is a ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: input image not found")
    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"{path}: not a readable image ({' '.join(str(exc).split())[:160]})") from None
    if framing == "letterbox":
        array = letterbox(img, resolution)
    elif framing == "crop":
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
        if img.size != (resolution, resolution):
            img = img.resize((resolution, resolution), Image.LANCZOS)
        array = np.asarray(img)
    else:
        raise ValueError(f"framing must be 'crop' or 'letterbox', got {framing!r}")
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1


def to_hwc(images: torch.Tensor) -> torch.Tensor:
    """``(N, 3, R, R)`` in [-1, 1] -> ``(N, R, R, 3)`` in [0, 1]."""
    return ((images.detach().cpu().float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1)
