"""Image-to-mesh fit speed, ``pytorch3d`` vs ``fast`` silhouette backend, one JSON line.

Same inputs for both: a held-out-style synthetic car seen by the tutorial's 20 views at 128 px
(its hard z-buffer silhouettes as targets), the default fit (ico_sphere(4), 2 random views per
iteration, SGD lr 1 momentum 0.9, edge/normal/Laplacian regularisers). ``pytorch3d`` (the
tutorial's renderer) runs K iterations (each ~20 s on a 2-core CPU), ``fast`` (``params.yaml``'s
``render`` settings) runs the full default fit (``--quick``: 200 iterations, the full fit
extrapolated and labelled so). Wall clock on a shared machine: other processes add noise.

    python benchmarks/fit_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.data.car_generator import build_car_mesh, sample_car_params  # noqa: E402
from inverse_graphics.fit.silhouette_fit import SilhouetteFitSettings, fit_to_silhouettes  # noqa: E402
from inverse_graphics.mesh.metrics import mesh_metrics, silhouette_iou  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from inverse_graphics.render.cameras import tutorial_rig  # noqa: E402
from inverse_graphics.render.shaded import rasterize  # noqa: E402
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings  # noqa: E402

DEFAULT = SilhouetteFitSettings()


def target_car() -> tuple[torch.Tensor, torch.Tensor]:
    """The first held-out car of the default ``synth`` params (seed stream ``[0, 1]``)."""
    return build_car_mesh(sample_car_params(np.random.default_rng([0, 1])))


def seconds_per_iteration(renderer: SilhouetteRenderer, masks, rig, iterations: int) -> float:
    """Run a fit of ``iterations`` (+1 warm-up) and return its mean seconds per iteration."""
    fit_to_silhouettes(masks, rig, renderer, SilhouetteFitSettings(iterations=1), progress=False)
    result = fit_to_silhouettes(masks, rig, renderer, SilhouetteFitSettings(iterations=iterations), progress=False)
    return result.seconds / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 pytorch3d iteration, 200 fast ones (< 1 minute)")
    args = parser.parse_args()
    verts, faces = target_car()
    rig = tutorial_rig(20, image_size=128)
    render = load_params(["render"], ROOT / "params.yaml")["render"]
    fast = SilhouetteRenderer("fast", SilhouetteSettings.from_params(render, 128))
    masks = (rasterize(verts, faces, rig) >= 0).float()
    tutorial = SilhouetteRenderer("pytorch3d", SilhouetteSettings(image_size=128))
    p3d_s = seconds_per_iteration(tutorial, masks, rig, 1 if args.quick else 3)
    line = {"pytorch3d_s_per_iter": round(p3d_s, 3)}
    if args.quick:
        fast_s = seconds_per_iteration(fast, masks, rig, 200)
        line |= {"fast_s_per_iter": round(fast_s, 5), "speedup": round(p3d_s / fast_s, 1),
                 "fast_full_fit_s": round(fast_s * DEFAULT.iterations, 1), "fast_full_fit": "extrapolated from 200"}
    else:
        result = fit_to_silhouettes(masks, rig, fast, DEFAULT, progress=False)
        fast_s = result.seconds / DEFAULT.iterations
        iou = silhouette_iou((rasterize(result.verts, result.faces, rig) >= 0).float(), masks)
        metrics = mesh_metrics(result.verts, result.faces, verts, faces)
        line |= {"fast_s_per_iter": round(fast_s, 5), "speedup": round(p3d_s / fast_s, 1),
                 "fast_full_fit_s": round(result.seconds, 1), "fast_full_fit": "measured",
                 "silhouette_iou_mean": round(float(iou.mean()), 4), "fscore@0.05": round(metrics["fscore@0.05"], 4)}
    line |= {"iterations": DEFAULT.iterations, "views": len(rig), "image_size": 128, "threads": torch.get_num_threads()}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
