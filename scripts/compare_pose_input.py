"""Issue 11's comparison: one car across views, with and without the project's pose design.

Two generators train from scratch the same way (the base recipe of ``train_base_gan.py``: same network size,
batch, seed, ADA) on the same data set for the same number of images, then are measured like ``train_gan``:

- ``ours``: the camera on its own path into the synthesis network (``pose_input: synthesis``) and the pair
  discriminator judging two views of one latent against two renders of one car;
- ``plain``: the official conditional form, the camera label into the mapping network (``pose_input: mapping``,
  so the camera changes ``w``), no pair discriminator.

Each variant trains in ``<out>/<variant>/`` (resumable; rerun to continue). ``measure`` prints one JSON line:
``pose_error_deg``, ``hull_consistency_iou`` (the segmenter's masks of 20 rig views per latent, their visual
hull reprojected) and ``frechet_distance_carnet`` of each variant, with the ``gan.eval`` settings.

    python scripts/compare_pose_input.py train --variant ours --out runs/pose-compare --kimg 40 --minutes 50
    python scripts/compare_pose_input.py train --variant plain --out runs/pose-compare --kimg 40 --minutes 50
    python scripts/compare_pose_input.py measure --out runs/pose-compare
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.errors import UserError  # noqa: E402
from inverse_graphics.gan.checkpoint import load_generator, read_snapshot  # noqa: E402
from inverse_graphics.gan.critic import load_critic  # noqa: E402
from inverse_graphics.gan.dataset import load_training_images  # noqa: E402
from inverse_graphics.gan.train import TrainSettings  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from inverse_graphics.render.cameras import ring_rig  # noqa: E402
from scripts.train_base_gan import CONFIG, train_within_budget  # noqa: E402
from stages.train_gan import load_segmenter_fn, measure  # noqa: E402

VARIANTS = {
    "ours": replace(CONFIG, pose_input="synthesis", pair_discriminator=True),
    "plain": replace(CONFIG, pose_input="mapping", pair_discriminator=False),
}


def train(args) -> None:
    torch.set_num_threads(args.threads)
    data = load_training_images(args.data)
    settings = TrainSettings(kimg=args.kimg, batch=args.batch, snapshot_kimg=args.snapshot_kimg, tick_kimg=1.0,
                             ada_kimg=500.0, seed=0)
    train_within_budget(data, VARIANTS[args.variant], settings, args.out / args.variant, torch.device("cpu"),
                        args.minutes, args.variant)


def measure_all(args) -> None:
    torch.set_num_threads(args.threads)
    params = load_params(["gan", "segment"], ROOT / "params.yaml")
    cfg = params["gan"]["eval"]
    data = load_training_images(args.data)
    critic = load_critic(args.critic)
    segmenter = load_segmenter_fn(args.segmenter, torch.device("cpu"), tta=params["segment"]["tta"],
                                  read_size=params["segment"]["read_size"])
    rig = ring_rig(cfg["rig_views"], tuple(cfg["rig_elevations"]), image_size=data.resolution)
    line = {"benchmark": "compare_pose_input", "data": str(args.data), "images": len(data)}
    for variant in VARIANTS:
        snapshot = args.out / variant / "snapshot.pt"
        if not snapshot.is_file():
            raise UserError(f"{snapshot}: not found; run `train --variant {variant}` first")
        kimg = read_snapshot(snapshot)["nimg"] / 1000
        G = load_generator(snapshot)
        scores = measure(G, critic, segmenter, None, data, rig, cfg)
        line[variant] = {"kimg": kimg} | {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}
    print(json.dumps(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("train", "measure"))
    parser.add_argument("--variant", choices=tuple(VARIANTS), help="train: which generator")
    parser.add_argument("--out", type=Path, required=True, help="folder holding one run folder per variant")
    parser.add_argument("--data", type=Path, default=ROOT / "data/dataset/cars-64.zip", help="training zip (synth)")
    parser.add_argument("--kimg", type=float, default=40.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--snapshot-kimg", type=float, default=4.0)
    parser.add_argument("--minutes", type=float, default=1e9, help="wall-clock budget: stop at the last snapshot that fits")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--critic", type=Path, default=ROOT / "models/critic/critic.pt")
    parser.add_argument("--segmenter", type=Path, default=ROOT / "models/segmenter")
    args = parser.parse_args()
    if args.mode == "train":
        if args.variant is None:
            parser.error("train needs --variant")
        train(args)
    else:
        measure_all(args)


if __name__ == "__main__":
    main()
