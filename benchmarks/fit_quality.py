"""Silhouette-fit quality on any mesh (default: the fox), one JSON line.

The mesh is normalised and rendered into the tutorial's 20 hard (z-buffer) silhouettes at 128 px,
as ``synth`` renders masks, then the default ``fit_mesh`` settings (``params.yaml``'s ``fit`` and
``render`` sections, ``fast`` backend) mold an ico-sphere into it; the line reports the stage's
metrics (silhouette IoU per view of the fitted mesh's hard masks, GT mesh metrics) and the fit's
seconds. Side by side in the same run, the same fit with each ``--lr-decay`` value (default: ours,
0.25, and the tutorial's constant lr, 0), and with the tutorial's silhouette renderer (product
blend, constant sigma: ``tutorial_renderer``), each averaged over ``--seeds`` fits (seeds 0..N-1,
which pick the random views of each iteration).

    python benchmarks/fit_quality.py [--mesh assets/fox.obj] [--iterations 2000] [--seeds 1] [--lr-decay 0.25,0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.fit.silhouette_fit import SilhouetteFitSettings, fit_to_silhouettes  # noqa: E402
from inverse_graphics.mesh.io import load_mesh  # noqa: E402
from inverse_graphics.mesh.metrics import mesh_metrics, silhouette_iou  # noqa: E402
from inverse_graphics.mesh.normalize import normalize_verts  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from inverse_graphics.render.cameras import tutorial_rig  # noqa: E402
from inverse_graphics.render.shaded import rasterize  # noqa: E402
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", default=str(ROOT / "assets" / "fox.obj"))
    parser.add_argument("--iterations", type=int, default=SilhouetteFitSettings.iterations)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--lr-decay", default=f"{SilhouetteFitSettings.lr_decay},0")
    args = parser.parse_args()
    verts, faces = load_mesh(args.mesh)
    verts = normalize_verts(verts)
    rig = tutorial_rig(20, image_size=128)
    render = load_params(["render"], ROOT / "params.yaml")["render"]
    default = SilhouetteSettings.from_params(render, 128)
    masks = (rasterize(verts, faces, rig) >= 0).float()
    line = {"mesh": Path(args.mesh).name, "iterations": args.iterations, "seeds": args.seeds}
    configs = [(f"lr_decay={float(d):g}", default, float(d)) for d in args.lr_decay.split(",")]
    configs.append(("tutorial_renderer", SilhouetteSettings(128), SilhouetteFitSettings.lr_decay))
    for name, silhouettes, decay in configs:
        renderer = SilhouetteRenderer("fast", silhouettes)
        runs = []
        for seed in range(args.seeds):
            settings = dataclasses.replace(SilhouetteFitSettings(), iterations=args.iterations, lr_decay=decay, seed=seed)
            result = fit_to_silhouettes(masks, rig, renderer, settings, progress=False)
            iou = silhouette_iou((rasterize(result.verts, result.faces, rig) >= 0).float(), masks)
            run = {"silhouette_iou_mean": float(iou.mean()), "silhouette_iou_min": float(iou.min())}
            runs.append(run | mesh_metrics(result.verts, result.faces, verts, faces) | {"seconds": result.seconds})
        line[name] = {k: round(sum(r[k] for r in runs) / len(runs), 4) for k in runs[0]}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
