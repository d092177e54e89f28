"""Mesh I/O through trimesh, with vertices merged by position and one-line errors.

Meshes travel through the library as two tensors: ``verts: (V, 3) float32`` and
``faces: (F, 3) int64``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import trimesh

from ..errors import UserError
from ..io_utils import atomic_path


def merge_vertices(verts: np.ndarray, faces: np.ndarray, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices closer than ``tol`` times the bounding-box diagonal; drop faces that collapse.

    OBJ files split vertices along UV seams (the fox: 290 positions become 1467 vertices);
    geometry losses and metrics want one vertex per position.
    verts: (V, 3), faces: (F, 3) -> verts: (V', 3), faces: (F', 3)
    """
    diag = float(np.linalg.norm(verts.max(0) - verts.min(0))) or 1.0
    keys = np.round(verts / (tol * diag)).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep vertices in their original order of appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    new_verts = verts[first[order]]
    new_faces = rank[inverse.reshape(-1)][faces]
    ok = (new_faces[:, 0] != new_faces[:, 1]) & (new_faces[:, 1] != new_faces[:, 2]) & (new_faces[:, 0] != new_faces[:, 2])
    new_faces = new_faces[ok]
    _, unique_rows = np.unique(np.sort(new_faces, axis=1), axis=0, return_index=True)
    new_faces = new_faces[np.sort(unique_rows)]
    return new_verts, new_faces


def load_mesh(path: str | os.PathLike, merge: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Read any mesh file trimesh reads (OBJ, PLY, STL, GLB, OFF...); scenes are concatenated.

    Returns ``verts: (V, 3) float32, faces: (F, 3) int64``. Raises ``UserError`` naming the
    file when it is missing, unreadable or has no faces.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: mesh file not found")
    try:
        loaded = trimesh.load(path, force="mesh", process=False, skip_materials=True)
    except Exception as exc:  # trimesh raises many types for bad files
        raise UserError(f"{path}: could not read mesh ({type(exc).__name__}: {exc})") from None
    verts = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64)
    if faces.ndim != 2 or len(faces) == 0 or len(verts) == 0:
        raise UserError(f"{path}: mesh has no faces (expected a triangle mesh)")
    if not np.isfinite(verts).all():
        raise UserError(f"{path}: mesh has non-finite vertex coordinates")
    if merge:
        verts, faces = merge_vertices(verts, faces)
    return torch.from_numpy(verts.astype(np.float32)), torch.from_numpy(faces.astype(np.int64))


def save_mesh(path: str | os.PathLike, verts: torch.Tensor, faces: torch.Tensor) -> None:
    """Write ``verts: (V, 3)``, ``faces: (F, 3)`` atomically; the format follows the suffix."""
    mesh = trimesh.Trimesh(
        vertices=verts.detach().cpu().double().numpy(), faces=faces.detach().cpu().numpy(), process=False
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type=path.suffix.lstrip(".").lower() or "obj")
