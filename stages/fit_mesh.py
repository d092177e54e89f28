"""Stage ``fit_mesh``: mold an ico-sphere into every object of ``fit.input`` from its silhouettes.

Outputs: ``models/meshes/<obj>.obj``; ``metrics/fit_mesh.json`` (silhouette IoU of the fitted mesh's
hard z-buffer masks against the targets, GT mesh metrics
where ``mesh.obj`` exists, seconds; over all objects) and ``metrics/fit_mesh_objects.json``
(per object); ``metrics/fit_mesh/<obj>.csv`` loss curves and ``<obj>_silhouettes.png`` /
``<obj>_turntable.png`` pictures (ground truth above the fit, where known).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from inverse_graphics.data.object_views import find_objects, load_object_masks
from inverse_graphics.device import pick_device, seed_everything
from inverse_graphics.errors import NonFiniteLossError
from inverse_graphics.fit.silhouette_fit import SilhouetteFitSettings, fit_to_silhouettes
from inverse_graphics.io_utils import atomic_dir
from inverse_graphics.mesh.io import load_mesh, save_mesh
from inverse_graphics.mesh.metrics import mesh_metrics, silhouette_iou
from inverse_graphics.params import load_params
from inverse_graphics.render.shaded import rasterize
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings
from inverse_graphics.reporting import report_object, silhouette_sheet, write_curve, write_metrics
from inverse_graphics.viz import save_png, stack_vertically, turntable
from stages._runner import run_stage

MESH_DIR, PLOT_DIR, METRICS = Path("models/meshes"), Path("metrics/fit_mesh"), Path("metrics/fit_mesh.json")
PER_OBJECT = Path("metrics/fit_mesh_objects.json")


def fit_settings(section: dict) -> SilhouetteFitSettings:
    names = {f.name for f in dataclasses.fields(SilhouetteFitSettings)}
    return SilhouetteFitSettings(**{k: v for k, v in section.items() if k in names})


def main() -> None:
    params = load_params(["render", "fit"])
    fit, render = params["fit"], params["render"]
    seed_everything(fit["seed"])
    device = pick_device(render["device"])
    silhouettes = SilhouetteSettings(
        fit["image_size"], render["sigma"], render["faces_per_pixel"], render["blend"], render["sigma_final"],
        render["warmup_blend"],
    )  # fmt: skip
    renderer = SilhouetteRenderer(render["backend"], silhouettes, device)
    settings = fit_settings(fit)
    objects = find_objects(fit["input"])
    per_object, failure = {}, None
    with atomic_dir(MESH_DIR) as mesh_dir, atomic_dir(PLOT_DIR) as plot_dir:
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
            # The fitted mesh's own silhouettes: hard z-buffer coverage, not a soft render at 0.5.
            fitted = (rasterize(result.verts.cpu(), result.faces.cpu(), rig) >= 0).float().to(device)
            ious = silhouette_iou(fitted, masks)
            row = {
                "silhouette_iou_mean": float(ious.mean()),
                "silhouette_iou_min": float(ious.min()),
                "seconds": round(result.seconds, 2),
                "iterations": settings.iterations,
            }
            pictures = [turntable(result.verts, result.faces)]
            if (obj / "mesh.obj").is_file():
                gt_verts, gt_faces = load_mesh(obj / "mesh.obj")
                row |= mesh_metrics(result.verts, result.faces, gt_verts, gt_faces)
                pictures.insert(0, turntable(gt_verts, gt_faces))
            per_object[obj.name] = row
            write_curve(plot_dir / f"{obj.name}.csv", result.history)
            save_png(silhouette_sheet(masks, fitted), plot_dir / f"{obj.name}_silhouettes.png")
            save_png(stack_vertically(pictures), plot_dir / f"{obj.name}_turntable.png")
            report_object(obj.name, row)
    if failure is not None:
        raise failure
    write_metrics(METRICS, PER_OBJECT, per_object)


if __name__ == "__main__":
    run_stage(main)
