"""The images a segmenter reads and the masks it writes: object folders or plain folders of pictures.

Input kinds (``find_view_sets``):

- a folder of object folders, each with ``cameras.json`` whose views name their ``image`` files
  (default ``images/NNN.png``), as ``synth`` and ``multiview`` write them;
- one object folder (it holds ``cameras.json`` itself);
- a plain folder of pictures (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.webp``), taken in name order.

With ``views`` other than ``.``, only the first kind: object ``<folder>/<obj>`` has its views in
``<folder>/<obj>/<views>/`` (e.g. ``rig``: ``synth``'s held-out renders at the multiview rig), and the
view set is named ``<obj>``.

Every failure is one ``UserError`` naming the file or folder: a missing or empty folder, a file
that is not an image, an image PIL cannot decode, a count that differs from ``cameras.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from ..render.cameras import CameraRig, load_rig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class ViewSet:
    """One object's pictures: ``name``, ``paths`` of its images in view order, its ``rig`` (None for a
    plain folder) and, when the folder has them, the ground-truth ``mask_paths``."""

    name: str
    folder: Path
    paths: tuple[Path, ...]
    rig: CameraRig | None
    mask_paths: tuple[Path, ...] | None = None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Any PIL-readable picture -> ``(H, W, 3) uint8`` RGB; one-line error naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: image file not found")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"{path}: not a readable image ({' '.join(str(exc).split())})") from None


def _check_images_only(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    for p in files:
        if p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"{p}: not an image file (expected only {', '.join(IMAGE_SUFFIXES)} files in {folder})")
    return files


def object_view_set(folder: Path, name: str | None = None) -> ViewSet:
    """The views of one object folder (``cameras.json`` + its images, and ``masks/`` when present),
    named ``name`` (default: the folder's name)."""
    rig = load_rig(folder / "cameras.json")
    names = [f.get("image", f"images/{i:03d}.png") for i, f in enumerate(rig.files)] if rig.files else \
        [f"images/{i:03d}.png" for i in range(len(rig))]
    paths = tuple(folder / n for n in names)
    for image_dir in sorted({p.parent for p in paths}):
        if not image_dir.is_dir():
            raise UserError(f"{image_dir}: image folder not found (named by {folder / 'cameras.json'})")
        count = len(_check_images_only(image_dir))
        if count != len(rig):
            raise UserError(f"{image_dir}: {count} images but {len(rig)} cameras in {folder / 'cameras.json'}")
    masks = None
    if rig.files and all("mask" in f for f in rig.files) and all((folder / f["mask"]).is_file() for f in rig.files):
        masks = tuple(folder / f["mask"] for f in rig.files)
    return ViewSet(name or folder.name, folder, paths, rig, masks)


def find_view_sets(folder: str | os.PathLike, views: str | os.PathLike = ".") -> list[ViewSet]:
    """The view sets under ``folder`` (see the module docstring for the three kinds and ``views``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: input folder not found")
    if Path(views) != Path("."):
        objects = sorted(p for p in folder.iterdir() if p.is_dir() and (p / views / "cameras.json").is_file())
        if not objects:
            raise UserError(f"{folder}: no object folders with {Path(views) / 'cameras.json'} found")
        return [object_view_set(p / views, name=p.name) for p in objects]
    if (folder / "cameras.json").is_file():
        return [object_view_set(folder)]
    objects = sorted(p for p in folder.iterdir() if p.is_dir() and (p / "cameras.json").is_file())
    if objects:
        return [object_view_set(p) for p in objects]
    files = _check_images_only(folder)
    if not files:
        raise UserError(f"{folder}: empty folder (expected object folders with cameras.json, or images)")
    return [ViewSet(folder.name, folder, tuple(files), None)]
