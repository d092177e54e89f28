"""Stage ``average_car``: the generator's average car at the multiview rig, one object folder per held-out car.

The reference that the chain has to beat to show that it uses its input: the views ``multiview`` would draw for a
latent that knows nothing of the input (the generator's mean latent ``w_avg``, ``multiview.view_psi: 0``), at the
same rig, distance and field of view. Every car gets the same views; ``segment@average_car`` and
``fit_mesh@average_car`` treat them as the chain treats its own, and ``evaluate`` scores the meshes against each car
(``chain_gain_over_average_car``). Generators without a camera input draw the views through ``multiview.anchors``.

Outputs: ``--out/<car>/`` (``cameras.json`` + ``images/NNN.png``), and ``--out/run.json`` (generator, w_avg samples).
"""

from __future__ import annotations

import argparse

import torch
from tqdm import tqdm

from inverse_graphics.data.object_views import INPUT_IMAGE, find_objects, write_object_folder
from inverse_graphics.device import pick_device
from inverse_graphics.gan.checkpoint import load_generator
from inverse_graphics.io_utils import atomic_dir, write_json
from inverse_graphics.multiview.io import to_hwc
from inverse_graphics.multiview.projector import w_statistics
from inverse_graphics.multiview.views import load_anchors, multiview_rig, render_views
from inverse_graphics.params import load_params
from stages._runner import run_stage

PATHS = {
    "input": "held-out object folders (input.png): one output folder per car, e.g. data/heldout",
    "generator": "generator checkpoint (train_gan's generator.pt, or an official .pkl)",
    "out": "output folder: one object folder per car, all with the average car's views",
}


def main(args: argparse.Namespace) -> None:
    params = load_params(["multiview", "synth"])
    section, camera = params["multiview"], params["synth"]["camera"]
    device = pick_device(section["device"])
    if device.type == "cpu" and section["threads"] > 0:
        torch.set_num_threads(section["threads"])
    objects = find_objects(args.input, marker=INPUT_IMAGE)
    G = load_generator(args.generator, device)
    rig = multiview_rig(section, camera, G.img_resolution)
    w_avg, _ = w_statistics(G, section["w_avg_samples"], section["seed"], tuple(section["pose"]["elev_range"]))
    ws = w_avg.to(device)[None, None].repeat(1, G.num_ws, 1)  # (1, num_ws, w_dim)
    anchors = load_anchors(section["anchors"]) if G.pose_dim == 0 and section["anchors"] else None
    views = to_hwc(render_views(G, ws, rig, anchors, section["anchor_layers"], source=str(section["anchors"])))
    with atomic_dir(args.out) as out:
        for obj in tqdm(objects, desc="average_car", unit="car"):
            write_object_folder(out / obj.name, rig, images=views)
        write_json(out / "run.json", {"generator": str(args.generator), "w_avg_samples": section["w_avg_samples"],
                                      "rig_views": len(rig), "objects": len(objects)})
    print(f"average_car: the average car's {len(rig)} views for {len(objects)} objects in {args.out}")


if __name__ == "__main__":
    run_stage("average_car", main, PATHS)
