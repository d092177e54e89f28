"""The one normalisation used everywhere: bounding-box centre at the origin, inside the unit sphere."""

from __future__ import annotations

import torch


def normalize_verts(verts: torch.Tensor) -> torch.Tensor:
    """Centre ``verts: (V, 3)`` on their bounding-box centre and scale the farthest vertex to radius 1."""
    center = (verts.amax(0) + verts.amin(0)) / 2
    centered = verts - center
    radius = centered.norm(dim=1).max().clamp_min(1e-12)
    return centered / radius
