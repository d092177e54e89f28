"""Stage ``fit_mesh_3d``: mold an ico-sphere into 3D target meshes (chamfer/edge/normal/Laplacian/quadric).

``--target`` (``${fit3d.target}`` in ``dvc.yaml``) is a mesh file (any format trimesh reads) or a
folder of object folders that each hold ``mesh.obj`` (the held-out cars of ``synth``). Writes
``--out/<obj>.obj``; ``--metrics`` (over all targets) and ``--objects`` (per target);
``--plots/<obj>.csv`` loss curves and ``<obj>_turntable.png`` (top row target, bottom row fit).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inverse_graphics.data.object_views import MESH, find_objects
from inverse_graphics.device import pick_device, seed_everything
from inverse_graphics.errors import NonFiniteLossError
from inverse_graphics.fit.loop import settings_from_section
from inverse_graphics.fit.mesh_to_mesh import Fit3DSettings, fit_mesh_to_mesh
from inverse_graphics.io_utils import atomic_dir
from inverse_graphics.mesh.io import load_mesh, save_mesh
from inverse_graphics.mesh.metrics import edge_length_stats, mesh_metrics
from inverse_graphics.mesh.normalize import normalize_verts
from inverse_graphics.params import load_params
from inverse_graphics.reporting import report_object, write_curve, write_metrics
from inverse_graphics.viz import save_png, stack_vertically, turntable
from stages._runner import run_stage

PATHS = {
    "target": "a mesh file, or a folder of object folders with mesh.obj, e.g. ${fit3d.target}",
    "out": "folder for the fitted meshes <obj>.obj",
    "metrics": "metrics JSON over all targets",
    "objects": "per-target metrics JSON",
    "plots": "folder for loss curves (CSV) and pictures (PNG)",
}


def find_targets(target: Path) -> dict[str, Path]:
    """Name -> mesh path: the file itself, or ``<obj>/mesh.obj`` for each object of a folder."""
    if target.is_dir():
        return {obj.name: obj / MESH for obj in find_objects(target, marker=MESH)}
    return {target.stem: target}


def main(args: argparse.Namespace) -> None:
    params = load_params(["render", "fit3d"])
    section = params["fit3d"]
    seed_everything(section["seed"])
    device = pick_device(params["render"]["device"])
    settings = settings_from_section(Fit3DSettings, section)
    targets = {name: load_mesh(path) for name, path in find_targets(args.target).items()}
    per_object, failure = {}, None
    with atomic_dir(args.out) as mesh_dir, atomic_dir(args.plots) as plot_dir:
        for name, (target_verts, target_faces) in targets.items():
            try:
                result = fit_mesh_to_mesh(target_verts, target_faces, settings, device=device, desc=name)
            except NonFiniteLossError as err:  # keep the last good mesh, then stop with the error
                save_mesh(mesh_dir / f"{name}.obj", err.last_good_verts, err.faces)
                failure = err
                break
            save_mesh(mesh_dir / f"{name}.obj", result.verts, result.faces)
            row = mesh_metrics(result.verts, result.faces, target_verts, target_faces)
            row |= {f"edge_{k}": v for k, v in edge_length_stats(result.verts, result.faces).items()}
            row |= {"seconds": round(result.seconds, 2), "iterations": settings.iterations}
            per_object[name] = row
            write_curve(plot_dir / f"{name}.csv", result.history)
            pictures = [turntable(normalize_verts(target_verts), target_faces), turntable(result.verts, result.faces)]
            save_png(stack_vertically(pictures), plot_dir / f"{name}_turntable.png")
            report_object(name, row)
    if failure is not None:
        raise failure
    write_metrics(args.metrics, args.objects, per_object)


if __name__ == "__main__":
    run_stage("fit_mesh_3d", main, PATHS)
