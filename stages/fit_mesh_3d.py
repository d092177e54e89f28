"""Stage ``fit_mesh_3d``: mold an ico-sphere into 3D target meshes (chamfer/edge/normal/Laplacian/quadric).

``fit3d.target`` is a mesh file (any format trimesh reads) or a folder whose object
sub-folders each hold ``mesh.obj`` (the held-out cars of ``synth``). Outputs:
``models/meshes3d/<obj>.obj``; ``metrics/fit_mesh_3d.json`` (over all targets) and
``metrics/fit_mesh_3d_objects.json`` (per target); ``metrics/fit_mesh_3d/<obj>.csv``
loss curves and ``<obj>_turntable.png`` (top row target, bottom row fit).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from inverse_graphics.data.object_views import find_objects
from inverse_graphics.device import pick_device, seed_everything
from inverse_graphics.errors import NonFiniteLossError
from inverse_graphics.fit.mesh_to_mesh import Fit3DSettings, fit_mesh_to_mesh
from inverse_graphics.io_utils import atomic_dir
from inverse_graphics.mesh.io import load_mesh, save_mesh
from inverse_graphics.mesh.metrics import edge_length_stats, mesh_metrics
from inverse_graphics.mesh.normalize import normalize_verts
from inverse_graphics.params import load_params
from inverse_graphics.reporting import report_object, write_curve, write_metrics
from inverse_graphics.viz import save_png, stack_vertically, turntable
from stages._runner import run_stage

MESH_DIR, PLOT_DIR, METRICS = Path("models/meshes3d"), Path("metrics/fit_mesh_3d"), Path("metrics/fit_mesh_3d.json")
PER_OBJECT = Path("metrics/fit_mesh_3d_objects.json")


def find_targets(target: str) -> dict[str, Path]:
    """Name -> mesh path: the file itself, or ``<obj>/mesh.obj`` for each object of a folder."""
    path = Path(target)
    if path.is_dir():
        return {obj.name: obj / "mesh.obj" for obj in find_objects(path, marker="mesh.obj")}
    return {path.stem: path}


def main() -> None:
    params = load_params(["render", "fit3d"])
    section = params["fit3d"]
    seed_everything(section["seed"])
    device = pick_device(params["render"]["device"])
    names = {f.name for f in dataclasses.fields(Fit3DSettings)}
    settings = Fit3DSettings(**{k: v for k, v in section.items() if k in names})
    targets = {name: load_mesh(path) for name, path in find_targets(section["target"]).items()}
    per_object, failure = {}, None
    with atomic_dir(MESH_DIR) as mesh_dir, atomic_dir(PLOT_DIR) as plot_dir:
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
    write_metrics(METRICS, PER_OBJECT, per_object)


if __name__ == "__main__":
    run_stage(main)
