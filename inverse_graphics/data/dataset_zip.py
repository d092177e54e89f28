"""GAN training sets in the stylegan2-ada-pytorch dataset layout: one zip of PNGs plus labels.

Layout::

    00000/img00000000.png ... 00000/img00000999.png, 00001/img00001000.png, ...
    dataset.json  {"labels": [["00000/img00000000.png", [sin_azim, cos_azim, elev_over_90]], ...]}
                  or {"labels": null} for unlabelled images (a folder of photos);
                  optionally "objects": [0, 0, ..., 1, ...], one object id per image in name order, telling
                  which images are views of the same car (ignored by NVIDIA's loader, used by the GAN's
                  pair discriminator)

Pose labels (``pose_label``): ``[sin(azim), cos(azim), elev / 90]`` with PyTorch3D's look-at
azimuth and elevation in degrees; the distance and field of view are fixed per data set
(``synth.camera``) and not repeated. The bytes are deterministic: entries in index order
(which is sorted order), fixed timestamps and permissions, stored uncompressed (PNG is
already compressed), PNGs written by PIL without time or text chunks.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from ..io_utils import atomic_path

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def image_name(index: int) -> str:
    """Archive name of image ``index``: ``00000/img00000000.png``, 1000 images per folder."""
    return f"{index // 1000:05d}/img{index:08d}.png"


def pose_label(azim: float, elev: float) -> list[float]:
    """``[sin(azim), cos(azim), elev / 90]`` for angles in degrees."""
    a = math.radians(azim)
    return [math.sin(a), math.cos(a), elev / 90.0]


def encode_png(image: np.ndarray) -> bytes:
    """``(H, W, 3) uint8`` (RGB) or ``(H, W) uint8`` (L, e.g. a 0/255 mask) -> PNG bytes with no metadata chunks."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED
    archive.writestr(info, data)


class DatasetZipWriter:
    """Write ``path`` atomically: ``with DatasetZipWriter(p, labelled=True) as w: w.add(png_bytes, label)``.

    The zip appears at ``path`` only when the block ends without an exception.
    """

    def __init__(self, path: str | os.PathLike, labelled: bool):
        self.path = Path(path)
        self.labelled = labelled
        self.labels: list = []
        self.objects: list[int] = []
        self.count = 0

    def __enter__(self) -> "DatasetZipWriter":
        self._atomic = atomic_path(self.path)
        self._archive = zipfile.ZipFile(self._atomic.__enter__(), "w", zipfile.ZIP_STORED)
        return self

    def add(self, png: bytes, label: list[float] | None = None, object_id: int | None = None) -> str:
        """Append one encoded PNG (and its label when ``labelled``, its object id when given for every image);
        returns its archive name."""
        if (object_id is None) != (len(self.objects) == 0) and self.count > 0:
            raise ValueError("give an object id for every image or for none")
        name = image_name(self.count)
        _add(self._archive, name, png)
        if self.labelled:
            self.labels.append([name, [float(x) for x in label]])
        if object_id is not None:
            self.objects.append(int(object_id))
        self.count += 1
        return name

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            meta = {"labels": self.labels if self.labelled else None}
            if self.objects:
                meta["objects"] = self.objects
            _add(self._archive, "dataset.json", json.dumps(meta).encode("utf-8"))
        self._archive.close()
        return self._atomic.__exit__(exc_type, exc, tb)


def read_dataset_zip(
    path: str | os.PathLike, limit: int | None = None
) -> tuple[list[tuple[str, Image.Image]], list[list[float]] | None]:
    """The images ``(name, PIL image)`` in name order (the first ``limit`` if given), their labels alike (or None)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.endswith(".png"))[:limit]
            images = []
            for name in names:
                with archive.open(name) as f:
                    image = Image.open(f)
                    image.load()
                images.append((name, image))
            meta = json.loads(archive.read("dataset.json")) if "dataset.json" in archive.namelist() else {}
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable dataset zip ({type(exc).__name__}: {exc})") from None
    labels = meta.get("labels")
    if labels is None:
        return images, None
    by_name = dict((name, value) for name, value in labels)
    return images, [by_name[name] for name, _ in images]


def read_images_and_masks(images_zip: str | os.PathLike, masks_zip: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A training zip and its mask zip (``synth``'s ``cars-<res>.zip`` / ``masks-<res>.zip``) as arrays.

    Returns ``images (N, H, W, 3) uint8`` and ``masks (N, H, W) bool`` (mask pixel >= 128), paired by
    archive name. Raises ``UserError`` naming the mask zip when its names or sizes differ from the images'.
    """
    images, _ = read_dataset_zip(images_zip)
    masks, _ = read_dataset_zip(masks_zip)
    if [name for name, _ in images] != [name for name, _ in masks]:
        raise UserError(f"{masks_zip}: its image names differ from those of {images_zip} "
                        f"({len(masks)} masks for {len(images)} images)")
    if not images:
        raise UserError(f"{images_zip}: holds no images")
    image_arrays = np.stack([np.asarray(im.convert("RGB")) for _, im in images])
    mask_arrays = np.stack([np.asarray(m.convert("L")) for _, m in masks])
    if mask_arrays.shape != image_arrays.shape[:3]:
        raise UserError(f"{masks_zip}: masks of size {mask_arrays.shape[1:]} for images of {image_arrays.shape[1:3]}")
    return image_arrays, mask_arrays >= 128
