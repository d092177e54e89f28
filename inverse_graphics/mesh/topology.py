"""Fixed mesh connectivity, built once, so per-iteration regularisers are a few tensor operations.

PyTorch3D's ``mesh_edge_loss``, ``mesh_normal_consistency`` and ``mesh_laplacian_smoothing``
rebuild edges, edge-face incidence and the Laplacian on every call; a fit deforms the vertices
of one mesh whose faces never change, so all of that is computed here once, and the linear
parts (edge vectors, face edge vectors, uniform Laplacian) become constant sparse matrices.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch


@contextmanager
def quiet_sparse():
    """Silence torch's one-time notes on sparse tensors ("CSR support is in beta", invariant checks)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)")
        yield


class _SparseMatmul(torch.autograd.Function):
    """``matrix @ x`` with the gradient ``matrix_t @ grad`` (the matrix itself is a constant)."""

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, matrix_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.matrix_t = matrix_t
        return matrix @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, None, ctx.matrix_t @ grad


def sparse_matmul(matrix: torch.Tensor, matrix_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sparse CSR ``matrix: (R, V)`` times ``x: (V, C)`` -> ``(R, C)``, differentiable w.r.t. ``x`` only;
    ``matrix_t: (V, R)`` is its transpose, kept so the backward pass is one sparse product too."""
    return _SparseMatmul.apply(matrix, matrix_t, x)


@dataclass(frozen=True)
class SparseOperator:
    """A constant sparse matrix ``(R, V)`` (CSR, with its transpose) applied to ``x: (V, C)``."""

    matrix: torch.Tensor
    matrix_t: torch.Tensor

    @staticmethod
    def from_entries(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple, device) -> "SparseOperator":
        """Duplicate ``(row, col)`` entries are summed."""
        index = torch.from_numpy(np.stack([rows, cols])).to(torch.int64)
        with quiet_sparse():
            coo = torch.sparse_coo_tensor(index, torch.from_numpy(values).float(), shape, check_invariants=True)
            coo = coo.coalesce()
            return SparseOperator(coo.to_sparse_csr().to(device), coo.t().coalesce().to_sparse_csr().to(device))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return sparse_matmul(self.matrix, self.matrix_t, x)


@dataclass(frozen=True)
class MeshTopology:
    """What the regularisers need from ``faces: (F, 3) int64`` and the vertex count ``V``.

    - ``edges: (E, 2)`` unique undirected edges, each row sorted (``v0 < v1``).
    - ``face_edges: (F, 3)`` the edge opposite each face corner.
    - ``hinge_faces: (H, 2)``, ``hinge_signs: (H,)``: every two faces sharing an edge (several pairs
      on a non-manifold edge) and the sign that turns the cosine of their face normals into
      PyTorch3D's orientation-free ``cos(n0, n1)`` (see ``normal_consistency_loss``).
    - ``edge_vectors``: ``(E, V)`` operator, ``verts -> verts[v1] - verts[v0]`` per edge.
    - ``face_vectors``: ``(2F, V)`` operator, ``verts -> [verts[f1] - verts[f0]; verts[f2] - verts[f0]]``.
    - ``uniform_laplacian``: ``(V, V)`` operator, ``verts -> mean of neighbours - verts`` (0 - v if none).
    - ``adjacency: (V, V)`` CSR pattern of the edges (both directions) and ``adjacency_edges: (2E,)``
      the edge of each stored entry, to fill it with per-edge weights (cotangent Laplacian).
    """

    num_verts: int
    faces: torch.Tensor
    edges: torch.Tensor
    face_edges: torch.Tensor
    hinge_faces: torch.Tensor
    hinge_signs: torch.Tensor
    edge_vectors: SparseOperator
    face_vectors: SparseOperator
    uniform_laplacian: SparseOperator
    adjacency: torch.Tensor
    adjacency_edges: torch.Tensor

    @staticmethod
    def from_faces(faces: torch.Tensor, num_verts: int) -> "MeshTopology":
        """Build from ``faces: (F, 3)``; the tensors live on ``faces.device``."""
        device = faces.device
        f = faces.detach().cpu().numpy().astype(np.int64)
        num_faces = len(f)
        # corner k of face i is opposite the edge (f[i, k+1], f[i, k+2])
        opposite = np.stack([f[:, [1, 2]], f[:, [2, 0]], f[:, [0, 1]]], axis=1).reshape(-1, 2)
        edges, edge_of_corner = np.unique(np.sort(opposite, axis=1), axis=0, return_inverse=True)
        edge_of_corner = edge_of_corner.reshape(-1)
        corner_a, corner_b = _corner_pairs(edge_of_corner, len(edges))
        # PyTorch3D's normal for corner c is (v1 - v0) x (c - v0) with v0 < v1: +face normal when
        # the face runs v0 -> v1, -face normal otherwise; the second face's normal is negated.
        corner_sign = np.where(opposite[:, 0] < opposite[:, 1], 1.0, -1.0)
        e0, e1 = edges[:, 0], edges[:, 1]
        num_edges = len(edges)
        arange_e, arange_f = np.arange(num_edges), np.arange(num_faces)
        degree = np.bincount(edges.reshape(-1), minlength=num_verts).astype(np.float64)
        inv_degree = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
        adjacency, adjacency_edges = _adjacency(e0, e1, num_verts)
        return MeshTopology(
            num_verts=int(num_verts),
            faces=faces.to(torch.int64),
            edges=torch.from_numpy(edges).to(device),
            face_edges=torch.from_numpy(edge_of_corner.reshape(-1, 3)).to(device),
            hinge_faces=torch.from_numpy(np.stack([corner_a // 3, corner_b // 3], axis=1)).to(device),
            hinge_signs=torch.from_numpy(-corner_sign[corner_a] * corner_sign[corner_b]).float().to(device),
            edge_vectors=SparseOperator.from_entries(
                np.concatenate([arange_e, arange_e]),
                np.concatenate([e1, e0]),
                np.repeat([1.0, -1.0], num_edges),
                (num_edges, num_verts),
                device,
            ),
            face_vectors=SparseOperator.from_entries(
                np.concatenate([arange_f, arange_f, arange_f + num_faces, arange_f + num_faces]),
                np.concatenate([f[:, 1], f[:, 0], f[:, 2], f[:, 0]]),
                np.repeat([1.0, -1.0, 1.0, -1.0], num_faces),
                (2 * num_faces, num_verts),
                device,
            ),
            uniform_laplacian=SparseOperator.from_entries(
                np.concatenate([e0, e1, np.arange(num_verts)]),
                np.concatenate([e1, e0, np.arange(num_verts)]),
                np.concatenate([inv_degree[e0], inv_degree[e1], -np.ones(num_verts)]),
                (num_verts, num_verts),
                device,
            ),
            adjacency=adjacency.to(device),
            adjacency_edges=adjacency_edges.to(device),
        )


def _corner_pairs(edge_of_corner: np.ndarray, num_edges: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of face corners opposite the same edge -> two ``(H,)`` corner index arrays."""
    order = np.argsort(edge_of_corner, kind="stable")
    counts = np.bincount(edge_of_corner, minlength=num_edges)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pairs = [np.zeros((0, 2), dtype=np.int64)]
    for k in np.unique(counts[counts >= 2]):
        first = starts[counts == k]
        for i, j in combinations(range(k), 2):
            pairs.append(np.stack([order[first + i], order[first + j]], axis=1))
    both = np.concatenate(pairs)
    return both[:, 0], both[:, 1]


def _adjacency(e0: np.ndarray, e1: np.ndarray, num_verts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CSR ``(V, V)`` pattern with an entry per directed edge, and the undirected edge of each entry."""
    rows, cols = np.concatenate([e0, e1]), np.concatenate([e1, e0])
    edge_ids = np.tile(np.arange(len(e0)), 2)
    order = np.lexsort((cols, rows))
    crow = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=num_verts))])
    with quiet_sparse():
        pattern = torch.sparse_csr_tensor(
            torch.from_numpy(crow),
            torch.from_numpy(cols[order]),
            torch.ones(len(rows)),
            (num_verts, num_verts),
            check_invariants=True,
        )
    return pattern, torch.from_numpy(edge_ids[order])
