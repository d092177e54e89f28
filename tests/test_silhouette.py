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


def test_resolve_backend():
    assert resolve_backend("auto", torch.device("cpu")) == "fast"
    assert resolve_backend("auto", torch.device("cuda")) == "pytorch3d"
    assert resolve_backend("pytorch3d", torch.device("cpu")) == "pytorch3d"
    assert resolve_backend("fast", torch.device("cuda")) == "fast"
    with pytest.raises(ValueError, match="unknown silhouette backend"):
        resolve_backend("opengl", torch.device("cpu"))
    with pytest.raises(ValueError):
        SilhouetteRenderer("nvdiffrast", SETTINGS)
