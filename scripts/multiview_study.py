"""What each part of ``multiview``'s search buys: the stage run once per configuration, one table.

Each configuration is params.yaml's ``multiview`` section with a few keys changed (``CONFIGS``); the stage itself
(``stages/multiview.py``) runs it in its own folder under ``--work`` (a params.yaml copy there, every path absolute),
on the same inputs, generator, critic and segmenter. The table (markdown, printed and written to ``--out``) has one
row per configuration: projection PSNR / SSIM, camera error (the search's and the critic's first guess), view mask
IoU against the ground truth and hull consistency (with a segmenter), seconds per image. ``--steps`` shortens every
search alike (the table says so); ``--only`` picks configurations by name. ``--mesh`` carries every configuration
on through the rest of the chain, as ``dvc.yaml`` wires it (``segment`` its views, ``fit_mesh`` the masks, with the
params.yaml sections of the repository) and scores the meshes against each input's ``mesh.obj`` like ``evaluate``:
``chain_fscore@0.05`` / ``@0.02`` (means over the cars; per car in the JSON), so a configuration can be judged by the
mesh and not only by the pixels.

    python scripts/multiview_study.py --generator models/gan/snapshot.pt --critic models/critic/critic.pt \
        --segmenter models/segmenter [--input data/heldout] [--steps 1000] [--only pixel,critic] \
        [--out docs/multiview_study.md] [--work /tmp/multiview_study] [--reuse] [--mesh]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.mesh.io import load_mesh  # noqa: E402
from inverse_graphics.mesh.metrics import mesh_metrics  # noqa: E402

# name -> (description, changes to params.yaml's multiview section; nested keys as dicts)
CONFIGS = {
    "default": ("params.yaml's multiview section as it is", {}),
    "pixel": ("pixel pyramid only", {"distance": {"pixel": 1.0, "critic": 0.0, "discriminator": 0.0}}),
    "critic": ("car-critic features only", {"distance": {"pixel": 0.0, "critic": 0.1, "discriminator": 0.0}}),
    "pixel+critic": ("pixel + critic (0.1)", {"distance": {"pixel": 1.0, "critic": 0.1, "discriminator": 0.0}}),
    "pixel+critic+D": ("pixel + critic (0.1) + discriminator (0.1)",
                       {"distance": {"pixel": 1.0, "critic": 0.1, "discriminator": 0.1}}),
    "fixed-camera": ("default, camera kept at the critic's guess", {"pose": {"optimize": False}}),
    "starts-4": ("default, 4 starting azimuths", {"pose": {"starts": 4}}),
    "w": ("default in W (one w for all layers, the official projector)", {"space": "w"}),
    "w+": ("default in W+ (one w per layer)", {"space": "w+"}),
    "pti": ("default + pivotal tuning (200 steps)", {"pti": {"steps": 200}}),
    "w-pti": ("default in W + pivotal tuning (200 steps)", {"space": "w", "pti": {"steps": 200}}),
    "psi-0.75": ("default, views from the latent moved a quarter of the way to w_avg", {"view_psi": 0.75}),
    "psi-0.5": ("default, views from the latent moved half way to w_avg", {"view_psi": 0.5}),
    "psi-0.25": ("default, views from the latent moved three quarters of the way to w_avg", {"view_psi": 0.25}),
    "psi-0": ("default, views of the average car (w_avg) at the rig", {"view_psi": 0.0}),
    "w_avg-psi-0.25": ("views from the latent moved three quarters of the way to w_avg",
                       {"view_center": "w_avg", "view_psi": 0.25}),
    "matched-psi-0.25": ("views from the latent moved three quarters of the way to the matched mean",
                         {"view_center": "matched", "view_psi": 0.25}),
    "matched-psi-0": ("views of the matched mean (the generator's cars that match the input's mask)",
                      {"view_center": "matched", "view_psi": 0.0}),
}
COLUMNS = ("projection_psnr", "projection_ssim", "input_pose_error_deg", "critic_pose_error_deg",
           "view_psnr_mean", "view_mask_iou_mean", "view_mask_iou_min", "hull_consistency_iou", "seconds_per_image",
           "chain_fscore@0.05", "chain_fscore@0.02")
MESH_SCORES = ("fscore@0.05", "fscore@0.02")


def merged(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) else value
    return out


def run_stage(module: str, arguments: list[str], folder: Path, log_name: str) -> None:
    """``python -m <module> <arguments>`` in ``folder`` (its params.yaml), output in ``folder/<log_name>``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(folder / log_name, "w") as log:
        result = subprocess.run([sys.executable, "-m", module, *arguments], cwd=folder, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"{folder.name}: {module} failed (exit {result.returncode}); see {folder / log_name}")


def mesh_scores(folder: Path, args) -> dict:
    """``segment`` -> ``fit_mesh`` on the views in ``folder/out``; F-scores of the meshes against ``mesh.obj``."""
    run_stage("stages.segment", ["--input", "out", "--views", ".", "--eval", "none",
                                 "--model", str(args.segmenter.resolve()), "--out", "silhouettes",
                                 "--metrics", "segment.json", "--objects", "segment_objects.json",
                                 "--plots", "segment_plots", "--info", "segment_info.json"], folder, "segment_log.txt")
    run_stage("stages.fit_mesh", ["--input", "silhouettes", "--views", ".", "--out", "meshes",
                                  "--metrics", "fit.json", "--objects", "fit_objects.json", "--plots", "fit_plots",
                                  "--shape-prior"],  # as fit_mesh@chain (dvc.yaml)
              folder, "fit_log.txt")
    cars = {}
    for mesh in sorted((folder / "meshes").glob("*.obj")):
        truth = args.input.resolve() / mesh.stem / "mesh.obj"
        if truth.is_file():
            scores = mesh_metrics(*load_mesh(mesh), *load_mesh(truth))
            cars[mesh.stem] = {key: round(float(scores[key]), 4) for key in MESH_SCORES}
    if not cars:
        raise SystemExit(f"{folder.name}: no input has a mesh.obj to score the chain's meshes against")
    means = {f"chain_{key}": sum(c[key] for c in cars.values()) / len(cars) for key in MESH_SCORES}
    return means | {"chain_cars": cars}


def with_mesh_scores(folder: Path, args) -> dict:
    """The configuration's ``metrics.json``; with ``--mesh``, the chain's mesh scores added (once) and saved in it."""
    metrics = json.loads((folder / "metrics.json").read_text())
    if args.mesh and "chain_fscore@0.05" not in metrics:
        metrics |= mesh_scores(folder, args)
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def run_config(name: str, changes: dict, args, params: dict) -> dict:
    folder = args.work / name
    if args.reuse and (folder / "metrics.json").is_file():
        print(f"{name}: reusing {folder / 'metrics.json'}", file=sys.stderr)
        return with_mesh_scores(folder, args)
    (folder / "metrics.json").unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    section = merged(params["multiview"], changes)
    if args.steps is not None:
        section["steps"] = args.steps
    (folder / "params.yaml").write_text(yaml.safe_dump({**params, "multiview": section}, sort_keys=False))
    start = time.perf_counter()
    run_stage("stages.multiview", ["--input", str(args.input.resolve()), "--generator", str(args.generator.resolve()),
                                   "--critic", str(args.critic.resolve()), "--segmenter", str(args.segmenter.resolve()),
                                   "--out", "out", "--metrics", "metrics.json", "--objects", "objects.json",
                                   "--plots", "plots"], folder, "log.txt")
    print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return with_mesh_scores(folder, args)


def table(rows: dict[str, dict], steps: str) -> str:
    head = "| configuration | " + " | ".join(COLUMNS) + " |"
    lines = [f"Search steps: {steps}.", "", head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, metrics in rows.items():
        cells = [f"{metrics[c]:.3f}" if isinstance(metrics.get(c), float) else "-" for c in COLUMNS]
        lines.append(f"| {name}: {CONFIGS[name][0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", type=Path, required=True)
    parser.add_argument("--critic", type=Path, required=True)
    parser.add_argument("--segmenter", type=Path, default=Path("models/segmenter"))
    parser.add_argument("--input", type=Path, default=Path("data/heldout"))
    parser.add_argument("--steps", type=int, default=None, help="search steps of every configuration")
    parser.add_argument("--only", default=None, help="comma-separated configuration names")
    parser.add_argument("--work", type=Path, default=Path("/tmp/multiview_study"))
    parser.add_argument("--reuse", action="store_true", help="keep configurations already finished in --work")
    parser.add_argument("--mesh", action="store_true", help="also segment, fit and score each configuration's views")
    parser.add_argument("--out", type=Path, default=None, help="write the table (markdown) and a JSON beside it")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; known: {list(CONFIGS)}")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    rows = {name: run_config(name, CONFIGS[name][1], args, params) for name in names}
    steps = str(args.steps if args.steps is not None else params["multiview"]["steps"])
    text = table(rows, steps)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps({"steps": steps, "generator": str(args.generator),
                                                             "rows": rows}, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
