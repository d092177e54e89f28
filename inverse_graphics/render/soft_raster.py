"""The ``fast`` soft-silhouette renderer: only (pixel, face) pairs near each face are visited.

A silhouette needs no depth order. With ``d_f`` the signed squared NDC distance from a pixel
centre to projected face ``f`` (negative inside) and ``p_f = sigmoid(-d_f / sigma)``, PyTorch3D's
``SoftSilhouetteShader`` gives ``alpha = 1 - prod_f (1 - p_f)`` over the faces with
``d_f < blur_radius``. Here the product is a sum of logs::

    S = sum_f log(1 - p_f) = sum_f logsigmoid(d_f / sigma),   alpha = 1 - exp(S)

Conventions follow PyTorch3D's rasterizer: NDC +X left, +Y up, pixel (row 0, col 0) centred at
NDC ``(1 - 1/W, 1 - 1/H)``; ``d`` is the squared distance to the nearest edge; faces with
``|2 * area| <= 1e-8`` are skipped. Faces with a vertex nearer than the camera's ``znear`` are
culled (PyTorch3D keeps them unless they lie wholly behind the camera).

Two implementations of ``S`` with one autograd contract: a compiled CPU kernel
(``csrc/soft_raster.cpp``: forward and backward, 8 pixels per SIMD step, OpenMP over views and
row bands on torch's own thread team; built with the system C++ compiler into
``~/.cache/inverse_graphics`` on first use, 1-2 s) and a vectorised torch reference, used on
CUDA, in tests, and as the fallback (with one warning) when the kernel cannot be built.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import shlex
import subprocess
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

AREA_EPS = 1e-8  # PyTorch3D's kEpsilon for zero-area faces
LENGTH_EPS = 1e-8
W_EPS = 1e-8  # smallest w in the perspective divide (w = view z): smaller ones lie behind znear, culled
SOURCE = Path(__file__).with_name("csrc") / "soft_raster.cpp"
CXX_FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fopenmp")


def blur_radius(sigma: float) -> float:
    """PyTorch3D tutorial's blur radius: pairs beyond it have ``p < 1e-4``."""
    return math.log(1.0 / 1e-4 - 1.0) * sigma


# ----------------------------------------------------------------------------- projection


def projection_matrix(cameras) -> torch.Tensor:
    """``(N, 4, 4)`` mapping homogeneous world points (row vectors) to ``(x_clip, y_clip, w, z_view)``.

    NDC ``xy = (x_clip, y_clip) / w``, as ``MeshRasterizer`` projects; ``z_view`` is view depth.
    """
    to_view = cameras.get_world_to_view_transform()
    to_ndc = to_view.compose(cameras.get_projection_transform(), cameras.get_ndc_camera_transform())
    full, view = to_ndc.get_matrix(), to_view.get_matrix()
    return torch.cat([full[..., :2], full[..., 3:], view[..., 2:3]], dim=-1)


def project(verts: torch.Tensor, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``verts: (V, 3)``, ``matrix: (N, 4, 4)`` -> NDC ``xy: (N, V, 2)`` and view depth ``z: (N, V)``."""
    out = F.pad(verts, (0, 1), value=1.0) @ matrix.to(verts.dtype)
    return out[..., :2] / out[..., 2:3].clamp_min(W_EPS), out[..., 3]


# ----------------------------------------------------------------------------- torch reference


def pixel_centres(size: int, device: torch.device) -> torch.Tensor:
    """``(size,)`` NDC coordinate of pixel centres along one axis; index 0 is +1 - 1/size."""
    return 1.0 - (2.0 * torch.arange(size, device=device, dtype=torch.float32) + 1.0) / size


def pixel_span(lo: torch.Tensor, hi: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last pixel index (inclusive, clamped) whose centre lies in NDC ``[lo, hi]``."""
    first = torch.ceil((size * (1.0 - hi) - 1.0) * 0.5).clamp(0, size)
    last = torch.floor((size * (1.0 - lo) - 1.0) * 0.5).clamp(-1, size - 1)
    return first.long(), last.long()


def signed_squared_distance(p: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """``p: (P, 2)``, ``tri: (P, 3, 2)`` -> ``(P,)`` squared distance to the nearest edge, negated inside."""
    a, e = tri, tri.roll(-1, dims=1) - tri  # edge k runs from vertex k to vertex k + 1
    q = p[:, None, :] - a
    t = ((q * e).sum(-1) / (e * e).sum(-1).clamp_min(LENGTH_EPS)).clamp(0.0, 1.0)
    dist = (q - t[..., None] * e).square().sum(-1).min(dim=1).values
    # Barycentric numerators: edge function of the edge opposite vertex k (vertex k+1 -> k+2).
    pc, cd = p[:, None, :] - tri.roll(-1, dims=1), tri.roll(-2, dims=1) - tri.roll(-1, dims=1)
    numer = pc[..., 0] * cd[..., 1] - pc[..., 1] * cd[..., 0]
    area = numer.sum(-1, keepdim=True)
    inside = (numer * area.sign() > 0).all(-1)
    return torch.where(inside, -dist, dist)


def log_transmittance_reference(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float
) -> torch.Tensor:
    """``S: (N, H, W)`` from NDC ``xy: (N, V, 2)``, ``depth: (N, V)`` (view z minus znear), ``faces: (F, 3)``.

    Pure torch; autograd gives the gradient w.r.t. ``xy``.
    """
    n_views, size, radius = xy.shape[0], image_size, blur_radius(sigma)
    tri = xy[:, faces]  # (N, F, 3, 2)
    with torch.no_grad():
        v = tri.detach()
        e1, e2 = v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0]
        area = e2[..., 0] * e1[..., 1] - e2[..., 1] * e1[..., 0]
        keep = (depth[:, faces] >= 0).all(-1) & (area.abs() > AREA_EPS)
        margin = math.sqrt(radius)
        x0, x1 = pixel_span(v[..., 0].amin(-1) - margin, v[..., 0].amax(-1) + margin, size)
        y0, y1 = pixel_span(v[..., 1].amin(-1) - margin, v[..., 1].amax(-1) + margin, size)
        width, height = (x1 - x0 + 1).clamp_min(0), (y1 - y0 + 1).clamp_min(0)
        count = torch.where(keep, width * height, 0).flatten()
        owner = torch.repeat_interleave(torch.arange(count.numel(), device=xy.device), count)
        local = torch.arange(owner.numel(), device=xy.device) - (count.cumsum(0) - count)[owner]
        w = width.flatten()[owner]
        px = x0.flatten()[owner] + local % w
        py = y0.flatten()[owner] + local // w
        view = owner // faces.shape[0]
    centres = pixel_centres(size, xy.device)
    p = torch.stack([centres[px], centres[py]], dim=-1)
    d = signed_squared_distance(p, tri.flatten(0, 1)[owner])
    near = d < radius
    pixel = (view * size + py) * size + px
    log_t = torch.zeros(n_views * size * size, device=xy.device, dtype=xy.dtype)
    return log_t.index_add(0, pixel[near], F.logsigmoid(d[near] / sigma)).view(n_views, size, size)


# ----------------------------------------------------------------------------- compiled kernel


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "inverse_graphics"


def _cpu_flags() -> str:
    """This CPU's feature flags: ``-march=native`` builds are cached per CPU kind."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    return next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")


def build_kernel() -> ctypes.CDLL:
    """Compile ``csrc/soft_raster.cpp`` (1-2 s, once per source, flags and CPU kind) and load it."""
    compiler = shlex.split(os.environ.get("CXX", "c++"))
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join((*compiler, *CXX_FLAGS, _cpu_flags())).encode()).hexdigest()[:16]
    library = _cache_dir() / f"soft_raster_{key}.so"
    if not library.exists():
        library.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=library.parent) as tmp:
            built = Path(tmp) / library.name
            subprocess.run(
                [*compiler, *CXX_FLAGS, str(SOURCE), "-o", str(built)], check=True, capture_output=True, text=True
            )
            os.replace(built, library)  # atomic: concurrent builds cannot see a half-written file
    lib = ctypes.CDLL(str(library))
    ptr, i64, i32, f32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float
    common = [ptr, ptr, ptr, i64, i64, i64, i32, i32, f32, f32, i32]
    lib.soft_raster_forward.argtypes = common + [ptr]
    lib.soft_raster_backward.argtypes = common + [ptr, ptr]
    lib.soft_raster_forward.restype = lib.soft_raster_backward.restype = None
    return lib


@lru_cache(maxsize=1)
def kernel() -> ctypes.CDLL | None:
    """The compiled kernel, or ``None`` (with one warning) when it cannot be built here."""
    try:
        return build_kernel()
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        warnings.warn(f"soft_raster: C++ kernel unavailable, using the slower torch path ({detail.strip()[:300]})")
        return None


def _kernel_args(xy, depth, faces, image_size, sigma):
    n, v = depth.shape
    return (
        ctypes.c_void_p(xy.data_ptr()), ctypes.c_void_p(depth.data_ptr()), ctypes.c_void_p(faces.data_ptr()),
        n, v, faces.shape[0], image_size, image_size, sigma, blur_radius(sigma), torch.get_num_threads(),
    )  # fmt: skip


class _LogTransmittance(torch.autograd.Function):
    """``S: (N, H, W)`` from ``xy: (N, V, 2)`` by the compiled kernel; gradient w.r.t. ``xy`` only."""

    @staticmethod
    def forward(ctx, xy, depth, faces, image_size, sigma):
        xy, depth, faces = xy.contiguous(), depth.contiguous(), faces.contiguous()
        out = torch.empty(depth.shape[0], image_size, image_size)
        args = _kernel_args(xy, depth, faces, image_size, sigma)
        kernel().soft_raster_forward(*args, ctypes.c_void_p(out.data_ptr()))
        ctx.save_for_backward(xy, depth, faces)
        ctx.image_size, ctx.sigma = image_size, sigma
        return out

    @staticmethod
    def backward(ctx, grad_out):
        xy, depth, faces = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_xy = torch.zeros_like(xy)
        kernel().soft_raster_backward(
            *_kernel_args(xy, depth, faces, ctx.image_size, ctx.sigma),
            ctypes.c_void_p(grad_out.data_ptr()),
            ctypes.c_void_p(grad_xy.data_ptr()),
        )
        return grad_xy, None, None, None, None


def log_transmittance(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float
) -> torch.Tensor:
    """``S: (N, H, W)``: the compiled kernel for float32 CPU tensors when it builds, else the reference."""
    if xy.device.type == "cpu" and xy.dtype == torch.float32 and kernel() is not None:
        return _LogTransmittance.apply(xy, depth.detach().float(), faces.long(), image_size, sigma)
    return log_transmittance_reference(xy, depth, faces, image_size, sigma)


def soft_silhouette(
    verts: torch.Tensor, faces: torch.Tensor, matrix: torch.Tensor, znear: torch.Tensor, image_size: int, sigma: float
) -> torch.Tensor:
    """``alpha: (N, H, W)`` of ``verts: (V, 3)``, ``faces: (F, 3)`` seen through ``matrix: (N, 4, 4)``.

    ``matrix`` is :func:`projection_matrix` of the cameras, ``znear: (N,)`` their near planes.
    """
    xy, z = project(verts, matrix)
    depth = z.detach() - znear.to(z)[:, None]
    return -torch.expm1(log_transmittance(xy, depth, faces, image_size, sigma))
