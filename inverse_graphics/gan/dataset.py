"""The GAN's training images in memory: uint8 pixels, pose labels, and which images show the same object.

Read from the stylegan2-ada dataset zip (``data/dataset_zip.py``). ``dataset.json`` may carry, besides the
official ``labels``, an ``objects`` list (one object id per image, written by ``synth``): images with the same id
are views of the same car, which the pair discriminator needs.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.dataset_zip import read_dataset_zip
from ..errors import UserError


@dataclass
class TrainingImages:
    """``images: (N, 3, R, R) uint8``; ``labels: (N, L) float32`` or None; ``objects: (N,) int64`` or None."""

    images: torch.Tensor
    labels: torch.Tensor | None = None
    objects: torch.Tensor | None = None

    def __post_init__(self):
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 3 or self.images.shape[2] != self.images.shape[3]:
            raise ValueError(f"images must be (N, 3, R, R), got {tuple(self.images.shape)}")
        for name in ("labels", "objects"):
            value = getattr(self, name)
            if value is not None and value.shape[0] != n:
                raise ValueError(f"{name} has {value.shape[0]} rows for {n} images")
        if self.objects is not None:
            self._views = {}
            for index, obj in enumerate(self.objects.tolist()):
                self._views.setdefault(obj, []).append(index)
            self._multi = [views for views in self._views.values() if len(views) >= 2]

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    @property
    def has_pairs(self) -> bool:
        """True when some object has at least two views."""
        return self.objects is not None and bool(self._multi)

    @staticmethod
    def to_float(images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, 3, R, R)`` -> float in [-1, 1]."""
        return images.float() / 127.5 - 1

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` random images (float, [-1, 1]) and their labels."""
        index = torch.randint(len(self), (n,), generator=generator)
        return self.to_float(self.images[index]), (self.labels[index] if self.labels is not None else None)

    def sample_pairs(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pairs of distinct views of one object: two index tensors ``(n,)``."""
        if not self.has_pairs:
            raise ValueError("this data set has no objects with two or more views")
        picks = torch.randint(len(self._multi), (n,), generator=generator).tolist()
        a, b = [], []
        for p in picks:
            views = self._multi[p]
            i, j = torch.randperm(len(views), generator=generator)[:2].tolist()
            a.append(views[i]), b.append(views[j])
        return torch.tensor(a), torch.tensor(b)


def find_dataset_zip(folder: str | os.PathLike) -> Path:
    """The one ``cars-*.zip`` training set in ``folder`` (the synth stage's ``data/dataset``)."""
    folder = Path(folder)
    if folder.is_file():
        return folder
    found = sorted(folder.glob("cars-*.zip")) if folder.is_dir() else []
    if len(found) != 1:
        raise UserError(f"{folder}: expected one cars-<res>.zip training set (run the synth stage), found {len(found)}")
    return found[0]


def load_training_images(path: str | os.PathLike) -> TrainingImages:
    """Read a dataset zip into memory; a missing or foreign file is a one-line ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: training set not found (expected a dataset zip written by the synth stage)")
    pictures, labels = read_dataset_zip(path)
    if not pictures:
        raise UserError(f"{path}: the dataset zip holds no PNG images")
    arrays = []
    size = None
    for name, image in pictures:
        array = np.asarray(image.convert("RGB"))
        if size is None:
            size = array.shape
        if array.shape != size or array.shape[0] != array.shape[1]:
            raise UserError(f"{path}: {name} is {array.shape[1]}x{array.shape[0]}, expected square "
                            f"{size[1]}x{size[0]} like the first image")
        arrays.append(array)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("dataset.json")) if "dataset.json" in archive.namelist() else {}
    objects = meta.get("objects")
    if objects is not None and len(objects) != len(arrays):
        raise UserError(f"{path}: dataset.json lists {len(objects)} object ids for {len(arrays)} images")
    return TrainingImages(
        images,
        torch.tensor(labels, dtype=torch.float32) if labels is not None else None,
        torch.tensor(objects, dtype=torch.int64) if objects is not None else None,
    )
