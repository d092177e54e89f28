"""Mesh losses on one mesh with fixed topology: chamfer, edge length, normal consistency, Laplacian.

Each regulariser takes ``verts: (V, 3)`` and a ``MeshTopology`` built once, returns a scalar and
equals the PyTorch3D function named in its docstring on a single mesh (``Meshes([verts], [faces])``).
"""

from __future__ import annotations

import torch

from .sampling import nearest_neighbors
from .topology import MeshTopology

LAPLACIAN_METHODS = ("uniform", "cotangent")


def chamfer_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x: (P, 3)``, ``y: (Q, 3)`` -> mean squared nearest distance x->y plus y->x.

    Equals ``pytorch3d.loss.chamfer_distance(x[None], y[None])[0]``; the nearest neighbours
    are found without gradient, the distances to them are differentiable w.r.t. both sets.
    """
    x_to_y = ((x - y[nearest_neighbors(x, y)]) ** 2).sum(1).mean()
    y_to_x = ((y - x[nearest_neighbors(y, x)]) ** 2).sum(1).mean()
    return x_to_y + y_to_x


def edge_loss(verts: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """Mean squared length of the unique edges (``pytorch3d.loss.mesh_edge_loss``, target length 0)."""
    v0, v1 = verts[topo.edges].unbind(1)
    return ((v0 - v1) ** 2).sum(1).mean()


def normal_consistency_loss(verts: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """Mean of ``1 - cos`` between the normals of every two faces sharing an edge
    (``pytorch3d.loss.mesh_normal_consistency``); 0 when no edge has two faces."""
    if topo.hinges.shape[0] == 0:
        return verts.new_zeros(())
    v0, v1, a, b = verts[topo.hinges].unbind(1)
    edge = v1 - v0
    n0 = torch.linalg.cross(edge, a - v0, dim=1)
    n1 = torch.linalg.cross(b - v0, edge, dim=1)
    return (1 - torch.cosine_similarity(n0, n1, dim=1)).mean()


def laplacian_loss(verts: torch.Tensor, topo: MeshTopology, method: str = "uniform") -> torch.Tensor:
    """Mean norm of ``L verts`` (``pytorch3d.loss.mesh_laplacian_smoothing``, "uniform" or "cot").

    ``uniform``: ``L v_i = mean of neighbours - v_i``. ``cotangent``: neighbours weighted by
    ``cot a_ij + cot b_ij`` normalised per row; the weights are constants (no gradient), as in PyTorch3D.
    """
    if method not in LAPLACIAN_METHODS:
        raise ValueError(f"unknown Laplacian {method!r} (expected one of {', '.join(LAPLACIAN_METHODS)})")
    e0, e1 = topo.edges.unbind(1)
    if method == "uniform":
        weights = None
        row_scale = torch.where(topo.degree > 0, 1 / topo.degree, topo.degree)
    else:
        with torch.no_grad():
            weights = _cotangent_edge_weights(verts, topo)
            row_sum = torch.zeros_like(verts[:, 0]).index_add_(0, e0, weights).index_add_(0, e1, weights)
            row_scale = torch.where(row_sum > 0, 1 / row_sum, row_sum)
    to_e0, to_e1 = verts[e1], verts[e0]
    if weights is not None:
        to_e0, to_e1 = to_e0 * weights[:, None], to_e1 * weights[:, None]
    neighbour_sum = torch.zeros_like(verts).index_add(0, e0, to_e0).index_add(0, e1, to_e1)
    return (neighbour_sum * row_scale[:, None] - verts).norm(dim=1).mean()


def _cotangent_edge_weights(verts: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """``(E,)`` sum over the faces on each edge of the cotangent of the opposite angle (PyTorch3D's
    ``cot_laplacian``: Heron area clamped at 1e-12 before the square root)."""
    v0, v1, v2 = verts[topo.faces].unbind(1)
    a2, b2, c2 = ((v1 - v2) ** 2).sum(1), ((v0 - v2) ** 2).sum(1), ((v0 - v1) ** 2).sum(1)
    a, b, c = a2.sqrt(), b2.sqrt(), c2.sqrt()
    s = (a + b + c) / 2
    area = (s * (s - a) * (s - b) * (s - c)).clamp_(min=1e-12).sqrt()
    cot = torch.stack([b2 + c2 - a2, a2 + c2 - b2, a2 + b2 - c2], dim=1) / (4 * area[:, None])
    return torch.zeros_like(a).index_add_(0, topo.face_edges.reshape(-1), cot.reshape(-1))
