"""Fixed mesh connectivity, built once, so per-iteration regularisers are a few index operations.

PyTorch3D's ``mesh_edge_loss``, ``mesh_normal_consistency`` and ``mesh_laplacian_smoothing``
rebuild edges, edge-face incidence and the Laplacian on every call; a fit deforms the vertices
of one mesh whose faces never change, so all of that is computed here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch


@dataclass(frozen=True)
class MeshTopology:
    """Index tensors derived from ``faces: (F, 3) int64`` and the vertex count ``V``.

    - ``edges: (E, 2)`` unique undirected edges, each row sorted (``v0 < v1``).
    - ``face_edges: (F, 3)`` the edge opposite each face corner (corner k -> edge of the other two).
    - ``hinges: (H, 4)`` rows ``(v0, v1, a, b)``: two faces sharing edge ``(v0, v1)`` with opposite
      vertices ``a`` and ``b``; every pair of faces on an edge (non-manifold edges give several).
    - ``degree: (V,)`` number of distinct neighbours of each vertex (float).
    """

    num_verts: int
    faces: torch.Tensor
    edges: torch.Tensor
    face_edges: torch.Tensor
    hinges: torch.Tensor
    degree: torch.Tensor

    @staticmethod
    def from_faces(faces: torch.Tensor, num_verts: int) -> "MeshTopology":
        """Build from ``faces: (F, 3)``; tensors live on ``faces.device``."""
        f = faces.detach().cpu().numpy().astype(np.int64)
        # corner k of face i is opposite the edge (f[i, k+1], f[i, k+2])
        corner_edges = np.stack([f[:, [1, 2]], f[:, [2, 0]], f[:, [0, 1]]], axis=1).reshape(-1, 2)
        corner_edges.sort(axis=1)
        edges, edge_of_corner = np.unique(corner_edges, axis=0, return_inverse=True)
        edge_of_corner = edge_of_corner.reshape(-1)
        hinges = _hinges(edges, edge_of_corner, f.reshape(-1))
        degree = np.bincount(edges.reshape(-1), minlength=num_verts).astype(np.float32)
        device = faces.device
        return MeshTopology(
            num_verts=int(num_verts),
            faces=faces.to(torch.int64),
            edges=torch.from_numpy(edges).to(device),
            face_edges=torch.from_numpy(edge_of_corner.reshape(-1, 3)).to(device),
            hinges=torch.from_numpy(hinges).to(device),
            degree=torch.from_numpy(degree).to(device),
        )


def _hinges(edges: np.ndarray, edge_of_corner: np.ndarray, corner_vert: np.ndarray) -> np.ndarray:
    """All pairs of corners opposite the same edge -> ``(H, 4)`` rows ``(v0, v1, a, b)``."""
    order = np.argsort(edge_of_corner, kind="stable")
    counts = np.bincount(edge_of_corner, minlength=len(edges))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = []
    for k in np.unique(counts[counts >= 2]):
        edge_ids = np.nonzero(counts == k)[0]
        for i, j in combinations(range(k), 2):
            a = corner_vert[order[starts[edge_ids] + i]]
            b = corner_vert[order[starts[edge_ids] + j]]
            rows.append(np.stack([edges[edge_ids, 0], edges[edge_ids, 1], a, b], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.int64)
