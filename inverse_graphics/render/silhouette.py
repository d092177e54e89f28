"""Differentiable soft silhouettes of one mesh seen by a camera rig, behind one interface.

Backends:

- ``pytorch3d``: ``MeshRasterizer`` + ``SoftSilhouetteShader``, exactly the silhouette renderer of
  PyTorch3D's ``fit_textured_mesh`` tutorial (slow on the CPU: its backward visits K faces per pixel).
- ``fast``: :mod:`.soft_raster`, the same alpha from (pixel, face) pairs near each face only;
  a compiled kernel on the CPU, vectorised torch elsewhere.
- ``auto``: ``pytorch3d`` on CUDA, ``fast`` on the CPU.

Both return ``alpha: (N, H, W)`` in PyTorch3D's image orientation (row 0 at the top).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from .cameras import CameraRig
from .soft_raster import blur_radius, projection_matrix, soft_silhouette

BACKENDS = ("pytorch3d", "fast")


@dataclass(frozen=True)
class SilhouetteSettings:
    image_size: int = 128
    sigma: float = 1e-4  # PyTorch3D SoftSilhouetteShader sigma
    faces_per_pixel: int = 50  # pytorch3d backend only


def resolve_backend(backend: str, device: torch.device) -> str:
    """``auto`` -> ``pytorch3d`` on CUDA, ``fast`` otherwise; an unknown name is a ``ValueError``."""
    if backend == "auto":
        return "pytorch3d" if torch.device(device).type == "cuda" else "fast"
    if backend not in BACKENDS:
        raise ValueError(f"unknown silhouette backend {backend!r} (expected 'auto', 'pytorch3d' or 'fast')")
    return backend


@lru_cache(maxsize=4096)
def _view_projection(dist: float, elev: float, azim: float, fov: float, device: torch.device):
    """One view's ``(4, 4)`` matrix for :func:`.soft_raster.project` and its ``znear`` (cached: fits re-pick views)."""
    cameras = CameraRig((dist,), (elev,), (azim,), fov).to_pytorch3d(device)
    return projection_matrix(cameras)[0], float(cameras.znear[0])


def _projection(rig: CameraRig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``matrix: (N, 4, 4)`` and ``znear: (N,)`` of the views of ``rig``."""
    views = [_view_projection(*view, rig.fov, device) for view in zip(rig.dist, rig.elev, rig.azim)]
    return torch.stack([m for m, _ in views]), torch.tensor([z for _, z in views], device=device)


def _pytorch3d_renderer(settings: SilhouetteSettings):
    """The ``fit_textured_mesh`` tutorial's silhouette renderer (cameras passed per call)."""
    from pytorch3d.renderer import (
        BlendParams,
        MeshRasterizer,
        MeshRenderer,
        RasterizationSettings,
        SoftSilhouetteShader,
    )

    raster = RasterizationSettings(
        image_size=settings.image_size,
        blur_radius=blur_radius(settings.sigma),
        faces_per_pixel=settings.faces_per_pixel,
    )
    shader = SoftSilhouetteShader(BlendParams(sigma=settings.sigma, gamma=1e-4))
    return MeshRenderer(MeshRasterizer(raster_settings=raster), shader)


class SilhouetteRenderer:
    """Soft silhouettes ``(N, H, W)`` in [0, 1], differentiable w.r.t. the vertices."""

    def __init__(self, backend: str, settings: SilhouetteSettings, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.backend = resolve_backend(backend, self.device)
        self.settings = settings
        self._p3d = _pytorch3d_renderer(settings) if self.backend == "pytorch3d" else None

    def __call__(self, verts: torch.Tensor, faces: torch.Tensor, rig: CameraRig) -> torch.Tensor:
        """``verts: (V, 3)`` world, ``faces: (F, 3)`` int64 -> ``alpha: (len(rig), S, S)``, S = image_size."""
        if self.backend == "fast":
            matrix, znear = _projection(rig, verts.device)
            return soft_silhouette(verts, faces, matrix, znear, self.settings.image_size, self.settings.sigma)
        from pytorch3d.structures import Meshes

        n = len(rig)
        meshes = Meshes(verts=[verts], faces=[faces]).extend(n)
        return self._p3d(meshes, cameras=rig.to_pytorch3d(verts.device))[..., 3]
