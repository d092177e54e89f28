"""How well could the generator draw each held-out car, if it were told every view? The ceiling of ``multiview``.

``multiview`` picks one latent from ONE picture of a car and draws the rig's views from it; its
``view_mask_iou_mean`` (the views' segmenter masks against the car's ground-truth masks) mixes two limits: what
the generator can draw at all, and how much one picture says about the unseen sides. This script separates them:
starting from the latent the stage drew its views from (``latent.npz``'s ``view_ws``), it optimises one ``w``
(shared by every layer; ``--space w+``: one per layer) against ALL the ground-truth rig masks of the car, the
frozen segmenter's soft masks scored by soft IoU (Adam, ``--steps``, ``--lr``). The result is an oracle (it reads
the answer) and never a figure of the chain: the gap between the two columns is what a better single-view
inference could still win with this generator, and the oracle column is what a better generator would raise.

    python scripts/view_ceiling.py --input data/heldout --latents data/multiview \\
        --generator models/gan/generator.pt --segmenter models/segmenter [--steps 100] [--space w]

Prints a markdown table (one row per car) and one JSON line: ``view_mask_iou_mean`` of the stage's views and of the
oracle latent, per car and averaged, read by the stage's segmenter and, as a check that the oracle did not merely
learn that network's quirks, by background subtraction (``multiview/background.py``, no network).
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

from inverse_graphics.data.object_views import load_object_masks  # noqa: E402
from inverse_graphics.errors import UserError  # noqa: E402
from inverse_graphics.gan.checkpoint import load_generator  # noqa: E402
from inverse_graphics.gan.metrics import rig_poses  # noqa: E402
from inverse_graphics.multiview.background import background_masks  # noqa: E402
from inverse_graphics.multiview.projector import with_noise  # noqa: E402
from inverse_graphics.multiview.scores import mask_iou  # noqa: E402
from inverse_graphics.multiview.views import camera_views  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from inverse_graphics.render.cameras import load_rig  # noqa: E402
from inverse_graphics.segment.train import soft_iou_loss  # noqa: E402
from inverse_graphics.segment.weights import generator_image_segmenter, load_checkpoint  # noqa: E402


def oracle_latent(G, segment_logits, start: torch.Tensor, rig, targets: torch.Tensor, steps: int, lr: float,
                  space: str) -> torch.Tensor:
    """``start: (1, num_ws, w_dim)`` moved by Adam to maximise the mean soft IoU of the masks that
    ``segment_logits`` (images -> car logits ``(V, S, S)``) reads in the views at ``rig`` with ``targets: (V, S, S)``;
    returns ``(1, num_ws, w_dim)``."""
    shape = (1, 1, G.w_dim) if space == "w" else (1, G.num_ws, G.w_dim)
    delta = torch.zeros(shape, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    poses = rig_poses(rig)
    for _ in range(steps):
        ws = (start + delta).expand(len(poses), -1, -1)
        images = G.synthesize(ws, poses, noise_mode="const").clamp(-1, 1)
        loss = soft_iou_loss(segment_logits(images), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (start + delta).detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, required=True, help="held-out object folders with rig/ (synth's data/heldout)")
    parser.add_argument("--latents", type=Path, required=True, help="multiview's output folder (<car>/latent.npz)")
    parser.add_argument("--generator", type=Path, default=ROOT / "models/gan/generator.pt")
    parser.add_argument("--segmenter", type=Path, default=ROOT / "models/segmenter")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--space", choices=("w", "w+"), default="w")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    G = load_generator(args.generator, "cpu").eval().requires_grad_(False)
    if G.pose_dim <= 0:
        raise UserError(f"{args.generator}: the ceiling needs a generator with a camera input")
    net, _ = load_checkpoint(args.segmenter)
    net = net.eval().requires_grad_(False)
    read_size = load_params(["segment"], ROOT / "params.yaml")["segment"]["read_size"]
    stage_segmenter = generator_image_segmenter(args.segmenter, read_size=read_size)  # the stage's reading

    def segment_logits(images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, S, S)`` in [-1, 1] -> car logits ``(N, S, S)``, differentiable (the stage's segmenter)."""
        return net((images + 1) / 2, read_size=read_size)

    cars = sorted(p.parent.name for p in args.latents.glob("*/latent.npz"))
    if not cars:
        raise UserError(f"{args.latents}: no <car>/latent.npz (run the multiview stage first)")
    rows = {}
    for car in cars:
        rig_dir = args.input / car / "rig"
        if not (rig_dir / "cameras.json").is_file():
            raise UserError(f"{rig_dir}: no ground-truth rig views for {car} (cameras.json)")
        masks, _ = load_object_masks(rig_dir, G.img_resolution)
        rig = load_rig(rig_dir / "cameras.json")
        targets = (masks >= 0.5).float()
        with np.load(args.latents / car / "latent.npz") as latent:
            start = torch.from_numpy(latent["view_ws"]).float().reshape(1, G.num_ws, G.w_dim)
            noise = {k[len("noise."):]: torch.from_numpy(latent[k]) for k in latent.files if k.startswith("noise.")}
        Gv = with_noise(G, noise)  # the projection's constant noise, as the stage draws the views
        t0 = time.perf_counter()
        found = oracle_latent(Gv, segment_logits, start, rig, targets, args.steps, args.lr, args.space)
        row = {}
        for name, ws in (("stage", start), ("oracle", found)):
            views = camera_views(Gv, ws, rig)
            row[name] = round(mask_iou(stage_segmenter(views) >= 0.5, targets >= 0.5).mean().item(), 4)
            row[f"{name}_background"] = round(mask_iou(background_masks(views), targets >= 0.5).mean().item(), 4)
        rows[car] = row | {"seconds": round(time.perf_counter() - t0, 1)}
        print(f"{car}: stage {row['stage']:.4f}, oracle {row['oracle']:.4f}", flush=True)
    print("\n| car | views of the stage | oracle latent (told every view) | the same read by background subtraction |"
          "\n|---|---|---|---|")
    for car, row in rows.items():
        print(f"| {car} | {row['stage']:.3f} | {row['oracle']:.3f} | {row['stage_background']:.3f} -> "
              f"{row['oracle_background']:.3f} |")
    mean = {k: round(float(np.mean([r[k] for r in rows.values()])), 4)
            for k in ("stage", "oracle", "stage_background", "oracle_background")}
    print(f"| mean | {mean['stage']:.3f} | {mean['oracle']:.3f} | {mean['stage_background']:.3f} -> "
          f"{mean['oracle_background']:.3f} |\n")
    print(json.dumps({"benchmark": "view_ceiling", "cars": len(rows), "steps": args.steps, "space": args.space,
                      "view_mask_iou_mean": mean, "per_car": rows}))


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
