"""Quadric loss (Agarwal and Prabhakaran, "Learning Embedding of 3D models with Quadric Loss", BMVC 2019).

Each target vertex ``t`` carries the quadric ``Q_t = sum over its faces f of p_f p_f^T``, with
``p_f = (n_f, -n_f . v_f)`` the plane of ``f`` (unit normal ``n_f``, any vertex ``v_f``); for a
point ``s``, ``[s, 1]^T Q_t [s, 1]`` is the sum of squared distances from ``s`` to those planes.
It is zero along the sharp features (edges, corners) of the target and grows when they are rounded off.
"""

from __future__ import annotations

import torch

from .sampling import NearestNeighbors, face_areas_normals


def vertex_quadrics(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``verts: (V, 3)``, ``faces: (F, 3)`` -> ``(V, 4, 4)`` symmetric PSD; zero-area faces add nothing."""
    areas, normals = face_areas_normals(verts, faces)
    normals = normals * (areas > 0)[:, None]
    planes = torch.cat([normals, -(normals * verts[faces[:, 0]]).sum(1, keepdim=True)], dim=1)  # (F, 4)
    face_quadrics = (planes[:, :, None] * planes[:, None, :]).reshape(-1, 16)
    quadrics = verts.new_zeros(verts.shape[0], 16)
    for corner in range(3):
        quadrics.index_add_(0, faces[:, corner], face_quadrics)
    return quadrics.view(-1, 4, 4)


class QuadricLoss:
    """Quadric loss of predicted points against one target mesh; quadrics and search tree cached.

    ``loss(points: (P, 3)) -> scalar``: mean over ``s`` of ``[s, 1]^T Q_t [s, 1]``, where the
    correspondence ``t`` is the target vertex nearest to ``s`` (Euclidean, recomputed each call,
    no gradient). No other normalisation: the value is a sum of squared plane distances in the
    target's units, averaged over points. Differentiable w.r.t. ``points``.
    """

    def __init__(self, target_verts: torch.Tensor, target_faces: torch.Tensor):
        self.quadrics = vertex_quadrics(target_verts.detach(), target_faces)
        self._nearest = NearestNeighbors(target_verts)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        homogeneous = torch.cat([points, points.new_ones(points.shape[0], 1)], dim=1)  # (P, 4)
        quadrics = self.quadrics.index_select(0, self._nearest(points).to(points.device))
        return ((quadrics @ homogeneous[:, :, None]).squeeze(2) * homogeneous).sum(1).mean()
