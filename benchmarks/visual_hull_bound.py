"""How close the silhouette fit comes to the visual hull, per held-out object, one JSON line.

For each object folder (``cameras.json`` + masks + ``mesh.obj``, default ``data/heldout``, run
``dvc repro synth`` first), the visual hull of its masks is carved on a voxel grid and its
surface voxels are scored against the ground-truth mesh with the F-score of DESIGN.md (both
normalised; hull points subsampled to 20k). Where ``models/meshes/<obj>.obj`` exists, the fit's
F-score is printed beside it. A fit cannot recover surface that every view hides, so the hull's
score is the reference for what silhouettes allow.

    python benchmarks/visual_hull_bound.py [--input data/heldout] [--resolution 160]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.data.object_views import find_objects, load_object_masks  # noqa: E402
from inverse_graphics.mesh.io import load_mesh  # noqa: E402
from inverse_graphics.mesh.metrics import FSCORE_TAUS, fscore, mesh_metrics  # noqa: E402
from inverse_graphics.mesh.normalize import normalize_verts  # noqa: E402
from inverse_graphics.mesh.sampling import NearestNeighbors, sample_points  # noqa: E402
from inverse_graphics.mesh.visual_hull import carve, surface_points  # noqa: E402


def hull_fscores(points: torch.Tensor, gt_verts: torch.Tensor, gt_faces: torch.Tensor) -> dict:
    """F-scores of hull surface ``points: (P, 3)`` against the GT mesh, both normalised."""
    generator = torch.Generator().manual_seed(0)
    points = normalize_verts(points)[torch.randperm(points.shape[0], generator=generator)[:20000]]
    gt = sample_points(normalize_verts(gt_verts), gt_faces, 10000, torch.Generator().manual_seed(0))
    dist_hull = (points - gt[NearestNeighbors(gt)(points)]).norm(dim=1)
    dist_gt = (gt - points[NearestNeighbors(points)(gt)]).norm(dim=1)
    return {f"fscore@{tau}": round(fscore(dist_hull, dist_gt, tau), 4) for tau in FSCORE_TAUS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT / "data" / "heldout"))
    parser.add_argument("--fits", default=str(ROOT / "models" / "meshes"))
    parser.add_argument("--resolution", type=int, default=160)
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    rows = {}
    for obj in find_objects(args.input):
        masks, rig = load_object_masks(obj, args.image_size)
        gt_verts, gt_faces = load_mesh(obj / "mesh.obj")
        row = {"hull": hull_fscores(surface_points(*carve(masks, rig, args.resolution)), gt_verts, gt_faces)}
        fit = Path(args.fits) / f"{obj.name}.obj"
        if fit.is_file():
            metrics = mesh_metrics(*load_mesh(fit), gt_verts, gt_faces)
            row["fit"] = {f"fscore@{tau}": round(metrics[f"fscore@{tau}"], 4) for tau in FSCORE_TAUS}
        rows[obj.name] = row
    mean = lambda key, tau: round(sum(r[key][f"fscore@{tau}"] for r in rows.values()) / len(rows), 4)  # noqa: E731
    summary = {"hull_fscore@0.05_mean": mean("hull", 0.05)}
    if all("fit" in r for r in rows.values()):
        summary["fit_fscore@0.05_mean"] = mean("fit", 0.05)
    print(json.dumps(summary | {"resolution": args.resolution, "objects": rows}))


if __name__ == "__main__":
    main()
