"""Mesh losses on one mesh with fixed topology: chamfer, edge length, normal consistency, Laplacian.

Each regulariser takes ``verts: (V, 3)`` and a ``MeshTopology`` built once, returns a scalar and
equals the PyTorch3D function named in its docstring on a single mesh (``Meshes([verts], [faces])``).
"""

from __future__ import annotations

import torch

from .sampling import nearest_neighbors
from .topology import MeshTopology, quiet_sparse, sparse_matmul

LAPLACIAN_METHODS = ("uniform", "cotangent")


def chamfer_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x: (P, 3)``, ``y: (Q, 3)`` -> mean squared nearest distance x->y plus y->x.

    Equals ``pytorch3d.loss.chamfer_distance(x[None], y[None])[0]``; the nearest neighbours
    are found without gradient, the distances to them are differentiable w.r.t. both sets.
    """
    x_to_y = ((x - y.index_select(0, nearest_neighbors(x, y))) ** 2).sum(1).mean()
    y_to_x = ((y - x.index_select(0, nearest_neighbors(y, x))) ** 2).sum(1).mean()
    return x_to_y + y_to_x


def edge_loss(verts: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """Mean squared length of the unique edges (``pytorch3d.loss.mesh_edge_loss``, target length 0)."""
    return (topo.edge_vectors(verts) ** 2).sum(1).mean()


def normal_consistency_loss(verts: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """Mean of ``1 - cos(n0, n1)`` over every two faces sharing an edge (``pytorch3d.loss.mesh_normal_consistency``).

    PyTorch3D orients both normals from the shared edge, not from the face winding; that is
    ``cos(n0, n1) = hinge_sign * cos(face normal a, face normal b)``. 0 when no edge has two faces.
    """
    if topo.hinge_faces.shape[0] == 0:
        return verts.new_zeros(())
    d1, d2 = topo.face_vectors(verts).view(2, -1, 3).unbind(0)
    normals = torch.linalg.cross(d1, d2, dim=1)
    normals = normals * (normals * normals).sum(1, keepdim=True).clamp_min(1e-16).rsqrt()
    a, b = topo.hinge_faces.unbind(1)
    cos = (normals.index_select(0, a) * normals.index_select(0, b)).sum(1) * topo.hinge_signs
    return (1 - cos).mean()


def laplacian_loss(verts: torch.Tensor, topo: MeshTopology, method: str = "uniform") -> torch.Tensor:
    """Mean norm of ``L verts`` (``pytorch3d.loss.mesh_laplacian_smoothing``, "uniform" or "cot").

    ``uniform``: ``L v_i = mean of neighbours - v_i``. ``cotangent``: neighbours weighted by
    ``cot a_ij + cot b_ij`` normalised per row; the weights are constants (no gradient), as in PyTorch3D.
    """
    if method == "uniform":
        return topo.uniform_laplacian(verts).norm(dim=1).mean()
    if method != "cotangent":
        raise ValueError(f"unknown Laplacian {method!r} (expected one of {', '.join(LAPLACIAN_METHODS)})")
    with torch.no_grad():
        weights = _cotangent_edge_weights(verts, topo)
        row_sum = verts.new_zeros(topo.num_verts).index_add_(0, topo.edges.reshape(-1), weights.repeat_interleave(2))
        row_scale = torch.where(row_sum > 0, 1 / row_sum, row_sum)[:, None]
        adjacency = topo.adjacency
        with quiet_sparse():
            matrix = torch.sparse_csr_tensor(
                adjacency.crow_indices(),
                adjacency.col_indices(),
                weights[topo.adjacency_edges],
                adjacency.shape,
                check_invariants=False,
            )
    return (sparse_matmul(matrix, matrix, verts) * row_scale - verts).norm(dim=1).mean()


def _cotangent_edge_weights(verts: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """``(E,)`` sum over the faces on each edge of the cotangent of the opposite angle (PyTorch3D's
    ``cot_laplacian``: Heron area clamped at 1e-12 before the square root)."""
    v0, v1, v2 = verts[topo.faces].unbind(1)
    a2, b2, c2 = ((v1 - v2) ** 2).sum(1), ((v0 - v2) ** 2).sum(1), ((v0 - v1) ** 2).sum(1)
    a, b, c = a2.sqrt(), b2.sqrt(), c2.sqrt()
    s = (a + b + c) / 2
    area = (s * (s - a) * (s - b) * (s - c)).clamp_(min=1e-12).sqrt()
    cot = torch.stack([b2 + c2 - a2, a2 + c2 - b2, a2 + b2 - c2], dim=1) / (4 * area[:, None])
    return verts.new_zeros(topo.edges.shape[0]).index_add_(0, topo.face_edges.reshape(-1), cot.reshape(-1))
