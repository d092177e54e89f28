"""The object folder: the one format that passes views of an object between stages (``docs/object_folder.md``).

One writer (``write_object_folder``: ``synth`` writes held-out cars, ``multiview`` views, ``segment``
masks) and the readers every consuming stage uses::

    <object>/cameras.json     the rig (``render.cameras``); view k names its files:
                              {"image": "images/NNN.png", "mask": "masks/NNN.png"}
    <object>/images/NNN.png   RGB views (optional)
    <object>/masks/NNN.png    8-bit L masks, 0/255 (optional)
    <object>/mesh.obj         ground-truth mesh (optional)
    <object>/input.png        the input image (optional), ``input.json`` its one-view rig

A folder that breaks the contract (no ``cameras.json``, a different number of files in
``images/`` or ``masks/`` than views, a missing or unreadable file) is one ``UserError`` naming it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import UserError
from ..mesh.io import load_mesh, save_mesh
from ..render.cameras import CameraRig, load_rig, save_rig
from ..viz import save_png

CAMERAS, MESH, INPUT_IMAGE, INPUT_RIG = "cameras.json", "mesh.obj", "input.png", "input.json"
KINDS = {"image": "RGB", "mask": "L"}  # per-view file kinds and the PIL mode they are read in
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FORMAT_DOC = "docs/object_folder.md"


def view_file(kind: str, index: int) -> str:
    """Default file of view ``index`` for ``kind`` ('image' or 'mask'): ``images/007.png``."""
    return f"{kind}s/{index:03d}.png"


# ----------------------------------------------------------------------------- writer


def write_object_folder(
    folder: str | os.PathLike,
    rig: CameraRig,
    images: torch.Tensor | None = None,
    masks: torch.Tensor | None = None,
    mesh: tuple[torch.Tensor, torch.Tensor] | None = None,
    input_image: torch.Tensor | None = None,
    input_rig: CameraRig | None = None,
) -> CameraRig:
    """Write one object folder; returns ``rig`` with the file names recorded in its ``cameras.json``.

    ``images: (N, S, S, 3)`` in [0, 1] (or uint8), ``masks: (N, S, S)`` bool or in [0, 1] (saved as
    8-bit L, 0/255 for bool), with ``N = len(rig)``; ``mesh``: ``(verts (V, 3), faces (F, 3))``;
    ``input_image: (H, W, 3)`` with its one-view ``input_rig``. Each file is written atomically;
    a stage wraps its whole output folder in ``io_utils.atomic_dir``.
    """
    folder = Path(folder)
    given = {kind: views for kind, views in (("image", images), ("mask", masks)) if views is not None}
    for kind, views in given.items():
        if len(views) != len(rig):
            raise ValueError(f"{folder}: {len(views)} {kind}s for {len(rig)} cameras")
    files = tuple({kind: view_file(kind, k) for kind in given} for k in range(len(rig))) if given else ()
    rig = replace(rig, files=files)
    if mesh is not None:
        save_mesh(folder / MESH, *mesh)
    if input_image is not None:
        save_png(input_image, folder / INPUT_IMAGE)
    if input_rig is not None:
        save_rig(folder / INPUT_RIG, input_rig)
    save_rig(folder / CAMERAS, rig)
    for kind, views in given.items():
        for k, view in enumerate(views):
            save_png(view, folder / files[k][kind])
    return rig


# ----------------------------------------------------------------------------- readers


def find_objects(folder: str | os.PathLike, marker: str = CAMERAS) -> list[Path]:
    """Sorted sub-folders of ``folder`` that contain ``marker``; a one-line error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: input folder not found (expected one sub-folder per object with {marker})")
    objects = sorted(p for p in folder.iterdir() if (p / marker).is_file())
    if not objects:
        raise UserError(f"{folder}: no object folders with {marker} found")
    return objects


def load_object_rig(obj_dir: str | os.PathLike) -> CameraRig:
    """The object's ``cameras.json``; a folder without one is a one-line ``UserError`` naming it."""
    obj_dir = Path(obj_dir)
    if not (obj_dir / CAMERAS).is_file():
        raise UserError(f"{obj_dir}: not an object folder (no {CAMERAS}; format in {FORMAT_DOC})")
    return load_rig(obj_dir / CAMERAS)


def read_image(path: Path, image_size: int | None = None, mode: str = "RGB") -> torch.Tensor:
    """An 8-bit image file -> float in [0, 1]: ``(S, S, 3)`` for mode RGB, ``(S, S)`` for L.

    Resized (bilinear) to ``image_size`` when given and different.
    """
    if not path.is_file():
        raise UserError(f"{path}: {'mask' if mode == 'L' else 'image'} file not found")
    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            if image_size is not None and img.size != (image_size, image_size):
                img = img.resize((image_size, image_size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: not a readable image ({exc})") from None
    return torch.from_numpy(array)


def read_mask(path: Path, image_size: int) -> torch.Tensor:
    """An 8-bit mask PNG/JPEG (any mode) -> ``(image_size, image_size)`` float in [0, 1]."""
    return read_image(path, image_size, "L")


def view_paths(obj_dir: str | os.PathLike, rig: CameraRig, kind: str) -> list[Path]:
    """The ``kind`` file of every view (named in ``cameras.json``, default ``<kind>s/NNN.png``).

    Raises ``UserError`` when the default folder ``<kind>s/`` holds a different number of images
    than the rig has views.
    """
    obj_dir = Path(obj_dir)
    if kind not in KINDS:
        raise ValueError(f"unknown view kind {kind!r} (expected one of {list(KINDS)})")
    folder = obj_dir / f"{kind}s"
    if folder.is_dir():
        count = sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if count != len(rig):
            raise UserError(f"{folder}: {count} image files for {len(rig)} views in {obj_dir / CAMERAS}")
    names = [(rig.files[k] if rig.files else {}).get(kind, view_file(kind, k)) for k in range(len(rig))]
    return [obj_dir / name for name in names]


def _load_views(obj_dir, kind: str, image_size: int | None) -> tuple[torch.Tensor, CameraRig, list[Path]]:
    rig = load_object_rig(obj_dir)
    size = image_size or rig.image_size
    paths = view_paths(obj_dir, rig, kind)
    return torch.stack([read_image(path, size, KINDS[kind]) for path in paths]), replace(rig, image_size=size), paths


def load_object_images(obj_dir: str | os.PathLike, image_size: int | None = None) -> tuple[torch.Tensor, CameraRig]:
    """Views ``(N, S, S, 3)`` in [0, 1] and the rig at ``S = image_size`` (default: the rig's size)."""
    images, rig, _ = _load_views(obj_dir, "image", image_size)
    return images, rig


def load_object_masks(obj_dir: str | os.PathLike, image_size: int | None = None) -> tuple[torch.Tensor, CameraRig]:
    """Masks ``(N, S, S)`` in [0, 1] and the object's rig at ``S = image_size`` (default: the rig's size).

    Raises ``UserError`` when ``cameras.json`` is missing, a mask is missing, unreadable or empty,
    or ``masks/`` holds a different number of images than ``cameras.json`` has views.
    """
    masks, rig, paths = _load_views(obj_dir, "mask", image_size)
    for mask, path in zip(masks, paths):
        if mask.max() < 0.5:
            raise UserError(f"{path}: mask is empty (no pixel >= 0.5); the object is not in view")
    return masks, rig


def load_object_input(obj_dir: str | os.PathLike) -> tuple[torch.Tensor, CameraRig | None]:
    """The input image ``(H, W, 3)`` in [0, 1] and its rig (``None`` when ``input.json`` is absent)."""
    obj_dir = Path(obj_dir)
    rig_path = obj_dir / INPUT_RIG
    return read_image(obj_dir / INPUT_IMAGE), load_rig(rig_path) if rig_path.is_file() else None


def load_object_mesh(obj_dir: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The ground truth ``(verts (V, 3), faces (F, 3))``, or ``None`` when the folder has no ``mesh.obj``."""
    path = Path(obj_dir) / MESH
    return load_mesh(path) if path.is_file() else None
