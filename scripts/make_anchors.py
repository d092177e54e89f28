"""Make GANverse3D-style viewpoint anchors for a generator without a camera input (e.g. an official LSUN-car
pickle), for stage ``multiview`` (``multiview.anchors``, ``multiview.anchor_layers``).

For every camera of the multiview rig (``multiview.rig`` at synth's distance and field of view), ``--cars``
parametric cars (their own seed stream, not synth's training or held-out cars) are rendered at that camera at the
generator's resolution and projected into the generator (``multiview``'s search and distance, ``--space``,
``--steps``); the anchor of the camera is the mean of the cars' ws, which keeps what they share: the viewpoint, in
the coarse layers. The file is small (views x num_ws x w_dim floats); commit it beside the checkpoint it was made
for. Renders of the project's synthetic cars suit a generator trained on such cars; for a photo model, give
``--images`` a folder of labelled photos instead (``<folder>/<azim>_<elev>/*.png``).

    python scripts/make_anchors.py --generator ckpt.pkl --out assets/gan/ckpt-anchors.npz [--cars 4] [--steps 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverse_graphics.data.car_generator import build_car, render_car, sample_appearance, sample_car_params  # noqa: E402
from inverse_graphics.errors import UserError  # noqa: E402
from inverse_graphics.gan.checkpoint import load_generator  # noqa: E402
from inverse_graphics.gan.critic import load_critic  # noqa: E402
from inverse_graphics.multiview.distance import build_distance  # noqa: E402
from inverse_graphics.multiview.io import IMAGE_SUFFIXES, read_input_image  # noqa: E402
from inverse_graphics.multiview.views import make_anchors, multiview_rig, save_anchors  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from stages.multiview import project_settings  # noqa: E402

ANCHOR_STREAM = 2  # second entropy word of the anchor cars' seeds (synth uses 0 for training, 1 for held-out)


def rendered_groups(rig, cars: int, seed: int) -> torch.Tensor:
    """``(V, cars, 3, R, R)`` in [-1, 1]: each car rendered at every view of ``rig``."""
    per_car = []
    for i in range(cars):
        rng = np.random.default_rng([seed + i, ANCHOR_STREAM])
        car = build_car(sample_car_params(rng))
        images, _ = render_car(car, rig, sample_appearance(rng, len(rig)))
        per_car.append(images.permute(0, 3, 1, 2) * 2 - 1)
    return torch.stack(per_car, dim=1)


def folder_groups(folder: Path, resolution: int) -> tuple[list[tuple[float, float]], torch.Tensor]:
    """Cameras and ``(V, K, 3, R, R)`` images from ``<folder>/<azim>_<elev>/*`` (K images per camera, equal K)."""
    cameras, groups = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            azim, elev = (float(x) for x in sub.name.split("_"))
        except ValueError:
            raise UserError(f"{sub}: expected a folder named <azimuth>_<elevation> (degrees)") from None
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        cameras.append((azim, elev))
        groups.append(torch.cat([read_input_image(p, resolution) for p in files]))
    if not groups or len({len(g) for g in groups}) != 1:
        raise UserError(f"{folder}: expected <azimuth>_<elevation> folders with the same number of images each")
    return cameras, torch.stack(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--critic", default=None, help="car critic for the distance's critic term (if weighted)")
    parser.add_argument("--images", type=Path, default=None, help="labelled images instead of rendered cars")
    parser.add_argument("--cars", type=int, default=4)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--space", choices=("w", "w+"), default="w+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        params = load_params(["multiview", "synth"])
        section, camera = params["multiview"], params["synth"]["camera"]
        G = load_generator(args.generator)
        if args.images is not None:
            cameras, images = folder_groups(args.images, G.img_resolution)
        else:
            rig = multiview_rig(section, camera, G.img_resolution)
            cameras = list(zip(rig.azim, rig.elev))
            images = rendered_groups(rig, args.cars, args.seed)
        weights = dict(section["distance"])
        critic = load_critic(args.critic) if args.critic else None
        if critic is None:
            weights["critic"] = 0.0
        distance = build_distance(weights, weights["pixel_scales"], critic=critic,
                                  lpips_files=(weights["lpips_vgg16"], weights["lpips_linear"]))
        settings = dataclasses.replace(project_settings(section), steps=args.steps, space=args.space, seed=args.seed)
        anchors = make_anchors(G, cameras, images, distance, settings, progress=tqdm)
        anchors = dataclasses.replace(anchors, meta=anchors.meta | {
            "generator": str(args.generator), "source": str(args.images) if args.images else "rendered cars",
            "distance_terms": [t.name for t in distance.terms]})
        save_anchors(args.out, anchors)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps({"anchors": len(anchors), "out": str(args.out), **anchors.meta}))


if __name__ == "__main__":
    main()
