"""Stage ``multiview``: one image in, the calibrated views of the same car out (params section ``multiview``).

For every input (``--input``: object folders with ``input.png`` such as synth's held-out cars, one image, or a
folder of images): the car critic reads a first guess of the camera; the projector searches the latent (W or W+),
the noise buffers and the camera (``inverse_graphics/multiview/projector.py``); optionally pivotal tuning; then the
generator draws the car at every view of the rig (``multiview.rig``, at synth's camera distance and field of view)
from the found latent, moved toward a centre latent by ``multiview.view_psi`` (1: as found). The centre
(``multiview.view_center``) is the generator's mean latent ``w_avg`` or the matched mean: the mean latent of the
generator's own cars whose masks at the input's estimated camera best match the input's mask
(``multiview.matched``: ``top`` of ``samples``; ``inverse_graphics/multiview/views.py: matched_mean``).

Outputs::

    <out>/<obj>/            object folder: cameras.json (the rig) + images/NNN.png, input.png + input.json (the
                            ESTIMATED camera), recon.png (the reconstruction), latent.npz (ws, w, pose, noise,
                            view_ws / view_psi / view_center: the latent the views were drawn from),
                            generator.pt (only with pivotal tuning: the tuned generator the views came from)
    <metrics>               projection_psnr, projection_ssim, input_pose_error_deg (and the critic's first guess
                            critic_pose_error_deg), view_psnr_mean (each view against the ground-truth render
                            at its camera), view_mask_iou_mean / _min, hull_consistency_iou, seconds_per_image,
                            matched_mask_iou (view_center matched: the chosen samples' mask IoU with the input's):
                            means over the inputs (the minimum for _min)
    <plots>/<obj>.png       contact sheet: input | reconstruction | views (with the ground-truth views below them)
    <plots>/<obj>.csv       the search's curve (loss terms, lr, camera per logged step)
    <out>/run.json          what produced them (generator and its kimg, segmenter, settings)
    <objects>               the per-object rows

The mask figures cut each synthesised view out with a segmenter (``--segmenter``, the train_segmenter folder, at
``segment.threshold`` as the segment stage does; the matched mean's samples alike) and compare it with the
ground-truth mask of the same car at the same camera (``<obj>/rig/`` written by synth); ``hull_consistency_iou``
carves the visual hull of the views' masks as in train_gan. Without a segmenter folder the views are cut out by
background subtraction (``inverse_graphics/multiview/background.py``, synth-style scenes only); ``run.json`` says
which, and ``background_mask_iou_truth`` (the same method on synth's own renders against their masks) tells how far
that measuring tool itself can be trusted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from inverse_graphics.data.object_views import load_object_masks, write_object_folder
from inverse_graphics.device import pick_device
from inverse_graphics.errors import UserError
from inverse_graphics.gan.checkpoint import load_generator, load_official_pickle, load_snapshot, read_snapshot
from inverse_graphics.gan.critic import load_critic, pose_error_deg, pose_to_angles
from inverse_graphics.gan.metrics import hull_consistency_iou
from inverse_graphics.gan.session import pose_labels
from inverse_graphics.io_utils import atomic_dir, write_json
from inverse_graphics.multiview.background import background_masks
from inverse_graphics.multiview.distance import build_distance
from inverse_graphics.multiview.io import find_inputs, read_input_image, to_hwc
from inverse_graphics.multiview.projector import (ProjectSettings, TuneSettings, pivotal_tuning, project,
                                                  w_statistics, with_noise)
from inverse_graphics.multiview.scores import mask_iou, psnr, ssim
from inverse_graphics.multiview.views import load_anchors, matched_mean, multiview_rig, render_views, toward_mean
from inverse_graphics.params import load_params
from inverse_graphics.render.cameras import CameraRig, load_rig
from inverse_graphics.reporting import write_curve
from inverse_graphics.viz import contact_sheet, save_png
from stages._runner import run_stage

PATHS = {
    "input": "object folders with input.png, one image, or a folder of images (multiview.input)",
    "generator": "generator checkpoint: train_gan's generator.pt or snapshot.pt, or an official .pkl",
    "critic": "car critic (train_critic's critic.pt): the first guess of the input's camera",
    "segmenter": "segmenter folder (train_segmenter) for the mask figures; absent: they are left out",
    "out": "output folder: one object folder per input",
    "metrics": "metrics JSON (means over the inputs)",
    "objects": "per-object rows (JSON)",
    "plots": "folder for contact sheets and curves",
}


def project_settings(section: dict) -> ProjectSettings:
    pose = section["pose"]
    keys = ("space", "steps", "lr", "lr_rampup", "lr_rampdown", "w_noise", "w_noise_ramp", "noise_reg",
            "optimize_noise", "w_avg_samples", "seed")
    return ProjectSettings(**{k: section[k] for k in keys}, optimize_pose=pose["optimize"], pose_lr=pose["lr"],
                           pose_starts=pose["starts"], start_steps=pose["start_steps"],
                           elev_range=tuple(pose["elev_range"]))


def load_discriminator(path: Path):
    """The discriminator stored with the generator (own snapshot or official pickle), for distance.discriminator."""
    if path.suffix == ".pkl":
        return load_official_pickle(path)["D"]
    if read_snapshot(path).get("D") is None:
        raise UserError(f"{path}: has no discriminator (multiview.distance.discriminator > 0 needs train_gan's "
                        "snapshot.pt or an official .pkl)")
    return load_snapshot(path).D


def load_segment_fn(folder: Path, device: torch.device, tta: str = "none", read_size: int | None = None):
    """``images (N, 3, S, S) in [-1, 1] -> probabilities (N, S, S)`` from a train_segmenter folder, or None."""
    if not folder.exists():
        return None
    from inverse_graphics.segment.weights import generator_image_segmenter

    return generator_image_segmenter(folder, device, tta=tta, read_size=read_size)


def generator_description(path: Path) -> dict:
    """The generator file and how many thousand images it was trained on (own checkpoints)."""
    out = {"generator": str(path)}
    if path.suffix != ".pkl":
        payload = read_snapshot(path)
        if "total_kimg" in payload:
            out["generator_total_kimg"] = float(payload["total_kimg"])
        elif "total_nimg" in payload:
            out["generator_total_kimg"] = payload["total_nimg"] / 1000
    return out


def estimated_rig(pose: torch.Tensor | None, rig: CameraRig) -> CameraRig | None:
    """The input's estimated camera as a one-view rig (distance, fov and size of ``rig``)."""
    if pose is None:
        return None
    azim, elev = (float(a) for a in pose_to_angles(pose.detach().cpu()))
    return CameraRig((rig.dist[0],), (elev,), (azim,), rig.fov, rig.image_size)


def check_same_cameras(gt_rig: CameraRig, rig: CameraRig, where: Path) -> None:
    same = len(gt_rig) == len(rig) and all(
        abs((a - b + 180) % 360 - 180) < 0.01 and abs(e - f) < 0.01
        for a, b, e, f in zip(gt_rig.azim, rig.azim, gt_rig.elev, rig.elev))
    if not same:
        raise UserError(f"{where}: its cameras differ from multiview.rig (re-run synth with the same rig)")


def save_latent(path: Path, projection, est_pose: torch.Tensor | None, view_ws: torch.Tensor, view_psi: float,
                view_center: torch.Tensor) -> None:
    arrays = {"ws": projection.ws.cpu().numpy(), "space": np.asarray(projection.space),
              "view_ws": view_ws.cpu().numpy(), "view_psi": np.asarray(view_psi),
              "view_center": view_center.detach().cpu().numpy()}
    if projection.space == "w":
        arrays["w"] = projection.ws[:, 0].cpu().numpy()
    if est_pose is not None:
        arrays["pose"] = est_pose.cpu().numpy()
        azim, elev = pose_to_angles(est_pose.cpu())
        arrays["azim_deg"], arrays["elev_deg"] = azim.numpy(), elev.numpy()
    if projection.pose_init is not None:
        arrays["pose_init"] = projection.pose_init.cpu().numpy()
    for name, buf in projection.noise.items():
        arrays[f"noise.{name}"] = buf.cpu().numpy()
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def contact(target, recon, views, gt_views, rig: CameraRig, per_row: int = 10):
    """Rows: input | reconstruction | views; the ground-truth views (when given) below each row of views."""
    size = target.shape[-1]
    blank = np.full((size, size, 3), 255, np.uint8)
    to8 = lambda x: (to_hwc(x).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    views8, heads = to8(views), [to8(target)[0], to8(recon)[0]]
    gt8 = to8(gt_views) if gt_views is not None else None
    tiles, labels = [], []
    for start in range(0, len(views8), per_row):
        idx = list(range(start, min(start + per_row, len(views8))))
        pad = per_row - len(idx)
        first = start == 0
        tiles += ([heads[0], heads[1]] if first else [blank, blank]) + [views8[i] for i in idx] + [blank] * pad
        labels += (["input", "recon"] if first else ["", ""]) + [f"{rig.azim[i]:.0f}/{rig.elev[i]:.0f}" for i in idx]
        labels += [""] * pad
        if gt8 is not None:
            tiles += [blank, blank] + [gt8[i] for i in idx] + [blank] * pad
            labels += ["", "truth"] + [""] * (len(idx) + pad)
    return contact_sheet(tiles, ncols=per_row + 2, labels=labels)


def main(args) -> None:
    params = load_params(["multiview", "synth", "segment"])
    section, camera = params["multiview"], params["synth"]["camera"]
    device = pick_device(section["device"])
    if device.type == "cpu" and section["threads"] > 0:
        torch.set_num_threads(section["threads"])
    inputs = find_inputs(args.input)
    G = load_generator(args.generator, device)
    critic = load_critic(args.critic, device)
    dist_cfg = section["distance"]
    D = load_discriminator(args.generator).to(device) if dist_cfg["discriminator"] > 0 else None
    distance = build_distance(dist_cfg, dist_cfg["pixel_scales"], critic=critic, discriminator=D,
                              lpips_files=(dist_cfg["lpips_vgg16"], dist_cfg["lpips_linear"])).to(device)
    settings = project_settings(section)
    tune = TuneSettings(steps=section["pti"]["steps"], lr=section["pti"]["lr"], locality=section["pti"]["locality"],
                        seed=section["seed"])
    anchors = load_anchors(section["anchors"]) if G.pose_dim == 0 and section["anchors"] else None
    segment = load_segment_fn(args.segmenter, device, tta=params["segment"]["tta"],
                              read_size=params["segment"]["read_size"])
    rig = multiview_rig(section, camera, G.img_resolution)
    mask_source = str(args.segmenter)
    if segment is None:
        mask_source = "background subtraction (inverse_graphics/multiview/background.py)"
        print(f"multiview: no segmenter at {args.segmenter}: the views' masks come from background subtraction")

    threshold = params["segment"]["threshold"]  # the segment stage's, so that every mask of a view agrees

    def cut_masks(images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, R, R)`` in [-1, 1] -> car masks ``(N, R, R)`` bool: the segmenter's, else background subtraction."""
        return segment(images) >= threshold if segment is not None else background_masks(images)

    t0 = time.perf_counter()
    w_stats = w_statistics(G, settings.w_avg_samples, settings.seed, settings.elev_range)
    stats_seconds = time.perf_counter() - t0
    rows: dict[str, dict] = {}
    with atomic_dir(args.out) as tmp:
        for src in tqdm(inputs, desc="multiview", unit="image"):
            start = time.perf_counter()
            target = read_input_image(src.image, G.img_resolution, section["framing"]).to(device)
            with torch.no_grad():
                pose_init = critic.pose(target)
            projection = project(G, target, distance, settings, pose_init=pose_init, progress=tqdm, w_stats=w_stats)
            Gv = with_noise(G, projection.noise)
            history = projection.history
            if tune.steps > 0:
                Gv, tune_history = pivotal_tuning(G, projection, target, distance, tune, progress=tqdm)
                history = history + [{"step": settings.steps + r["step"], "loss": r["loss"]} for r in tune_history]
            with torch.no_grad():
                recon = Gv.synthesize(projection.ws, projection.pose, noise_mode="const").clamp(-1, 1)
            center, matched = w_stats[0], None
            if section["view_center"] == "matched":
                with torch.no_grad():
                    input_mask = cut_masks(target)[0]
                matched = matched_mean(G, input_mask, projection.pose, cut_masks, section["matched"]["samples"],
                                       section["matched"]["top"], seed=section["seed"])
                center = matched.w
            view_ws = toward_mean(projection.ws, center, section["view_psi"])
            views = render_views(Gv, view_ws, rig, anchors, section["anchor_layers"], source=str(section["anchors"]))
            seconds = time.perf_counter() - start

            folder = tmp / src.name
            est_rig = estimated_rig(projection.pose, rig)
            write_object_folder(folder, rig, images=to_hwc(views), input_image=to_hwc(target)[0], input_rig=est_rig)
            save_png(to_hwc(recon)[0], folder / "recon.png")
            save_latent(folder / "latent.npz", projection, projection.pose, view_ws, section["view_psi"], center)
            if tune.steps > 0:
                torch.save({"G_ema": Gv.state_dict(), "base": str(args.generator)}, folder / "generator.pt")

            row = {"projection_psnr": psnr(recon.cpu(), target.cpu()), "projection_ssim": ssim(recon.cpu(), target.cpu()),
                   "seconds_per_image": round(seconds, 2)}
            if matched is not None:
                row["matched_mask_iou"] = float(matched.ious.mean())
            true_rig = src.true_rig
            if true_rig is not None:
                truth = pose_labels(torch.tensor(true_rig.azim[:1]), torch.tensor(true_rig.elev[:1]))
                if projection.pose is not None:
                    row["input_pose_error_deg"] = float(pose_error_deg(projection.pose.cpu(), truth))
                row["critic_pose_error_deg"] = float(pose_error_deg(pose_init.cpu(), truth))
            masks = cut_masks(views)
            gt_views = None
            if src.gt_views is not None:
                gt_masks, gt_rig = load_object_masks(src.gt_views, G.img_resolution)
                check_same_cameras(gt_rig, rig, src.gt_views / "cameras.json")
                gt_views = torch.stack([read_input_image(src.gt_views / f.get("image", f"images/{k:03d}.png"),
                                                         G.img_resolution)[0]
                                        for k, f in enumerate(gt_rig.files or [{}] * len(gt_rig))])
                row["view_psnr_mean"] = float(np.mean([psnr(v[None], g[None]) for v, g in zip(views, gt_views)]))
                ious = mask_iou(masks, gt_masks)
                row["view_mask_iou_mean"] = float(ious.mean())
                row["view_mask_iou_min"] = float(ious.min())
                if segment is None:
                    row["background_mask_iou_truth"] = float(mask_iou(background_masks(gt_views), gt_masks).mean())
            row["hull_consistency_iou"] = float(hull_consistency_iou(masks, rig).mean())
            rows[src.name] = row
            save_png(contact(target.cpu(), recon.cpu(), views, gt_views, rig), args.plots / f"{src.name}.png")
            write_curve(args.plots / f"{src.name}.csv", history)
            print(f"multiview: {src.name}: " + ", ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
        write_json(tmp / "run.json", generator_description(args.generator) | {
            "inputs": len(rows), "view_masks": mask_source,
            "critic": str(args.critic), "distance_terms": [t.name for t in distance.terms], "space": settings.space,
            "steps": settings.steps, "pti_steps": tune.steps, "rig_views": len(rig),
            "view_psi": section["view_psi"], "view_center": section["view_center"],
            "matched": section["matched"] if section["view_center"] == "matched" else None,
            "w_statistics_seconds": round(stats_seconds, 2), "device": device.type,
            "threads": torch.get_num_threads()})

    summary = {}
    for key in sorted({k for row in rows.values() for k in row}):
        values = [row[key] for row in rows.values() if key in row]
        summary[key] = float(min(values)) if key.endswith("_min") else float(np.mean(values))
    write_json(args.metrics, summary)
    write_json(args.objects, rows)
    print("multiview: " + json.dumps(summary))


if __name__ == "__main__":
    run_stage("multiview", main, PATHS)
