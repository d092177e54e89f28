"""How close the silhouette fit comes to the visual hull, per held-out object, one JSON line.

For each object folder (``cameras.json`` + masks + ``mesh.obj``, default ``data/heldout``, run
``dvc repro synth`` first), the visual hull of its masks is carved on a voxel grid and its
surface voxels are scored against the ground-truth mesh with the F-score of docs/design.md (both
normalised; hull points subsampled to 20k), with precision and recall at 0.05. A fit cannot
recover surface that every view hides, so the hull's score is the reference for what
silhouettes allow. ``hull_filled`` carves the same masks with their enclosed holes filled
(see-through gaps, e.g. between a wheel and its arch): the hull without the thin tunnels that a
deformed ico-sphere does not follow in practice. Where ``--fits/<obj>.obj`` exists (default
``models/meshes/oracle_tutorial``, the fits of the same masks), the fit's scores are printed beside both.

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

from inverse_graphics.data.object_views import MESH, find_objects, load_object_masks  # noqa: E402
from inverse_graphics.mesh.io import load_mesh  # noqa: E402
from inverse_graphics.mesh.metrics import FSCORE_TAUS, fscore  # noqa: E402
from inverse_graphics.mesh.normalize import normalize_verts  # noqa: E402
from inverse_graphics.mesh.sampling import NearestNeighbors, sample_points  # noqa: E402
from inverse_graphics.mesh.visual_hull import carve, fill_holes, surface_points  # noqa: E402


def point_scores(points: torch.Tensor, gt_points: torch.Tensor) -> dict:
    """F-scores, and precision / recall at 0.05, of normalised ``points: (P, 3)`` against ``gt_points: (Q, 3)``."""
    dist_points = (points - gt_points[NearestNeighbors(gt_points)(points)]).norm(dim=1)
    dist_gt = (gt_points - points[NearestNeighbors(points)(gt_points)]).norm(dim=1)
    scores = {f"fscore@{tau}": round(fscore(dist_points, dist_gt, tau), 4) for tau in FSCORE_TAUS}
    return scores | {
        "precision@0.05": round(float((dist_points < 0.05).float().mean()), 4),
        "recall@0.05": round(float((dist_gt < 0.05).float().mean()), 4),
    }


def hull_points(masks: torch.Tensor, rig, resolution: int) -> torch.Tensor:
    """Normalised surface-voxel centres of the carved hull, subsampled to at most 20k -> ``(P, 3)``."""
    points = normalize_verts(surface_points(*carve(masks, rig, resolution)))
    return points[torch.randperm(points.shape[0], generator=torch.Generator().manual_seed(0))[:20000]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT / "data" / "heldout"))
    parser.add_argument("--fits", default=str(ROOT / "models" / "meshes" / "oracle_tutorial"))
    parser.add_argument("--resolution", type=int, default=160)
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    rows = {}
    for obj in find_objects(args.input):
        masks, rig = load_object_masks(obj, args.image_size)
        gt_verts, gt_faces = load_mesh(obj / MESH)
        gt_points = sample_points(normalize_verts(gt_verts), gt_faces, 10000, torch.Generator().manual_seed(0))
        filled = fill_holes(masks)
        row = {
            "hull": point_scores(hull_points(masks, rig, args.resolution), gt_points),
            "hull_filled": point_scores(hull_points(filled, rig, args.resolution), gt_points),
            "hole_pixels": int((filled - (masks > 0.5).float()).sum()),
        }
        fit = Path(args.fits) / f"{obj.name}.obj"
        if fit.is_file():
            fit_verts, fit_faces = load_mesh(fit)
            # the same 10k samples as mesh_metrics, so fscore@tau equals metrics/fit_mesh_objects.json
            fit_points = sample_points(normalize_verts(fit_verts), fit_faces, 10000, torch.Generator().manual_seed(0))
            row["fit"] = point_scores(fit_points, gt_points)
        rows[obj.name] = row
    mean = lambda key, tau: round(sum(r[key][f"fscore@{tau}"] for r in rows.values()) / len(rows), 4)  # noqa: E731
    summary = {"hull_fscore@0.05_mean": mean("hull", 0.05), "hull_filled_fscore@0.05_mean": mean("hull_filled", 0.05)}
    if all("fit" in r for r in rows.values()):
        summary["fit_fscore@0.05_mean"] = mean("fit", 0.05)
    print(json.dumps(summary | {"resolution": args.resolution, "objects": rows}))


if __name__ == "__main__":
    main()
