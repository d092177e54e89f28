"""A resumable training run in one folder: the snapshot a killed run restarts from, its curves and sample grids.

``run_folder/``::

    snapshot.pt        the full training state (``checkpoint.save_snapshot``), rewritten atomically every
                       ``snapshot_kimg``; when it exists, ``run_training`` continues from it
    curves.csv         one row per tick: kimg, seconds per kimg, losses, R1, augment p, r_t
    grid-<kimg>.png    G_ema samples: rows = fixed latents, columns = cameras around the car (same row = same car?)
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import UserError
from ..reporting import write_curve
from ..viz import contact_sheet, save_png
from .checkpoint import load_snapshot, read_snapshot, save_snapshot, transfer_weights
from .dataset import TrainingImages
from .networks import Generator
from .train import GanState, NetworkConfig, TrainSettings, build_networks, make_optimizers, train

GRID_ROWS, GRID_COLS, GRID_ELEV = 6, 8, 15.0


def pose_labels(azim_deg, elev_deg) -> torch.Tensor:
    """Cameras as generator labels: ``(N,)`` azimuths and elevations in degrees -> ``(N, 3)``
    ``[sin azim, cos azim, elev / 90]`` (the ``synth`` label)."""
    azim = torch.as_tensor(azim_deg, dtype=torch.float32) * (math.pi / 180)
    elev = torch.as_tensor(elev_deg, dtype=torch.float32).expand_as(azim)
    return torch.stack([azim.sin(), azim.cos(), elev / 90.0], dim=-1)


@torch.no_grad()
def sample_grid(G: Generator, rows: int = GRID_ROWS, cols: int = GRID_COLS, elev: float = GRID_ELEV,
                seed: int = 123, truncation_psi: float = 1.0) -> np.ndarray:
    """``(rows * R, cols * R, 3)`` uint8: row i = latent i, column j = azimuth 360 j / cols (const noise)."""
    device = next(G.parameters()).device
    z = torch.randn(rows, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    poses = pose_labels(torch.arange(cols) * 360.0 / cols, elev).to(device)
    images = []
    for i in range(rows):
        zi = z[i:i + 1].expand(cols, -1)
        if G.pose_dim > 0:
            image = G(zi, None, poses, truncation_psi=truncation_psi, noise_mode="const")
        elif G.c_dim > 0:
            image = G(zi, poses, truncation_psi=truncation_psi, noise_mode="const")
        else:
            image = G(zi, None, truncation_psi=truncation_psi, noise_mode="const")
        images.append(image)
    images = torch.cat(images)
    tiles = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return np.asarray(contact_sheet(list(tiles), ncols=cols, pad=1))


def resume_state(config: NetworkConfig, settings: TrainSettings, source: str | os.PathLike | None,
                 log: Callable[[str], None] = print) -> GanState:
    """Fresh networks of ``config``, initialised from ``source`` when given: an own snapshot or an official
    pickle. What matches by name and shape is copied; what does not is reported through ``log``."""
    state = build_networks(config, seed=settings.seed)
    if source is None:
        return state
    source = Path(source)
    if source.suffix == ".pkl":
        from .checkpoint import load_official_pickle

        loaded = load_official_pickle(source)
        weights = {k: loaded[k].state_dict() for k in ("G", "D", "G_ema")}
        augment_p = loaded["augment_p"]
    else:
        payload = read_snapshot(source)
        weights = {k: payload.get(k) for k in ("G", "D", "G_ema", "D_pair")}
        augment_p = payload.get("augment_p", 0.0)
    if weights.get("G") is None and weights.get("G_ema") is not None:  # shipped files keep only G_ema
        weights["G"] = weights["G_ema"]
    for name in ("G", "D", "G_ema", "D_pair"):
        module = getattr(state, name)
        if module is None or weights.get(name) is None:
            if module is not None:
                log(f"resume: {source.name} has no {name}; it starts from scratch")
            continue
        report = transfer_weights(module, weights[name])
        skipped = report["shape_mismatch"] + report["missing_in_source"]
        log(f"resume: {name}: {len(report['copied'])} tensors copied"
            + (f", {len(skipped)} not transferred (e.g. {skipped[0]})" if skipped else "")
            + (f", {len(report['unused'])} in the checkpoint unused" if report["unused"] else ""))
    if state.augment is not None:
        state.augment.p.fill_(augment_p)
    return state


def run_training(
    data: TrainingImages,
    config: NetworkConfig,
    settings: TrainSettings,
    run_dir: str | os.PathLike,
    device: torch.device,
    resume: str | os.PathLike | None = None,
    progress: Callable | None = None,
    log: Callable[[str], None] = print,
    grid_dir: str | os.PathLike | None = None,
    camera_reader: Callable | None = None,
    mask_reader: Callable | None = None,
) -> GanState:
    """Train in ``run_dir`` up to ``settings.kimg``; continue from ``run_dir/snapshot.pt`` when it exists (same
    config required), else start from ``resume`` (a transfer) or from scratch. Each snapshot's sample grid is kept
    in ``run_dir/grids/`` and all of them are copied to ``grid_dir`` at the end, so a re-run that finds the
    training finished (and a ``grid_dir`` that DVC emptied) still shows them."""
    run_dir = Path(run_dir)
    kept_grids = run_dir / "grids"
    kept_grids.mkdir(parents=True, exist_ok=True)
    snapshot = run_dir / "snapshot.pt"
    if snapshot.is_file():
        previous = read_snapshot(snapshot)
        if previous["config"] != asdict(config):
            raise UserError(f"{snapshot}: an earlier run with another network config; delete {run_dir} to start over")
        state = load_snapshot(snapshot, settings)
        log(f"continuing from {snapshot} at {state.nimg / 1000:.1f} kimg")
    else:
        state = resume_state(config, settings, resume, log)
        make_optimizers(state, settings.resolved(config.resolution))
        if resume is not None:  # the fine-tune's own kimg counter starts at 0; the total keeps counting
            state.total_nimg = int(read_snapshot(resume).get("total_nimg", 0)) if Path(resume).suffix != ".pkl" else 0

    def on_tick(st: GanState, row: dict) -> None:
        write_curve(run_dir / "curves.csv", st.history)

    def on_snapshot(st: GanState) -> None:
        save_snapshot(snapshot, st, settings)
        save_png(sample_grid(st.G_ema), kept_grids / f"grid-{st.nimg / 1000:06.1f}kimg.png")

    state = train(state, data, settings, device, on_tick=on_tick, on_snapshot=on_snapshot, progress=progress,
                  camera_reader=camera_reader, mask_reader=mask_reader)
    if grid_dir is not None and Path(grid_dir).resolve() != kept_grids.resolve():
        Path(grid_dir).mkdir(parents=True, exist_ok=True)
        for png in sorted(kept_grids.glob("grid-*.png")):
            shutil.copyfile(png, Path(grid_dir) / png.name)
    return state
