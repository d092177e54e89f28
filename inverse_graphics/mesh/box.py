"""A closed box mesh with each side split into a grid (a test shape with sharp silhouette corners)."""

from __future__ import annotations

import torch


def box_mesh(half_extents: tuple[float, float, float], subdivisions: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis-aligned box centred at the origin -> ``verts: (V, 3)``, ``faces: (F, 3) int64``.

    Each side is a ``subdivisions x subdivisions`` grid of quads, two triangles each, wound
    counter-clockwise seen from outside; vertices on shared edges are merged, so the mesh is
    closed and manifold. ``subdivisions = n`` gives ``6 n^2 + 2`` vertices and ``12 n^2`` faces.
    """
    n = subdivisions
    steps = torch.linspace(-1.0, 1.0, n + 1)
    points, tris = [], []
    for axis in range(3):
        u_axis, v_axis = (axis + 1) % 3, (axis + 2) % 3
        for side in (-1.0, 1.0):
            grid = torch.zeros(n + 1, n + 1, 3)
            grid[..., axis] = side
            grid[..., u_axis] = steps[:, None]
            grid[..., v_axis] = steps[None, :]
            base = sum(p.shape[0] for p in points)
            points.append(grid.reshape(-1, 3))
            i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
            a = base + i * (n + 1) + j
            b, c, d = a + (n + 1), a + (n + 1) + 1, a + 1  # (u+1, v), (u+1, v+1), (u, v+1)
            # u x v = +axis, so (a, b, c) is counter-clockwise seen from +axis.
            quad = [(a, b, c), (a, c, d)] if side > 0 else [(a, c, b), (a, d, c)]
            tris += [torch.stack(t, -1).reshape(-1, 3) for t in quad]
    verts = torch.cat(points)
    faces = torch.cat(tris)
    unique, inverse = torch.unique(verts, dim=0, return_inverse=True)
    return unique * torch.tensor(half_extents, dtype=torch.float32), inverse[faces]
