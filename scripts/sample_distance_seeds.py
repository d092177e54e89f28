"""How much of a change in ``train_gan``'s sample-quality figure is sampling noise: one JSON line.

``train_gan`` scores a generator by the Frechet and kernel distances between 1000 training images and 1000
generated ones in the car critic's features (``frechet_distance_carnet``, ``kernel_distance_carnet``; seed 0).
This draws both image sets again with other seeds, for each generator given (own snapshot or generator file,
the shipped base, or an official pickle), so a before/after difference can be read against the spread.

    python scripts/sample_distance_seeds.py assets/gan/base-64.pt models/gan/generator.pt --seeds 0,1,2,3
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
from inverse_graphics.gan.metrics import feature_distances  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generators", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "dataset", help="folder with the training zip")
    parser.add_argument("--critic", type=Path, default=ROOT / "models" / "critic" / "critic.pt")
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for path in [*args.generators, args.critic]:
        if not path.is_file():
            raise SystemExit(f"error: {path}: file not found")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    images = load_params(["gan"], ROOT / "params.yaml")["gan"]["eval"]["feature_images"]
    try:
        data = load_training_images(find_dataset_zip(args.data))
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
    critic = load_critic(args.critic, "cpu")
    line: dict = {"benchmark": "sample_distance_seeds", "images": images, "seeds": seeds}
    for path in args.generators:
        G = load_generator(path)
        rows = []
        for seed in seeds:
            torch.manual_seed(seed)  # the generator's random noise buffers
            rows.append(feature_distances(G, critic, "carnet", data, images, seed=seed))
        line[str(path)] = {key: [round(row[key], 2) for row in rows] for key in rows[0]}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
