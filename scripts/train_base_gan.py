"""Train the base StyleGAN2-ADA generator that the project ships (the analogue of NVIDIA's LSUN-car checkpoint).

A broad synthetic set (more cars than the default training set, every style, seeds disjoint from the default
training and held-out cars) is rendered once into ``<out>/dataset``; the networks train from scratch in ``<out>``
with the project's own loop (``inverse_graphics.gan``). The run is resumable: rerun the same command after an
interruption, or with a larger ``--kimg`` to train further. ``--export`` writes the shipped checkpoint.

    python scripts/train_base_gan.py --out runs/base-gan --kimg 200
    python scripts/train_base_gan.py --out runs/base-gan --kimg 5000 --batch 64 --snapshot-kimg 20 --minutes 7.5
    python scripts/train_base_gan.py --out runs/base-gan --export assets/gan/base-64.pt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverse_graphics.gan.checkpoint import load_snapshot, read_snapshot, save_snapshot  # noqa: E402
from inverse_graphics.gan.dataset import load_training_images  # noqa: E402
from inverse_graphics.gan.session import run_training  # noqa: E402
from inverse_graphics.gan.train import NetworkConfig, TrainSettings  # noqa: E402
from inverse_graphics.segment.weights import CHECKPOINT_NAME, checkpoint_file, differentiable_segmenter  # noqa: E402

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
    parser.add_argument("--batch", type=int, default=32, help="minibatch (64 suits a GPU)")
    parser.add_argument("--snapshot-kimg", type=float, default=5.0, help="snapshot + sample grid every N kimg")
    parser.add_argument("--minutes", type=float, help="wall-clock budget: stop at the last snapshot that fits")
    parser.add_argument("--export", type=Path, help="write the shipped checkpoint from the run's snapshot and stop")
    parser.add_argument("--resume", type=Path, help="a new run folder starts from this checkpoint (e.g. the shipped "
                        "file: its weights; Adam restarts, since it keeps no optimiser moments, and augment p "
                        "restarts from 0 as in the official loop)")
    parser.add_argument("--pair-weight", type=float, default=1.0,
                        help="weight of the pair discriminator's loss (one car across two views)")
    parser.add_argument("--consistency-weight", type=float, default=0.0,
                        help="weight of the soft-visual-hull term (gan.consistency_weight; 0: off)")
    parser.add_argument("--mask-teacher", type=Path,
                        help="segmenter folder whose masks the consistency term reads (stage train_mask_teacher; "
                             "never the segmenter that measures)")
    args = parser.parse_args()
    if args.consistency_weight > 0 and (args.mask_teacher is None or not checkpoint_file(args.mask_teacher).is_file()):
        parser.error(f"--consistency-weight {args.consistency_weight} needs --mask-teacher: a segmenter folder "
                     f"holding {CHECKPOINT_NAME} (got {args.mask_teacher})")
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
        from stages.synth import write_training_set  # renders with the project's rasterizer (needs the kernel)

        t0 = time.perf_counter()
        dataset.parent.mkdir(parents=True, exist_ok=True)
        stats = write_training_set(BROAD_SET, dataset)
        print(f"rendered the broad set: {BROAD_SET['num_cars']} cars x {BROAD_SET['images_per_car']} views "
              f"in {time.perf_counter() - t0:.0f} s; styles {stats['styles']}")
    data = load_training_images(dataset)
    settings = TrainSettings(kimg=args.kimg, batch=args.batch, snapshot_kimg=args.snapshot_kimg, tick_kimg=1.0,
                             ada_kimg=500.0, seed=0, pair_weight=args.pair_weight,
                             consistency_weight=args.consistency_weight)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    (args.out / "recipe.json").write_text(json.dumps({"broad_set": BROAD_SET, "config": asdict(CONFIG),
                                                       "settings": asdict(settings), "device": str(device)},
                                                      indent=2) + "\n")
    mask_reader = differentiable_segmenter(args.mask_teacher, device) if args.consistency_weight > 0 else None
    if args.minutes is None:
        run_training(data, CONFIG, settings, args.out, device, resume=args.resume, progress=tqdm,
                     mask_reader=mask_reader)
        return
    train_within_budget(data, CONFIG, settings, args.out, device, args.minutes, "base", resume=args.resume,
                        mask_reader=mask_reader)


def train_within_budget(data, config, settings, run_dir: Path, device, minutes: float, name: str,
                        resume: Path | None = None, mask_reader=None) -> None:
    """Train ``run_dir`` toward ``settings.kimg`` one ``settings.snapshot_kimg`` interval at a time, stopping at the
    last snapshot that fits in ``minutes`` of wall clock.

    Each call resumes from the snapshot the last one wrote, which continues exactly as one uninterrupted run would
    (the loop re-derives its random streams at every snapshot).
    """
    deadline, chunk_seconds = time.perf_counter() + minutes * 60, 0.0
    snapshot = run_dir / "snapshot.pt"
    nimg = int(read_snapshot(snapshot)["nimg"]) if snapshot.is_file() else 0
    while nimg < settings.kimg * 1000 and time.perf_counter() + chunk_seconds < deadline:
        t0 = time.perf_counter()
        target = min(settings.kimg, (nimg // int(settings.snapshot_kimg * 1000) + 1) * settings.snapshot_kimg)
        state = run_training(data, config, replace(settings, kimg=target), run_dir, device, resume=resume,
                             mask_reader=mask_reader)
        nimg, chunk_seconds = state.nimg, time.perf_counter() - t0
        print(f"{name}: {nimg / 1000:.1f} kimg, {chunk_seconds / settings.snapshot_kimg:.2f} s/kimg", flush=True)

if __name__ == "__main__":
    main()
