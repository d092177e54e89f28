"""Ico-sphere source meshes (PyTorch3D's subdivision, returned as plain tensors)."""

from __future__ import annotations

import torch


def ico_sphere(level: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Unit ico-sphere: level 4 -> ``verts: (2562, 3)``, ``faces: (5120, 3) int64``."""
    from pytorch3d.utils import ico_sphere as p3d_ico_sphere

    mesh = p3d_ico_sphere(level, device)
    return mesh.verts_packed().clone(), mesh.faces_packed().clone()
