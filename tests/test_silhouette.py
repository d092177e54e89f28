"""Silhouette renderers: ``fast`` vs ``pytorch3d`` parity, compiled kernel vs torch reference, API.

Tests that compare the compiled C++ kernel with the torch reference skip (with the reason) where it
cannot be built; CI sets ``IG_REQUIRE_KERNEL=1`` so that there its absence is a failure instead.
"""

import os
import subprocess

import pytest
import torch

from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.render import soft_raster
from inverse_graphics.render.cameras import CameraRig, tutorial_rig
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings, resolve_backend

SIZE = 48
RIG = tutorial_rig(20, image_size=SIZE).subset([0, 6, 13])
SETTINGS = SilhouetteSettings(image_size=SIZE)


def kernel_build_error() -> str | None:
    """Why the C++ kernel cannot be built here (``None`` when it can)."""
    try:
        soft_raster.build_kernel()
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"{type(exc).__name__}: {str(detail).strip()[:300]}"
    return None


KERNEL_ERROR = kernel_build_error()
needs_kernel = pytest.mark.skipif(KERNEL_ERROR is not None, reason=f"C++ kernel unavailable ({KERNEL_ERROR})")


def test_kernel_is_available_where_required():
    """CI (``IG_REQUIRE_KERNEL=1``) must run the kernel comparisons below, not skip them."""
    if os.environ.get("IG_REQUIRE_KERNEL") != "1":
        pytest.skip("IG_REQUIRE_KERNEL is not set (CI sets it)")
    assert KERNEL_ERROR is None, f"IG_REQUIRE_KERNEL=1 but the C++ kernel does not build: {KERNEL_ERROR}"
    assert soft_raster.kernel() is not None


def deformed_sphere(level: int, seed: int, amount: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Ico-sphere with smooth-ish random radial bumps and an off-centre shift (asymmetric on purpose)."""
    verts, faces = ico_sphere(level)
    if amount == 0:
        return verts, faces
    g = torch.Generator().manual_seed(seed)
    freq = torch.randn(3, 3, generator=g) * 2.0
    bumps = torch.sin(verts @ freq).sum(-1, keepdim=True) / 3.0
    noise = torch.randn(verts.shape[0], 1, generator=g) * 0.03
    return verts * (1.0 + amount * bumps + noise) + torch.tensor([0.2, -0.1, 0.05]), faces


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / (a | b).sum())


def loss_grad(renderer, verts, faces, rig, target) -> tuple[torch.Tensor, torch.Tensor]:
    verts = verts.clone().requires_grad_(True)
    alpha = renderer(verts, faces, rig)
    ((alpha - target) ** 2).mean().backward()
    return alpha.detach(), verts.grad


@pytest.mark.parametrize("seed, amount", [(0, 0.0), (1, 0.15), (2, 0.3)])
def test_fast_matches_pytorch3d(seed, amount):
    verts, faces = deformed_sphere(3, seed, amount)
    target = (SilhouetteRenderer("fast", SETTINGS)(verts * 0.8, faces, RIG) > 0.5).float()
    fast, grad_fast = loss_grad(SilhouetteRenderer("fast", SETTINGS), verts, faces, RIG, target)
    ref, grad_ref = loss_grad(SilhouetteRenderer("pytorch3d", SETTINGS), verts, faces, RIG, target)
    for view in range(len(RIG)):
        assert iou(fast[view], ref[view]) >= 0.99
    assert torch.nn.functional.cosine_similarity(grad_fast.flatten(), grad_ref.flatten(), dim=0) >= 0.9
    assert (fast - ref).abs().max() < 1e-3


@pytest.mark.parametrize(
    "rig",
    [RIG, CameraRig((1.6, 3.0), (10.0, -30.0), (40.0, 200.0), fov=60.0, image_size=SIZE)],
    ids=["tutorial", "near-plane-and-border"],
)
@pytest.mark.parametrize("amount", [0.0, 0.4])
@needs_kernel
def test_kernel_matches_reference(rig, amount):
    """The C++ kernel and the torch reference agree on values and on gradients w.r.t. NDC xy."""
    assert soft_raster.kernel() is not None
    verts, faces = deformed_sphere(2, 3, amount)
    cameras = rig.to_pytorch3d()
    xy, z = soft_raster.project(verts, soft_raster.projection_matrix(cameras))
    depth = z - cameras.znear[:, None]
    weights = torch.randn(len(rig), SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    results = []
    for fn in (soft_raster.log_transmittance, soft_raster.log_transmittance_reference):
        leaf = xy.detach().clone().requires_grad_(True)
        s = fn(leaf, depth, faces, SIZE, SETTINGS.sigma)
        (s * weights).sum().backward()
        results.append((s.detach(), leaf.grad))
    (s_kernel, g_kernel), (s_ref, g_ref) = results
    assert s_ref.min() < -5.0  # the mesh is on screen
    torch.testing.assert_close(s_kernel, s_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(g_kernel, g_ref, rtol=1e-3, atol=1e-3 * g_ref.abs().max().item())


@needs_kernel
def test_fallback_path_renders_the_same(monkeypatch):
    """The renderer's torch fallback draws what the compiled kernel draws."""
    verts, faces = deformed_sphere(2, 4, 0.2)
    renderer = SilhouetteRenderer("fast", SETTINGS)
    assert soft_raster.kernel() is not None  # so the first render below is the kernel's
    compiled = renderer(verts, faces, RIG)
    monkeypatch.setattr(soft_raster, "kernel", lambda: None)
    torch.testing.assert_close(renderer(verts, faces, RIG), compiled, rtol=0, atol=1e-4)


def test_shape_range_and_gradient():
    verts, faces = ico_sphere(2)
    verts.requires_grad_(True)
    alpha = SilhouetteRenderer("auto", SilhouetteSettings(image_size=32))(verts, faces, RIG)
    assert alpha.shape == (3, 32, 32) and alpha.dtype == torch.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert alpha[:, 16, 16].min() > 0.5 and alpha[:, 0, 0].max() < 1e-3
    alpha.sum().backward()
    assert torch.isfinite(verts.grad).all() and verts.grad.abs().sum() > 0


def test_blend_and_sigma_schedule():
    settings = SilhouetteSettings(sigma=1e-4, sigma_final=1e-6, blend="contour", warmup_blend="product")
    assert settings.sigma_at(0.0) == settings.sigma_at(0.5) == 1e-4
    assert settings.sigma_at(0.75) == pytest.approx(1e-5) and settings.sigma_at(1.0) == pytest.approx(1e-6)
    assert settings.blend_at(0.0) == settings.blend_at(0.49) == "product"
    assert settings.blend_at(0.5) == settings.blend_at(1.0) == "contour"
    tutorial = SilhouetteSettings(sigma=1e-4)
    assert tutorial.sigma_at(1.0) == 1e-4 and tutorial.blend_at(0.0) == "product" and tutorial.is_tutorial
    assert not settings.is_tutorial


def soft_edge_pixels(settings: SilhouetteSettings) -> int:
    """Pixels on the soft edge (0.02 < alpha < 0.98) of a sphere seen by one view."""
    verts, faces = ico_sphere(3)
    rig = tutorial_rig(20, image_size=settings.image_size).subset([0])
    alpha = SilhouetteRenderer("fast", settings)(verts * 0.8, faces, rig)
    return int(((alpha > 0.02) & (alpha < 0.98)).sum())


def test_sigma_size_keeps_the_soft_edge_in_pixels():
    """``render.sigma`` holds at ``render.sigma_size`` px: at half the size the edge is as many pixels wide, so the
    edge holds half the pixels (half the contour); sigma in NDC units (``sigma_size`` null) would give a quarter."""
    render = {"sigma": 1e-4, "sigma_final": 3e-5, "sigma_size": 128, "faces_per_pixel": 50, "blend": "contour",
              "warmup_blend": None}
    small = SilhouetteSettings.from_params(render, 64)
    assert (small.sigma, small.sigma_final) == (pytest.approx(4e-4), pytest.approx(1.2e-4))
    assert SilhouetteSettings.from_params(render, 128).sigma == 1e-4
    ratio = soft_edge_pixels(SilhouetteSettings.from_params(render, 128)) / soft_edge_pixels(small)
    assert 1.7 < ratio < 2.3
    in_ndc = SilhouetteSettings.from_params(render | {"sigma_size": None}, 64)
    assert in_ndc.sigma == 1e-4 and 3.3 < soft_edge_pixels(SilhouetteSettings.from_params(render, 128)) / \
        soft_edge_pixels(in_ndc) < 5.2


def test_resolve_backend():
    assert resolve_backend("auto", torch.device("cpu")) == "fast"
    assert resolve_backend("auto", torch.device("cuda")) == "pytorch3d"
    assert resolve_backend("pytorch3d", torch.device("cpu")) == "pytorch3d"
    assert resolve_backend("fast", torch.device("cuda")) == "fast"
    with pytest.raises(ValueError, match="unknown silhouette backend"):
        resolve_backend("opengl", torch.device("cpu"))
    with pytest.raises(ValueError):
        SilhouetteRenderer("nvdiffrast", SETTINGS)
    unbiased = SilhouetteSettings(blend="contour")
    assert resolve_backend("auto", torch.device("cuda"), unbiased) == "fast"
    assert resolve_backend("auto", torch.device("cuda"), SilhouetteSettings(sigma_final=1e-5)) == "fast"
    assert resolve_backend("auto", torch.device("cuda"), SilhouetteSettings(warmup_blend="contour")) == "fast"
    with pytest.raises(ValueError, match="tutorial's renderer"):
        resolve_backend("pytorch3d", torch.device("cpu"), unbiased)
    with pytest.raises(ValueError, match="unknown silhouette blend"):
        resolve_backend("fast", torch.device("cpu"), SilhouetteSettings(blend="max"))
