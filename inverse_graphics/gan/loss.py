"""StyleGAN2 losses: non-saturating logistic loss, lazy R1, optional path-length regulariser and style mixing,
plus the pair discriminator that makes a camera-conditioned generator keep ONE car across views.

Pair training: each latent is rendered at two cameras of a real pair of views, ``G(w, pose_a)`` and
``G(w, pose_b)``; the single-view discriminator ``D`` judges each image with its camera, the pair discriminator
``D_pair`` judges the two views stacked on the channel axis (6 channels) with both cameras. Real pairs are two
renders of the same training car, so ``D_pair`` tells "two views of one car" from "two views of two cars".

Camera teacher (optional, ``camera_weight``): a frozen camera regressor trained on the exactly labelled renders
reads each generated view, and G pays the squared distance between the camera it read and the camera asked for.

Hull consistency (optional, ``consistency_weight``): every few steps a handful of latents are drawn at K cameras
around the car, a frozen segmenter cuts them out, and G pays ``1 - soft IoU`` of each view's mask with the
reprojected soft visual hull of all K masks (``consistency.py``): one solid car across views, enforced directly.

Each ``*_step`` computes its loss and calls ``backward()`` (scaled by ``gain``); the caller owns the optimisers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .consistency import consistency_loss, random_ring
from .networks import Discriminator, Generator


@dataclass(frozen=True)
class LossSettings:
    r1_gamma: float = 0.0256           # R1 weight (official 'auto': 0.0002 * res^2 / batch)
    style_mixing: float = 0.9          # probability of mixing two latents at a random layer
    pl_weight: float = 0.0             # path-length regulariser weight (official 2; off by default on the CPU)
    pl_decay: float = 0.01             # running mean decay of the path lengths
    pl_batch_shrink: int = 2           # the regulariser runs on batch / shrink samples
    pair_weight: float = 1.0           # weight of the pair discriminator's term in the generator loss
    camera_weight: float = 0.0         # weight of the camera teacher's term (needs ``camera_reader``)
    consistency_weight: float = 0.0    # weight of the soft-hull consistency term (needs ``mask_reader``)
    consistency_latents: int = 4       # latents per consistency step
    consistency_views: int = 8         # views per latent (a ring of azimuths, random elevations)


class StyleGAN2Loss:
    """Losses for ``G``, ``D`` (+ optional ``D_pair``) with an optional augmentation pipe in front of the Ds."""

    def __init__(self, G: Generator, D: Discriminator, D_pair: Discriminator | None, augment=None,
                 settings: LossSettings = LossSettings(), camera_reader: Callable | None = None,
                 mask_reader: Callable | None = None, elev_range: tuple[float, float] = (0.0, 30.0)):
        self.G, self.D, self.D_pair, self.augment, self.s = G, D, D_pair, augment, settings
        self.camera_reader, self.mask_reader, self.elev_range = camera_reader, mask_reader, elev_range
        if settings.camera_weight > 0 and camera_reader is None:
            raise ValueError("camera_weight > 0 needs a camera_reader (a frozen camera regressor)")
        if settings.consistency_weight > 0 and (mask_reader is None or G.pose_dim == 0):
            raise ValueError("consistency_weight > 0 needs a mask_reader (a frozen segmenter) and a camera input")
        self.pl_mean = torch.zeros([])

    # ----------------------------------------------------------------------------------------- forward helpers
    def _labels(self, pose: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The generator's (mapping label c, camera pose) for a batch of dataset labels."""
        if self.G.pose_dim > 0:
            return None, pose
        return (pose if self.G.c_dim > 0 else None), None

    def mapping(self, z: torch.Tensor, pose: torch.Tensor | None) -> torch.Tensor:
        """``z: (N, z_dim)`` -> ``ws: (N, num_ws, w_dim)``, with style mixing at a random cut."""
        c, _ = self._labels(pose)
        ws = self.G.mapping(z, c)
        if self.s.style_mixing > 0 and torch.rand([]).item() < self.s.style_mixing:
            cut = int(torch.randint(1, ws.shape[1], ()).item())
            ws = ws.clone()
            ws[:, cut:] = self.G.mapping(torch.randn_like(z), c, update_w_avg=False)[:, cut:]
        return ws

    def generate(self, z: torch.Tensor, pose_a: torch.Tensor | None, pose_b: torch.Tensor | None = None):
        """Images ``(N, 3, R, R)`` at ``pose_a``; with ``pose_b`` also the same latents at ``pose_b``."""
        if pose_b is None:
            ws = self.mapping(z, pose_a)
            return self.G.synthesize(ws, self._labels(pose_a)[1]), None, ws
        if self.G.pose_dim > 0:  # one identity, two cameras
            ws = self.mapping(z, pose_a)
            return self.G.synthesize(ws, pose_a), self.G.synthesize(ws, pose_b), ws
        # mapping-conditioned generator: the camera is part of w, so each view has its own w
        ws_a = self.mapping(z, pose_a)
        ws_b = self.G.mapping(z, self._labels(pose_b)[0], update_w_avg=False)
        return self.G.synthesize(ws_a), self.G.synthesize(ws_b), ws_a

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        return self.augment(images) if self.augment is not None else images

    def run_D(self, images: torch.Tensor, pose: torch.Tensor | None) -> torch.Tensor:
        return self.D(self._augment(images), pose if self.D.c_dim > 0 else None)

    def run_D_pair(self, a: torch.Tensor, b: torch.Tensor, pose_a: torch.Tensor, pose_b: torch.Tensor) -> torch.Tensor:
        return self.D_pair(self._augment(torch.cat([a, b], dim=1)), torch.cat([pose_a, pose_b], dim=1))

    # ----------------------------------------------------------------------------------------- phases
    def generator_step(self, z: torch.Tensor, pose_a, pose_b=None, gain: float = 1.0) -> dict:
        """Non-saturating loss ``softplus(-D(G(z)))`` (+ the pair term). Returns the loss values."""
        img_a, img_b, _ = self.generate(z, pose_a, pose_b)
        loss = F.softplus(-self.run_D(img_a, pose_a)).mean()
        out = {}
        if img_b is not None:
            loss = (loss + F.softplus(-self.run_D(img_b, pose_b)).mean()) / 2
            if self.D_pair is not None:
                pair = F.softplus(-self.run_D_pair(img_a, img_b, pose_a, pose_b)).mean()
                out["loss_G_pair"] = pair.item()
                loss = loss + self.s.pair_weight * pair
        if self.s.camera_weight > 0 and pose_a is not None:
            camera = self.camera_loss(img_a, pose_a)
            if img_b is not None:
                camera = (camera + self.camera_loss(img_b, pose_b)) / 2
            out["loss_G_camera"] = camera.item()
            loss = loss + self.s.camera_weight * camera
        out["loss_G"] = loss.item()
        (loss * gain).backward()
        return out

    def camera_loss(self, images: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Mean squared difference between the camera a frozen teacher reads from ``images (N, 3, R, R)`` and the
        camera ``pose (N, 3)`` (``[sin azim, cos azim, elev / 90]``) the generator was asked for."""
        return (self.camera_reader(images) - pose).square().sum(1).mean()

    def consistency_step(self, generator: torch.Generator, gain: float = 1.0) -> dict:
        """Soft visual-hull consistency of ``consistency_latents`` latents seen from ``consistency_views`` cameras
        (``consistency.consistency_loss``), times ``consistency_weight * gain``."""
        device = next(self.G.parameters()).device
        z = torch.randn(self.s.consistency_latents, self.G.z_dim, generator=generator).to(device)
        rig = random_ring(self.s.consistency_views, generator, self.elev_range, image_size=self.G.img_resolution)
        ws = self.G.mapping(z, None, update_w_avg=False)
        loss, iou = consistency_loss(lambda w, pose: self.G.synthesize(w, pose, noise_mode="const"), ws,
                                     self.mask_reader, rig)
        (loss * self.s.consistency_weight * gain).backward()
        return {"loss_G_consistency": loss.item(), "soft_hull_iou": float(iou.mean())}

    def path_length_step(self, z: torch.Tensor, pose, gain: float = 1.0) -> dict:
        """Path-length regulariser: the Jacobian of the image w.r.t. w should have a steady norm."""
        n = max(z.shape[0] // self.s.pl_batch_shrink, 1)
        ws = self.mapping(z[:n], pose[:n] if pose is not None else None)
        images = self.G.synthesize(ws, self._labels(pose[:n] if pose is not None else None)[1])
        noise = torch.randn_like(images) / (images.shape[2] * images.shape[3]) ** 0.5
        (grads,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        self.pl_mean = self.pl_mean.to(lengths.device).lerp(lengths.mean().detach(), self.s.pl_decay)
        penalty = (lengths - self.pl_mean).square().mean()
        ((images[:, 0, 0, 0] * 0).sum() + penalty * self.s.pl_weight * gain).backward()
        return {"pl_penalty": penalty.item()}

    def discriminator_step(self, real_a: torch.Tensor, pose_a, real_b=None, pose_b=None, fake_z=None,
                           fake_pose_a=None, fake_pose_b=None, gain: float = 1.0) -> dict:
        """``softplus(D(fake)) + softplus(-D(real))`` for D (and D_pair on real/fake pairs). Returns losses and
        the real logits' signs (for the ADA heuristic)."""
        with torch.no_grad():
            fake_a, fake_b, _ = self.generate(fake_z, fake_pose_a, fake_pose_b)
        reals, real_poses = [real_a], [pose_a]
        fakes, fake_poses = [fake_a], [fake_pose_a]
        if real_b is not None:
            reals.append(real_b), real_poses.append(pose_b)
        if fake_b is not None:
            fakes.append(fake_b), fake_poses.append(fake_pose_b)
        cat = lambda xs: torch.cat(xs) if xs[0] is not None else None  # noqa: E731
        real_logits = self.run_D(torch.cat(reals), cat(real_poses))
        fake_logits = self.run_D(torch.cat(fakes), cat(fake_poses))
        loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        out = {"loss_D": loss.item(), "real_sign": real_logits.sign().mean().item()}
        if self.D_pair is not None and real_b is not None and fake_b is not None:
            pair = (F.softplus(self.run_D_pair(fake_a, fake_b, fake_pose_a, fake_pose_b)).mean()
                    + F.softplus(-self.run_D_pair(real_a, real_b, pose_a, pose_b)).mean())
            out["loss_D_pair"] = pair.item()
            loss = loss + pair
        (loss * gain).backward()
        return out

    def r1_step(self, real_a: torch.Tensor, pose_a, real_b=None, pose_b=None, gain: float = 1.0) -> dict:
        """Lazy R1: ``gamma / 2 * |grad_x D(x)|^2`` on real images (and real pairs), times ``gain`` (the interval)."""
        gamma = self.s.r1_gamma
        x = real_a.detach().requires_grad_(True)
        logits = self.run_D(x, pose_a)
        (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        penalty = grad.square().sum([1, 2, 3]).mean()
        loss = penalty * (gamma / 2) + logits.sum() * 0
        out = {"r1_penalty": penalty.item()}
        if self.D_pair is not None and real_b is not None:
            a, b = real_a.detach().requires_grad_(True), real_b.detach().requires_grad_(True)
            logits_pair = self.run_D_pair(a, b, pose_a, pose_b)
            grad_a, grad_b = torch.autograd.grad(logits_pair.sum(), [a, b], create_graph=True)
            pair_penalty = (grad_a.square().sum([1, 2, 3]) + grad_b.square().sum([1, 2, 3])).mean()
            loss = loss + pair_penalty * (gamma / 2) + logits_pair.sum() * 0
            out["r1_pair_penalty"] = pair_penalty.item()
        (loss * gain).backward()
        return out
