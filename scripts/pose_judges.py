"""Camera error of generators as read by several camera readers: one JSON line.

``train_gan``'s ``pose_error_deg`` is the median angle between the camera a generator was asked for and the one
the car critic reads from its image. A fine-tune taught by a camera reader (``gan.camera_weight``) could learn what
that one network reads without drawing the camera, so read the same images with readers it never saw (the critic,
or critics trained with other seeds: ``python -m stages.train_critic`` with another ``critic.seed``) and compare.
Each reading: ``--samples`` cameras drawn from the training labels (as ``train_gan`` does), latents from ``--seeds``.

    python scripts/pose_judges.py assets/gan/base-64.pt models/gan/generator.pt \
        --readers models/critic/critic.pt,models/camera_teacher/critic.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.errors import UserError  # noqa: E402
from inverse_graphics.gan.checkpoint import load_generator  # noqa: E402
from inverse_graphics.gan.critic import load_critic  # noqa: E402
from inverse_graphics.gan.dataset import find_dataset_zip, load_training_images  # noqa: E402
from inverse_graphics.gan.metrics import pose_error  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generators", nargs="+", type=Path)
    parser.add_argument("--readers", default="models/critic/critic.pt,models/camera_teacher/critic.pt",
                        help="comma-separated critic checkpoints")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "dataset", help="folder with the training zip")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    readers = [Path(r) for r in args.readers.split(",") if r]
    for path in [*args.generators, *readers]:
        if not path.is_file():
            raise SystemExit(f"error: {path}: file not found")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    try:
        data = load_training_images(find_dataset_zip(args.data))
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
    poses = data.labels[torch.randint(len(data), (args.samples,), generator=torch.Generator().manual_seed(1))]
    critics = {str(r): load_critic(r, "cpu").eval() for r in readers}
    line: dict = {"benchmark": "pose_judges", "samples": args.samples, "seeds": seeds}
    for path in args.generators:
        G = load_generator(path)
        line[str(path)] = {name: [round(float(pose_error(G, critic, poses, seed=s).median()), 2) for s in seeds]
                           for name, critic in critics.items()}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
