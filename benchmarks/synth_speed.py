"""Speed of the synth stage's inner loop, and of its rasteriser against PyTorch3D's ``MeshRasterizer``.

Prints one JSON line: images per second of the whole loop (car mesh -> shaded renders -> PNG
bytes) with ms per image for each step, and ms per image of the hard z-buffer of
``render/shaded.py`` next to PyTorch3D's CPU rasteriser (faces_per_pixel=1, blur 0, naive and
default binning) on the same views, plus whether their coverage masks agree.

    python benchmarks/synth_speed.py [--quick] [--resolution 64] [--views 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverse_graphics.data.car_generator import build_car, render_car, sample_appearance, sample_car_params  # noqa: E402
from inverse_graphics.data.dataset_zip import encode_png  # noqa: E402
from inverse_graphics.render.cameras import random_rig  # noqa: E402
from inverse_graphics.render.shaded import rasterize  # noqa: E402
from inverse_graphics.viz import to_uint8  # noqa: E402


def time_loop(num_cars: int, views: int, resolution: int) -> dict:
    """Seconds spent per step over ``num_cars`` cars of ``views`` images each."""
    split = {"mesh": 0.0, "render": 0.0, "encode": 0.0}
    for i in range(num_cars):
        rng = np.random.default_rng(i)
        t0 = time.perf_counter()
        car = build_car(sample_car_params(rng))
        t1 = time.perf_counter()
        rig = random_rig(views, torch.Generator().manual_seed(i), image_size=resolution)
        images, _ = render_car(car, rig, sample_appearance(rng, views))
        t2 = time.perf_counter()
        for image in images:
            encode_png(to_uint8(image))
        t3 = time.perf_counter()
        split["mesh"] += t1 - t0
        split["render"] += t2 - t1
        split["encode"] += t3 - t2
    return split


def time_rasterizers(num_cars: int, views: int, resolution: int) -> dict:
    """ms per image of our z-buffer and PyTorch3D's, and the fraction of pixels whose coverage differs."""
    from pytorch3d.renderer import MeshRasterizer, RasterizationSettings
    from pytorch3d.structures import Meshes

    ours = naive = binned = 0.0
    differ = total = 0
    for i in range(num_cars):
        verts, faces = build_car(sample_car_params(np.random.default_rng(i))).normalized()
        rig = random_rig(views, torch.Generator().manual_seed(i), image_size=resolution)
        t0 = time.perf_counter()
        pix_to_face = rasterize(verts, faces, rig)
        t1 = time.perf_counter()
        meshes = Meshes([verts] * views, [faces] * views)
        timings = []
        for bin_size in (0, None):
            settings = RasterizationSettings(image_size=resolution, blur_radius=0.0, faces_per_pixel=1, bin_size=bin_size)
            start = time.perf_counter()
            ref = MeshRasterizer(cameras=rig.to_pytorch3d(), raster_settings=settings)(meshes).pix_to_face[..., 0]
            timings.append(time.perf_counter() - start)
        ours += t1 - t0
        naive += timings[0]
        binned += timings[1]
        differ += int(((ref >= 0) != (pix_to_face >= 0)).sum())
        total += ref.numel()
    n = num_cars * views
    return {
        "ours_ms_per_image": round(1000 * ours / n, 3),
        "pytorch3d_naive_ms_per_image": round(1000 * naive / n, 3),
        "pytorch3d_default_bins_ms_per_image": round(1000 * binned / n, 3),
        "speedup_vs_pytorch3d": round(min(naive, binned) / ours, 1),
        "mask_pixels_differing": differ / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 cars and 4 for the rasteriser comparison (< 60 s)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--views", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the synth stage uses 1)")
    args = parser.parse_args()
    cars, raster_cars = (20, 4) if args.quick else (200, 20)
    torch.set_num_threads(args.threads)
    time_loop(1, args.views, args.resolution)  # warm-up
    split = time_loop(cars, args.views, args.resolution)
    n = cars * args.views
    result = {
        "benchmark": "synth_speed",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "cars": cars,
        "images": n,
        "resolution": args.resolution,
        "images_per_second": round(n / sum(split.values()), 1),
        "ms_per_image": {k: round(1000 * v / n, 3) for k, v in split.items()},
        "rasterizer": time_rasterizers(raster_cars, args.views, args.resolution),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
