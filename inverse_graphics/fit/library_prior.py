"""A shape prior from a library of 3D cars: the silhouette fit starts from the library car the masks match best.

Silhouettes fix only the visual hull: the wheel wells, the tyres' inner faces and the underbody between the
wheels are hidden from every view, so a fit from the ico-sphere bridges them (issue 14: a fit whose silhouettes
match to IoU 0.99 stays below F@0.05 0.95, the hull's own ceiling, docs/fit.md). With a library, the car whose
hard silhouettes at the fit's cameras best match the masks (``retrieve``) is molded into the fit's ico-sphere in
3D (``fit_mesh_to_mesh``: the same vertex count and faces), and the silhouette fit starts from that mesh with its
edge and Laplacian terms measured against it (``fit_to_silhouettes(template=...)``): the silhouettes move the rims,
and the surface they cannot see keeps the library car's shape instead of being pulled flat.

The default library is ``synth``'s training cars (``training_cars``), which the held-out cars are not but which
come from the same generator: a prior this close to the test cars flatters the fit, as a model trained on one
split of a data set and tested on another does. A folder of meshes replaces it for other objects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UserError
from ..evaluate.retrieval import LibraryCar, retrieve, training_cars
from ..mesh.io import load_mesh
from ..mesh.normalize import normalize_verts
from ..render.cameras import CameraRig
from .mesh_to_mesh import Fit3DSettings, fit_mesh_to_mesh

MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl", ".glb", ".gltf")


@dataclass(frozen=True)
class Template:
    """The start of a fit: ``verts (V, 3)`` of ``ico_sphere(level)``'s topology molded into ``car``; ``iou`` is the
    library car's mean silhouette IoU with the masks; ``seconds`` covers retrieval and molding."""

    verts: torch.Tensor
    car: LibraryCar
    iou: float
    seconds: float


def load_library(folder: str | Path | None, seed: int, num_cars: int) -> list[LibraryCar]:
    """The library: with ``folder`` None, ``synth``'s training cars ``0..num_cars-1`` for ``synth.seed = seed``;
    else every mesh file in ``folder`` (sorted by name; each normalised like the held-out meshes, bounding-box
    centre at 0 in the unit sphere, and expected in the rig's frame: nose toward +x, up +y)."""
    if folder is None:
        return list(training_cars(seed, num_cars))
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: fit.library.folder not found (a folder of car meshes was wanted)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise UserError(f"{folder}: no mesh files in fit.library.folder (wanted {', '.join(MESH_SUFFIXES)})")
    library = []
    for index, path in enumerate(files):
        verts, faces = load_mesh(path)
        library.append(LibraryCar(index, normalize_verts(verts.float()), faces.long(), path.stem))
    return library


def library_template(masks: torch.Tensor, rig: CameraRig, library: list[LibraryCar], ico_level: int,
                     mold_iterations: int, seed: int = 0) -> Template:
    """Retrieve the library car that best matches ``masks (N, S, S)`` at ``rig`` and mold ``ico_sphere(ico_level)``
    into it (``fit_mesh_to_mesh`` with ``fit_mesh_3d``'s defaults and ``mold_iterations`` iterations) on the
    masks' device; ``verts`` come back there."""
    start = time.perf_counter()
    found = retrieve(masks.detach().cpu(), rig, library)
    car = library[found.best]
    molded = fit_mesh_to_mesh(car.verts, car.faces, Fit3DSettings(ico_level=ico_level, iterations=mold_iterations,
                                                                  seed=seed), masks.device, progress=False)
    return Template(molded.verts, car, found.iou, time.perf_counter() - start)
