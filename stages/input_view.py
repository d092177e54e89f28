"""Stage ``input_view``: each held-out car's input image as a one-view object folder (the baselines' input).

For every object of ``--input`` that has ``input.png`` (``synth``'s held-out cars), writes ``--out/<car>/``:
``cameras.json`` (one view: the camera in ``--cameras/<car>/input.json``), ``images/000.png`` (the input image)
and ``masks/000.png`` (its ground-truth silhouette: ``mesh.obj`` rasterised at the input's true camera).
``--cameras`` is ``data/heldout`` by default (the TRUE camera); ``multiview``'s output folder gives the camera
the chain estimated. ``fit_mesh@single_view`` and ``template`` read this folder.
"""

from __future__ import annotations

import argparse

from tqdm import tqdm

from inverse_graphics.data.object_views import INPUT_IMAGE, find_objects, write_object_folder
from inverse_graphics.evaluate.input_view import input_view
from inverse_graphics.io_utils import atomic_dir
from stages._runner import run_stage

PATHS = {
    "input": "held-out object folders (input.png, input.json, mesh.obj), e.g. data/heldout",
    "cameras": "folder whose <car>/input.json is the view's camera (data/heldout: true; multiview's out: estimated)",
    "out": "output folder: one one-view object folder per car",
}


def main(args: argparse.Namespace) -> None:
    objects = find_objects(args.input, marker=INPUT_IMAGE)
    with atomic_dir(args.out) as out:
        for obj in tqdm(objects, desc="input_view", unit="car"):
            rig, image, mask = input_view(obj, args.cameras)
            write_object_folder(out / obj.name, rig, images=image[None], masks=mask[None])
    print(f"input_view: {len(objects)} one-view object folders in {args.out} (cameras from {args.cameras})")


if __name__ == "__main__":
    run_stage("input_view", main, PATHS)
