"""Silhouette render speed, ``pytorch3d`` vs ``fast`` backend, forward + backward, one JSON line.

Same inputs for both: ico_sphere(4) slightly deformed, 2 of the tutorial's 20 views, 128 px,
sigma 1e-4, faces_per_pixel 50, MSE to a fixed mask; ``fast`` with the tutorial's product blend
(compared with ``pytorch3d``), and in the same run with the unbiased ``contour`` blend
(``fast_contour_*``). Timings are wall clock on a shared machine: other processes on the same
cores make them noisy.

    python benchmarks/render_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverse_graphics.mesh.ico_sphere import ico_sphere  # noqa: E402
from inverse_graphics.render import soft_raster  # noqa: E402
from inverse_graphics.render.cameras import tutorial_rig  # noqa: E402
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings  # noqa: E402

RIG = tutorial_rig(20, image_size=128).subset([0, 5])


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``verts: (2562, 3)``, ``faces: (5120, 3)``, target ``masks: (2, 128, 128)``."""
    verts, faces = ico_sphere(4)
    g = torch.Generator().manual_seed(0)
    verts = verts * (1.0 + 0.05 * torch.randn(verts.shape[0], 1, generator=g))
    target = (SilhouetteRenderer("fast", SilhouetteSettings())(verts * 0.9, faces, RIG) > 0.5).float()
    return verts, faces, target


def time_backend(backend: str, verts, faces, target, iterations: int, warmup: int, blend: str = "product") -> dict:
    """Mean seconds per iteration of forward (render + loss) and backward, and the last alpha."""
    settings = SilhouetteSettings(image_size=128, sigma=1e-4, faces_per_pixel=50, blend=blend)
    renderer = SilhouetteRenderer(backend, settings)
    forward = backward = 0.0
    for i in range(warmup + iterations):
        leaf = verts.clone().requires_grad_(True)
        t0 = time.perf_counter()
        alpha = renderer(leaf, faces, RIG)
        loss = ((alpha - target) ** 2).mean()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if i >= warmup:
            forward, backward = forward + t1 - t0, backward + t2 - t1
    return {"forward": forward / iterations, "backward": backward / iterations, "alpha": alpha.detach()}



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 pytorch3d iteration (~25 s), whole run under ~60 s")
    args = parser.parse_args()
    t0 = time.perf_counter()
    compiled = soft_raster.kernel() is not None
    build_s = time.perf_counter() - t0
    verts, faces, target = inputs()
    fast = time_backend("fast", verts, faces, target, iterations=100 if args.quick else 500, warmup=5)
    contour = time_backend("fast", verts, faces, target, 100 if args.quick else 500, warmup=5, blend="contour")
    p3d = time_backend("pytorch3d", verts, faces, target, iterations=1 if args.quick else 3, warmup=0)
    fast_s, p3d_s = fast["forward"] + fast["backward"], p3d["forward"] + p3d["backward"]
    views = len(RIG)
    print(
        json.dumps(
            {
                "pytorch3d_s_per_iter": round(p3d_s, 3),
                "fast_s_per_iter": round(fast_s, 5),
                "speedup": round(p3d_s / fast_s, 1),
                "fast_forward_ms_per_view": round(1e3 * fast["forward"] / views, 2),
                "fast_backward_ms_per_view": round(1e3 * fast["backward"] / views, 2),
                "fast_contour_s_per_iter": round(contour["forward"] + contour["backward"], 5),
                "fast_contour_forward_ms_per_view": round(1e3 * contour["forward"] / views, 2),
                "fast_contour_backward_ms_per_view": round(1e3 * contour["backward"] / views, 2),
                "pytorch3d_forward_s": round(p3d["forward"], 2),
                "pytorch3d_backward_s": round(p3d["backward"], 2),
                "max_abs_alpha_diff": round(float((fast["alpha"] - p3d["alpha"]).abs().max()), 6),
                "fast_impl": "c++" if compiled else "torch",
                "kernel_load_s": round(build_s, 2),
                "threads": torch.get_num_threads(),
                "views": views,
                "image_size": 128,
            }
        )
    )


if __name__ == "__main__":
    main()
