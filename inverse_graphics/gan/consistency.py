"""A differentiable multi-view consistency term for a camera-conditioned generator: the soft visual hull.

``train_gan``'s ``hull_consistency_iou`` carves the visual hull of one latent's views (their masks, cut by a
segmenter), reprojects it into each view and takes the IoU with the view's mask. This module computes the same
figure with soft masks, so that the generator can be trained on it, without a voxel lattice:

1. ``masks (B, K, S, S)`` in [0, 1]: K views of each of B latents, read by a frozen segmenter;
2. for every pixel of every view, ``ray_samples`` points along its ray (between the depths where the ray can meet
   ``[-1, 1]^3``) are projected into all K views; a point's occupancy is the smallest of the K masks sampled
   (bilinearly) there: inside the hull only if every view sees car;
3. each view's hull silhouette: the largest occupancy along each pixel's ray, ``(B, K, S, S)``;
4. loss: ``1 - soft IoU(hull silhouette, mask)``, averaged over views and latents.

On binary masks this is the hard measure up to bilinear sampling at the edges and the sampling along the rays
(0.97 against 0.998 on ground-truth cars at 8 views, 64 px). A view whose mask shows car where
another view sees background loses that part to the carve: the gradient shrinks the mask there and grows the
carving view's mask. The views are K cameras at evenly spaced azimuths (a random turn per call) and random
elevations in the training range, at the distance and field of view of ``synth``'s rig.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ..render.cameras import CameraRig
from ..render.soft_raster import pixel_centres, project, projection_matrix

HALF_DIAGONAL = math.sqrt(3.0)  # the lattice [-1, 1]^3 lies within this distance of the origin


def random_ring(views: int, generator: torch.Generator, elev_range: tuple[float, float] = (0.0, 30.0),
                dist: float = 2.7, fov: float = 60.0, image_size: int = 64) -> CameraRig:
    """``views`` cameras at evenly spaced azimuths turned by a random offset, each at a random elevation."""
    offset = float(torch.rand((), generator=generator)) * 360.0 / views
    azim = [(offset + k * 360.0 / views) % 360.0 - 180.0 for k in range(views)]
    elev = (elev_range[0] + torch.rand(views, generator=generator) * (elev_range[1] - elev_range[0])).tolist()
    return CameraRig((float(dist),) * views, tuple(elev), tuple(azim), fov, image_size)


class SoftHull:
    """The soft carve and reprojection for one rig (the projections of the ray points are computed once).

    ``rig``: the K views; ``ray_samples``: points per pixel ray.
    """

    def __init__(self, rig: CameraRig, ray_samples: int = 48):
        cameras = rig.to_pytorch3d()
        K, S, D = len(rig), rig.image_size, ray_samples
        c = pixel_centres(S, torch.device("cpu"))
        row_y, col_x = torch.meshgrid(c, c, indexing="ij")  # pixel (r, c) sits at NDC (x = c[col], y = c[row])
        depth = torch.tensor(rig.dist)[:, None] - HALF_DIAGONAL + 2 * HALF_DIAGONAL * (torch.arange(D) + 0.5) / D
        xy = torch.stack([col_x, row_y], dim=-1).reshape(1, 1, S * S, 2).expand(K, D, -1, -1)
        z = depth[:, :, None, None].expand(-1, -1, S * S, 1)
        points = cameras.unproject_points(torch.cat([xy, z], dim=-1).reshape(K, -1, 3), world_coordinates=True)
        seen, _ = project(points.reshape(-1, 3), projection_matrix(cameras))  # (K, K * D * S * S, 2), NDC +x left
        self.sample_grid = -seen[:, :, None]  # grid_sample's (-1, -1) is the top-left pixel: (K, K * D * S * S, 1, 2)
        self.views, self.size, self.ray_samples = K, S, D

    def silhouettes(self, masks: torch.Tensor) -> torch.Tensor:
        """``masks (B, K, S, S)`` in [0, 1] -> each view's hull silhouette ``(B, K, S, S)``."""
        B, K, S, _ = masks.shape
        assert K == self.views and S == self.size, f"masks {tuple(masks.shape)}: expected {self.views} views of {S} px"
        sampled = F.grid_sample(masks.transpose(0, 1), self.sample_grid.to(masks.device), mode="bilinear",
                                align_corners=False)[..., 0]  # (K seen by, B, K rays * D * S * S)
        occupancy = sampled.amin(dim=0).reshape(B, K, self.ray_samples, S, S)
        return occupancy.amax(dim=2)

    def loss(self, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``masks (B, K, S, S)`` -> (``1 - soft IoU`` averaged over views and latents, per-view IoU ``(B, K)``)."""
        hull = self.silhouettes(masks)
        inter = (hull * masks).flatten(2).sum(2)
        union = (hull + masks - hull * masks).flatten(2).sum(2)
        iou = inter / union.clamp_min(1.0)
        return 1.0 - iou.mean(), iou.detach()


def consistency_loss(synthesize: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], ws: torch.Tensor,
                     mask_reader: Callable[[torch.Tensor], torch.Tensor], rig: CameraRig,
                     ray_samples: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Views of each latent at the cameras of ``rig``, cut out by ``mask_reader`` (images ``(N, 3, S, S)`` in
    [-1, 1] -> probabilities ``(N, S, S)``, differentiable), scored by ``SoftHull``.

    ``synthesize(ws (N, num_ws, w_dim), poses (N, 3)) -> images (N, 3, S, S)``; ``ws: (B, num_ws, w_dim)``.
    Returns the loss and the per-view IoU ``(B, K)``.
    """
    from .session import pose_labels  # session imports the training loop, which imports this module

    B, K = ws.shape[0], len(rig)
    poses = pose_labels(torch.tensor(rig.azim), torch.tensor(rig.elev)).to(ws.device)  # (K, 3)
    images = synthesize(ws.repeat_interleave(K, dim=0), poses.repeat(B, 1))  # (B * K, 3, S, S)
    masks = mask_reader(images).reshape(B, K, *images.shape[-2:])
    return SoftHull(rig, ray_samples).loss(masks.float())
