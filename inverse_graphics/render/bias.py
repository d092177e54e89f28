"""How far a soft silhouette's 0.5 level set lies from the hard (z-buffer) silhouette, in pixels.

For ``alpha: (N, H, W)`` and the hard masks ``(N, H, W)`` of the same mesh and cameras:

- ``area_ratio``: pixels with ``alpha > 0.5`` over hard-mask pixels (1 when unbiased);
- ``offset_px``: mean signed boundary offset, ``(soft area - hard area) / hard contour length``
  in pixels (positive: the soft silhouette is larger); the length is traced on the mesh's
  signed distance field (:func:`signed_distance_px`) where one is given, else on the binary
  masks (whose staircase contour is ~6% longer than a circle's true length);
- ``iou``: per-view IoU of the two masks (mean and worst view).

Contours are traced by marching squares over pixel centres (:func:`contour_segments`); on a
binary mask the contour runs through the midpoints between inside and outside pixel centres.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .cameras import CameraRig
from .silhouette import _projection
from .soft_raster import nearest_distance_reference, project


def contour_segments(field: np.ndarray | torch.Tensor, level: float = 0.0) -> np.ndarray:
    """Segments ``(K, 2, 2)`` of ``(row, col)`` endpoints where ``field: (H, W)`` crosses ``level``.

    Marching squares with linear interpolation along the edges between neighbouring pixel
    centres; ``field > level`` is inside. The field is padded with an outside border, so
    contours touching the image edge close. A saddle cell is split by its mean value.
    """
    f = np.asarray(field, dtype=np.float64) - level
    f = np.pad(f, 1, constant_values=min(-1.0, f.min() - 1.0))
    f[f == 0.0] = 1e-12  # a corner exactly on the level counts as inside
    a, b, c, d = f[:-1, :-1], f[:-1, 1:], f[1:, 1:], f[1:, :-1]  # corners clockwise from top-left
    rows, cols = np.meshgrid(np.arange(a.shape[0], dtype=np.float64), np.arange(a.shape[1]), indexing="ij")

    def crossing(p, q, r0, c0, r1, c1):
        t = p / (p - q)  # only used where the signs differ
        return np.stack([rows + r0 + t * (r1 - r0), cols + c0 + t * (c1 - c0)], -1) - 1.0  # undo the pad

    with np.errstate(divide="ignore", invalid="ignore"):
        points = [
            crossing(a, b, 0, 0, 0, 1),  # top edge
            crossing(b, c, 0, 1, 1, 1),  # right edge
            crossing(d, c, 1, 0, 1, 1),  # bottom edge
            crossing(a, d, 0, 0, 1, 0),  # left edge
        ]
    cut = [(a > 0) != (b > 0), (b > 0) != (c > 0), (d > 0) != (c > 0), (a > 0) != (d > 0)]
    n_cut = sum(x.astype(int) for x in cut)
    segments = []
    two = n_cut == 2
    edges = np.stack(cut, -1)[two]  # (M, 4) exactly two True per row
    first, second = edges.argmax(1), 3 - edges[:, ::-1].argmax(1)
    stacked = np.stack(points, -2)[two]  # (M, 4, 2)
    index = np.arange(stacked.shape[0])
    segments.append(np.stack([stacked[index, first], stacked[index, second]], 1))
    four = n_cut == 4
    if four.any():
        stacked = np.stack(points, -2)[four]
        centre_in = ((a + b + c + d) / 4.0)[four] > 0
        a_in = (a > 0)[four]
        # Corner a is cut off alone (pairs top-left, bottom-right) unless the centre joins it to c.
        joined = centre_in == a_in
        pair1 = np.where(joined[:, None], [0, 1], [0, 3])
        pair2 = np.where(joined[:, None], [2, 3], [1, 2])
        index = np.arange(stacked.shape[0])[:, None]
        segments.append(stacked[index, pair1])
        segments.append(stacked[index, pair2])
    return np.concatenate(segments, 0)


def contour_length(field: np.ndarray | torch.Tensor, level: float = 0.0) -> float:
    """Total length in pixels of the ``level`` contour of ``field: (H, W)`` (see :func:`contour_segments`)."""
    seg = contour_segments(field, level)
    return float(np.linalg.norm(seg[:, 1] - seg[:, 0], axis=-1).sum())


def signed_distance_px(verts: torch.Tensor, faces: torch.Tensor, rig: CameraRig, reach_px: float = 3.0):
    """``(N, H, W)`` signed distance in pixels from each pixel centre to the mesh's silhouette
    boundary, positive inside, clamped to ``+-reach_px``; exact outside, and near the boundary inside.

    It is ``-sign(D) sqrt|D|`` of the nearest-face distance ``D`` (:mod:`.soft_raster`), whose
    sign is the hard z-buffer coverage; verts ``(V, 3)``, faces ``(F, 3)``.
    """
    size = rig.image_size
    matrix, znear = _projection(rig, verts.device)
    with torch.no_grad():
        xy, z = project(verts.float(), matrix)
        reach_ndc = reach_px * 2.0 / size
        sigma = reach_ndc**2 / math.log(1e4 - 1.0)  # blur_radius(sigma) = reach_ndc^2
        d = nearest_distance_reference(xy, z - znear[:, None], faces, size, sigma)
    return (-torch.sign(d) * d.abs().sqrt() * size / 2.0).clamp(-reach_px, reach_px)


def silhouette_bias(
    alpha: torch.Tensor, hard: torch.Tensor, distance_px: torch.Tensor | None = None, threshold: float = 0.5
) -> dict[str, float]:
    """``alpha: (N, H, W)`` soft silhouettes, ``hard: (N, H, W)`` bool masks -> ``area_ratio``,
    ``offset_px``, ``iou_mean``, ``iou_min`` (module docstring), pooled over the N views.

    ``distance_px: (N, H, W)`` (:func:`signed_distance_px`) gives the contour length; else the masks do.
    """
    soft, hard = (alpha > threshold).cpu(), hard.bool().cpu()
    soft_area, hard_area = float(soft.sum()), float(hard.sum())
    if distance_px is not None:
        length = sum(contour_length(view.numpy(), 0.0) for view in distance_px.cpu())
    else:
        length = sum(contour_length(view.float().numpy(), 0.5) for view in hard)
    inter = (soft & hard).flatten(1).sum(1).float()
    union = (soft | hard).flatten(1).sum(1).float().clamp_min(1)
    iou = inter / union
    return {
        "area_ratio": soft_area / max(hard_area, 1.0),
        "offset_px": (soft_area - hard_area) / max(length, 1e-9),
        "iou_mean": float(iou.mean()),
        "iou_min": float(iou.min()),
    }
