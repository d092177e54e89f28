"""The ``template`` baseline: retrieve, from a library of 3D cars, the one whose silhouette best matches a mask.

The library is ``synth``'s training set, regenerated: training car ``i`` is the first draw
(``sample_car_params``) from ``numpy.random.default_rng(seed + i)`` (``stages/synth.py``,
``write_training_set``), so no mesh needs storing. This baseline is privileged: it needs the training cars'
3D meshes, which the GAN path never sees (a real photo collection has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from ..data.car_generator import build_car, sample_car_params
from ..render.cameras import CameraRig
from ..render.shaded import rasterize


@dataclass(frozen=True)
class LibraryCar:
    """One library mesh: ``verts (V, 3)`` normalised, ``faces (F, 3)``, its index and style."""

    index: int
    verts: torch.Tensor
    faces: torch.Tensor
    style: str


def training_cars(seed: int, num_cars: int) -> Iterator[LibraryCar]:
    """``synth``'s training cars ``0..num_cars-1`` for ``synth.seed = seed``, as normalised meshes."""
    for i in range(num_cars):
        params = sample_car_params(np.random.default_rng(seed + i))
        verts, faces = build_car(params).normalized()
        yield LibraryCar(i, verts, faces, params.style)


def silhouettes(verts: torch.Tensor, faces: torch.Tensor, rig: CameraRig) -> torch.Tensor:
    """Hard silhouettes ``(N, S, S) bool`` of a mesh at every view of ``rig`` (the renderer ``synth`` uses)."""
    return rasterize(verts.float(), faces.long(), rig) >= 0


def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU per view of boolean masks ``(N, S, S)`` -> ``(N,)``; two empty masks count as 1."""
    inter = (pred & target).flatten(1).sum(1).float()
    union = (pred | target).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


@dataclass(frozen=True)
class Retrieval:
    """The best library car for one target: its position in the library, its mean IoU over the target's views,
    and every candidate's IoU ``(L,)`` (for the runner-up and the spread)."""

    best: int
    iou: float
    ious: torch.Tensor


def retrieve(masks: torch.Tensor, rig: CameraRig, library: Sequence[LibraryCar]) -> Retrieval:
    """The library car whose silhouettes at ``rig`` best match ``masks (N, S, S)`` (>= 0.5 counts as object),
    by IoU averaged over the views; ties go to the earlier car."""
    if not library:
        raise ValueError("the retrieval library is empty")
    target = masks >= 0.5
    if target.shape[-1] != rig.image_size or len(target) != len(rig):
        raise ValueError(f"masks {tuple(masks.shape)} do not match the rig ({len(rig)} views, {rig.image_size} px)")
    ious = torch.stack([mask_iou(silhouettes(car.verts, car.faces, rig), target).mean() for car in library])
    best = int(torch.argmax(ious))
    return Retrieval(best, float(ious[best]), ious)
