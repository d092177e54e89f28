"""Stage ``fit_mesh``: mold an ico-sphere into every object folder of ``--input`` from its silhouettes.

Reads object folders (``docs/object_folder.md``: ``cameras.json`` + ``masks/``, optional ``mesh.obj``).
Writes ``--out/<obj>.obj``; ``--metrics`` (silhouette IoU, GT mesh metrics where ``mesh.obj``
exists, seconds; over all objects) and ``--objects`` (per object); ``--plots/<obj>.csv`` loss
curves and ``<obj>_silhouettes.png`` / ``<obj>_turntable.png`` (ground truth above the fit,
where known). Every path comes from ``dvc.yaml``'s ``cmd``.
"""

from __future__ import annotations

import argparse

import torch

from inverse_graphics.data.object_views import find_objects, load_object_masks, load_object_mesh
from inverse_graphics.device import pick_device, seed_everything
from inverse_graphics.errors import NonFiniteLossError
from inverse_graphics.fit.loop import settings_from_section
from inverse_graphics.fit.silhouette_fit import SilhouetteFitSettings, fit_to_silhouettes
from inverse_graphics.io_utils import atomic_dir
from inverse_graphics.mesh.io import save_mesh
from inverse_graphics.mesh.metrics import mesh_metrics, silhouette_iou
from inverse_graphics.params import load_params
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings
from inverse_graphics.reporting import report_object, silhouette_sheet, write_curve, write_metrics
from inverse_graphics.viz import save_png, stack_vertically, turntable
from stages._runner import run_stage

PATHS = {
    "input": "folder of object folders (cameras.json + masks/), e.g. ${fit.input}",
    "out": "folder for the fitted meshes <obj>.obj",
    "metrics": "metrics JSON over all objects",
    "objects": "per-object metrics JSON",
    "plots": "folder for loss curves (CSV) and pictures (PNG)",
}


def main(args: argparse.Namespace) -> None:
    params = load_params(["render", "fit"])
    fit, render = params["fit"], params["render"]
    seed_everything(fit["seed"])
    device = pick_device(render["device"])
    renderer = SilhouetteRenderer(
        render["backend"], SilhouetteSettings(fit["image_size"], render["sigma"], render["faces_per_pixel"]), device
    )
    settings = settings_from_section(SilhouetteFitSettings, fit)
    objects = find_objects(args.input)
    per_object, failure = {}, None
    with atomic_dir(args.out) as mesh_dir, atomic_dir(args.plots) as plot_dir:
        for obj in objects:
            masks, rig = load_object_masks(obj, fit["image_size"])
            masks = masks.to(device)
            try:
                result = fit_to_silhouettes(masks, rig, renderer, settings, desc=obj.name)
            except NonFiniteLossError as err:  # keep the last good mesh, then stop with the error
                save_mesh(mesh_dir / f"{obj.name}.obj", err.last_good_verts, err.faces)
                failure = err
                break
            save_mesh(mesh_dir / f"{obj.name}.obj", result.verts, result.faces)
            with torch.no_grad():
                fitted = renderer(result.verts, result.faces, rig)
            ious = silhouette_iou(fitted, masks)
            row = {
                "silhouette_iou_mean": float(ious.mean()),
                "silhouette_iou_min": float(ious.min()),
                "seconds": round(result.seconds, 2),
                "iterations": settings.iterations,
            }
            pictures = [turntable(result.verts, result.faces)]
            ground_truth = load_object_mesh(obj)
            if ground_truth is not None:
                row |= mesh_metrics(result.verts, result.faces, *ground_truth)
                pictures.insert(0, turntable(*ground_truth))
            per_object[obj.name] = row
            write_curve(plot_dir / f"{obj.name}.csv", result.history)
            save_png(silhouette_sheet(masks, fitted), plot_dir / f"{obj.name}_silhouettes.png")
            save_png(stack_vertically(pictures), plot_dir / f"{obj.name}_turntable.png")
            report_object(obj.name, row)
    if failure is not None:
        raise failure
    write_metrics(args.metrics, args.objects, per_object)


if __name__ == "__main__":
    run_stage("fit_mesh", main, PATHS)
