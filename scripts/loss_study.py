"""The loss study of the original work, as queued DVC experiments on stage ``fit_mesh_3d``.

{chamfer only, +edge, +normal, +laplacian, +quadric} x {SGD lr 1, Adam lr 1, Adam lr 0.01, Adam lr 0.05}
on the fox and on one synthetic held-out car, plus "no chamfer" (regularisers only) with SGD.

    python scripts/loss_study.py queue     # dvc exp run --queue -S ... for every configuration
    python scripts/loss_study.py run       # dvc queue start, wait until the queue is empty
    python scripts/loss_study.py report    # docs/loss_study.md + docs/study/*.png from dvc exp show --json
    (``make study`` runs all three.)

``--target car`` (or ``fox``) queues one target's configurations only, for when that target changed;
the report takes each configuration's newest experiment, so the other target's rows are kept.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.viz import contact_sheet, save_png  # noqa: E402
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


def configurations(targets: list[str] | None = None) -> dict[str, dict]:
    """Experiment name -> fit3d params to set, for ``targets`` (default: all of ``TARGETS``)."""
    configs = {}
    for target, path in TARGETS.items():
        if targets and target not in targets:
            continue
        for loss, weights in LOSSES.items():
            for opt, opt_params in OPTIMIZERS.items():
                configs[f"{PREFIX}-{target}-{loss}-{opt}"] = {"target": path} | weights | opt_params
        configs[f"{PREFIX}-{target}-nochamfer-sgd1"] = {"target": path} | NO_CHAMFER | OPTIMIZERS["sgd1"]
    return configs


def dvc(*args: str, capture: bool = False) -> str:
    proc = subprocess.run([DVC, *args], cwd=ROOT, check=True, text=True, capture_output=capture)
    return proc.stdout if capture else ""


def queue(targets: list[str] | None = None) -> None:
    for name, values in configurations(targets).items():
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
    """Experiment name -> {"rev", "params", "metrics"} of the newest study experiments (any baseline commit)."""
    rows = {}
    for baseline in json.loads(dvc("exp", "show", "--json", "--all-commits", capture=True)):
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                name = rev.get("name") or ""
                if not name.startswith(PREFIX + "-") or rev.get("data") is None:
                    continue
                data = rev["data"]
                if name in rows and rows[name]["timestamp"] >= (data.get("timestamp") or ""):
                    continue
                metrics = data["metrics"].get("metrics/fit_mesh_3d.json", {}).get("data", {})
                if not metrics:  # queued or failed: nothing to report yet
                    continue
                rows[name] = {"rev": rev["rev"], "params": data["params"]["params.yaml"]["data"]["fit3d"],
                              "metrics": metrics, "timestamp": data.get("timestamp") or ""}
    return rows


def study_grid(target: str) -> list[tuple[str, str, str]]:
    """(experiment name, losses, optimizer) in the table's order: losses as added, then optimizers."""
    return [(f"{PREFIX}-{target}-{loss}-{opt}", loss, opt) for loss in [*LOSSES, "nochamfer"] for opt in OPTIMIZERS]


def markdown_table(rows: dict[str, dict], target: str) -> str:
    head = "| losses | optimizer | " + " | ".join(METRICS) + " | picture |"
    lines = [head, "|" + "---|" * (len(METRICS) + 3)]
    for name, loss, opt in study_grid(target):
        if name not in rows:
            continue
        values = [f"{rows[name]['metrics'].get(m, float('nan')):.4g}" for m in METRICS]
        lines.append(f"| {loss} | {opt} | " + " | ".join(values) + f" | [png](study/{name}.png) |")
    return "\n".join(lines)


def overview(pictures: Path, target: str) -> Image.Image:
    """One sheet per target: rows = losses, columns = optimizers; each tile = the fit's first 3 turntable views."""
    tiles, labels = [], []
    for name, loss, opt in study_grid(target):
        path = pictures / f"{name}.png"
        if not path.is_file():  # a configuration that was not run (nochamfer: SGD only)
            tiles.append(np.full((64, 192, 3), 255, np.uint8))
        else:
            with Image.open(path) as img:
                fit_row = img.convert("RGB").crop((0, img.height // 2, img.width * 3 // 8, img.height))
                tiles.append(np.asarray(fit_row.resize((fit_row.width // 2, fit_row.height // 2))))
        labels.append(f"{loss} / {opt}")
    return contact_sheet(tiles, ncols=len(OPTIMIZERS), labels=labels)


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
        save_png(overview(pictures, target), pictures / f"overview-{target}.png")
        text += [f"## Target: {target} (`{path}`)", "", f"![{target}: rows = losses, columns = optimizers]"
                 f"(study/overview-{target}.png)", "", markdown_table(rows, target), ""]
    tmp = out / ".loss_study.md.tmp"
    tmp.write_text("\n".join(text))
    shutil.move(tmp, out / "loss_study.md")
    print(f"wrote {out / 'loss_study.md'} and {len(rows)} pictures in {pictures}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["queue", "run", "report", "all"])
    parser.add_argument("--target", action="append", choices=list(TARGETS), help="queue only this target (repeatable)")
    args = parser.parse_args()
    for name, fn in (("queue", lambda: queue(args.target)), ("run", run), ("report", report)):
        if args.step in (name, "all"):
            fn()
