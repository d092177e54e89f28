"""Measures of a camera-conditioned generator: does it draw the camera asked for, ONE car across views, and
images like the training set?

- ``pose_error``: the car critic reads the camera of each generated image; the error is the angle between the
  requested and the read viewing directions (degrees).
- ``hull_consistency``: for a fixed latent, render the views of a rig, cut the car out of each (a segmenter), carve
  the visual hull of all the masks, reproject it into every view and take the IoU with that view's mask. Views of
  one consistent car give about 1; views of different cars carve each other away.
- ``feature_distances``: Fréchet and kernel distances between real and generated images in a feature space
  (torchmetrics' FID/KID machinery with a custom feature network): the car critic's (keys say ``carnet``; NOT
  Inception features) and, when torchvision's weights are in the local hub cache, Inception-v3's (``inception.py``).

Generator inputs follow ``session.pose_labels``; images are ``(N, 3, R, R)`` in [-1, 1].
"""

from __future__ import annotations

from typing import Callable

import torch

from ..mesh.visual_hull import carve
from ..render.cameras import CameraRig
from ..render.soft_raster import project, projection_matrix
from .critic import CarCritic, predict_pose_error
from .dataset import TrainingImages
from .networks import Generator
from .session import pose_labels


@torch.no_grad()
def generate(G: Generator, z: torch.Tensor, poses: torch.Tensor | None, batch: int = 64,
             truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
    """Images ``(N, 3, R, R)`` of latents ``z: (N, z_dim)`` at cameras ``poses: (N, 3)`` (mapping label or camera
    input, whichever the generator has)."""
    device = next(G.parameters()).device
    out = []
    for i in range(0, len(z), batch):
        zi = z[i:i + batch].to(device)
        pi = poses[i:i + batch].to(device) if poses is not None else None
        if G.pose_dim > 0:
            out.append(G(zi, None, pi, truncation_psi=truncation_psi, noise_mode=noise_mode))
        else:
            out.append(G(zi, pi if G.c_dim > 0 else None, truncation_psi=truncation_psi, noise_mode=noise_mode))
    return torch.cat(out).clamp(-1, 1).cpu()


def pose_error(G: Generator, critic: CarCritic, poses: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``(N,)`` degrees between ``poses: (N, 3)`` and the critic's reading of ``G`` at those poses."""
    z = torch.randn(len(poses), G.z_dim, generator=torch.Generator().manual_seed(seed))
    return predict_pose_error(critic, generate(G, z, poses), poses)


def reproject_hull(occupancy: torch.Tensor, axis: torch.Tensor, rig: CameraRig) -> torch.Tensor:
    """Masks ``(N, S, S)`` bool: pixels onto which an occupied voxel centre of ``occupancy: (R, R, R)`` projects."""
    i, j, k = torch.nonzero(occupancy, as_tuple=True)
    size = rig.image_size
    masks = torch.zeros(len(rig), size, size, dtype=torch.bool)
    if len(i) == 0:
        return masks
    centres = torch.stack([axis[i], axis[j], axis[k]], dim=-1)
    xy, _ = project(centres, projection_matrix(rig.to_pytorch3d()))  # NDC, +x left, +y up
    col = ((1 - xy[..., 0]) * size / 2).floor().long()
    row = ((1 - xy[..., 1]) * size / 2).floor().long()
    inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    view = torch.arange(len(rig))[:, None].expand_as(col)
    masks[view[inside], row[inside], col[inside]] = True
    return masks


def hull_consistency_iou(masks: torch.Tensor, rig: CameraRig, resolution: int = 96) -> torch.Tensor:
    """``masks: (N, S, S)`` of ONE object seen by ``rig`` -> ``(N,)`` IoU of each mask with the reprojected hull."""
    occupancy, axis = carve(masks.float(), rig, resolution)
    hull = reproject_hull(occupancy, axis, rig)
    m = masks > 0.5
    union = (hull | m).flatten(1).sum(1).float()
    return torch.where(union > 0, (hull & m).flatten(1).sum(1).float() / union.clamp_min(1), torch.zeros_like(union))


def rig_poses(rig: CameraRig) -> torch.Tensor:
    """The generator labels ``(N, 3)`` of the views of ``rig``."""
    return pose_labels(torch.tensor(rig.azim), torch.tensor(rig.elev))


def generator_hull_consistency(G: Generator, segment: Callable[[torch.Tensor], torch.Tensor], rig: CameraRig,
                               num_latents: int = 8, seed: int = 0) -> dict:
    """Mean and minimum over ``num_latents`` latents of the mean per-view hull IoU (``segment``: images ->
    probabilities ``(N, S, S)``), plus the number of views whose mask came out empty."""
    poses = rig_poses(rig)
    z = torch.randn(num_latents, G.z_dim, generator=torch.Generator().manual_seed(seed))
    scores, empty = [], 0
    for zi in z:
        images = generate(G, zi[None].expand(len(rig), -1), poses)
        masks = segment(images) > 0.5
        empty += int((masks.flatten(1).sum(1) == 0).sum())
        scores.append(float(hull_consistency_iou(masks, rig).mean()))
    return {"hull_consistency_iou": sum(scores) / len(scores), "hull_consistency_iou_min": min(scores),
            "hull_empty_masks": empty}


@torch.no_grad()
def feature_distances(G: Generator, features: torch.nn.Module, name: str, data: TrainingImages,
                      num_images: int = 1000, seed: int = 0, kid_subset: int = 100) -> dict:
    """``frechet_distance_<name>`` and ``kernel_distance_<name>`` between ``num_images`` training images and as
    many generated ones (cameras drawn from the training labels), in the space of ``features``
    (``(N, 3, R, R)`` in [-1, 1] -> ``(N, F)``): the car critic (``carnet``) or Inception-v3."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    g = torch.Generator().manual_seed(seed)
    n = min(num_images, len(data))
    real_index = torch.randperm(len(data), generator=g)[:n]
    fake_poses = data.labels[torch.randint(len(data), (n,), generator=g)] if data.labels is not None else None
    z = torch.randn(n, G.z_dim, generator=g)
    fake = generate(G, z, fake_poses, noise_mode="random")
    real = data.to_float(data.images[real_index])
    fid = FrechetInceptionDistance(feature=features, reset_real_features=True)
    kid = KernelInceptionDistance(feature=features, subset_size=min(kid_subset, n), reset_real_features=True)
    for start in range(0, n, 250):
        for metric in (fid, kid):
            metric.update(real[start:start + 250], real=True)
            metric.update(fake[start:start + 250], real=False)
    kid_mean, _ = kid.compute()
    return {f"frechet_distance_{name}": float(fid.compute()), f"kernel_distance_{name}": float(kid_mean)}
