"""What each part of ``multiview``'s search buys: the stage run once per configuration, one table.

Each configuration is params.yaml's ``multiview`` section with a few keys changed (``CONFIGS``); the stage itself
(``stages/multiview.py``) runs it in its own folder under ``--work`` (a params.yaml copy there, every path absolute),
on the same inputs, generator, critic and segmenter. The table (markdown, printed and written to ``--out``) has one
row per configuration: projection PSNR / SSIM, camera error (the search's and the critic's first guess), view mask
IoU against the ground truth and hull consistency (with a segmenter), seconds per image. ``--steps`` shortens every
search alike (the table says so); ``--only`` picks configurations by name.

    python scripts/multiview_study.py --generator models/gan/snapshot.pt --critic models/critic/critic.pt \
        --segmenter models/segmenter [--input data/heldout] [--steps 1000] [--only pixel,critic] \
        [--out docs/multiview_study.md] [--work /tmp/multiview_study] [--reuse]
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

# name -> (description, changes to params.yaml's multiview section; nested keys as dicts)
CONFIGS = {
    "pixel": ("pixel pyramid only", {"distance": {"pixel": 1.0, "critic": 0.0, "discriminator": 0.0}}),
    "critic": ("car-critic features only", {"distance": {"pixel": 0.0, "critic": 0.1, "discriminator": 0.0}}),
    "pixel+critic": ("pixel + critic (0.1)", {"distance": {"pixel": 1.0, "critic": 0.1, "discriminator": 0.0}}),
    "pixel+critic+D": ("pixel + critic (0.1) + discriminator (0.1)",
                       {"distance": {"pixel": 1.0, "critic": 0.1, "discriminator": 0.1}}),
    "fixed-camera": ("default, camera kept at the critic's guess", {"pose": {"optimize": False}}),
    "starts-4": ("default, 4 starting azimuths", {"pose": {"starts": 4}}),
    "w+": ("default in W+", {"space": "w+"}),
    "pti": ("default + pivotal tuning (200 steps)", {"pti": {"steps": 200}}),
}
COLUMNS = ("projection_psnr", "projection_ssim", "input_pose_error_deg", "critic_pose_error_deg",
           "view_psnr_mean", "view_mask_iou_mean", "view_mask_iou_min", "hull_consistency_iou", "seconds_per_image")


def merged(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) else value
    return out


def run_config(name: str, changes: dict, args, params: dict) -> dict:
    folder = args.work / name
    if args.reuse and (folder / "metrics.json").is_file():
        print(f"{name}: reusing {folder / 'metrics.json'}", file=sys.stderr)
        return json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    section = merged(params["multiview"], changes)
    if args.steps is not None:
        section["steps"] = args.steps
    (folder / "params.yaml").write_text(yaml.safe_dump({**params, "multiview": section}, sort_keys=False))
    cmd = [sys.executable, "-m", "stages.multiview", "--input", str(args.input.resolve()),
           "--generator", str(args.generator.resolve()), "--critic", str(args.critic.resolve()),
           "--segmenter", str(args.segmenter.resolve()), "--out", str(folder / "out"),
           "--metrics", str(folder / "metrics.json"), "--objects", str(folder / "objects.json"),
           "--plots", str(folder / "plots")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    with open(folder / "log.txt", "w") as log:
        result = subprocess.run(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"{name}: the stage failed (exit {result.returncode}); see {folder / 'log.txt'}")
    print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return json.loads((folder / "metrics.json").read_text())


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
