"""Seconds to project one image (``multiview``'s search) at the default resolution on the CPU, one JSON line.

The generator is the default network of params.yaml (``gan.network``; random weights unless ``--generator`` names a
checkpoint: the cost does not depend on the weights), the search is ``multiview``'s (its steps, space and distance
terms). In one run it times ``--timed-steps`` search steps of each variant side by side: the default distance with
the split and with the fused modulated convolution, and each distance term alone, then gives
``seconds_per_image`` = the mapped-latent statistics (once per image here, though the stage shares them) + ``steps``
x the default's seconds per step + the views of the rig (+ the matched mean, ``multiview.view_center: matched``: its
``matched.samples`` generator cars drawn and cut out by ``--segmenter``, background subtraction when that folder is
absent). ``--full`` times a whole projection instead of
extrapolating. Target: <= 120 s per image. Wall-clock figures depend on what else the cores run; the process-CPU
figures (``cpu_``, one thread) are what the same work costs on a core of its own.

    python benchmarks/projection_speed.py [--timed-steps 30] [--threads 1] [--full] [--generator PATH] \
        [--segmenter models/segmenter]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverse_graphics.gan.checkpoint import load_generator  # noqa: E402
from inverse_graphics.gan.critic import CarCritic  # noqa: E402
from inverse_graphics.gan.networks import Discriminator  # noqa: E402
from inverse_graphics.gan.session import pose_labels  # noqa: E402
from inverse_graphics.gan.train import NetworkConfig, build_networks  # noqa: E402
from inverse_graphics.multiview.distance import build_distance  # noqa: E402
from inverse_graphics.multiview.projector import Search, project, w_statistics  # noqa: E402
from inverse_graphics.multiview.background import background_masks  # noqa: E402
from inverse_graphics.multiview.views import matched_mean, render_views  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from inverse_graphics.render.cameras import ring_rig  # noqa: E402
from stages.multiview import load_segment_fn, project_settings  # noqa: E402

TARGET_SECONDS = 120.0


def seconds_per_step(G, target, distance, settings, w_stats, steps: int) -> tuple[float, float]:
    """Wall and process-CPU seconds per search step (after 3 warm-up steps) of ``settings`` with ``distance``."""
    search = Search(G, target, distance, distance.prepare(target), settings, *w_stats,
                     pose_labels([30.0], [15.0]), torch.Generator().manual_seed(0))
    for step in range(3):
        search.step(step, settings.steps)
    start, cpu = time.perf_counter(), time.process_time()
    for step in range(3, 3 + steps):
        search.step(step, settings.steps)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timed-steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--full", action="store_true", help="time one whole projection (multiview.steps)")
    parser.add_argument("--generator", default=None, help="a checkpoint instead of the default random network")
    parser.add_argument("--segmenter", default="models/segmenter", help="train_segmenter's folder (the matched mean's masks)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(["gan", "multiview", "segment"])
    section = params["multiview"]
    config = NetworkConfig(label_dim=3, **params["gan"]["network"])
    G = load_generator(args.generator) if args.generator else build_networks(config, seed=0).G_ema.eval()
    res = G.img_resolution
    settings = project_settings(section)
    critic = CarCritic(res).eval()
    D = Discriminator(**config.discriminator_kwargs()).eval()
    weights = section["distance"]
    target = torch.rand(1, 3, res, res, generator=torch.Generator().manual_seed(0)) * 2 - 1

    start, cpu_start = time.perf_counter(), time.process_time()
    w_stats = w_statistics(G, settings.w_avg_samples, settings.seed)
    stats_s, stats_cpu = time.perf_counter() - start, time.process_time() - cpu_start

    default = build_distance(weights, weights["pixel_scales"], critic=critic, discriminator=D,
                             lpips_files=(weights["lpips_vgg16"], weights["lpips_linear"]))
    timings, cpu = {}, {}
    for fused in (False, True):
        variant = dataclasses.replace(settings, fused_modconv=fused)
        key = f"default_{'fused' if fused else 'split'}_modconv"
        timings[key], cpu[key] = seconds_per_step(G, target, default, variant, w_stats, args.timed_steps)
    for term in ("pixel", "critic", "discriminator"):
        alone = build_distance({term: 1.0}, weights["pixel_scales"], critic=critic, discriminator=D)
        key = f"{term}_only"
        timings[key], cpu[key] = seconds_per_step(G, target, alone, settings, w_stats, args.timed_steps)

    rig = ring_rig(section["rig"]["views"], tuple(section["rig"]["elevations"]), image_size=res)
    ws = w_stats[0][None, None].expand(1, G.num_ws, -1)
    start, cpu_start = time.perf_counter(), time.process_time()
    render_views(G, ws, rig)
    views_s, views_cpu = time.perf_counter() - start, time.process_time() - cpu_start

    matched_s, matched_cpu, matched_masks = 0.0, 0.0, None
    if section["view_center"] == "matched":
        segment = load_segment_fn(Path(args.segmenter), torch.device("cpu"), read_size=params["segment"]["read_size"])
        cut = (lambda images: segment(images) >= 0.5) if segment is not None else background_masks
        matched_masks = args.segmenter if segment is not None else "background subtraction"
        start, cpu_start = time.perf_counter(), time.process_time()
        matched_mean(G, cut(target)[0], pose_labels([30.0], [15.0]), cut, section["matched"]["samples"],
                     section["matched"]["top"], seed=section["seed"])
        matched_s, matched_cpu = time.perf_counter() - start, time.process_time() - cpu_start

    chosen = f"default_{'fused' if settings.fused_modconv else 'split'}_modconv"
    out = {"benchmark": "projection_speed", "device": "cpu", "threads": args.threads, "resolution": res,
           "generator": args.generator or "default network, random weights", "steps": settings.steps,
           "space": settings.space, "distance_terms": [t.name for t in default.terms],
           "timed_steps": args.timed_steps,
           "ms_per_step": {k: round(v * 1000, 1) for k, v in timings.items()},
           "cpu_ms_per_step": {k: round(v * 1000, 1) for k, v in cpu.items()},
           "split_vs_fused_speedup": round(timings["default_fused_modconv"] / timings["default_split_modconv"], 2),
           "split_vs_fused_cpu_speedup": round(cpu["default_fused_modconv"] / cpu["default_split_modconv"], 2),
           "w_statistics_s": round(stats_s, 2), "views_s": round(views_s, 2),
           "view_center": section["view_center"], "matched_mean_s": round(matched_s, 2),
           "matched_masks": matched_masks}
    if args.full:
        start = time.perf_counter()
        project(G, target, default, settings, pose_init=pose_labels([30.0], [15.0]), w_stats=w_stats)
        out["seconds_per_image"] = round(stats_s + time.perf_counter() - start + views_s + matched_s, 1)
        out["seconds_per_image_is"] = "measured"
    else:
        out["seconds_per_image"] = round(stats_s + settings.steps * timings[chosen] + views_s + matched_s, 1)
        out["seconds_per_image_is"] = f"extrapolated from {args.timed_steps} timed steps"
    out["cpu_seconds_per_image"] = round(stats_cpu + settings.steps * cpu[chosen] + views_cpu + matched_cpu, 1)
    out["target_seconds"] = TARGET_SECONDS
    out["within_target"] = out["seconds_per_image"] <= TARGET_SECONDS
    out["within_target_on_a_free_core"] = out["cpu_seconds_per_image"] <= TARGET_SECONDS
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
