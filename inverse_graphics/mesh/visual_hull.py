"""The visual hull: the largest shape consistent with a set of silhouettes.

No silhouette-only method can recover surface that every view hides (concavities such as wheel
arches or an underbody), so the hull's ground-truth metrics are an upper reference for what a
silhouette fit can reach. Carved on a voxel grid over ``[-1, 1]^3``: a voxel stays if its centre
projects inside every mask.

The hull can also carve tunnels: a mask with a hole (a see-through gap between a wheel and its
arch) removes a thin slab, which a deformed ico-sphere does not follow in practice (it would
have to dig a narrow well around the wheel from a one- or two-pixel signal). Carving the masks
after ``fill_holes`` gives the hull without those tunnels, the closer reference for such a fit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..render.cameras import CameraRig
from ..render.soft_raster import project, projection_matrix


def carve(masks: torch.Tensor, rig: CameraRig, resolution: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """``masks: (N, H, W)`` in [0, 1] seen by ``rig`` -> ``occupancy: (R, R, R) bool`` and ``axis: (R,)``."""
    axis = torch.linspace(-1.0, 1.0, resolution)
    centres = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
    xy, _ = project(centres, projection_matrix(rig.to_pytorch3d()))
    # PyTorch3D NDC has +X left and +Y up; grid_sample's (-1, -1) is the top-left pixel.
    samples = F.grid_sample(masks[:, None].float(), -xy[:, None], mode="nearest", align_corners=False)
    inside = (samples[:, 0, 0] > 0.5).all(dim=0)
    return inside.reshape(resolution, resolution, resolution), axis


def surface_points(occupancy: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """Centres ``(P, 3)`` of occupied voxels with at least one empty voxel among their 26 neighbours."""
    padded = F.pad(occupancy.float()[None, None], (1, 1, 1, 1, 1, 1))
    full = F.avg_pool3d(padded, kernel_size=3, stride=1)[0, 0] >= 1.0
    i, j, k = torch.nonzero(occupancy & ~full, as_tuple=True)
    return torch.stack([axis[i], axis[j], axis[k]], dim=-1)


def fill_holes(masks: torch.Tensor) -> torch.Tensor:
    """``masks: (N, H, W)`` -> binary masks ``(N, H, W)`` float with every enclosed background region filled."""
    filled = [ndimage.binary_fill_holes(mask.cpu().numpy() > 0.5) for mask in masks]
    return torch.from_numpy(np.stack(filled)).float().to(masks.device)
