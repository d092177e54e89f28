"""Stage ``fit_mesh``: mold an ico-sphere into every object of ``--input`` from its silhouettes.

Object ``<obj>`` is a sub-folder of ``--input``; its views (``docs/object_folder.md``: ``cameras.json``
+ ``masks/``) are in ``<obj>/<views>`` (``--views .``: the object folder itself; ``--views rig``: its
``rig/`` sub-folder, as ``synth`` writes the multiview rig) and its ground truth, if any, is
``<obj>/mesh.obj``. ``dvc.yaml`` runs this stage once per variant (``foreach``), each on its own views;
with ``--shape-prior`` the fit takes ``fit.shape_prior``'s settings (a mirror-symmetric, smoother mesh) for views
that cannot fix the shape alone, and with ``--library`` each fit starts from the library car whose silhouettes match
the masks best, molded into the ico-sphere (``fit.library``; ``inverse_graphics/fit/library_prior.py``). The
renderer's sigma is ``render.sigma`` at ``render.sigma_size`` px, scaled to each fit's image size (the same soft
edge in pixels: 4e-4 at 64 px). Writes ``--out/<obj>.obj`` and ``--out/source.json`` (the ``--input`` and
``--views`` the meshes were fitted to, for ``evaluate``'s pictures, the shape prior or null, and ``fit.library``
with ``--library``); ``--metrics`` (silhouette IoU of the fitted mesh's hard z-buffer masks against the targets, GT
mesh metrics where ``mesh.obj`` exists, seconds; over all objects; ``cpu_seconds``: the process's CPU time, all
threads, which the load of a shared machine inflates less than wall time) and ``--objects`` (per object, with the
iteration count; with ``--library`` the library car, its silhouette IoU and the seconds it took to retrieve and
mold); ``--plots/<obj>.csv`` loss curves and ``<obj>_silhouettes.png`` / ``<obj>_turntable.png`` (ground truth
above the library car's mold, if any, above the fit). Masks are fitted at ``fit.image_size`` (null: each object's
own resolution). Every path comes from ``dvc.yaml``'s ``cmd``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from inverse_graphics.data.object_views import CAMERAS, find_objects, load_object_masks, load_object_mesh
from inverse_graphics.device import pick_device, seed_everything
from inverse_graphics.errors import NonFiniteLossError, UserError
from inverse_graphics.evaluate.retrieval import LibraryCar
from inverse_graphics.fit.library_prior import library_template, load_library
from inverse_graphics.fit.loop import settings_from_section
from inverse_graphics.fit.silhouette_fit import SilhouetteFitSettings, fit_to_silhouettes
from inverse_graphics.io_utils import atomic_dir, write_json
from inverse_graphics.mesh.io import save_mesh
from inverse_graphics.mesh.metrics import mesh_metrics, silhouette_iou
from inverse_graphics.params import load_params
from inverse_graphics.render.shaded import rasterize
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings
from inverse_graphics.reporting import report_object, silhouette_sheet, write_curve, write_metrics
from inverse_graphics.viz import save_png, stack_vertically, turntable
from stages._runner import run_stage

PATHS = {
    "input": "folder of objects, e.g. data/heldout",
    "views": "sub-folder of each object that holds its cameras.json + masks/ ('.': the object folder itself)",
    "out": "folder for the fitted meshes <obj>.obj",
    "metrics": "metrics JSON over all objects",
    "objects": "per-object metrics JSON",
    "plots": "folder for loss curves (CSV) and pictures (PNG)",
}
SWITCHES = {
    "shape-prior": "fit with fit.shape_prior (a mirror-symmetric, smoother mesh) for views that cannot fix the shape "
                   "alone: one view, or a generator's views that disagree",
    "library": "start each fit from the library car whose silhouettes match the masks best (fit.library; by "
               "default synth's training cars, 3D meshes the GAN path never sees)",
}
SOURCE = "source.json"  # in --out: what the meshes were fitted to


def fit_settings(fit: dict, shape_prior: bool, library: bool = False) -> SilhouetteFitSettings:
    """The fit's settings from the ``fit`` section; with the shape prior, its keys replace ``fit``'s
    (``mirror_axis`` is one ``fit`` has not); with the library, ``fit.library.w_laplacian`` replaces the Laplacian
    weight (the Laplacian then measures the departure from the library car)."""
    settings = settings_from_section(SilhouetteFitSettings, fit)
    settings = replace(settings, **fit["shape_prior"]) if shape_prior else settings
    return replace(settings, w_laplacian=fit["library"]["w_laplacian"]) if library else settings


def library_for(fit: dict, synth: dict) -> list[LibraryCar]:
    """The ``--library`` meshes: ``fit.library.folder``, else ``synth``'s training cars (none with photos)."""
    folder = fit["library"]["folder"]
    if fit["laplacian"] != "uniform":  # checked before any car is molded (fit_to_silhouettes checks it too)
        raise UserError(f"params.yaml: fit.laplacian: --library needs uniform (got {fit['laplacian']!r})")
    if folder is None and synth["source"] != "synthetic":
        raise UserError("params.yaml: fit.library.folder: null needs synth.source: synthetic (its training cars are "
                        "the library); with photos, name a folder of car meshes")
    return load_library(folder, synth["seed"], synth["num_cars"])


def main(args: argparse.Namespace) -> None:
    params = load_params(["render", "fit", "synth"])
    fit, render = params["fit"], params["render"]
    seed_everything(fit["seed"])
    device = pick_device(render["device"])
    renderers: dict[int, SilhouetteRenderer] = {}  # one per image size (fit.image_size null: the objects' own)
    settings = fit_settings(fit, args.shape_prior, args.library)
    shape_prior = fit["shape_prior"] if args.shape_prior else None
    objects = find_objects(args.input, marker=(args.views / CAMERAS).as_posix())
    library = library_for(fit, params["synth"]) if args.library else None
    per_object, failure = {}, None
    with atomic_dir(args.out) as mesh_dir, atomic_dir(args.plots) as plot_dir:
        source = {"input": args.input.as_posix(), "views": args.views.as_posix(), "shape_prior": shape_prior}
        write_json(mesh_dir / SOURCE, source | ({"library": fit["library"]} if args.library else {}))
        for obj in objects:
            masks, rig = load_object_masks(obj / args.views, fit["image_size"])
            masks = masks.to(device)
            if rig.image_size not in renderers:
                renderers[rig.image_size] = SilhouetteRenderer(
                    render["backend"], SilhouetteSettings.from_params(render, rig.image_size), device)
            renderer = renderers[rig.image_size]
            cpu_start = time.process_time()
            template = None
            if library is not None:
                template = library_template(masks, rig, library, settings.ico_level, fit["library"]["mold_iterations"],
                                            settings.seed)
            try:
                result = fit_to_silhouettes(masks, rig, renderer, settings, desc=obj.name,
                                            template=None if template is None else template.verts)
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
                "cpu_seconds": round(time.process_time() - cpu_start, 2),  # all threads; the cores are shared
                "iterations": settings.iterations,
            }
            pictures = [turntable(result.verts, result.faces)]
            if template is not None:  # the start, between the ground truth and the fit
                row |= {"library_car": template.car.style, "library_index": template.car.index,
                        "library_iou": template.iou, "template_seconds": round(template.seconds, 2)}
                pictures.insert(0, turntable(template.verts, result.faces))
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
    write_metrics(args.metrics, args.objects, per_object, echoes=("iterations", "library_car", "library_index"))


if __name__ == "__main__":
    run_stage("fit_mesh", main, PATHS, switches=SWITCHES)
