"""Silhouette bias of the soft renderers against hard z-buffer masks, and what it costs the fit; one JSON line.

Part 1, ``bias``: the ground-truth meshes (the held-out cars of ``--heldout`` with their own
cameras, an ico-sphere and a box with the tutorial's 20 views) rendered by each renderer and
thresholded at 0.5, against the hard masks that ``synth`` writes (``render.shaded.rasterize``):
area ratio, mean boundary offset in pixels (``render.bias``: (soft - hard area) / hard contour
length, + when the soft silhouette is larger) and per-view IoU (mean, worst), at each ``--sizes``
and ``--sigmas`` (NDC values, the same at every size, unlike a fit's ``render.sigma_size`` scaling; default: the
tutorial's 1e-4 and ``render.sigma_final``). Renderers: the
``fast`` backend with each blend (``product``: the tutorial's formulation, ``contour``,
``nearest``) and the ``pytorch3d`` backend (``SoftSilhouetteShader``, ``--pytorch3d-views`` views
of each shape, evenly spread).

Part 2, ``fit``: the oracle fit (default ``fit_mesh`` settings) of the held-out cars from their
hard masks at each ``--fit-sizes``, once per candidate way of making the fit unbiased:

- ``product``: the tutorial's renderer, sigma 1e-4 (the reference);
- ``default``: ``params.yaml``'s ``render`` settings: the product blend for the first half of the
  fit, then the contour blend with sigma falling from ``render.sigma`` to ``render.sigma_final``, both
  scaled from ``render.sigma_size`` to the fit's size (1e-4 -> 7.5e-6 at 128 px, 4e-4 -> 3e-5 at 64 px);
- ``sigma_schedule``: the product blend throughout, sigma falling from 1e-4 to 1e-5 over the
  second half;
- ``contour``, ``nearest``: the ``fast`` backend's other blends (``render.soft_raster``);
- ``product_sqrt``: ``1 - sqrt(1 - alpha)``, a transmittance exponent of 1/2 calibrated so that
  the two faces on each side of a contour edge cross 0.5 on the edge;
- ``product_soft_target``: the target softened with the renderer's own edge profile (two faces
  at distance ``s`` from the hard boundary: ``1 - (1 - sigmoid(-+s^2 / sigma))^2``);
- ``name:sigma``: the same with another constant sigma;
- ``library``: ``default``'s renderer, the fit started from the library car that the masks match best (``fit_mesh
  --library``, ``fit.library``: by default ``synth``'s training cars, 3D meshes from the cars' own generator), its
  edge and Laplacian terms measured from that start, the Laplacian weighted by ``fit.library.w_laplacian``;
  ``library_start`` scores the start itself.

Each fit reports the GT metrics of ``fit_mesh`` (F-score at 0.01/0.02/0.05, Chamfer-L2), the
silhouette IoU of the fitted mesh's hard z-buffer masks against the targets (``silhouette_iou``:
independent of the fit's renderer) and seconds; mean over the cars.

Part 3, ``offset``: what a bias alone would score. The ``default`` candidate's fitted meshes, each
vertex moved by ``--offsets`` pixels along its normal (- inward: the shrink of a biased fit; a
pixel is the world size of one pixel at the camera distance), scored like the fits (F@0.05, F@0.02).

    python benchmarks/silhouette_bias.py [--quick] [--sizes 64,128,256] [--fit-sizes 128,64]
        [--candidates product,sigma_schedule,...] [--iterations 2000] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.data.object_views import find_objects  # noqa: E402
from inverse_graphics.fit.silhouette_fit import SilhouetteFitSettings, fit_to_silhouettes  # noqa: E402
from inverse_graphics.mesh.box import box_mesh  # noqa: E402
from inverse_graphics.fit.library_prior import library_template, load_library  # noqa: E402
from inverse_graphics.mesh.ico_sphere import ico_sphere  # noqa: E402
from inverse_graphics.mesh.io import load_mesh  # noqa: E402
from inverse_graphics.mesh.metrics import mesh_metrics, silhouette_iou  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from inverse_graphics.render.bias import signed_distance_px, silhouette_bias  # noqa: E402
from inverse_graphics.render.cameras import CameraRig, load_rig, tutorial_rig  # noqa: E402
from inverse_graphics.render.shaded import rasterize  # noqa: E402
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings  # noqa: E402

RENDERERS = ("fast/contour", "fast/nearest", "fast/product", "pytorch3d")
CANDIDATES = (
    "product", "default", "sigma_schedule", "contour", "contour:3e-5", "nearest", "product_sqrt", "product_soft_target",
    "library",
)  # fmt: skip
SIGMA = SilhouetteSettings.sigma  # the tutorial's
PARAMS = load_params(["render", "fit", "synth"], ROOT / "params.yaml")
RENDER = PARAMS["render"]


def shapes(heldout: Path, cars: int | None) -> dict[str, tuple[torch.Tensor, torch.Tensor, CameraRig]]:
    """name -> (verts, faces, rig): the held-out cars, an ico-sphere and a box (tutorial rig)."""
    out = {}
    for obj in find_objects(heldout)[:cars]:
        verts, faces = load_mesh(obj / "mesh.obj")
        out[obj.name] = (verts, faces, load_rig(obj / "cameras.json"))
    out["sphere"] = (*ico_sphere(4), tutorial_rig(20))
    out["box"] = (*box_mesh((0.9, 0.45, 0.6), subdivisions=4), tutorial_rig(20))
    return out


def render(name: str, verts, faces, rig: CameraRig, sigma: float, chunk: int = 4) -> torch.Tensor:
    """``alpha: (N, S, S)`` of one of ``RENDERERS`` (pytorch3d in chunks of views: memory)."""
    backend, _, blend = name.partition("/")
    settings = SilhouetteSettings(rig.image_size, sigma, blend=blend or "product")
    renderer = SilhouetteRenderer(backend, settings)
    with torch.no_grad():
        if backend == "fast":
            return renderer(verts, faces, rig)
        parts = [renderer(verts, faces, rig.subset(list(range(i, min(i + chunk, len(rig)))))) for i in range(0, len(rig), chunk)]
        return torch.cat(parts)


def bias_part(all_shapes: dict, sizes: list[int], sigmas: list[float], p3d_views: int) -> dict:
    """``{renderer: {group: {"<size>@<sigma>": stats}}}`` with groups ``cars``, ``sphere``, ``box``."""
    out: dict = {}
    for sigma in sigmas:
        for size in sizes:
            pooled: dict = {}
            for name, (verts, faces, rig) in all_shapes.items():
                group = "cars" if name.startswith("car") else name
                for renderer in RENDERERS:
                    view_rig = dataclasses.replace(rig, image_size=size)
                    if renderer == "pytorch3d":  # slow on the CPU: an evenly spread subset of views
                        view_rig = view_rig.subset(list(range(0, len(rig), max(1, len(rig) // p3d_views)))[:p3d_views])
                    hard = rasterize(verts, faces, view_rig) >= 0
                    alpha = render(renderer, verts, faces, view_rig, sigma)
                    distance = signed_distance_px(verts, faces, view_rig)
                    pooled.setdefault((renderer, group), []).append((alpha, hard, distance))
            for (renderer, group), items in pooled.items():
                alpha, hard, distance = (torch.cat(x) for x in zip(*items))
                stats = {k: round(v, 4) for k, v in silhouette_bias(alpha, hard, distance).items()}
                out.setdefault(renderer, {}).setdefault(group, {})[f"{size}@{sigma:g}"] = stats
    return out


# ----------------------------------------------------------------------------- fit candidates


class SqrtTransmittance:
    """``1 - sqrt(1 - alpha)`` of the product blend: the two faces of a contour edge cross 0.5 on it."""

    def __init__(self, settings: SilhouetteSettings):
        self.inner = SilhouetteRenderer("fast", settings)

    def __call__(self, verts, faces, rig, progress=1.0):
        return 1.0 - (1.0 - self.inner(verts, faces, rig, progress)).clamp_min(1e-12).sqrt()


def soft_target(masks: torch.Tensor, sigma: float) -> torch.Tensor:
    """``masks: (N, S, S)`` hard -> the product blend's profile across a contour edge of two faces.

    ``s``, the signed distance of each pixel centre to the mask boundary (Euclidean distance
    transform, minus half a pixel), in NDC: ``1 - (1 - sigmoid(-+s^2 / sigma))^2``.
    """
    from scipy.ndimage import distance_transform_edt

    size = masks.shape[-1]
    out = []
    for mask in masks.bool().numpy():
        inside = distance_transform_edt(mask) - 0.5  # to the nearest outside pixel centre
        outside = distance_transform_edt(~mask) - 0.5
        s = torch.from_numpy(inside * mask - outside * ~mask).float() * (2.0 / size)  # + inside
        p = torch.sigmoid(torch.sign(s) * s.square() / sigma)
        out.append(1.0 - (1.0 - p) ** 2)
    return torch.stack(out)


def candidate(name: str, size: int, masks: torch.Tensor):
    """(renderer for the fit, target masks) of one of ``CANDIDATES``; ``name:sigma`` overrides sigma."""
    name, _, sigma = name.partition(":")
    settings = SilhouetteSettings(size, float(sigma) if sigma else SIGMA, blend="product")
    if name in ("product", "contour", "nearest"):
        return SilhouetteRenderer("fast", dataclasses.replace(settings, blend=name)), masks
    if name in ("default", "library"):
        return SilhouetteRenderer("fast", SilhouetteSettings.from_params(RENDER, size)), masks
    if name == "sigma_schedule":
        return SilhouetteRenderer("fast", dataclasses.replace(settings, sigma_final=1e-5)), masks
    if name == "product_sqrt":
        return SqrtTransmittance(settings), masks
    if name == "product_soft_target":
        return SilhouetteRenderer("fast", settings), soft_target(masks, settings.sigma)
    raise ValueError(f"unknown candidate {name!r} (expected one of {list(CANDIDATES)}, optionally ':sigma')")


def offset_along_normals(verts: torch.Tensor, faces: torch.Tensor, distance: float) -> torch.Tensor:
    """``verts: (V, 3)`` moved by ``distance`` along PyTorch3D's vertex normals (+ outward) -> ``(V, 3)``."""
    from pytorch3d.structures import Meshes

    return verts + distance * Meshes(verts=[verts], faces=[faces]).verts_normals_packed()


def offset_scores(result, verts, faces, rig: CameraRig, offsets: list[float]) -> dict:
    """``{"<px>": {"fscore@0.05", "fscore@0.02"}}`` of the fitted mesh moved by each offset in pixels."""
    pixel = 2 * rig.dist[0] * math.tan(math.radians(rig.fov) / 2) / rig.image_size
    out = {}
    for px in offsets:
        metrics = mesh_metrics(offset_along_normals(result.verts, result.faces, px * pixel), result.faces, verts, faces)
        out[f"{px:g}"] = {k: metrics[k] for k in ("fscore@0.05", "fscore@0.02")}
    return out


def fit_part(cars: dict, sizes: list[int], names: list[str], iterations: int, offsets: list[float]) -> tuple[dict, dict]:
    """``{"<size>": {candidate: mean metrics over the cars}}`` and the ``default`` fits' ``{"<size>": {"<px>":
    mean F-scores}}`` after moving them by each of ``offsets`` pixels along their normals."""
    out: dict = {}
    moved: dict = {}
    settings = dataclasses.replace(SilhouetteFitSettings(), iterations=iterations)
    library = None
    for size in sizes:
        for name in names:
            rows, starts = [], []
            for verts, faces, rig in cars.values():
                rig = dataclasses.replace(rig, image_size=size)
                masks = (rasterize(verts, faces, rig) >= 0).float()
                renderer, target = candidate(name, size, masks)
                template = None
                if name == "library":
                    library = library or load_library(PARAMS["fit"]["library"]["folder"], PARAMS["synth"]["seed"],
                                                      PARAMS["synth"]["num_cars"])
                    template = library_template(masks, rig, library, settings.ico_level,
                                                PARAMS["fit"]["library"]["mold_iterations"]).verts
                prior = settings if template is None else dataclasses.replace(
                    settings, w_laplacian=PARAMS["fit"]["library"]["w_laplacian"])
                result = fit_to_silhouettes(target, rig, renderer, prior, progress=False, template=template)
                if template is not None:
                    start = mesh_metrics(template, result.faces, verts, faces)
                    starts.append({k: start[k] for k in ("fscore@0.05", "fscore@0.02")})
                fitted = (rasterize(result.verts, result.faces, rig) >= 0).float()
                metrics = mesh_metrics(result.verts, result.faces, verts, faces)
                if name == "default" and offsets:
                    for px, scores in offset_scores(result, verts, faces, rig, offsets).items():
                        for key, value in scores.items():
                            moved.setdefault(str(size), {}).setdefault(px, {}).setdefault(key, []).append(value)
                rows.append(
                    {k: metrics[k] for k in ("fscore@0.01", "fscore@0.02", "fscore@0.05", "chamfer_l2")}
                    | {"silhouette_iou": float(silhouette_iou(fitted, masks).mean()), "seconds": result.seconds}
                )
            mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
            out.setdefault(str(size), {})[name] = {
                k: round(v, 5 if k == "chamfer_l2" else 1 if k == "seconds" else 4) for k, v in mean.items()
            }
            if starts:
                out[str(size)]["library_start"] = {k: round(sum(r[k] for r in starts) / len(starts), 4)
                                                   for k in starts[0]}
            print(f"fit {size} px {name}: {out[str(size)][name]}", file=sys.stderr, flush=True)
    for by_px in moved.values():
        for px, scores in by_px.items():
            by_px[px] = {k: round(sum(v) / len(v), 4) for k, v in scores.items()}
    return out, moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", default=str(ROOT / "data" / "heldout"))
    parser.add_argument("--sizes", default="64,128,256")
    parser.add_argument("--sigmas", default=f"{SIGMA:g},{RENDER['sigma_final'] or SIGMA:g}", help="bias part's sigmas")
    parser.add_argument("--fit-sizes", default="128,64")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--iterations", type=int, default=SilhouetteFitSettings.iterations)
    parser.add_argument("--offsets", default="-1,-0.5,0.5,1", help="pixels to move the default fits (part 3)")
    parser.add_argument("--pytorch3d-views", type=int, default=4, help="views per shape for the slow pytorch3d")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="one car, 2 pytorch3d views, 300-iteration fits")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    all_shapes = shapes(Path(args.heldout), 1 if args.quick else None)
    cars = {k: v for k, v in all_shapes.items() if k.startswith("car")}
    iterations = 300 if args.quick else args.iterations
    ints = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    start = time.perf_counter()
    line = {
        "benchmark": "silhouette_bias",
        "cars": list(cars),
        "views": len(next(iter(cars.values()))[2]),
        "pytorch3d_views": 2 if args.quick else args.pytorch3d_views,
        "bias": bias_part(
            all_shapes, ints(args.sizes), [float(s) for s in args.sigmas.split(",")], 2 if args.quick else args.pytorch3d_views
        ),
    }
    line["fit_iterations"] = iterations
    offsets = [float(x) for x in args.offsets.split(",") if x]
    line["fit"], line["offset"] = fit_part(cars, ints(args.fit_sizes), args.candidates.split(","), iterations, offsets)
    line |= {"threads": torch.get_num_threads(), "seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
