"""Shaded RGB renders and exact coverage masks of a mesh for a ``CameraRig`` (synthetic data).

Rasterisation is a hard z-buffer (one face per pixel, no blur) that follows PyTorch3D's
``MeshRasterizer`` conventions exactly: vertices projected by the rig's
``FoVPerspectiveCameras`` into NDC (+x left, +y up), pixel ``(row, col)`` sampled at its centre
``ndc = (1 - (2 col + 1) / S, 1 - (2 row + 1) / S)`` so row 0 is the top of the image, a pixel
covered when all three 2D barycentrics are > 0, zero-area faces skipped, and the nearest
perspective-correct depth wins. It only visits the (pixel, face) pairs inside each face's
screen bounding box, which on a CPU is about 20x faster than PyTorch3D's per-pixel loop
(``benchmarks/synth_speed.py``). A mask is exactly ``pix_to_face >= 0``.

Shading is flat Lambertian: ``colour = albedo * (ambient + (1 - ambient) * max(0, n . l))``
with one directional light ``l`` in world space; the background is a vertical gradient.
"""

from __future__ import annotations

import torch

from .cameras import CameraRig

_AREA_EPS = 1e-8  # PyTorch3D's kEpsilon: faces with a smaller 2D area are skipped


DEFAULT_LIGHT = torch.tensor([0.3, 1.0, 0.5])  # world direction towards the light: above, front-right


def project(verts: torch.Tensor, rig: CameraRig) -> torch.Tensor:
    """``verts: (V, 3)`` world -> ``(N, V, 3)``: NDC x, y and view-space depth z, as ``MeshRasterizer`` does."""
    cameras = rig.to_pytorch3d()
    batch = verts.float()[None].expand(len(rig), -1, -1)
    ndc = cameras.transform_points_ndc(batch)
    depth = cameras.get_world_to_view_transform().transform_points(batch)[..., 2]
    return torch.cat([ndc[..., :2], depth[..., None]], -1)


def _pixel_range(lo: torch.Tensor, hi: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices i with ``lo <= 1 - (2 i + 1) / size <= hi``, as (first, last) clamped to the image."""
    first = torch.ceil((size * (1.0 - hi) - 1.0) / 2.0).clamp(min=0)
    last = torch.floor((size * (1.0 - lo) - 1.0) / 2.0).clamp(max=size - 1)
    return first.long(), last.long()


def _edge(px, py, ax, ay, bx, by):
    """PyTorch3D's edge function: twice the signed area of (p, a, b)."""
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax)


def rasterize(verts: torch.Tensor, faces: torch.Tensor, rig: CameraRig) -> torch.Tensor:
    """Nearest face per pixel: ``verts (V, 3)``, ``faces (F, 3)`` -> ``pix_to_face (N, S, S) int64``, -1 = empty.

    Face indices are per mesh (0..F-1), not packed over the batch.
    """
    size = rig.image_size
    n_views = len(rig)
    fv = project(verts, rig)[:, faces]  # (N, F, 3, 3)
    x, y, z = fv[..., 0], fv[..., 1], fv[..., 2]
    area = _edge(x[..., 0], y[..., 0], x[..., 1], y[..., 1], x[..., 2], y[..., 2])
    col0, col1 = _pixel_range(x.amin(-1), x.amax(-1), size)
    row0, row1 = _pixel_range(y.amin(-1), y.amax(-1), size)
    ncols, nrows = (col1 - col0 + 1).clamp(min=0), (row1 - row0 + 1).clamp(min=0)
    count = torch.where(area.abs() > _AREA_EPS, ncols * nrows, 0).reshape(-1)  # (N * F,)

    pair_face = torch.repeat_interleave(torch.arange(count.numel()), count)  # flat (view, face) per pair
    offset = torch.arange(pair_face.numel()) - (torch.cumsum(count, 0) - count)[pair_face]
    ncols_p = ncols.reshape(-1)[pair_face]
    rows = row0.reshape(-1)[pair_face] + torch.div(offset, ncols_p, rounding_mode="floor")
    cols = col0.reshape(-1)[pair_face] + offset % ncols_p
    px = 1.0 - (2.0 * cols.float() + 1.0) / size
    py = 1.0 - (2.0 * rows.float() + 1.0) / size

    xf, yf, zf = x.reshape(-1, 3)[pair_face], y.reshape(-1, 3)[pair_face], z.reshape(-1, 3)[pair_face]
    a = area.reshape(-1)[pair_face]
    w0 = _edge(px, py, xf[:, 1], yf[:, 1], xf[:, 2], yf[:, 2]) / a
    w1 = _edge(px, py, xf[:, 2], yf[:, 2], xf[:, 0], yf[:, 0]) / a
    w2 = _edge(px, py, xf[:, 0], yf[:, 0], xf[:, 1], yf[:, 1]) / a
    c0, c1, c2 = w0 * zf[:, 1] * zf[:, 2], w1 * zf[:, 0] * zf[:, 2], w2 * zf[:, 0] * zf[:, 1]
    depth = (c0 * zf[:, 0] + c1 * zf[:, 1] + c2 * zf[:, 2]) / (c0 + c1 + c2)
    hit = (w0 > 0) & (w1 > 0) & (w2 > 0) & (depth >= 0)

    n_faces = faces.shape[0]
    view = torch.div(pair_face[hit], n_faces, rounding_mode="floor")
    face = pair_face[hit] % n_faces
    pixel = (view * size + rows[hit]) * size + cols[hit]
    depth = depth[hit]
    zbuf = torch.full((n_views * size * size,), float("inf")).scatter_reduce_(0, pixel, depth, "amin")
    front = depth == zbuf[pixel]
    empty = torch.full((n_views * size * size,), n_faces, dtype=torch.int64)
    nearest = empty.scatter_reduce_(0, pixel[front], face[front], "amin")
    return torch.where(nearest == n_faces, -1, nearest).reshape(n_views, size, size)


def face_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit outward normals ``(F, 3)`` for counter-clockwise (seen from outside) faces."""
    v0, v1, v2 = verts[faces].unbind(1)
    return torch.nn.functional.normalize(torch.cross(v1 - v0, v2 - v0, dim=-1), dim=-1)


def render_shaded(
    verts: torch.Tensor,
    faces: torch.Tensor,
    rig: CameraRig,
    face_colors: torch.Tensor,
    light_dir: torch.Tensor = DEFAULT_LIGHT,
    ambient: float = 0.45,
    background: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shaded views of one mesh.

    verts: (V, 3), faces: (F, 3), face_colors: (F, 3) or (3,) albedo in [0, 1],
    light_dir: (3,) or (N, 3) world vector towards the light (per view when (N, 3)),
    background: None (black), (3,) colour, (2, 3) top/bottom gradient or (N, 2, 3) one gradient per view.
    Returns ``images (N, S, S, 3) float32`` in [0, 1] and ``masks (N, S, S) bool`` (rasterised coverage).
    """
    verts, faces = verts.float(), faces.long()
    n_views, size = len(rig), rig.image_size
    pix_to_face = rasterize(verts, faces, rig)
    light = torch.nn.functional.normalize(light_dir.float().reshape(-1, 3), dim=-1).expand(n_views, 3)
    lambert = (face_normals(verts, faces) @ light.T).T.clamp(min=0.0)  # (N, F)
    albedo = face_colors.float().expand(faces.shape[0], 3)
    shade = albedo * (ambient + (1.0 - ambient) * lambert)[..., None]  # (N, F, 3)
    back = torch.zeros(3) if background is None else background.float()
    back = back.reshape(-1, back.shape[-2] if back.dim() > 1 else 1, 3).expand(n_views, -1, 3)  # (N, 1|2, 3)
    t = torch.linspace(0.0, 1.0, size)[None, :, None, None]
    back = back[:, :1, None] * (1 - t) + back[:, -1:, None] * t  # (N, S, 1, 3)
    masks = pix_to_face >= 0
    faces_rgb = torch.gather(shade, 1, pix_to_face.clamp(min=0).reshape(n_views, -1, 1).expand(-1, -1, 3))
    images = torch.where(masks[..., None], faces_rgb.reshape(n_views, size, size, 3), back)
    return images.clamp(0.0, 1.0), masks
