"""Differentiable soft silhouettes of one mesh seen by a camera rig, behind one interface.

Backends:

- ``pytorch3d``: ``MeshRasterizer`` + ``SoftSilhouetteShader``, exactly the silhouette renderer of
  PyTorch3D's ``fit_textured_mesh`` tutorial (slow on the CPU: its backward visits K faces per pixel).
- ``fast``: :mod:`.soft_raster`, from the (pixel, face) pairs near each face only; a compiled
  kernel on the CPU, vectorised torch elsewhere. Its ``blend`` of the per-face terms:
  ``product``, the tutorial's ``1 - prod_f (1 - sigmoid(-d_f / sigma))`` (the ``pytorch3d``
  backend's alpha); ``contour``, ``sigmoid(-D / sigma)`` with ``D`` the signed squared distance
  to the nearest contour edge, whose 0.5 level set is exactly the hard (z-buffer) silhouette;
  ``nearest``, the same with the nearest face instead of the nearest contour edge.
- ``auto``: ``pytorch3d`` on CUDA for the tutorial's settings (``product`` throughout, constant
  sigma), else ``fast``.

The ``product`` blend's 0.5 level set lies outside the hard silhouette wherever faces meet: 0.9 px
at 128 px with the tutorial's sigma 1e-4 (``benchmarks/silhouette_bias.py``), so a fit to hard
masks shrinks the mesh by that much. Over a fit (``progress`` 0 -> 1) the settings may change
the blend and sigma: ``warmup_blend`` for the first half (``SWITCH``), ``blend`` after it, and
sigma constant for the first half, then falling geometrically to ``sigma_final``. The default of
``params.yaml`` shapes the mesh with the tutorial's product blend, then finishes with the
unbiased contour blend, sharpening from 1e-4 to 7.5e-6 at 128 px (4e-4 to 3e-5 at 64 px).

Sigma divides a squared distance in NDC units, where a pixel is ``2 / image_size`` wide, so one
sigma is twice as wide in pixels at 128 px as at 64 px. ``params.yaml`` gives sigma at
``render.sigma_size`` px and :meth:`SilhouetteSettings.from_params` scales it to each fit's size
(:func:`sigma_at_size`), keeping the silhouette's soft edge the same number of pixels wide.

Both return ``alpha: (N, H, W)`` in PyTorch3D's image orientation (row 0 at the top).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from .cameras import CameraRig
from .soft_raster import BLENDS, blur_radius, projection_matrix, soft_silhouette

BACKENDS = ("pytorch3d", "fast")
SWITCH = 0.5  # fraction of a fit run with warmup_blend and the starting sigma


@dataclass(frozen=True)
class SilhouetteSettings:
    image_size: int = 128
    sigma: float = 1e-4  # PyTorch3D SoftSilhouetteShader sigma
    faces_per_pixel: int = 50  # pytorch3d backend only
    blend: str = "product"  # fast backend: product | contour | nearest (pytorch3d: product)
    sigma_final: float | None = None  # fast backend: sigma at the end of a fit (None: constant)
    warmup_blend: str | None = None  # fast backend: blend for the first half of a fit (None: blend)

    def sigma_at(self, progress: float) -> float:
        """Sigma at ``progress`` in [0, 1] of a fit: ``sigma`` up to ``SWITCH``, then geometric to ``sigma_final``."""
        if self.sigma_final is None:
            return self.sigma
        frac = min(1.0, max(0.0, (progress - SWITCH) / (1.0 - SWITCH)))
        return self.sigma * (self.sigma_final / self.sigma) ** frac

    def blend_at(self, progress: float) -> str:
        """Blend at ``progress`` in [0, 1] of a fit: ``warmup_blend`` (if set) before ``SWITCH``, then ``blend``."""
        return self.warmup_blend if self.warmup_blend is not None and progress < SWITCH else self.blend

    @classmethod
    def from_params(cls, render: dict, image_size: int) -> SilhouetteSettings:
        """``params.yaml``'s ``render`` section for ``image_size`` px: its ``sigma`` and ``sigma_final`` hold at
        ``render.sigma_size`` px and are scaled to ``image_size`` (:func:`sigma_at_size`)."""
        size = render["sigma_size"]
        return cls(
            image_size, sigma_at_size(render["sigma"], image_size, size), render["faces_per_pixel"], render["blend"],
            sigma_at_size(render["sigma_final"], image_size, size), render["warmup_blend"],
        )

    @property
    def is_tutorial(self) -> bool:
        """The ``fit_textured_mesh`` tutorial's formulation: product blend throughout, constant sigma."""
        return self.blend == "product" and self.warmup_blend in (None, "product") and self.sigma_final is None


def sigma_at_size(sigma: float | None, image_size: int, sigma_size: int | None) -> float | None:
    """``sigma`` given at ``sigma_size`` px, for ``image_size`` px with the same width in pixels: times
    ``(sigma_size / image_size)^2`` (sigma divides a squared NDC distance). ``sigma_size`` None: as given."""
    if sigma is None or sigma_size is None:
        return sigma
    return sigma * (sigma_size / image_size) ** 2


def resolve_backend(backend: str, device: torch.device, settings: SilhouetteSettings = SilhouetteSettings()) -> str:
    """``auto`` -> ``pytorch3d`` on CUDA for the tutorial's settings, ``fast`` otherwise.

    An unknown name, or ``pytorch3d`` with settings other than the tutorial's, is a ``ValueError``.
    """
    for blend in (settings.blend, settings.warmup_blend):
        if blend is not None and blend not in BLENDS:
            raise ValueError(f"unknown silhouette blend {blend!r} (expected one of {list(BLENDS)})")
    if backend == "auto":
        return "pytorch3d" if torch.device(device).type == "cuda" and settings.is_tutorial else "fast"
    if backend not in BACKENDS:
        raise ValueError(f"unknown silhouette backend {backend!r} (expected 'auto', 'pytorch3d' or 'fast')")
    if backend == "pytorch3d" and not settings.is_tutorial:
        raise ValueError(
            "the pytorch3d silhouette backend is the tutorial's renderer: blend 'product', no warmup_blend "
            f"or sigma_final (got {settings.blend!r}, {settings.warmup_blend!r}, {settings.sigma_final!r})"
        )
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
        self.backend = resolve_backend(backend, self.device, settings)
        self.settings = settings
        self._p3d = _pytorch3d_renderer(settings) if self.backend == "pytorch3d" else None

    def __call__(
        self, verts: torch.Tensor, faces: torch.Tensor, rig: CameraRig, progress: float = 1.0
    ) -> torch.Tensor:
        """``verts: (V, 3)`` world, ``faces: (F, 3)`` int64 -> ``alpha: (len(rig), S, S)``, S = image_size.

        ``progress`` in [0, 1]: how far a fit is, for the blend and sigma schedule (1: the final ones).
        """
        if self.backend == "fast":
            matrix, znear = _projection(rig, verts.device)
            s = self.settings
            return soft_silhouette(
                verts, faces, matrix, znear, s.image_size, s.sigma_at(progress), s.blend_at(progress)
            )
        from pytorch3d.structures import Meshes

        n = len(rig)
        meshes = Meshes(verts=[verts], faces=[faces]).extend(n)
        return self._p3d(meshes, cameras=rig.to_pytorch3d(verts.device))[..., 3]
