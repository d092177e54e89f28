"""The input image of a held-out car as a one-view object folder: what the baselines without a GAN see.

The view holds the input image, its silhouette and a camera. The silhouette is the ground truth: the car's
``mesh.obj`` rasterised at the input's TRUE camera (``input.json``), the mask a perfect segmenter would give. The
camera is read from ``<cameras>/<car>/input.json``: the held-out folder itself (the true camera, the default), or
``multiview``'s output folder (the camera it estimated for the input), so a baseline can be given the same camera
as the chain.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch

from ..data.object_views import INPUT_RIG, load_object_input, load_object_mesh
from ..errors import UserError
from ..render.cameras import CameraRig, load_rig
from .retrieval import silhouettes


def input_view(obj_dir: str | os.PathLike, cameras: str | os.PathLike) -> tuple[CameraRig, torch.Tensor, torch.Tensor]:
    """``(rig, image (S, S, 3) in [0, 1], mask (S, S) bool)`` of held-out car ``obj_dir``; ``rig`` is the one view
    at the camera from ``cameras/<car>/input.json``. Missing files are one ``UserError`` naming them."""
    obj_dir, cameras = Path(obj_dir), Path(cameras)
    image, true_rig = load_object_input(obj_dir)
    if true_rig is None:
        raise UserError(f"{obj_dir / INPUT_RIG}: not found (the input's true camera; synth writes it)")
    mesh = load_object_mesh(obj_dir)
    if mesh is None:
        raise UserError(f"{obj_dir / 'mesh.obj'}: not found (the ground truth the input's mask is rendered from)")
    size = image.shape[0]
    if image.shape[1] != size:
        raise UserError(f"{obj_dir / 'input.png'}: expected a square image, got {image.shape[1]}x{size}")
    mask = silhouettes(*mesh, replace(true_rig, image_size=size))[0]
    camera_file = cameras / obj_dir.name / INPUT_RIG
    if not camera_file.is_file():
        raise UserError(f"{camera_file}: not found (the camera of {obj_dir.name}'s input image)")
    rig = load_rig(camera_file)
    if len(rig) != 1:
        raise UserError(f"{camera_file}: expected one view, found {len(rig)}")
    return replace(rig, image_size=size, files=()), image, mask
