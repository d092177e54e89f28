"""Train the base StyleGAN2-ADA generator that the project ships (the analogue of NVIDIA's LSUN-car checkpoint).

A broad synthetic set (more cars than the default training set, every style, seeds disjoint from the default
training and held-out cars) is rendered once into ``<out>/dataset``; the networks train from scratch in ``<out>``
with the project's own loop (``inverse_graphics.gan``). The run is resumable: rerun the same command after an
interruption, or with a larger ``--kimg`` to train further. ``--export`` writes the shipped checkpoint.

    python scripts/train_base_gan.py --out runs/base-gan --kimg 200
    python scripts/train_base_gan.py --out runs/base-gan --export assets/gan/base-64.pt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverse_graphics.gan.checkpoint import load_snapshot, save_snapshot  # noqa: E402
from inverse_graphics.gan.dataset import load_training_images  # noqa: E402
from inverse_graphics.gan.session import run_training  # noqa: E402
from inverse_graphics.gan.train import NetworkConfig, TrainSettings  # noqa: E402
from stages.synth import write_training_set  # noqa: E402

BROAD_SET = dict(seed=100000, num_cars=1000, images_per_car=8, resolution=64,
                 camera=dict(dist=2.7, fov=60.0, elev_min=0.0, elev_max=30.0))
CONFIG = NetworkConfig(resolution=64, z_dim=128, w_dim=128, mapping_layers=2, channel_base=2048, channel_max=128,
                       d_channel_base=1024,
                       label_dim=3, pose_input="synthesis", pair_discriminator=True, mbstd_group=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="run folder (dataset, snapshot, curves, grids)")
    parser.add_argument("--kimg", type=float, default=200.0, help="train until this many thousand images")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--export", type=Path, help="write the shipped checkpoint from the run's snapshot and stop")
    args = parser.parse_args()
    snapshot = args.out / "snapshot.pt"
    if args.export:
        state = load_snapshot(snapshot)
        state.opt_G = state.opt_D = None  # the shipped file carries weights, not optimiser moments
        state.G = None  # nor the raw generator: a fine-tune starts G from G_ema (<= 20 MB in git)
        save_snapshot(args.export, state)
        print(f"wrote {args.export} ({args.export.stat().st_size / 1e6:.1f} MB) at {state.total_nimg / 1000:.0f} kimg")
        return
    torch.set_num_threads(args.threads)
    dataset = args.out / "dataset" / "cars-64.zip"
    if not dataset.is_file():
        t0 = time.perf_counter()
        dataset.parent.mkdir(parents=True, exist_ok=True)
        stats = write_training_set(BROAD_SET, dataset)
        print(f"rendered the broad set: {BROAD_SET['num_cars']} cars x {BROAD_SET['images_per_car']} views "
              f"in {time.perf_counter() - t0:.0f} s; styles {stats['styles']}")
    data = load_training_images(dataset)
    settings = TrainSettings(kimg=args.kimg, batch=32, snapshot_kimg=5.0, tick_kimg=1.0, ada_kimg=500.0, seed=0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    (args.out / "recipe.json").write_text(json.dumps({"broad_set": BROAD_SET, "config": asdict(CONFIG),
                                                       "settings": asdict(settings)}, indent=2) + "\n")
    run_training(data, CONFIG, settings, args.out, device, progress=tqdm)


if __name__ == "__main__":
    main()
