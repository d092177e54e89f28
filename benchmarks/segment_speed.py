"""Speed of the segmenter on the CPU: both DeepLabV3 backbones side by side, in one run.

Prints one JSON line: inference images per second of ``mobilenet_v3_large`` and ``resnet50`` (the
``segment`` settings of params.yaml: input size, refinement, the size the stage reads pictures of ``--resolution``
px at (``segment.read_size`` for pictures larger than the input size; then once more at the input size), batches of
``--batch``, post-processing excluded), the seconds per training step of each (forward + backward +
AdamW on a batch of ``train_segmenter.batch_size`` composites) and the default training time this
implies (``train_segmenter.steps`` steps), next to the time the ``train_segmenter`` stage itself
measured (``metrics/train_segmenter.json``, when present). Random weights: speed does not depend on them.

    python benchmarks/segment_speed.py [--quick] [--threads 1] [--resolution 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.params import load_params  # noqa: E402
from inverse_graphics.segment.model import NetConfig, Segmenter, SegmenterNet, read_side  # noqa: E402
from inverse_graphics.segment.train import soft_iou_loss  # noqa: E402

ARCHS = ("mobilenet_v3_large", "resnet50")


def inference_rate(config: NetConfig, resolution: int, images: int, batch: int, read_size: int | None = None) -> float:
    """Images per second of ``Segmenter`` on random pictures (after one warm-up batch)."""
    seg = Segmenter(SegmenterNet(config), "cpu", batch_size=batch, read_size=read_size)
    pictures = torch.rand(images, 3, resolution, resolution)
    seg(pictures[:batch])
    start = time.perf_counter()
    seg(pictures)
    return images / (time.perf_counter() - start)


def train_step_seconds(config: NetConfig, resolution: int, batch: int, steps: int) -> float:
    """Seconds per training step (forward, backward, AdamW) after one warm-up step."""
    net = SegmenterNet(config).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    pictures = torch.rand(batch, 3, resolution, resolution)
    targets = (torch.rand(batch, resolution, resolution) > 0.5).float()

    def step():
        logits = net(pictures)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets) + soft_iou_loss(logits, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and steps (< 1 minute)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=None, help="picture size (default: synth.resolution)")
    parser.add_argument("--batch", type=int, default=32, help="inference batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.chdir(ROOT)
    params = load_params(["synth", "segment", "train_segmenter"])
    seg, tr = params["segment"], params["train_segmenter"]
    resolution = args.resolution or params["synth"]["resolution"]
    images, steps = (32, 2) if args.quick else (128, 5)

    out: dict = {"benchmark": "segment_speed", "device": "cpu", "threads": args.threads, "resolution": resolution,
                 "input_size": seg["input_size"], "read_size": seg["read_size"], "refine": seg["refine"],
                 "read_side": read_side(resolution, seg["input_size"], seg["read_size"]), "train_batch": tr["batch_size"]}
    for arch in ARCHS:
        config = NetConfig(arch, seg["input_size"], seg["refine"])
        out[f"{arch}_images_per_second"] = round(inference_rate(config, resolution, images, args.batch,
                                                                seg["read_size"]), 1)
        if out["read_side"] != seg["input_size"]:
            out[f"{arch}_images_per_second_at_input_size"] = round(
                inference_rate(config, resolution, images, args.batch), 1)
        out[f"{arch}_train_s_per_step"] = round(train_step_seconds(config, resolution, tr["batch_size"], steps), 3)
    m, r = ARCHS
    out["inference_speedup"] = round(out[f"{m}_images_per_second"] / out[f"{r}_images_per_second"], 2)
    out["train_step_speedup"] = round(out[f"{r}_train_s_per_step"] / out[f"{m}_train_s_per_step"], 2)
    default = seg["arch"]
    out["default_arch"] = default
    out["default_steps"] = tr["steps"]
    out["default_train_seconds_extrapolated"] = round(tr["steps"] * out[f"{default}_train_s_per_step"], 1)
    measured = ROOT / "metrics" / "train_segmenter.json"
    if measured.is_file():
        out["default_train_seconds_measured_by_stage"] = json.loads(measured.read_text()).get("train_seconds")
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
