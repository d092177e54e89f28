"""Stage ``synth``: the GAN training set and the held-out test cars (params section ``synth``).

Outputs (every folder written whole through a temp sibling, then renamed; paths from ``dvc.yaml``)::

    --dataset/cars-<res>.zip   stylegan2-ada dataset zip; labels [sin azim, cos azim, elev/90]
                               (source: folder -> the letterboxed photos, labels null)
    --dataset/masks-<res>.zip  the training images' ground-truth masks (L, 0/255) under the same
                               archive names, labels null (synthetic source only; a separate zip
                               because a dataset reader takes every PNG of a zip as an image)
    --heldout/car_NNN/         object folders (docs/object_folder.md): mesh.obj (normalised GT),
                               input.png + input.json (its rig), cameras.json (tutorial views),
                               images/NNN.png, masks/NNN.png (L, 0/255); and params.json (the car)
    --heldout/car_NNN/rig/     the same car at the multiview rig (params ``multiview.rig``: 20 views, elevations 10
                               and 25, at ``synth.resolution``): cameras.json, images/, masks/ (the ground truth
                               of ``multiview``'s views and the input of the ``oracle_rig`` fit)
    --metrics                  what a person compares: seconds, time split, images per second
    --info                     the configuration and counts beside them: cars, images, resolution, styles, faces
    --plots/*.png              train_samples.png, heldout_views.png

Training car ``i`` draws everything from ``numpy.random.default_rng(seed + i)``; held-out car ``j``
from ``default_rng([seed + j, 1])``, a separate stream, so no held-out car is a training car.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from inverse_graphics.data.car_generator import build_car, render_car, sample_appearance, sample_car_params
from inverse_graphics.data.dataset_zip import DatasetZipWriter, encode_png, pose_label, read_dataset_zip
from inverse_graphics.data.image_folder import import_image_folder
from inverse_graphics.data.object_views import write_object_folder
from inverse_graphics.io_utils import atomic_dir, write_json
from inverse_graphics.params import load_params
from inverse_graphics.render.cameras import CameraRig, random_rig, ring_rig, tutorial_rig
from inverse_graphics.viz import contact_sheet, save_png, to_uint8
from stages._runner import run_stage

PATHS = {
    "dataset": "folder for the GAN training zip",
    "heldout": "folder for the held-out object folders",
    "metrics": "the stage's JSON figures (seconds, throughput)",
    "info": "plain JSON beside them: configuration echo and counts",
    "plots": "folder for the contact sheets (PNG)",
}

HELDOUT_STREAM = 1  # second entropy word of the held-out cars' seed sequence
SAMPLE_SHEET = 64  # training images on the contact sheet
# The renders are many small tensor ops: a second thread gains ~1.5x on an idle 2-core machine but
# stalls OpenMP barriers (measured up to 50x slower) whenever another process holds a core.
THREADS = 1


def _torch_generator(rng: np.random.Generator) -> torch.Generator:
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


def _random_rig(rng: np.random.Generator, num_views: int, resolution: int, camera: dict) -> CameraRig:
    return random_rig(num_views, _torch_generator(rng), camera["dist"], (camera["elev_min"], camera["elev_max"]),
                      resolution, camera["fov"])


def write_training_set(cfg: dict, out_zip: Path, masks_zip: Path | None = None) -> dict:
    """Render ``num_cars x images_per_car`` views into ``out_zip`` and, when given, their masks into ``masks_zip``
    (same archive names); returns timings and counts."""
    seconds = Counter()
    faces, styles = [], Counter()
    total = cfg["num_cars"] * cfg["images_per_car"]
    masks_cm = DatasetZipWriter(masks_zip, labelled=False) if masks_zip is not None else contextlib.nullcontext()
    with DatasetZipWriter(out_zip, labelled=True) as writer, masks_cm as mask_writer, \
            tqdm(total=total, desc="synth", unit="img") as bar:
        for i in range(cfg["num_cars"]):
            rng = np.random.default_rng(cfg["seed"] + i)
            t0 = time.perf_counter()
            params = sample_car_params(rng)
            car = build_car(params)
            t1 = time.perf_counter()
            rig = _random_rig(rng, cfg["images_per_car"], cfg["resolution"], cfg["camera"])
            images, masks = render_car(car, rig, sample_appearance(rng, len(rig)))
            t2 = time.perf_counter()
            for image, mask, azim, elev in zip(images, masks, rig.azim, rig.elev):
                writer.add(encode_png(to_uint8(image)), pose_label(azim, elev), object_id=i)
                if mask_writer is not None:  # same index, same name
                    mask_writer.add(encode_png(mask.numpy().astype(np.uint8) * 255))
            t3 = time.perf_counter()
            seconds.update(mesh=t1 - t0, render=t2 - t1, encode=t3 - t2)
            faces.append(len(car.faces))
            styles[params.style] += 1
            bar.update(len(rig))
    return {"time_split_s": dict(seconds), "mean_faces_per_car": float(np.mean(faces)), "styles": dict(sorted(styles.items()))}


def write_heldout_car(cfg: dict, index: int, folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One test car's object folder (see the module docstring); returns its views ``(N, S, S, 3)`` and masks."""
    rng = np.random.default_rng([cfg["seed"] + index, HELDOUT_STREAM])
    params = sample_car_params(rng)
    car = build_car(params)
    look = sample_appearance(rng, 1)
    cam = cfg["camera"]
    input_rig = _random_rig(rng, 1, cfg["resolution"], cam)
    input_image, _ = render_car(car, input_rig, look)
    views = tutorial_rig(cfg["heldout_views"], cam["dist"], cfg["heldout_resolution"], cam["fov"])
    images, masks = render_car(car, views, look)
    write_object_folder(folder, views, images=images, masks=masks, mesh=car.normalized(),
                        input_image=input_image[0], input_rig=input_rig)
    write_json(folder / "params.json", dataclasses.asdict(params))
    write_heldout_rig(cfg, car, look, folder / "rig")
    return images, masks


def write_heldout_rig(cfg: dict, car, look, folder: Path) -> None:
    """The car at the multiview rig's cameras (``cfg["rig"]``: views, elevations), same look, as an object folder."""
    cam = cfg["camera"]
    rig = ring_rig(cfg["rig"]["views"], tuple(cfg["rig"]["elevations"]), cam["dist"], cfg["resolution"], cam["fov"])
    images, masks = render_car(car, rig, look)
    write_object_folder(folder, rig, images=images, masks=masks)


def main(args: argparse.Namespace) -> None:
    params = load_params(["synth", "multiview"])
    cfg = {**params["synth"], "rig": params["multiview"]["rig"]}
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    res = cfg["resolution"]
    stats: dict = {"source": cfg["source"], "resolution": res}
    with atomic_dir(args.dataset) as tmp:
        out_zip = tmp / f"cars-{res}.zip"
        if cfg["source"] == "folder":
            count, skipped = import_image_folder(cfg["folder"], out_zip, res, progress=tqdm)
            stats.update(num_images=count, skipped_files=len(skipped))
        else:
            stats.update(write_training_set(cfg, out_zip, tmp / f"masks-{res}.zip"), num_cars=cfg["num_cars"],
                         images_per_car=cfg["images_per_car"], num_images=cfg["num_cars"] * cfg["images_per_car"])
        samples, _ = read_dataset_zip(out_zip, limit=SAMPLE_SHEET)
    train_seconds = time.perf_counter() - start

    sheet_rows = []
    with atomic_dir(args.heldout) as tmp:
        for j in tqdm(range(cfg["heldout"]), desc="heldout", unit="car"):
            images, masks = write_heldout_car(cfg, j, tmp / f"car_{j:03d}")
            sheet_rows += [list(images), list(masks)]
    seconds = time.perf_counter() - start

    pictures = args.plots
    save_png(contact_sheet([np.asarray(im.convert("RGB")) for _, im in samples], ncols=8), pictures / "train_samples.png")
    if sheet_rows:
        save_png(contact_sheet([im for row in sheet_rows for im in row], ncols=len(sheet_rows[0])),
                 pictures / "heldout_views.png")
    stats.update(heldout=cfg["heldout"], heldout_views=cfg["heldout_views"],
                 heldout_resolution=cfg["heldout_resolution"])
    figures = {
        "train_seconds": round(train_seconds, 3),
        "train_images_per_second": round(stats["num_images"] / max(train_seconds, 1e-9), 1),
        "total_seconds": round(seconds, 3),
    }
    if "time_split_s" in stats:
        figures["time_split_s"] = {k: round(v, 3) for k, v in stats.pop("time_split_s").items()}
    write_json(args.metrics, figures)
    write_json(args.info, stats)
    print(f"synth: {stats['num_images']} training images ({res} px), {cfg['heldout']} held-out cars, {seconds:.1f} s")


if __name__ == "__main__":
    run_stage("synth", main, PATHS)
