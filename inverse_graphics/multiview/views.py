"""Latent -> the views of a rig: one car, many calibrated cameras.

- A generator with a camera input (``pose_dim > 0``): the car's ``ws`` stay fixed, the camera label of each view
  of the rig is fed to the camera path (``gan.metrics.rig_poses``), constant noise.
- Any other generator (an unconditional checkpoint such as an official LSUN-car pickle, or one whose camera enters
  the mapping network): GANverse3D-style viewpoint anchors (Zhang et al. 2021). An anchor is a latent ``ws``
  annotated with the camera it shows; the view of a car at that camera takes the first ``layers`` ws (the coarse
  layers, which set the viewpoint) from the anchor and the rest (shape details, colour) from the car. The anchors
  of a model are made once (``make_anchors``: project labelled renders of many cars at each camera, average their
  ws) and stored in a small file (``save_anchors``); ``scripts/make_anchors.py`` does it for a checkpoint.
- ``toward_mean``: the found latent may first be moved part of the way back to a centre latent
  (``multiview.view_psi``), which keeps the views closer to a car the generator draws consistently. The centre is
  the generator's mean latent ``w_avg`` or ``matched_mean``: the mean latent of the generator's own cars whose mask at
  the input's camera best matches the input's mask (``multiview.view_center: matched``).

Shapes: ``ws: (1, num_ws, w_dim)``; images ``(V, 3, R, R)`` in [-1, 1]; anchors ``ws: (A, num_ws, w_dim)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import UserError
from ..gan.metrics import rig_poses
from ..gan.networks import Generator
from ..io_utils import atomic_path
from ..render.cameras import CameraRig, ring_rig
from .distance import Distance
from .projector import ProjectSettings, project
from .scores import mask_iou

ANCHORS_FORMAT = "inverse-graphics-view-anchors/1"


def multiview_rig(section: dict, camera: dict, image_size: int) -> CameraRig:
    """The rig of ``params.yaml``'s ``multiview.rig`` (rings of azimuths) at ``synth.camera``'s distance and field
    of view, ``image_size`` px: the one rig that ``multiview``, ``average_car`` and the anchors share."""
    return ring_rig(section["rig"]["views"], tuple(section["rig"]["elevations"]), camera["dist"], image_size,
                    camera["fov"])


@torch.no_grad()
def camera_views(G: Generator, ws: torch.Tensor, rig: CameraRig, batch: int = 10) -> torch.Tensor:
    """``(V, 3, R, R)``: ``G`` (with a camera input) at every view of ``rig``, latent ``ws`` fixed, constant noise."""
    if G.pose_dim <= 0:
        raise ValueError("camera_views needs a generator with a camera input (pose_dim > 0)")
    device = next(G.parameters()).device
    poses = rig_poses(rig).to(device)
    ws = ws.to(device)
    out = [G.synthesize(ws.expand(len(poses[i:i + batch]), -1, -1), poses[i:i + batch], noise_mode="const")
           for i in range(0, len(poses), batch)]
    return torch.cat(out).clamp(-1, 1).cpu()


def toward_mean(ws: torch.Tensor, w_avg: torch.Tensor, psi: float) -> torch.Tensor:
    """``ws: (N, num_ws, w_dim)`` moved toward the generator's mean latent ``w_avg: (w_dim,)``:
    ``w_avg + psi * (ws - w_avg)``, the truncation trick applied to a found latent (``psi`` 1 keeps it, 0 gives
    the average car). The search fits the input's view; a shorter step from the mean keeps less of what only
    that view supports (docs/multiview.md: the views of the 12 tuning cars against ``psi``)."""
    if psi == 1.0:
        return ws
    w_avg = w_avg.to(ws.device, ws.dtype)
    return w_avg + psi * (ws - w_avg)


@dataclass(frozen=True)
class MatchedMean:
    """``w: (w_dim,)`` the mean latent of the ``top`` best-matching samples; ``ious: (top,)`` their masks' IoU with
    the input's mask, best first; ``samples``: how many generator cars were drawn."""

    w: torch.Tensor
    ious: torch.Tensor
    samples: int


@torch.no_grad()
def matched_mean(G: Generator, target_mask: torch.Tensor, pose: torch.Tensor | None,
                 cut: Callable[[torch.Tensor], torch.Tensor], samples: int = 2000, top: int = 256, seed: int = 0,
                 batch: int = 25) -> MatchedMean:
    """The generator's cars that look like the input from the input's camera, averaged in W.

    ``samples`` latents ``w = mapping(z)`` (``z`` from ``seed``) are drawn at camera ``pose: (1, pose_dim)`` (the
    input's estimated camera; ``None`` for a generator without a camera input, whose samples then show their own
    viewpoints), constant noise; ``cut`` maps images ``(N, 3, R, R)`` in [-1, 1] to masks ``(N, R, R)`` bool; the
    ``top`` samples whose masks have the highest IoU with ``target_mask: (R, R)`` bool are averaged. A single view
    fixes the silhouette from one side; the average of the generator's cars that share it is a car the generator
    draws consistently from every side (docs/multiview.md: 12 tuning cars). The samples are drawn ``batch`` at a
    time with the split modulated convolution (on one CPU thread 2.5x faster than fused batches of 250).
    """
    if not 0 < top <= samples:
        raise ValueError(f"matched_mean: top ({top}) must be in 1..samples ({samples})")
    if G.pose_dim > 0 and pose is None:
        raise ValueError("matched_mean: this generator has a camera input: pass the input's pose (1, pose_dim)")
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, G.z_dim, generator=g).to(device)
    c = None
    if G.c_dim > 0:  # a camera label into the mapping network: the input's camera (the synth label) or zeros
        c = (pose.expand(samples, -1) if pose is not None and G.c_dim == pose.shape[-1]
             else torch.zeros(samples, G.c_dim)).to(device)
    w = G.mapping(z, c, update_w_avg=False)[:, 0].float()                                  # (samples, w_dim)
    target = target_mask.to(torch.bool).cpu()
    ious = []
    for start in range(0, samples, batch):
        chunk = w[start:start + batch]
        poses = pose.to(device).expand(len(chunk), -1) if G.pose_dim > 0 else None
        images = G.synthesize(chunk[:, None].expand(-1, G.num_ws, -1), poses, noise_mode="const",
                              fused_modconv=False).clamp(-1, 1)
        masks = cut(images).cpu().to(torch.bool)                                            # (n, R, R)
        assert masks.shape[1:] == target.shape, (masks.shape, target.shape)
        ious.append(mask_iou(masks, target.expand_as(masks)))
    ious = torch.cat(ious)
    best = torch.argsort(ious, descending=True, stable=True)[:top]  # ties (masks of equal IoU) in sample order
    # summed in sample order: the same samples give the same bits whatever order the sort left them in
    return MatchedMean(w[best.sort().values].mean(dim=0), ious[best].cpu(), samples)


@dataclass(frozen=True)
class ViewAnchors:
    """``ws: (A, num_ws, w_dim)``; ``azim, elev``: (A,) degrees (the camera each anchor shows); ``meta``: provenance."""

    ws: torch.Tensor
    azim: tuple[float, ...]
    elev: tuple[float, ...]
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.ws.ndim != 3 or not (len(self.ws) == len(self.azim) == len(self.elev)):
            raise ValueError("anchors: ws (A, num_ws, w_dim) with one azimuth and elevation per anchor")

    def __len__(self) -> int:
        return len(self.azim)


def save_anchors(path: str | os.PathLike, anchors: ViewAnchors) -> None:
    """A small ``.npz``: ``ws`` (float32), ``azim``, ``elev``, ``format`` and ``meta`` (JSON), written atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, ws=anchors.ws.detach().cpu().float().numpy(), azim=np.asarray(anchors.azim, np.float32),
                     elev=np.asarray(anchors.elev, np.float32), format=np.asarray(ANCHORS_FORMAT),
                     meta=np.asarray(json.dumps(anchors.meta, sort_keys=True)))


def load_anchors(path: str | os.PathLike) -> ViewAnchors:
    """Read an anchors file; a missing, unreadable or foreign file is a one-line ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: view anchors file not found (make one with scripts/make_anchors.py)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != ANCHORS_FORMAT:
                raise ValueError(f"format {str(data['format'])!r}")
            ws = torch.from_numpy(data["ws"].astype(np.float32))
            azim = tuple(float(a) for a in data["azim"])
            elev = tuple(float(e) for e in data["elev"])
            meta = json.loads(str(data["meta"]))
        return ViewAnchors(ws, azim, elev, meta)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a view anchors file (expected format {ANCHORS_FORMAT!r}: {exc})") from None


def _angle(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def match_anchors(anchors: ViewAnchors, rig: CameraRig, tolerance_deg: float = 1.0,
                  source: str = "anchors") -> list[int]:
    """For each view of ``rig``, the index of the anchor at its camera (azimuth and elevation within
    ``tolerance_deg``); a view with none is a ``UserError`` (make anchors for this rig)."""
    index, missing = [], []
    for azim, elev in zip(rig.azim, rig.elev):
        best = min(range(len(anchors)), key=lambda a: _angle(anchors.azim[a], azim) + abs(anchors.elev[a] - elev))
        if _angle(anchors.azim[best], azim) > tolerance_deg or abs(anchors.elev[best] - elev) > tolerance_deg:
            missing.append(f"azim {azim:.1f} elev {elev:.1f}")
        index.append(best)
    if missing:
        raise UserError(f"{source}: no anchor within {tolerance_deg} deg of {len(missing)} rig view(s) "
                        f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); make anchors for this "
                        "rig with scripts/make_anchors.py")
    return index


def mix_anchor(ws: torch.Tensor, anchor_ws: torch.Tensor, layers: int) -> torch.Tensor:
    """``(1, num_ws, w_dim)``: the first ``layers`` ws from ``anchor_ws: (num_ws, w_dim)``, the rest from ``ws``."""
    if anchor_ws.shape != ws.shape[1:]:
        raise UserError(f"anchors hold ws of shape {tuple(anchor_ws.shape)}, the generator uses {tuple(ws.shape[1:])} "
                        "(anchors are made for one generator)")
    out = ws.clone()
    out[:, :layers] = anchor_ws[:layers].to(ws.device)
    return out


@torch.no_grad()
def anchor_views(G: Generator, ws: torch.Tensor, anchors: ViewAnchors, rig: CameraRig, layers: int = 4,
                 source: str = "anchors") -> torch.Tensor:
    """``(V, 3, R, R)``: for every view of ``rig``, ``G`` at the car's ``ws`` with the first ``layers`` ws of the
    anchor at that view's camera (constant noise)."""
    device = next(G.parameters()).device
    index = match_anchors(anchors, rig, source=source)
    mixed = torch.cat([mix_anchor(ws.to(device), anchors.ws[a].to(device), layers) for a in index])
    poses = rig_poses(rig).to(device) if G.pose_dim > 0 else None
    out = [G.synthesize(mixed[i:i + 10], poses[i:i + 10] if poses is not None else None, noise_mode="const")
           for i in range(0, len(mixed), 10)]
    return torch.cat(out).clamp(-1, 1).cpu()


def render_views(G: Generator, ws: torch.Tensor, rig: CameraRig, anchors: ViewAnchors | None = None,
                 anchor_layers: int = 4, source: str = "anchors") -> torch.Tensor:
    """The views of ``rig`` for latent ``ws``: through the camera input when ``G`` has one, else through
    ``anchors`` (required then: a one-line ``UserError`` says so)."""
    if G.pose_dim > 0:
        return camera_views(G, ws, rig)
    if anchors is None:
        raise UserError("params.yaml: multiview.anchors: this generator has no camera input; give a view anchors "
                        "file made for it (scripts/make_anchors.py)")
    return anchor_views(G, ws, anchors, rig, anchor_layers, source)


def make_anchors(G: Generator, cameras: list[tuple[float, float]], images: torch.Tensor, distance: Distance,
                 settings: ProjectSettings, progress: Callable | None = None,
                 critic_pose: Callable[[torch.Tensor], torch.Tensor] | None = None) -> ViewAnchors:
    """One anchor per camera: ``images: (A, K, 3, R, R)`` are K different cars rendered at camera ``cameras[a]`` =
    (azimuth, elevation); each is projected (``settings``) and the anchor is the mean of the K ``ws``. Averaging
    over cars keeps what they share, the viewpoint, in the coarse layers."""
    if len(cameras) != len(images):
        raise ValueError("one camera per group of images")
    anchors = []
    total = len(images) * images.shape[1]
    bar = progress(total=total, desc="anchors", unit="img") if progress else None
    for group in images:
        ws = []
        for image in group:
            pose_init = critic_pose(image[None]) if critic_pose is not None else None
            ws.append(project(G, image[None], distance, settings, pose_init=pose_init).ws)
            if bar is not None:
                bar.update(1)
        anchors.append(torch.cat(ws).mean(dim=0))
    if bar is not None:
        bar.close()
    return ViewAnchors(torch.stack(anchors), tuple(float(a) for a, _ in cameras), tuple(float(e) for _, e in cameras),
                       {"images_per_anchor": int(images.shape[1]), "space": settings.space, "steps": settings.steps})

