"""GAN speed for the default network (params.yaml gan.network): generator images/s (inference, const noise) and
training images/s (G + D steps with lazy R1, pair discriminator, ADA), the fused and the split modulated
convolution side by side in one run, one JSON line. ``--device cuda`` measures a GPU the same way.

    python benchmarks/gan_speed.py [--quick] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverse_graphics.gan.dataset import TrainingImages  # noqa: E402
from inverse_graphics.gan.train import NetworkConfig, TrainSettings, build_networks, train  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    section = load_params(["gan"])["gan"]
    config = NetworkConfig(label_dim=3, **section["network"])
    state = build_networks(config, seed=0)
    G = state.G.to(device).eval()
    batch, repeats = 16, 2 if args.quick else 5
    z = torch.randn(batch, config.z_dim, device=device)
    pose = torch.rand(batch, 3, device=device)
    out = {"benchmark": "gan_speed", "device": device.type, "threads": args.threads, "resolution": config.resolution,
           "G_params": sum(p.numel() for p in G.parameters()), "D_params": sum(p.numel() for p in state.D.parameters())}
    with torch.no_grad():
        for fused in (True, False):
            s = timed(lambda: G(z, None, pose, noise_mode="const", fused_modconv=fused), repeats)
            out[f"generator_images_per_s_{'fused' if fused else 'split'}"] = round(batch / s, 1)
    G.train()
    for fused in (True, False):  # one training-style generator pass: forward + backward
        def step():
            G.zero_grad(set_to_none=True)
            G(z, None, pose, fused_modconv=fused).square().mean().backward()
        out[f"generator_fwd_bwd_images_per_s_{'fused' if fused else 'split'}"] = round(batch / timed(step, repeats), 1)
    # full training iterations (the loop's default: split convolutions in training)
    n = 256
    data = TrainingImages(torch.randint(0, 256, (n, 3, config.resolution, config.resolution), dtype=torch.uint8),
                          torch.rand(n, 3), torch.arange(n) // 8)
    kimg = 0.064 if args.quick else 0.256
    state = build_networks(config, seed=0)
    settings = TrainSettings(kimg=kimg, batch=section["batch"], augment="fixed", augment_p=0.2, tick_kimg=10,
                             snapshot_kimg=10)
    start = time.perf_counter()
    train(state, data, settings, device)
    seconds = time.perf_counter() - start
    out["train_images_per_s"] = round(kimg * 1000 / seconds, 2)
    out["train_seconds_per_kimg"] = round(seconds / kimg, 1)
    out["fused_over_split_inference"] = round(out["generator_images_per_s_fused"] / out["generator_images_per_s_split"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
