"""The ``fast`` soft-silhouette renderer: only (pixel, face) pairs near each face are visited.

A silhouette needs no depth order. With ``d_f`` the signed squared NDC distance from a pixel
centre to projected face ``f`` (negative inside) and ``p_f = sigmoid(-d_f / sigma)``, three blends
(:func:`blend_alpha`), each over the faces with ``d_f < blur_radius``:

- ``product``, PyTorch3D's ``SoftSilhouetteShader``: ``alpha = 1 - prod_f (1 - p_f)``, here a sum
  of logs ``S = sum_f logsigmoid(d_f / sigma)``, ``alpha = 1 - exp(S)``. Where faces meet (every
  contour edge has two, a vertex more) their terms add up, so alpha passes 0.5 outside the
  silhouette: 0.9 px out at 128 px with sigma 1e-4 (``benchmarks/silhouette_bias.py``).
- ``contour``: ``alpha = sigmoid(-D / sigma)``, ``D`` the squared distance to the nearest contour
  edge (an edge whose two faces face opposite ways in the view, or a border edge), negated where
  any face covers the pixel. The silhouette's boundary lies on contour edges, so outside it ``D``
  is the exact squared distance to the silhouette, and the 0.5 level set is the hard (z-buffer)
  silhouette exactly. Gradients reach the contour edges' ends only.
- ``nearest``: ``alpha = sigmoid(-min_f d_f / sigma)``; the same 0.5 level set, but inside the
  silhouette alpha dips towards 0.5 along every face edge.

Conventions follow PyTorch3D's rasterizer: NDC +X left, +Y up, pixel (row 0, col 0) centred at
NDC ``(1 - 1/W, 1 - 1/H)``; ``d`` is the squared distance to the nearest edge; faces with
``|2 * area| <= 1e-8`` are skipped. Faces with a vertex nearer than the camera's ``znear`` are
culled (PyTorch3D keeps them unless they lie wholly behind the camera).

Two implementations of ``S`` and ``D`` with one autograd contract each: a compiled CPU kernel
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
INSIDE_FLOOR = 1e-6  # contour: covered pixels have D <= -INSIDE_FLOOR * radius, so alpha > 0.5 in float32
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


def _box_pixels(lo: torch.Tensor, hi: torch.Tensor, keep: torch.Tensor, size: int):
    """Every pixel of every kept box: ``lo, hi: (..., 2)`` NDC corners, ``keep: (...)`` bool ->
    ``owner`` (flat box index), ``px``, ``py`` (column, row), each ``(P,)``."""
    x0, x1 = pixel_span(lo[..., 0], hi[..., 0], size)
    y0, y1 = pixel_span(lo[..., 1], hi[..., 1], size)
    width, height = (x1 - x0 + 1).clamp_min(0), (y1 - y0 + 1).clamp_min(0)
    count = torch.where(keep, width * height, 0).flatten()
    owner = torch.repeat_interleave(torch.arange(count.numel(), device=lo.device), count)
    local = torch.arange(owner.numel(), device=lo.device) - (count.cumsum(0) - count)[owner]
    w = width.flatten()[owner]
    return owner, x0.flatten()[owner] + local % w, y0.flatten()[owner] + local // w


def _near_pairs(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel index ``(P,)`` into ``(N * H * W)`` and signed squared distance ``d: (P,)`` of every
    (pixel, face) pair with ``d < blur_radius(sigma)``; ``d`` carries autograd w.r.t. ``xy``."""
    size, radius = image_size, blur_radius(sigma)
    tri = xy[:, faces]  # (N, F, 3, 2)
    with torch.no_grad():
        v = tri.detach()
        e1, e2 = v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0]
        area = e2[..., 0] * e1[..., 1] - e2[..., 1] * e1[..., 0]
        keep = (depth[:, faces] >= 0).all(-1) & (area.abs() > AREA_EPS)
        margin = math.sqrt(radius)
        owner, px, py = _box_pixels(v.amin(-2) - margin, v.amax(-2) + margin, keep, size)
        view = owner // faces.shape[0]
    centres = pixel_centres(size, xy.device)
    p = torch.stack([centres[px], centres[py]], dim=-1)
    d = signed_squared_distance(p, tri.flatten(0, 1)[owner])
    near = d < radius
    pixel = (view * size + py) * size + px
    return pixel[near], d[near]


def log_transmittance_reference(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float
) -> torch.Tensor:
    """``S: (N, H, W)`` from NDC ``xy: (N, V, 2)``, ``depth: (N, V)`` (view z minus znear), ``faces: (F, 3)``.

    Pure torch; autograd gives the gradient w.r.t. ``xy``.
    """
    n_views, size = xy.shape[0], image_size
    pixel, d = _near_pairs(xy, depth, faces, image_size, sigma)
    log_t = torch.zeros(n_views * size * size, device=xy.device, dtype=xy.dtype)
    return log_t.index_add(0, pixel, F.logsigmoid(d / sigma)).view(n_views, size, size)


def nearest_distance_reference(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float
) -> torch.Tensor:
    """``D: (N, H, W) = min(blur_radius, min_f d_f)``, the signed squared distance to the nearest face.

    Same inputs as :func:`log_transmittance_reference`; pure torch, autograd w.r.t. ``xy`` (ties
    share the gradient, where the kernel gives it to the first face).
    """
    n_views, size = xy.shape[0], image_size
    pixel, d = _near_pairs(xy, depth, faces, image_size, sigma)
    start = torch.full((n_views * size * size,), blur_radius(sigma), device=xy.device, dtype=xy.dtype)
    return start.scatter_reduce(0, pixel, d, "amin", include_self=True).view(n_views, size, size)


_EDGE_CACHE: dict = {}


def edge_faces(faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique edges ``(E, 2)`` of ``faces: (F, 3)`` and their two faces ``(E, 2)``.

    The second face is ``-1`` on a border edge; an edge of three or more faces keeps ``-2`` there,
    which makes it a contour edge in every view. Cached per faces tensor (and its version).
    """
    key = (faces.data_ptr(), faces._version, tuple(faces.shape), str(faces.device))
    if key not in _EDGE_CACHE:
        n_faces = faces.shape[0]
        pairs = faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2).sort(dim=1).values
        edges, inverse, counts = torch.unique(pairs, dim=0, return_inverse=True, return_counts=True)
        owner = torch.arange(n_faces, device=faces.device).repeat_interleave(3)
        order = torch.argsort(inverse, stable=True)
        start = counts.cumsum(0) - counts
        first = owner[order[start]]
        second = torch.where(counts >= 2, owner[order[(start + 1).clamp_max(order.numel() - 1)]], -1)
        second = torch.where(counts > 2, -2, second)
        if len(_EDGE_CACHE) >= 8:
            _EDGE_CACHE.clear()
        _EDGE_CACHE[key] = (edges, torch.stack([first, second], 1))
    return _EDGE_CACHE[key]


def contour_edges(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Contour edges of each view: ``edges: (K, 2)`` vertex ids, view ``n``'s at ``offsets[n]:offsets[n + 1]``.

    An edge is a contour edge in a view when one of its faces is visible (not culled by the
    near plane, not degenerate) and the other is not, or faces the other way (opposite signed
    projected area), or is missing (mesh border), or when three or more faces share it. The
    boundary of the silhouette (the union of the projected faces) lies on contour edges.
    """
    edges, owners = edge_faces(faces)
    with torch.no_grad():
        v = xy.detach()[:, faces]  # (N, F, 3, 2)
        e1, e2 = v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0]
        area = e2[..., 0] * e1[..., 1] - e2[..., 1] * e1[..., 0]
        visible = (depth.detach()[:, faces] >= 0).all(-1) & (area.abs() > AREA_EPS)
        facing = torch.where(visible, area.sign(), 0.0)  # (N, F)
        first = facing[:, owners[:, 0]]
        second = torch.where(owners[:, 1] >= 0, facing[:, owners[:, 1].clamp_min(0)], 0.0)
        special = (owners[:, 1] == -2)[None]
        contour = ((first != second) | special) & ((first != 0) | (second != 0) | special)  # (N, E)
        view, index = contour.nonzero(as_tuple=True)
        offsets = torch.zeros(xy.shape[0] + 1, dtype=torch.int64, device=xy.device)
        offsets[1:] = contour.sum(1).cumsum(0)
    return edges[index].contiguous(), offsets


def contour_distance_reference(
    xy: torch.Tensor,
    depth: torch.Tensor,
    faces: torch.Tensor,
    image_size: int,
    sigma: float,
    edges: torch.Tensor,
    offsets: torch.Tensor,
) -> torch.Tensor:
    """``D: (N, H, W)``: squared distance to the nearest contour edge (:func:`contour_edges`),
    capped at ``blur_radius(sigma)``, negated (and at most ``-INSIDE_FLOOR * radius``) where a
    face covers the pixel.

    Pure torch, autograd w.r.t. ``xy`` (ties share the gradient, where the kernel gives it to
    the first edge); other inputs as :func:`log_transmittance_reference`.
    """
    n_views, size, radius = xy.shape[0], image_size, blur_radius(sigma)
    with torch.no_grad():
        covered = nearest_distance_reference(xy.detach(), depth, faces, size, sigma) < 0
        view_of = torch.repeat_interleave(torch.arange(n_views, device=xy.device), offsets.diff())
        seg = xy.detach()[view_of[:, None], edges]  # (K, 2, 2)
        keep = (depth[view_of[:, None], edges] >= 0).all(-1)
        margin = math.sqrt(radius)
        owner, px, py = _box_pixels(seg.amin(-2) - margin, seg.amax(-2) + margin, keep, size)
    centres = pixel_centres(size, xy.device)
    p = torch.stack([centres[px], centres[py]], dim=-1)
    seg = xy[view_of[owner, None], edges[owner]]  # (P, 2, 2) with autograd
    e = seg[:, 1] - seg[:, 0]
    q = p - seg[:, 0]
    t = ((q * e).sum(-1) / (e * e).sum(-1).clamp_min(LENGTH_EPS)).clamp(0.0, 1.0)
    d2 = (q - t[:, None] * e).square().sum(-1)
    pixel = (view_of[owner] * size + py) * size + px
    start = torch.full((n_views * size * size,), radius, device=xy.device, dtype=xy.dtype)
    d2 = start.scatter_reduce(0, pixel, d2, "amin", include_self=True).view(n_views, size, size)
    return torch.where(covered, -d2.clamp_min(INSIDE_FLOOR * radius), d2)


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
    lib.soft_raster_nearest_forward.argtypes = common + [ptr, ptr]
    lib.soft_raster_nearest_backward.argtypes = common + [ptr, ptr, ptr]
    lib.soft_raster_contour_forward.argtypes = common + [ptr, ptr, ptr, ptr]
    lib.soft_raster_contour_backward.argtypes = common + [ptr, ptr, ptr, ptr, ptr, ptr]
    for name in ("forward", "backward", "nearest_forward", "nearest_backward", "contour_forward", "contour_backward"):
        getattr(lib, f"soft_raster_{name}").restype = None
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


class _NearestDistance(torch.autograd.Function):
    """``D: (N, H, W)`` from ``xy: (N, V, 2)`` by the compiled kernel; gradient w.r.t. ``xy`` only."""

    @staticmethod
    def forward(ctx, xy, depth, faces, image_size, sigma):
        xy, depth, faces = xy.contiguous(), depth.contiguous(), faces.contiguous()
        out = torch.empty(depth.shape[0], image_size, image_size)
        argmin = torch.empty(depth.shape[0], image_size, image_size, dtype=torch.int32)
        kernel().soft_raster_nearest_forward(
            *_kernel_args(xy, depth, faces, image_size, sigma),
            ctypes.c_void_p(out.data_ptr()),
            ctypes.c_void_p(argmin.data_ptr()),
        )
        ctx.save_for_backward(xy, depth, faces, argmin)
        ctx.image_size, ctx.sigma = image_size, sigma
        ctx.mark_non_differentiable(argmin)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        xy, depth, faces, argmin = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_xy = torch.zeros_like(xy)
        kernel().soft_raster_nearest_backward(
            *_kernel_args(xy, depth, faces, ctx.image_size, ctx.sigma),
            ctypes.c_void_p(argmin.data_ptr()),
            ctypes.c_void_p(grad_out.data_ptr()),
            ctypes.c_void_p(grad_xy.data_ptr()),
        )
        return grad_xy, None, None, None, None


class _ContourDistance(torch.autograd.Function):
    """``D: (N, H, W)`` from ``xy: (N, V, 2)`` and contour ``edges``, ``offsets`` by the compiled kernel."""

    @staticmethod
    def forward(ctx, xy, depth, faces, image_size, sigma, edges, offsets):
        xy, depth, faces = xy.contiguous(), depth.contiguous(), faces.contiguous()
        edges, offsets = edges.contiguous(), offsets.contiguous()
        out = torch.empty(depth.shape[0], image_size, image_size)
        argmin = torch.empty(depth.shape[0], image_size, image_size, dtype=torch.int32)
        kernel().soft_raster_contour_forward(
            *_kernel_args(xy, depth, faces, image_size, sigma),
            *(ctypes.c_void_p(t.data_ptr()) for t in (offsets, edges, out, argmin)),
        )
        ctx.save_for_backward(xy, depth, faces, edges, offsets, out, argmin)
        ctx.image_size, ctx.sigma = image_size, sigma
        return out

    @staticmethod
    def backward(ctx, grad_out):
        xy, depth, faces, edges, offsets, out, argmin = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_xy = torch.zeros_like(xy)
        kernel().soft_raster_contour_backward(
            *_kernel_args(xy, depth, faces, ctx.image_size, ctx.sigma),
            *(ctypes.c_void_p(t.data_ptr()) for t in (offsets, edges, out, argmin, grad_out, grad_xy)),
        )
        return grad_xy, None, None, None, None, None, None


def _use_kernel(xy: torch.Tensor) -> bool:
    return xy.device.type == "cpu" and xy.dtype == torch.float32 and kernel() is not None


def log_transmittance(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float
) -> torch.Tensor:
    """``S: (N, H, W)``: the compiled kernel for float32 CPU tensors when it builds, else the reference."""
    if _use_kernel(xy):
        return _LogTransmittance.apply(xy, depth.detach().float(), faces.long(), image_size, sigma)
    return log_transmittance_reference(xy, depth, faces, image_size, sigma)


def nearest_distance(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float
) -> torch.Tensor:
    """``D: (N, H, W)``: the compiled kernel for float32 CPU tensors when it builds, else the reference."""
    if _use_kernel(xy):
        return _NearestDistance.apply(xy, depth.detach().float(), faces.long(), image_size, sigma)
    return nearest_distance_reference(xy, depth, faces, image_size, sigma)


def contour_distance(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float
) -> torch.Tensor:
    """``D: (N, H, W)`` of :func:`contour_distance_reference`: the compiled kernel for float32 CPU
    tensors when it builds, else the reference."""
    edges, offsets = contour_edges(xy, depth, faces)
    if _use_kernel(xy):
        return _ContourDistance.apply(xy, depth.detach().float(), faces.long(), image_size, sigma, edges, offsets)
    return contour_distance_reference(xy, depth, faces, image_size, sigma, edges, offsets)


BLENDS = ("contour", "product", "nearest")


def blend_alpha(
    xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, image_size: int, sigma: float, blend: str
) -> torch.Tensor:
    """``alpha: (N, H, W)`` from projected faces (inputs as :func:`log_transmittance`).

    ``product``: ``1 - exp(S)``, PyTorch3D's ``SoftSilhouetteShader``; ``nearest``:
    ``sigmoid(-D / sigma)`` with ``D`` from :func:`nearest_distance` where a face is within the
    blur radius, else 0; ``contour``: ``sigmoid(-D / sigma)`` with ``D`` from
    :func:`contour_distance` where a contour edge is within the blur radius, else the coverage.
    """
    if blend == "contour":
        d = contour_distance(xy, depth, faces, image_size, sigma)
        return torch.where(d.abs() < blur_radius(sigma), torch.sigmoid(-d / sigma), (d < 0).to(d.dtype))
    if blend == "product":
        return -torch.expm1(log_transmittance(xy, depth, faces, image_size, sigma))
    if blend == "nearest":
        d = nearest_distance(xy, depth, faces, image_size, sigma)
        return torch.where(d < blur_radius(sigma), torch.sigmoid(-d / sigma), 0.0)
    raise ValueError(f"unknown silhouette blend {blend!r} (expected one of {list(BLENDS)})")


def soft_silhouette(
    verts: torch.Tensor,
    faces: torch.Tensor,
    matrix: torch.Tensor,
    znear: torch.Tensor,
    image_size: int,
    sigma: float,
    blend: str = "product",
) -> torch.Tensor:
    """``alpha: (N, H, W)`` of ``verts: (V, 3)``, ``faces: (F, 3)`` seen through ``matrix: (N, 4, 4)``.

    ``matrix`` is :func:`projection_matrix` of the cameras, ``znear: (N,)`` their near planes;
    ``blend`` as in :func:`blend_alpha`.
    """
    xy, z = project(verts, matrix)
    depth = z.detach() - znear.to(z)[:, None]
    return blend_alpha(xy, depth, faces, image_size, sigma, blend)
