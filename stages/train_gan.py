"""Stage ``train_gan``: fine-tune StyleGAN2-ADA from ``gan.resume`` on the synth training set, measure it.

``<out>`` (a DVC output with ``persist: true``) holds ``snapshot.pt``: a run killed mid-way continues from its
last snapshot when the stage runs again with the same settings; other settings start over. After training,
``<out>/generator.pt`` (G_ema + config) is what the later stages read.

Metrics (``<metrics>``), for the starting checkpoint (``before``) and the result (``after``):
``pose_error_deg`` (median angle between the requested camera and the one the car critic reads),
``hull_consistency_iou`` (one latent, the 20 views of the multiview rig, the segmenter's masks, their visual hull
reprojected), ``frechet_distance_carnet`` / ``kernel_distance_carnet`` (real vs generated images in the car
critic's features; not Inception FID/KID) and, only when torchvision's Inception-v3 weights are in the local hub
cache, ``frechet_distance_inception_v3_torchvision`` / ``kernel_distance_inception_v3_torchvision``; plus ``kimg``, ``seconds_per_kimg``, ``augment_p`` and the final losses.
With ``gan.camera_weight > 0`` the camera teacher (another network than the critic) reads each generated view
during the fine-tune and G pays the distance to the camera asked for (curve ``loss_G_camera``); with
``gan.consistency_weight > 0`` the mask teacher (another segmenter than the one that measures) cuts out views of a
few latents and G pays their disagreement with the soft visual hull (curves ``loss_G_consistency``,
``soft_hull_iou``).
Curves per tick and the sample grids (rows = latents, columns = cameras) go to ``<plots>``.

Run on several processes (one per GPU, or CPU processes with gloo) with
``torchrun --nproc_per_node N -m stages.train_gan <same flags>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from inverse_graphics.device import pick_device
from inverse_graphics.errors import UserError
from inverse_graphics.gan.checkpoint import save_generator
from inverse_graphics.gan.critic import load_critic
from inverse_graphics.gan.dataset import find_dataset_zip, load_training_images
from inverse_graphics.gan.inception import InceptionFeatures, inception_available, inception_path
from inverse_graphics.gan.metrics import feature_distances, generator_hull_consistency, pose_error
from inverse_graphics.gan.session import resume_state, run_training, sample_grid
from inverse_graphics.gan.train import NetworkConfig, TrainSettings
from inverse_graphics.io_utils import write_json
from inverse_graphics.params import load_params
from inverse_graphics.render.cameras import ring_rig
from inverse_graphics.reporting import write_curve
from inverse_graphics.segment.weights import checkpoint_file, differentiable_segmenter, generator_image_segmenter
from inverse_graphics.viz import save_png
from stages._runner import run_stage

PATHS = {
    "data": "folder with the training zip (synth)",
    "critic": "car critic checkpoint (train_critic)",
    "teacher": "camera teacher checkpoint (train_camera_teacher), read when gan.camera_weight > 0",
    "segmenter": "segmenter folder (train_segmenter), for hull_consistency_iou",
    "mask-teacher": "segmenter folder (train_mask_teacher), read when gan.consistency_weight > 0",
    "out": "run folder (persist: snapshot.pt, generator.pt)",
    "metrics": "metrics JSON",
    "plots": "folder for curves.csv and sample grids",
}
SETTING_KEYS = ("kimg", "batch", "lr", "r1_gamma", "style_mixing", "pl_weight", "pair_weight", "camera_weight",
                "consistency_weight", "consistency_interval", "consistency_latents", "consistency_views",
                "consistency_kimg", "augment", "augment_p", "ada_target", "ada_kimg", "ema_kimg", "snapshot_kimg", "seed")


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def train_settings(section: dict, resuming: bool) -> TrainSettings:
    """``TrainSettings`` from the ``gan`` params section.

    A fine-tune (``resuming``) averages G from its first step, as the official code does when it resumes: the EMA
    ramp-up (a half-life that grows with the images seen) is for training from scratch, where the first weights are
    noise; from a trained checkpoint it would make G_ema follow the raw G's first steps after the optimiser restarts
    (README: the base's carnet Frechet distance 51.3 went to 70.1 with it, to 48.5 without).
    """
    return TrainSettings(**{k: section[k] for k in SETTING_KEYS}, tick_kimg=min(1.0, section["snapshot_kimg"]),
                         ema_rampup=None if resuming else TrainSettings.ema_rampup)


def _setup_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); gloo on the CPU, nccl on CUDA."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def measure(G, critic, segmenter, inception, data, rig, cfg: dict) -> dict:
    """The generator's figures (see the module docstring)."""
    poses = data.labels[torch.randint(len(data), (cfg["pose_samples"],), generator=torch.Generator().manual_seed(1))]
    out = {"pose_error_deg": float(pose_error(G, critic, poses).median())}
    if segmenter is not None:
        out |= generator_hull_consistency(G, segmenter, rig, cfg["hull_latents"])
    out |= feature_distances(G, critic, "carnet", data, cfg["feature_images"])
    if inception is not None:
        out |= feature_distances(G, inception, "inception_v3_torchvision", data, cfg["feature_images"])
    return out


def load_segmenter_fn(folder: Path, device: torch.device, tta: str = "none", read_size: int | None = None):
    """``images (N, 3, S, S) in [-1, 1] -> probabilities (N, S, S)`` from the train_segmenter output."""
    return generator_image_segmenter(folder, device, tta=tta, read_size=read_size)


def check_teachers(args, settings: TrainSettings) -> None:
    """Before any measuring: the teachers that ``settings`` ask for exist (one line naming the missing one)."""
    if settings.camera_weight > 0 and not args.teacher.is_file():
        raise UserError(f"{args.teacher}: camera teacher not found (stage train_camera_teacher; "
                        "gan.camera_weight 0 trains without it)")
    if settings.consistency_weight > 0 and not checkpoint_file(args.mask_teacher).is_file():
        raise UserError(f"{args.mask_teacher}: mask teacher not found (stage train_mask_teacher trains it when "
                        "gan.consistency_weight > 0; with 0 it writes only a note)")


def main(args) -> None:
    params = load_params(["gan", "segment"])
    section = params["gan"]
    device = pick_device(section["device"])
    if device.type == "cpu" and section["threads"] > 0:
        torch.set_num_threads(section["threads"])
    rank, world = _setup_distributed(device)
    zip_path = find_dataset_zip(args.data)
    data = load_training_images(zip_path)
    config = NetworkConfig(label_dim=3 if data.labels is not None else 0, **section["network"])
    resume = Path(section["resume"]) if section["resume"] else None
    settings = train_settings(section, resume is not None)
    if resume is not None and not resume.is_file():
        raise UserError(f"params.yaml: gan.resume: {resume} not found (an own snapshot or an official .pkl)")
    check_teachers(args, settings)
    run_key = {"config": asdict(config), "settings": {k: v for k, v in asdict(settings).items() if k != "kimg"},
               "resume": str(resume), "resume_digest": _file_digest(resume) if resume else None,
               "data_digest": _file_digest(zip_path), "world": world}
    snapshot = args.out / "snapshot.pt"
    key_file = args.out / "run.json"
    if snapshot.is_file() and (not key_file.is_file() or json.loads(key_file.read_text()) != run_key):
        print(f"train_gan: {snapshot} was trained with other settings or data; starting over")
        snapshot.unlink()
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        key_file.write_text(json.dumps(run_key, indent=2, sort_keys=True) + "\n")

    critic = load_critic(args.critic, device)
    inception = InceptionFeatures().to(device) if inception_available() else None
    if inception is None and rank == 0:
        print(f"train_gan: no Inception-v3 weights at {inception_path()}: sample quality in the critic's features only")
    segmenter = (load_segmenter_fn(args.segmenter, device, tta=params["segment"]["tta"],
                                   read_size=params["segment"]["read_size"]) if args.segmenter.exists()
                 else None)
    rig = ring_rig(section["eval"]["rig_views"], tuple(section["eval"]["rig_elevations"]),
                   image_size=data.resolution)
    metrics: dict = {}
    if resume is not None and rank == 0:
        start = resume_state(config, settings, resume, log=lambda m: None)
        metrics["before"] = measure(start.G_ema.to(device), critic, segmenter, inception, data, rig, section["eval"])
    t0 = time.perf_counter()
    teacher = None
    if settings.camera_weight > 0:
        teacher = load_critic(args.teacher, device).eval().requires_grad_(False)
    mask_reader = None
    if settings.consistency_weight > 0:
        mask_reader = differentiable_segmenter(args.mask_teacher, device)
    state = run_training(data, config, settings, args.out, device, resume=resume,
                         progress=tqdm if rank == 0 else None, grid_dir=args.plots,
                         camera_reader=teacher.pose if teacher is not None else None, mask_reader=mask_reader)
    train_seconds = time.perf_counter() - t0
    if rank != 0:
        return
    save_generator(args.out / "generator.pt", state.G_ema, config, {"total_kimg": state.total_nimg / 1000})
    metrics["after"] = measure(state.G_ema, critic, segmenter, inception, data, rig, section["eval"])
    last = state.history[-1] if state.history else {}
    ticks = [row for row in state.history if row.get("seconds_per_kimg")]
    metrics |= {
        "kimg": round(state.nimg / 1000, 3),
        "total_kimg": round(state.total_nimg / 1000, 3),
        "seconds_per_kimg": round(sum(r["seconds_per_kimg"] for r in ticks[-5:]) / max(len(ticks[-5:]), 1), 2),
        "train_seconds_this_run": round(train_seconds, 1),
        "augment_p": round(float(state.augment.p), 4),
        "loss_G": last.get("loss_G"), "loss_D": last.get("loss_D"),
        "loss_G_pair": last.get("loss_G_pair"), "loss_D_pair": last.get("loss_D_pair"),
        "r1_penalty": last.get("r1_penalty"),
        "processes": world,
        "device": device.type,
    }
    write_json(args.metrics, metrics)
    write_curve(args.plots / "curves.csv", state.history)
    save_png(sample_grid(state.G_ema), args.plots / "samples.png")
    print("train_gan: " + json.dumps({k: v for k, v in metrics.items() if k in ("kimg", "seconds_per_kimg")}
                                     | {"before": metrics.get("before"), "after": metrics["after"]}))


if __name__ == "__main__":
    run_stage("train_gan", main, PATHS)
