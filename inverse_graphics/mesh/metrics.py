"""Ground-truth metrics (docs/design.md): Chamfer-L2, F-score, normal consistency, 3D IoU, silhouette IoU.

Surface metrics compare ``num_samples`` area-weighted points per mesh (each mesh sampled with a
generator seeded by ``seed``, so a run is deterministic), after ``normalize_verts`` on both meshes.
"""

from __future__ import annotations

import math

import torch

from .normalize import normalize_verts
from .sampling import NearestNeighbors, sample_points
from .topology import MeshTopology

FSCORE_TAUS = (0.01, 0.02, 0.05)
IOU_RESOLUTION = 32


def mesh_metrics(
    pred_verts: torch.Tensor,
    pred_faces: torch.Tensor,
    gt_verts: torch.Tensor,
    gt_faces: torch.Tensor,
    num_samples: int = 10000,
    seed: int = 0,
    normalize: bool = True,
) -> dict[str, float]:
    """``chamfer_l2``, ``fscore@0.01/0.02/0.05``, ``normal_consistency``, ``iou3d`` of two meshes.

    - ``chamfer_l2``: mean squared nearest distance pred->gt plus gt->pred.
    - ``fscore@tau``: harmonic mean of precision (pred points within ``tau`` of a gt point) and
      recall (gt points within ``tau`` of a pred point); 0 when both are 0.
    - ``normal_consistency``: mean ``|cos|`` between each point's face normal and its nearest
      neighbour's in the other set, averaged over both directions.
    - ``iou3d``: ``occupancy_iou`` on a 32^3 grid.
    ``normalize=False`` compares the meshes as given (for tests with known answers).
    """
    pred_verts, gt_verts = pred_verts.detach().float().cpu(), gt_verts.detach().float().cpu()
    pred_faces, gt_faces = pred_faces.cpu(), gt_faces.cpu()
    if normalize:
        pred_verts, gt_verts = normalize_verts(pred_verts), normalize_verts(gt_verts)
    pred_points, pred_normals = sample_points(
        pred_verts, pred_faces, num_samples, torch.Generator().manual_seed(seed), return_normals=True
    )
    gt_points, gt_normals = sample_points(
        gt_verts, gt_faces, num_samples, torch.Generator().manual_seed(seed), return_normals=True
    )
    to_gt = NearestNeighbors(gt_points)(pred_points)
    to_pred = NearestNeighbors(pred_points)(gt_points)
    dist_pred = (pred_points - gt_points[to_gt]).norm(dim=1)
    dist_gt = (gt_points - pred_points[to_pred]).norm(dim=1)
    metrics = {"chamfer_l2": float((dist_pred**2).mean() + (dist_gt**2).mean())}
    for tau in FSCORE_TAUS:
        metrics[f"fscore@{tau}"] = fscore(dist_pred, dist_gt, tau)
    cos_pred = (pred_normals * gt_normals[to_gt]).sum(1).abs().mean()
    cos_gt = (gt_normals * pred_normals[to_pred]).sum(1).abs().mean()
    metrics["normal_consistency"] = float((cos_pred + cos_gt) / 2)
    metrics["iou3d"] = occupancy_iou(pred_verts, pred_faces, gt_verts, gt_faces)
    return metrics


def fscore(dist_pred: torch.Tensor, dist_gt: torch.Tensor, tau: float) -> float:
    """``dist_pred: (P,)`` pred->gt and ``dist_gt: (Q,)`` gt->pred nearest distances -> F-score at ``tau``."""
    precision = float((dist_pred < tau).float().mean())
    recall = float((dist_gt < tau).float().mean())
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def grid_axes(lo: torch.Tensor, hi: torch.Tensor, resolution: int) -> list[torch.Tensor]:
    """Cell-centre coordinates along x, y, z of a ``resolution^3`` grid spanning ``[lo, hi]`` -> 3 x ``(R,)``."""
    steps = (torch.arange(resolution, dtype=torch.float64) + 0.5) / resolution
    return [lo[i] + (hi[i] - lo[i]) * steps for i in range(3)]


def winding_grid(verts: torch.Tensor, faces: torch.Tensor, axes: list[torch.Tensor]) -> torch.Tensor:
    """Winding number of the mesh at the centres of a grid -> ``(R, R, R)`` indexed ``[x, y, z]``.

    For each axis, rays along the grid columns cross faces; counting the crossings above a cell
    with the sign of the face normal along the ray (and those below with the opposite sign, half
    each) gives the winding number. That is exact for closed meshes (overlapping shells count 2);
    for open meshes the average over the three axes is a graded estimate. Columns are moved by a
    fixed 1e-6 of the extent so that no ray passes exactly through an edge or a vertex.
    """
    tri = verts[faces].double()  # (F, 3, 3)
    total = torch.zeros([len(a) for a in axes], dtype=torch.float64)
    for ray in range(3):
        u_ax, v_ax = (ray + 1) % 3, (ray + 2) % 3  # (u, v, ray) keeps the handedness of (x, y, z)
        total += _axis_winding(tri[..., [u_ax, v_ax, ray]], axes[u_ax], axes[v_ax], axes[ray]).permute(
            *[[u_ax, v_ax, ray].index(k) for k in range(3)]
        )
    return total / 3


def _axis_winding(tri: torch.Tensor, us: torch.Tensor, vs: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
    """``tri: (F, 3, 3)`` in (u, v, w) coordinates; rays along w through columns ``us x vs`` -> ``(U, V, W)``."""
    du, dv = (us[-1] - us[0]).abs() + 1, (vs[-1] - vs[0]).abs() + 1
    pu = (us + 1e-6 * math.pi * du)[:, None].expand(-1, len(vs)).reshape(-1, 1)  # (C, 1)
    pv = (vs + 1e-6 * math.e * dv)[None, :].expand(len(us), -1).reshape(-1, 1)
    (u0, u1, u2), (v0, v1, v2) = tri[:, :, 0].T, tri[:, :, 1].T  # each (F,)
    area = (u1 - u0) * (v2 - v0) - (u2 - u0) * (v1 - v0)  # twice the signed projected area
    keep = area != 0  # faces parallel to the ray are never crossed
    tri, area, u0, u1, u2, v0, v1, v2 = (t[keep] for t in (tri, area, u0, u1, u2, v0, v1, v2))
    l1 = ((pu - u0) * (v2 - v0) - (u2 - u0) * (pv - v0)) / area  # (C, F) barycentrics
    l2 = ((u1 - u0) * (pv - v0) - (pu - u0) * (v1 - v0)) / area
    column, face = torch.nonzero((l1 >= 0) & (l2 >= 0) & (l1 + l2 <= 1), as_tuple=True)
    l1, l2 = l1[column, face], l2[column, face]
    w = tri[face, :, 2]
    w_hit = (1 - l1 - l2) * w[:, 0] + l1 * w[:, 1] + l2 * w[:, 2]
    # above a cell: +sign/2, below: -sign/2 (their sum is the winding number for a closed mesh)
    crossing = torch.where(w_hit[:, None] > ws[None, :], 0.5, -0.5) * area[face].sign()[:, None]  # (hits, W)
    out = torch.zeros(len(us) * len(vs), len(ws), dtype=torch.float64).index_add_(0, column, crossing)
    return out.view(len(us), len(vs), len(ws))


def occupancy_iou(
    verts_a: torch.Tensor,
    faces_a: torch.Tensor,
    verts_b: torch.Tensor,
    faces_b: torch.Tensor,
    resolution: int = IOU_RESOLUTION,
) -> float:
    """Volumetric IoU of two meshes on a ``resolution^3`` grid spanning the union of their bounding boxes.

    A cell is occupied when the winding number at its centre exceeds 0.5 (``winding_grid``: robust
    to overlapping parts, unlike ray parity; trimesh's ``contains`` needs rtree/embree, not installed).
    """
    both = torch.cat([verts_a, verts_b]).double()
    axes = grid_axes(both.amin(0), both.amax(0), resolution)
    inside_a = winding_grid(verts_a, faces_a, axes) > 0.5
    inside_b = winding_grid(verts_b, faces_b, axes) > 0.5
    union = (inside_a | inside_b).sum()
    return float((inside_a & inside_b).sum() / union) if union > 0 else 1.0


def silhouette_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """``pred, target: (N, H, W)`` -> ``(N,)`` IoU of the masks ``> threshold``; 1 where both are empty."""
    p, t = (pred > threshold).flatten(1), (target > threshold).flatten(1)
    inter, union = (p & t).sum(1).float(), (p | t).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def edge_length_stats(verts: torch.Tensor, faces: torch.Tensor) -> dict[str, float]:
    """Unique-edge lengths -> ``max_over_mean`` and ``std_over_mean`` (large values flag spikes)."""
    lengths = MeshTopology.from_faces(faces, verts.shape[0]).edge_vectors(verts.detach().float()).norm(dim=1)
    mean = lengths.mean().clamp_min(1e-12)
    return {"max_over_mean": float(lengths.max() / mean), "std_over_mean": float(lengths.std() / mean)}
