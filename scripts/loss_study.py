"""The loss study of the original work, as queued DVC experiments on stage ``fit_mesh_3d``.

{chamfer only, +edge, +normal, +laplacian, +quadric} x {SGD lr 1, Adam lr 1, Adam lr 0.01, Adam lr 0.05}
on the fox and on one synthetic held-out car, plus "no chamfer" (regularisers only) with SGD.

    python scripts/loss_study.py queue     # dvc exp run --queue -S ... for every configuration
    python scripts/loss_study.py run       # dvc queue start, wait until the queue is empty
    python scripts/loss_study.py report    # docs/loss_study.md + docs/study/*.png from dvc exp show --json
    (``make study`` runs all three.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")
PREFIX = "study"

TARGETS = {"fox": "assets/fox.obj", "car": "data/heldout/car_000/mesh.obj"}
ZERO = {"w_chamfer": 1.0, "w_edge": 0.0, "w_normal": 0.0, "w_laplacian": 0.0, "w_quadric": 0.0}
LOSSES = {  # cumulative, as the original study added them one at a time
    "chamfer": ZERO,
    "edge": ZERO | {"w_edge": 1.0},
    "normal": ZERO | {"w_edge": 1.0, "w_normal": 0.01},
    "laplacian": ZERO | {"w_edge": 1.0, "w_normal": 0.01, "w_laplacian": 0.1},
    "quadric": ZERO | {"w_edge": 1.0, "w_normal": 0.01, "w_laplacian": 0.1, "w_quadric": 1.0},
}
OPTIMIZERS = {
    "sgd1": {"optimizer": "sgd", "lr": 1.0},
    "adam1": {"optimizer": "adam", "lr": 1.0},
    "adam0.01": {"optimizer": "adam", "lr": 0.01},
    "adam0.05": {"optimizer": "adam", "lr": 0.05},
}
NO_CHAMFER = {"w_chamfer": 0.0, "w_edge": 1.0, "w_normal": 0.01, "w_laplacian": 0.1, "w_quadric": 0.0}
METRICS = ["chamfer_l2", "fscore@0.01", "fscore@0.02", "fscore@0.05", "normal_consistency", "iou3d",
           "edge_max_over_mean", "seconds"]


def configurations() -> dict[str, dict]:
    """Experiment name -> fit3d params to set."""
    configs = {}
    for target, path in TARGETS.items():
        for loss, weights in LOSSES.items():
            for opt, opt_params in OPTIMIZERS.items():
                configs[f"{PREFIX}-{target}-{loss}-{opt}"] = {"target": path} | weights | opt_params
        configs[f"{PREFIX}-{target}-nochamfer-sgd1"] = {"target": path} | NO_CHAMFER | OPTIMIZERS["sgd1"]
    return configs


def dvc(*args: str, capture: bool = False) -> str:
    proc = subprocess.run([DVC, *args], cwd=ROOT, check=True, text=True, capture_output=capture)
    return proc.stdout if capture else ""


def queue() -> None:
    for name, values in configurations().items():
        sets = [arg for key, value in values.items() for arg in ("-S", f"fit3d.{key}={value}")]
        dvc("exp", "run", "fit_mesh_3d", "--queue", "-n", name, *sets)


def run(poll_s: float = 15.0) -> None:
    dvc("queue", "start", "-j", "1")
    while True:
        status = dvc("queue", "status", capture=True)
        if not any(word in status for word in ("Queued", "Running")):
            print(status)
            return
        time.sleep(poll_s)


def study_rows() -> dict[str, dict]:
    """Experiment name -> {"rev", "params", "metrics"} for the study's experiments in ``dvc exp show``."""
    rows = {}
    for baseline in json.loads(dvc("exp", "show", "--json", capture=True)):
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                name = rev.get("name") or ""
                if not name.startswith(PREFIX + "-") or rev.get("data") is None:
                    continue
                data = rev["data"]
                metrics = data["metrics"].get("metrics/fit_mesh_3d.json", {}).get("data", {})
                rows[name] = {"rev": rev["rev"], "params": data["params"]["params.yaml"]["data"]["fit3d"],
                              "metrics": metrics}
    return rows


def markdown_table(rows: dict[str, dict], target: str) -> str:
    head = "| losses | optimizer | " + " | ".join(METRICS) + " | picture |"
    lines = [head, "|" + "---|" * (len(METRICS) + 3)]
    for name, row in sorted(rows.items()):
        _, tgt, loss, opt = name.split("-", 3)
        if tgt != target:
            continue
        values = [f"{row['metrics'].get(m, float('nan')):.4g}" for m in METRICS]
        lines.append(f"| {loss} | {opt} | " + " | ".join(values) + f" | [png](study/{name}.png) |")
    return "\n".join(lines)


def report(out: Path = ROOT / "docs") -> None:
    rows = study_rows()
    if not rows:
        sys.exit("error: no study experiments found in `dvc exp show` (run `make study` first)")
    pictures = out / "study"
    pictures.mkdir(parents=True, exist_ok=True)
    for name, row in rows.items():
        target = Path(row["params"]["target"]).stem
        png = subprocess.run(["git", "show", f"{row['rev']}:metrics/fit_mesh_3d/{target}_turntable.png"],
                             cwd=ROOT, capture_output=True, check=True).stdout
        (pictures / f"{name}.png").write_bytes(png)
    text = ["# Loss study (generated by `make study`; do not edit by hand)", ""]
    for target, path in TARGETS.items():
        text += [f"## Target: {target} (`{path}`)", "", markdown_table(rows, target), ""]
    tmp = out / ".loss_study.md.tmp"
    tmp.write_text("\n".join(text))
    shutil.move(tmp, out / "loss_study.md")
    print(f"wrote {out / 'loss_study.md'} and {len(rows)} pictures in {pictures}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["queue", "run", "report", "all"])
    step = parser.parse_args().step
    for name, fn in (("queue", queue), ("run", run), ("report", report)):
        if step in (name, "all"):
            fn()
