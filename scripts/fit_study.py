"""Does a fit setting gain on more than one set of cars? ``fit_mesh`` re-run on finished masks, once per
configuration and fit seed, and each mesh scored against its car's ``mesh.obj`` like ``evaluate``; nothing upstream
re-runs, so a setting can be tried on the 5 evaluation cars, the tuning cars (``scripts/make_tuning_cars.py``) and
the 20-car masks in minutes per set.

A configuration is a name and ``params.yaml`` changes in DVC's ``-S`` form, ``fit.*`` and ``render.*`` keys:

    python scripts/fit_study.py --masks data/silhouettes/multiview --truth data/heldout --shape-prior \
        --seeds 0,1 --config lap3:fit.shape_prior.w_laplacian=3 --config "slow:fit.lr=0.5,fit.iterations=3000"

The baseline (``params.yaml`` as it is) always runs first. ``--shape-prior`` fits as ``fit_mesh@chain`` does,
``--library`` from the library car the masks match best (``fit.library``, as ``fit_mesh@oracle_library``);
``--views`` is the views' sub-folder in each object (``.`` for masks written by ``segment``, ``rig`` for the
multiview rig of a held-out car). ``--truth`` holds ``<car>/mesh.obj`` (default: the masks' folder, as the
held-out layout has them). Prints a markdown table (F@0.05 / F@0.02 means per configuration and seed, and how many
cars went up against the baseline at the same seed) and one JSON line; ``--reuse`` keeps the finished runs in
``--work`` whose params.yaml is the one they would run with now (a changed ``params.yaml`` re-runs them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.errors import UserError  # noqa: E402
from inverse_graphics.mesh.io import load_mesh  # noqa: E402
from inverse_graphics.mesh.metrics import mesh_metrics  # noqa: E402
from inverse_graphics.param_changes import apply_changes, parse_config  # noqa: E402

SECTIONS = ("fit", "render")  # what a configuration may change: the fit and its renderer, nothing upstream
SCORES = ("fscore@0.05", "fscore@0.02")


def fit_and_score(folder: Path, params: dict, args) -> dict[str, dict[str, float]]:
    """``fit_mesh`` in ``folder`` with ``params``; ``{car: {score: value}}`` against ``--truth``."""
    meshes = folder / "meshes"
    text = yaml.safe_dump(params, sort_keys=False)
    same = (folder / "params.yaml").is_file() and (folder / "params.yaml").read_text() == text
    if not (args.reuse and same and (folder / "scores.json").is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "params.yaml").write_text(text)
        flags = (["--shape-prior"] if args.shape_prior else []) + (["--library"] if args.library else [])
        command = [sys.executable, "-m", "stages.fit_mesh", "--input", str(args.masks.resolve()),
                   "--views", args.views, "--out", "meshes", "--metrics", "fit.json", "--objects", "fit_objects.json",
                   "--plots", "plots"] + flags
        with open(folder / "log.txt", "w") as log:
            result = subprocess.run(command, cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log,
                                    stderr=subprocess.STDOUT)
        if result.returncode:
            raise SystemExit(f"{folder}: fit_mesh failed (exit {result.returncode}); see {folder / 'log.txt'}")
        cars = {}
        for mesh in sorted(meshes.glob("*.obj")):
            truth = args.truth / mesh.stem / "mesh.obj"
            if not truth.is_file():
                raise SystemExit(f"{truth}: not found (the ground truth of {mesh.stem}; set --truth)")
            scores = mesh_metrics(*load_mesh(mesh), *load_mesh(truth))
            cars[mesh.stem] = {key: round(float(scores[key]), 4) for key in SCORES}
        (folder / "scores.json").write_text(json.dumps(cars, indent=1) + "\n")
    return json.loads((folder / "scores.json").read_text())


def summary(cars: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]]) -> dict:
    """Means over the cars and the number of cars whose F@0.05 beats the baseline's."""
    means = {key: round(sum(c[key] for c in cars.values()) / len(cars), 4) for key in SCORES}
    up = sum(cars[car]["fscore@0.05"] > baseline[car]["fscore@0.05"] for car in cars)
    return means | {"cars_up": up, "cars": len(cars)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--masks", type=Path, required=True, help="object folders with cameras.json + masks/")
    parser.add_argument("--views", default=".", help="the views' sub-folder in each object (. or rig)")
    parser.add_argument("--truth", type=Path, default=None, help="folder of <car>/mesh.obj (default: --masks)")
    parser.add_argument("--shape-prior", action="store_true", help="fit as fit_mesh@chain (fit.shape_prior)")
    parser.add_argument("--library", action="store_true", help="start every fit from a library car (fit.library)")
    parser.add_argument("--seeds", default="0", help="comma-separated fit.seed values")
    parser.add_argument("--config", action="append", default=[], help="NAME:section.key=value[,...] (repeat)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fit_study"))
    parser.add_argument("--reuse", action="store_true", help="keep the runs already scored in --work with the same params")
    args = parser.parse_args(argv)
    args.truth = args.truth or args.masks
    try:
        base = yaml.safe_load(args.params.read_text())
        seeds = [int(s) for s in args.seeds.split(",")]
        configs = {"baseline": {}} | dict(parse_config(text) for text in args.config)
        runs = {name: apply_changes(base, changes, name, SECTIONS) for name, changes in configs.items()}
    except (UserError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    scores = {}  # (configuration, seed) -> {car: {score: value}}; the baseline first, so the others compare to it
    rows: dict[str, dict[int, dict]] = {}
    for name, params in runs.items():
        for seed in seeds:
            folder = args.work / name / f"seed{seed}"
            seeded = apply_changes(params, {"fit.seed": seed}, name, SECTIONS)
            scores[name, seed] = fit_and_score(folder, seeded, args)
            row = rows.setdefault(name, {})[seed] = summary(scores[name, seed], scores["baseline", seed])
            print(f"{name} seed {seed}: {json.dumps(row)}", file=sys.stderr)
    lines = ["| configuration | changes | " + " | ".join(f"seed {s}" for s in seeds) + " | mean F@0.05 / F@0.02 |",
             "|---|---|" + "---|" * (len(seeds) + 1)]
    for name, per_seed in rows.items():
        cells = [f"{r['fscore@0.05']:.3f} / {r['fscore@0.02']:.3f} ({r['cars_up']} of {r['cars']} up)"
                 for r in per_seed.values()]
        mean = [sum(r[key] for r in per_seed.values()) / len(per_seed) for key in SCORES]
        changes = ", ".join(f"`{k}={v}`" for k, v in configs[name].items()) or "params.yaml"
        lines.append(f"| {name} | {changes} | " + " | ".join(cells) + f" | {mean[0]:.3f} / {mean[1]:.3f} |")
    print("\n".join(lines))
    print(json.dumps({"benchmark": "fit_study", "masks": str(args.masks), "shape_prior": args.shape_prior,
                      "library": args.library,
                      "seeds": seeds, "configs": {name: {"changes": configs[name], "seeds": rows[name]}
                                                  for name in rows}}))


if __name__ == "__main__":
    main()
