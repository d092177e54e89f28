"""Stage ``train_segmenter``: the car segmenter that ``segment`` (and ``train_gan``) use (params ``segment``,
``train_segmenter``, ``synth.resolution``, ``synth.images_per_car``).

``segment.weights``:

- ``synthetic``: train DeepLabV3 on ``synth``'s training renders and masks pasted over procedural
  backgrounds (``train_segmenter.backgrounds``, plus crops of ``photo_folders``), starting from the COCO
  weights when ``init`` allows and the file is in the local torch hub cache, else from scratch;
- ``coco``: torchvision's COCO weights (car = VOC class 7 against background), no training;
- a checkpoint path: that checkpoint, copied.

The last ``val_cars`` training cars are kept out of training for the validation curve.

    python -m stages.train_segmenter --dataset data/dataset --out models/segmenter \\
        --metrics metrics/train_segmenter.json --plots metrics/train_segmenter --info metrics/train_segmenter_info.json

Outputs: ``<out>/segmenter.pt``; ``<metrics>`` (seconds, validation IoU); ``<plots>``: ``loss.csv``,
``val_iou.csv``, ``curves.png`` (both curves), ``val_samples.png`` (validation composites with the
ground-truth outline); ``<info>``: the set-up (init, background families, counts, threads, device).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from inverse_graphics.data.dataset_zip import read_images_and_masks
from inverse_graphics.data.view_images import IMAGE_SUFFIXES, read_image
from inverse_graphics.device import pick_device, seed_everything
from inverse_graphics.errors import UserError
from inverse_graphics.io_utils import atomic_dir, write_json
from inverse_graphics.params import load_params
from inverse_graphics.plots import line_chart
from inverse_graphics.reporting import write_curve
from inverse_graphics.segment.backgrounds import photo_crops_source
from inverse_graphics.segment.model import NetConfig, SegmenterNet
from inverse_graphics.segment.overlay import overlay_sheet
from inverse_graphics.segment.train import TrainSettings, evaluate_iou, make_validation, to_tensors, train
from inverse_graphics.segment.weights import (CHECKPOINT_NAME, coco_available, coco_net, coco_path, load_checkpoint,
                                              save_checkpoint)
from inverse_graphics.viz import save_png, stack_vertically
from stages._runner import run_stage

PHOTO_SIZE = 256  # user photos are kept as centre squares of this size to crop backgrounds from


PATHS = {
    "dataset": "synth's data/dataset folder",
    "out": "model folder to write segmenter.pt into",
    "metrics": "metrics JSON to write",
    "plots": "folder for curves and pictures",
    "info": "JSON echo of the set-up (init, families, counts)",
}


def load_photos(folders: list[str]) -> torch.Tensor | None:
    """Centre squares ``(M, 3, PHOTO_SIZE, PHOTO_SIZE)`` of every image under ``folders`` (None if no folders)."""
    if not folders:
        return None
    arrays = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise UserError(f"{folder}: photo folder not found (train_segmenter.photo_folders)")
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found (train_segmenter.photo_folders)")
        arrays += [read_image(p) for p in files]
    return photo_crops_source(arrays, PHOTO_SIZE)


def main(args: argparse.Namespace) -> None:
    train_and_save(load_params(["synth", "segment", "train_segmenter"]), args)


def train_and_save(params: dict, args: argparse.Namespace, name: str = "train_segmenter") -> None:
    """Train (or load) the segmenter that ``params`` (sections synth, segment, train_segmenter) describe and write
    ``args``' outputs; ``name`` starts the summary line."""
    seg, cfg, synth = params["segment"], params["train_segmenter"], params["synth"]
    torch.set_num_threads(cfg["threads"])
    seed_everything(cfg["seed"])
    device = pick_device(seg["device"])
    config = NetConfig(seg["arch"], seg["input_size"], seg["refine"])
    res = synth["resolution"]
    images, masks = to_tensors(*read_images_and_masks(args.dataset / f"cars-{res}.zip",
                                                      args.dataset / f"masks-{res}.zip"))
    val_count = cfg["val_cars"] * synth["images_per_car"]
    if val_count >= len(images):
        raise UserError(f"params.yaml: train_segmenter.val_cars: {cfg['val_cars']} cars leave no training images "
                        f"({len(images)} in {args.dataset})")
    train_images, train_masks = images[:-val_count], masks[:-val_count]
    photos = load_photos(cfg["photo_folders"])
    families = tuple(cfg["backgrounds"]) + (("photos",) if photos is not None else ())
    validation = make_validation(images[-val_count:], masks[-val_count:], families, cfg["seed"] + 1,
                                 train_images, photos)

    info = {"weights": seg["weights"], "families": list(families), "train_images": len(train_images),
            "val_images": val_count, "threads": cfg["threads"], "device": str(device), "config": config.to_dict()}
    history, val_rows, seconds, cpu_seconds = [], [], 0.0, 0.0
    if seg["weights"] == "synthetic":
        use_coco = cfg["init"] == "coco" or (cfg["init"] == "auto" and coco_available(config.arch))
        net = coco_net(config) if use_coco else SegmenterNet(config)
        info["init"] = f"coco ({coco_path(config.arch)})" if use_coco else "scratch"
        settings = TrainSettings(steps=cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                                 weight_decay=cfg["weight_decay"], seed=cfg["seed"], families=families,
                                 val_every=cfg["val_every"], aux_weight=cfg["aux_weight"])
        result = train(net, train_images, train_masks, settings, validation, photos, device)
        history, val_rows = result.history, result.validation
        seconds, cpu_seconds = result.seconds, result.cpu_seconds
        info |= {"steps": settings.steps, "batch_size": settings.batch_size}
    else:
        if seg["weights"] == "coco":
            net, info["init"], info["families"] = coco_net(config), "coco", []
        else:
            net, previous = load_checkpoint(seg["weights"])
            info |= {"init": f"checkpoint {seg['weights']}", "families": previous.get("families", []),
                     "config": net.config.to_dict()}
        ious = evaluate_iou(net, *validation, device)
        val_rows = [{"step": 0, "val_iou_mean": float(np.mean(ious)), "val_iou_min": float(np.min(ious))}]
    final = val_rows[-1]
    with atomic_dir(args.out) as tmp:
        save_checkpoint(tmp / CHECKPOINT_NAME, net, info)
    with atomic_dir(args.plots) as tmp:
        write_curve(tmp / "loss.csv", history)
        write_curve(tmp / "val_iou.csv", val_rows)
        charts = [line_chart({"loss": ([h["step"] for h in history], [h["loss"] for h in history])},
                             "training loss (BCE + soft IoU)", "step", log_y=True),
                  line_chart({"val IoU mean": ([v["step"] for v in val_rows], [v["val_iou_mean"] for v in val_rows]),
                              "val IoU min": ([v["step"] for v in val_rows], [v["val_iou_min"] for v in val_rows])},
                             "validation mask IoU (held-out training cars)", "step")]
        save_png(stack_vertically(charts), tmp / "curves.png")
        pictures, targets = validation
        shown = slice(0, 20)
        sample_images = [(p.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8) for p in pictures[shown]]
        save_png(overlay_sheet(sample_images, [t.numpy() for t in targets[shown]], ncols=10), tmp / "val_samples.png")
    write_json(args.info, info)
    write_json(args.metrics, {"train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu_seconds, 1),
                              "val_iou_mean": round(final["val_iou_mean"], 4),
                              "val_iou_min": round(final["val_iou_min"], 4)})
    print(f"{name}: {info['init']}, {seconds:.0f} s ({cpu_seconds:.0f} s of CPU), validation IoU mean "
          f"{final['val_iou_mean']:.4f} min {final['val_iou_min']:.4f}")


if __name__ == "__main__":
    run_stage("train_segmenter", main, PATHS)
