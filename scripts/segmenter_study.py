"""Which segmenter recipe closes the gap on unseen backgrounds? ``train_segmenter`` and ``segment``'s evaluation
re-run once per configuration, each in its own work folder, and their figures side by side.

A configuration is a name and ``params.yaml`` changes in DVC's ``-S`` form, ``segment.*`` and
``train_segmenter.*`` keys:

    python scripts/segmenter_study.py --dataset data/dataset --eval data/heldout --work runs/segmenter-study \\
        --config "r50:segment.arch=resnet50,train_segmenter.batch_size=32" --seconds 240 --jobs 2

The baseline (``params.yaml`` as it is) runs first unless ``--no-baseline``. ``--seconds S`` replaces
``train_segmenter.steps`` of every configuration but the baseline by what fits S seconds of training on this
machine: a 60-step calibration run of the same configuration measures the seconds per step after its first 10
(CUDA start, cuDNN tuning); 10% is kept for the validation passes and the steps are rounded down to ``val_every``.
``--jobs N`` runs N configurations at once (one GPU shared by several small networks; calibrations then measure
the shared card). ``--segment DIR`` also segments DIR's object folders (e.g. ``data/multiview``) with each
trained network into ``<work>/<name>/silhouettes/``, for ``scripts/fit_study.py --masks``.

Each run is ``python -m stages.train_segmenter`` then ``python -m stages.segment --input <eval> --views rig
--eval <eval>`` as ``dvc.yaml`` runs them, so the figures are the stage's: ``scene`` (the unseen family, IoU
mean / worst view), the plain rig renders (``input_mask_iou``, the input of ``fit_mesh@segmented_gt``) and the
``gradient`` context. Prints a markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.errors import UserError  # noqa: E402
from inverse_graphics.param_changes import apply_changes, parse_config  # noqa: E402

SECTIONS = ("segment", "train_segmenter")
CALIBRATION_STEPS = 60
CALIBRATION_WARMUP = 10  # first steps left out of the timing (CUDA start, cuDNN autotuning)


def run_stage(folder: Path, params: dict, module: str, arguments: list[str]) -> None:
    """``python -m stages.<module> <arguments>`` in ``folder`` with ``params`` as its params.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with open(folder / f"{module}.log", "w") as log:
        result = subprocess.run([sys.executable, "-m", f"stages.{module}", *arguments], cwd=folder,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode:
        raise SystemExit(f"{folder}: {module} failed (exit {result.returncode}); see {folder / f'{module}.log'}")


def train(folder: Path, params: dict, dataset: Path) -> dict:
    run_stage(folder, params, "train_segmenter", ["--dataset", str(dataset), "--out", "model", "--metrics",
                                                  "train.json", "--plots", "train_plots", "--info", "train_info.json"])
    return json.loads((folder / "train.json").read_text())


def steps_for(seconds: float, folder: Path, params: dict, dataset: Path) -> int:
    """Training steps of ``params`` that fit ``seconds`` here, timed on a short run of the same configuration
    (its loss curve's clock from step ``CALIBRATION_WARMUP`` on; 10% kept for the validation passes)."""
    calibration = apply_changes(params, {"train_segmenter.steps": CALIBRATION_STEPS,
                                         "train_segmenter.val_every": CALIBRATION_STEPS}, "calibration", SECTIONS)
    train(folder / "calibration", calibration, dataset)
    with open(folder / "calibration/train_plots/loss.csv") as f:
        clock = {int(row["step"]): float(row["seconds"]) for row in csv.DictReader(f)}
    last = max(clock)
    per_step = (clock[last] - clock[CALIBRATION_WARMUP]) / (last - CALIBRATION_WARMUP)
    every = params["train_segmenter"]["val_every"]
    return max(every, math.floor(0.9 * seconds / per_step / every) * every)


def run_configuration(name: str, params: dict, args: argparse.Namespace, budget: bool) -> dict:
    folder = args.work / name
    if budget and args.seconds:
        steps = steps_for(args.seconds, folder, params, args.dataset)
        params = apply_changes(params, {"train_segmenter.steps": steps}, name, SECTIONS)
        print(f"{name}: {steps} steps fit {args.seconds:.0f} s", file=sys.stderr)
    trained = train(folder, params, args.dataset)
    run_stage(folder, params, "segment", ["--input", str(args.eval), "--views", "rig", "--eval", str(args.eval),
                                          "--model", "model", "--out", "silhouettes/heldout_rig", "--metrics",
                                          "segment.json", "--objects", "segment_objects.json", "--plots",
                                          "segment_plots", "--info", "segment_info.json"])
    if args.segment:
        run_stage(folder, params, "segment", ["--input", str(args.segment), "--views", ".", "--eval", "none",
                                              "--model", "model", "--out", f"silhouettes/{args.segment.name}",
                                              "--metrics", "segment_extra.json", "--objects", "segment_extra_objects.json",
                                              "--plots", "segment_extra_plots", "--info", "segment_extra_info.json"])
    seg = json.loads((folder / "segment.json").read_text())
    context = json.loads((folder / "segment_info.json").read_text())["context"]
    gradient = next(iter(context.values()), {})
    cfg = params["train_segmenter"]
    row = {"arch": params["segment"]["arch"], "steps": cfg["steps"], "batch_size": cfg["batch_size"],
           "train_seconds": trained["train_seconds"], "val_iou_mean": trained["val_iou_mean"],
           "device": json.loads((folder / "train_info.json").read_text())["device"],
           "scene_mean": seg["mask_iou_mean"], "scene_min": seg["mask_iou_min"],
           "rig_mean": seg["input_mask_iou_mean"], "rig_min": seg["input_mask_iou_min"],
           "gradient_mean": round(gradient.get("mask_iou_mean", float("nan")), 4),
           "gradient_min": round(gradient.get("mask_iou_min", float("nan")), 4)}
    print(f"{name}: {json.dumps(row)}", file=sys.stderr)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="synth's data/dataset folder")
    parser.add_argument("--eval", type=Path, required=True, help="synth's data/heldout folder (GT masks at the rig)")
    parser.add_argument("--config", action="append", default=[], help="NAME:section.key=value[,...] (repeat)")
    parser.add_argument("--no-baseline", action="store_true", help="skip params.yaml as it is")
    parser.add_argument("--seconds", type=float, default=None, help="training seconds per configuration (sets steps)")
    parser.add_argument("--jobs", type=int, default=1, help="configurations run at once")
    parser.add_argument("--segment", type=Path, default=None, help="object folders to segment with each network")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--work", type=Path, default=Path("/tmp/segmenter_study"))
    args = parser.parse_args(argv)
    args.dataset, args.eval, args.work = args.dataset.resolve(), args.eval.resolve(), args.work.resolve()
    args.segment = args.segment.resolve() if args.segment else None
    try:
        base = yaml.safe_load(args.params.read_text())
        configs = ({} if args.no_baseline else {"baseline": {}}) | dict(parse_config(text) for text in args.config)
        if not configs:
            raise UserError("nothing to run: give --config or drop --no-baseline")
        runs = {name: apply_changes(base, changes, name, SECTIONS) for name, changes in configs.items()}
    except (UserError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {name: pool.submit(run_configuration, name, params, args, name != "baseline")
                   for name, params in runs.items()}
        rows = {name: future.result() for name, future in futures.items()}
    lines = ["| configuration | changes | steps x batch | train s | `scene` mean / min | plain rig renders mean / min "
             "| `gradient` mean / min |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        changes = ", ".join(f"`{k}={v}`" for k, v in configs[name].items()) or "params.yaml"
        lines.append(f"| {name} | {changes} | {r['steps']} x {r['batch_size']} | {r['train_seconds']:.0f} "
                     f"| {r['scene_mean']:.3f} / {r['scene_min']:.3f} | {r['rig_mean']:.3f} / {r['rig_min']:.3f} "
                     f"| {r['gradient_mean']:.3f} / {r['gradient_min']:.3f} |")
    print("\n".join(lines))
    print(json.dumps({"benchmark": "segmenter_study", "seconds": args.seconds,
                      "configs": {name: {"changes": configs[name]} | rows[name] for name in rows}}))


if __name__ == "__main__":
    main()
