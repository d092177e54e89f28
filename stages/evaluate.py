"""Stage ``evaluate``: every variant's mesh of every held-out car against the ground truth.

``--heldout``: ``synth``'s held-out cars (``mesh.obj``, ``input.png``). ``--meshes``: one folder per variant,
``<variant>/<car>.obj`` (``fit_mesh@<variant>`` and ``template`` write them; ``inverse_graphics/evaluate/
variants.py`` names the known ones). A variant without a folder (its stage has not run yet) is reported as
missing, never guessed.

Writes ``--metrics`` (per scored variant the means of ``chamfer_l2``, ``fscore@0.01/0.02/0.05``,
``normal_consistency``, ``iou3d``; ``chain_vs_oracle``; the ``error_split``; ``chain_gain_over_single_view`` /
``chain_gain_over_template``), ``--cars`` (plain JSON: the cars, each variant's status, the per-car rows) and
``--plots/<car>.png`` (input | the chain's synthesised views | its masks, then a turntable per mesh). The views
and masks are those the chain's meshes were fitted to: ``<meshes>/chain/source.json`` names them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from inverse_graphics.data.object_views import (MESH, find_objects, load_object_images, load_object_input,
                                                load_object_masks, load_object_mesh)
from inverse_graphics.errors import UserError
from inverse_graphics.evaluate.comparison import comparison_picture
from inverse_graphics.evaluate.variants import METRICS, SCORED, VARIANTS, order, summarize
from inverse_graphics.io_utils import atomic_dir, write_json
from inverse_graphics.mesh.io import load_mesh
from inverse_graphics.mesh.metrics import mesh_metrics
from inverse_graphics.mesh.normalize import normalize_verts
from inverse_graphics.viz import save_png, turntable
from stages._runner import run_stage

PATHS = {
    "heldout": "held-out object folders with mesh.obj and input.png (data/heldout)",
    "meshes": "folder of variant folders <variant>/<car>.obj (models/meshes)",
    "metrics": "metrics JSON: means per variant, chain_vs_oracle, error split",
    "cars": "plain JSON: cars, each variant's status, per-car rows",
    "plots": "folder for one comparison picture per car (PNG)",
}
SOURCE = "source.json"  # written by fit_mesh beside its meshes: {"input": ..., "views": ...}
PICTURE_VARIANT = "chain"
TURNTABLE_VIEWS, TURNTABLE_SIZE = 6, 96


def variant_meshes(meshes: Path) -> dict[str, dict[str, Path] | None]:
    """Every known variant (``None`` when its folder is absent or holds no mesh) and any other folder of meshes
    (hidden folders, such as a writer's temporary sibling, are not variants)."""
    folders = [p for p in sorted(meshes.iterdir()) if p.is_dir() and not p.name.startswith(".")] \
        if meshes.is_dir() else []
    found = {p.name: {m.stem: m for m in sorted(p.glob("*.obj"))} for p in folders}
    return {name: (found.get(name) or None) for name in order(set(VARIANTS) | {k for k, v in found.items() if v})}


def chain_views(meshes: Path, car: str) -> tuple[torch.Tensor | None, torch.Tensor | None, str]:
    """The views and masks the chain's mesh of ``car`` was fitted to, or ``None`` with the reason."""
    source = meshes / PICTURE_VARIANT / SOURCE
    if not source.is_file():
        return None, None, f"{PICTURE_VARIANT} missing (no {source})"
    spec = json.loads(source.read_text())
    folder = Path(spec["input"]) / car / spec["views"]
    images = masks = None
    note = ""
    try:
        images, _ = load_object_images(folder)
    except UserError as err:
        note = str(err)
    try:
        masks, _ = load_object_masks(folder)
    except UserError as err:
        note = note or str(err)
    return images, masks, note


def score_row(row: dict | None) -> str:
    if not row:
        return ""
    return f"F@0.05 {row['fscore@0.05']:.3f}  F@0.02 {row['fscore@0.02']:.3f}  CD {row['chamfer_l2']:.5f}"


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    cars = find_objects(args.heldout, marker=MESH)
    variants = variant_meshes(args.meshes)
    scores: dict[str, dict[str, dict] | None] = {v: ({} if files else None) for v, files in variants.items()}
    with atomic_dir(args.plots) as plot_dir:
        for car in tqdm(cars, desc="evaluate", unit="car"):
            gt_verts, gt_faces = load_object_mesh(car)
            rows: list[tuple[str, object, str]] = [("ground truth", turntable(
                normalize_verts(gt_verts), gt_faces, TURNTABLE_VIEWS, TURNTABLE_SIZE), "")]
            for variant, files in variants.items():
                if files is None or car.name not in files:
                    rows.append((variant, None, "missing"))
                    continue
                verts, faces = load_mesh(files[car.name])
                scores[variant][car.name] = mesh_metrics(verts, faces, gt_verts, gt_faces)
                rows.append((variant, turntable(normalize_verts(verts), faces, TURNTABLE_VIEWS, TURNTABLE_SIZE),
                             score_row(scores[variant][car.name])))
            image, _ = load_object_input(car)
            views, masks, note = chain_views(args.meshes, car.name)
            save_png(comparison_picture(image, views, masks, rows, note), plot_dir / f"{car.name}.png")
    metrics, status = summarize(scores, [car.name for car in cars])
    write_json(args.metrics, metrics)
    write_json(args.cars, {"cars": [car.name for car in cars], "status": status,
                           "per_car": {car.name: {v: s[car.name] for v, s in scores.items() if s and car.name in s}
                                       for car in cars},
                           "seconds": round(time.perf_counter() - start, 2)})
    print(f"{'variant':<16}" + "".join(f"{m:>20}" for m in METRICS))
    for variant, state in status.items():
        values = metrics.get(variant, {})
        cells = [f"{values[m]:>20.4f}" if state["status"] == SCORED else f"{state['status']:>20}" for m in METRICS]
        print(f"{variant:<16}" + "".join(cells))
    for key in ("chain_vs_oracle", "error_split", "chain_gain_over_single_view", "chain_gain_over_template"):
        if key in metrics:
            print(f"{key}: {json.dumps(metrics[key])}")


if __name__ == "__main__":
    run_stage("evaluate", main, PATHS)
