"""Stage ``template``: the retrieval baseline, one library car per held-out input (params ``synth``).

For every one-view object folder of ``--input`` (``input_view``'s: the input's mask at its camera), the training
car of ``synth`` (regenerated from ``synth.seed`` and ``synth.num_cars``, ``inverse_graphics/evaluate/
retrieval.py``) whose silhouette at that camera has the highest IoU with the mask is written as
``--out/<car>.obj``. ``--metrics``: the retrieved silhouettes' IoU and the seconds; ``--info``: per car the
training car chosen, its style, its IoU and the runner-up's. With ``synth.source: folder`` there are no training
meshes: the folder is written empty and ``evaluate`` reports the variant as missing.
"""

from __future__ import annotations

import argparse
import time

import torch
from tqdm import tqdm

from inverse_graphics.data.object_views import find_objects, load_object_masks
from inverse_graphics.evaluate.retrieval import retrieve, training_cars
from inverse_graphics.io_utils import atomic_dir, write_json
from inverse_graphics.mesh.io import save_mesh
from inverse_graphics.params import load_params
from stages._runner import run_stage

PATHS = {
    "input": "one-view object folders (input_view's output)",
    "out": "output folder for <car>.obj, the retrieved training car",
    "metrics": "metrics JSON: mean silhouette IoU of the retrieved cars, seconds",
    "info": "plain JSON: per car the training car chosen, its style and IoU, the runner-up's IoU",
}


def main(args: argparse.Namespace) -> None:
    synth = load_params(["synth"])["synth"]
    torch.set_num_threads(1)
    objects = find_objects(args.input)
    start = time.perf_counter()
    info: dict = {"library": "none: synth.source is folder (no training meshes)" if synth["source"] == "folder"
                  else f"synth training cars 0..{synth['num_cars'] - 1}, seed {synth['seed']}", "cars": {}}
    with atomic_dir(args.out) as out:
        if synth["source"] == "synthetic":
            library = list(tqdm(training_cars(synth["seed"], synth["num_cars"]), total=synth["num_cars"],
                                desc="template library", unit="car"))
            for obj in tqdm(objects, desc="template", unit="car"):
                masks, rig = load_object_masks(obj)
                found = retrieve(masks, rig, library)
                car = library[found.best]
                save_mesh(out / f"{obj.name}.obj", car.verts, car.faces)
                runner_up = float(found.ious.topk(min(2, len(library))).values[-1])
                info["cars"][obj.name] = {"training_car": car.index, "style": car.style, "silhouette_iou": found.iou,
                                          "runner_up_iou": runner_up}
    seconds = time.perf_counter() - start
    rows = info["cars"].values()
    metrics = {"seconds": round(seconds, 2)}
    if rows:
        metrics |= {"silhouette_iou_mean": sum(r["silhouette_iou"] for r in rows) / len(rows),
                    "silhouette_iou_min": min(r["silhouette_iou"] for r in rows)}
    write_json(args.metrics, metrics)
    write_json(args.info, info)
    print(f"template: {len(info['cars'])} cars retrieved in {seconds:.1f} s ({info['library']})")


if __name__ == "__main__":
    run_stage("template", main, PATHS)
