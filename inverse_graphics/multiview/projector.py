"""Projection: an image -> the latent, noise and camera with which the generator draws it.

The search follows the official StyleGAN2 projector (Karras et al. 2020, Appendix D; the defaults of
stylegan2-ada-pytorch's ``projector.py``): Adam (betas 0.9, 0.999) on ``w`` starting at ``w_avg``, ``steps`` steps,
learning rate ``lr`` with a cosine ramp-down over the last ``lr_rampdown`` of the steps and a linear ramp-up over the
first ``lr_rampup``; Gaussian noise added to ``w`` with standard deviation ``w_std * w_noise * max(0, 1 -
t / w_noise_ramp)^2`` (``w_std`` measured over ``w_avg_samples`` mapped latents); the per-layer noise buffers optimised
too, with the multi-scale autocorrelation regulariser (weight ``noise_reg``) and renormalised to zero mean and unit
variance after every step.

Additions for multi-view synthesis:

- ``space``: ``'w'`` (one ``w`` for every layer, as the official projector) or ``'w+'`` (one per layer).
- The camera: a generator with a camera input (``pose_dim = 3``) is searched over its camera too, from a first
  guess (the car critic's reading of the input): azimuth ``a`` (radians) and ``e = elevation / 90`` are the
  parameters, the label ``[sin a, cos a, e]`` stays on the unit circle by construction, ``e`` is clamped to the
  training range after every step. ``pose_starts > 1`` first runs ``start_steps`` steps from azimuths spread evenly
  around the guess (a car seen from the front and from the back can look alike) and continues from the best.
- ``pivotal_tuning``: after the search, fine-tune the synthesis network around the found latent (Roich et al. 2021,
  PTI) with a locality regulariser that keeps the generator unchanged at random latents and cameras around it.

Shapes: target ``(1, 3, R, R)`` in [-1, 1]; ``ws: (1, num_ws, w_dim)``; pose ``(1, 3)``; noise buffers ``(R_l, R_l)``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ..gan.networks import Generator
from ..gan.session import pose_labels
from .distance import Distance


@dataclass(frozen=True)
class ProjectSettings:
    space: str = "w"                   # 'w' | 'w+'
    steps: int = 1000
    lr: float = 0.1
    lr_rampup: float = 0.05            # fraction of the steps
    lr_rampdown: float = 0.25          # fraction of the steps
    w_noise: float = 0.05              # initial noise on w, in units of w_std
    w_noise_ramp: float = 0.75         # fraction of the steps over which that noise falls to 0
    noise_reg: float = 1e5             # weight of the noise-buffer regulariser
    optimize_noise: bool = True        # False: keep the generator's own constant noise
    w_avg_samples: int = 10000
    optimize_pose: bool = True         # search the camera (generators with a camera input)
    pose_lr: float = 0.02              # Adam lr of azimuth (radians) and elevation / 90, same ramps
    pose_starts: int = 1               # starting azimuths: the guess + (k * 360 / pose_starts)
    start_steps: int = 100             # steps each extra start runs before the best one continues
    elev_range: tuple[float, float] = (0.0, 30.0)  # degrees; the camera is kept inside (training range)
    seed: int = 0
    log_every: int = 10
    fused_modconv: bool = False        # batch-1 search: the split modulated convolution is faster on the CPU
                                       # (benchmarks/projection_speed.py); both give the same image

    def __post_init__(self):
        if self.space not in ("w", "w+"):
            raise ValueError(f"space must be 'w' or 'w+', got {self.space!r}")


@dataclass
class Projection:
    """The search's result: ``ws: (1, num_ws, w_dim)``, ``pose: (1, 3)`` or None (no camera input and no guess),
    ``noise``: buffer name -> ``(R_l, R_l)``; ``history``: per logged step the loss terms, lr and camera."""

    ws: torch.Tensor
    space: str
    pose: torch.Tensor | None
    pose_init: torch.Tensor | None
    noise: dict[str, torch.Tensor]
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


# ----------------------------------------------------------------------------- latent statistics and noise


@torch.no_grad()
def w_statistics(G: Generator, samples: int = 10000, seed: int = 0, elev_range=(0.0, 30.0),
                 batch: int = 2000) -> tuple[torch.Tensor, float]:
    """``w_avg: (w_dim,)`` and ``w_std`` (root mean squared distance of mapped latents to their mean) over
    ``samples`` latents. ``w_avg`` is the generator's tracked mean when it has one (non-zero), else the sample mean.
    A mapping network with a label (``c_dim > 0``) gets random camera labels (``c_dim = 3``) or zeros."""
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    ws = []
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        z = torch.randn(n, G.z_dim, generator=g)
        c = None
        if G.c_dim > 0:
            c = torch.zeros(n, G.c_dim)
            if G.c_dim == 3:
                c = pose_labels(torch.rand(n, generator=g) * 360,
                                elev_range[0] + torch.rand(n, generator=g) * (elev_range[1] - elev_range[0]))
            c = c.to(device)
        ws.append(G.mapping(z.to(device), c, update_w_avg=False)[:, 0].float())
    ws = torch.cat(ws)
    mean = ws.mean(dim=0)
    w_std = float(((ws - mean).square().sum() / len(ws)).sqrt())
    tracked = getattr(G.mapping, "w_avg", None)
    w_avg = tracked.detach().float().clone() if tracked is not None and bool(tracked.abs().sum() > 0) else mean
    return w_avg, w_std


def noise_buffers(G: Generator) -> dict[str, torch.Tensor]:
    """The constant noise of every synthesis layer: name (``b8.conv0``) -> ``(R_l, R_l)``."""
    return {name[: -len(".noise_const")]: buf for name, buf in G.synthesis.named_buffers()
            if name.endswith(".noise_const")}


def set_noise(G: Generator, noise: dict[str, torch.Tensor]) -> None:
    """Replace the constant noise of ``G``'s layers (in place) by ``noise`` (name -> ``(R_l, R_l)``)."""
    for name, value in noise.items():
        layer = G.synthesis.get_submodule(name)
        if tuple(layer.noise_const.shape) != tuple(value.shape):
            raise ValueError(f"noise {name}: expected {tuple(layer.noise_const.shape)}, got {tuple(value.shape)}")
        layer.noise_const = value


def noise_regularizer(buffers: list[torch.Tensor]) -> torch.Tensor:
    """Sum over buffers and scales (halving down to 8x8) of the squared mean autocorrelation at a one-pixel shift
    in x and in y: zero for white noise, large when the search hides image content in the noise."""
    reg = torch.zeros((), device=buffers[0].device if buffers else "cpu")
    for buf in buffers:
        v = buf[None, None]
        while True:
            reg = reg + (v * torch.roll(v, shifts=1, dims=3)).mean().square()
            reg = reg + (v * torch.roll(v, shifts=1, dims=2)).mean().square()
            if v.shape[2] <= 8:
                break
            v = F.avg_pool2d(v, kernel_size=2)
    return reg


@torch.no_grad()
def normalize_noise_(buffers: list[torch.Tensor]) -> None:
    """Every buffer to zero mean and unit variance, in place."""
    for buf in buffers:
        buf -= buf.mean()
        buf *= buf.square().mean().rsqrt()


def learning_rate_ramp(t: float, rampup: float, rampdown: float) -> float:
    """The official schedule's factor at progress ``t`` in [0, 1): linear ramp-up, cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return ramp * (min(1.0, t / rampup) if rampup > 0 else 1.0)


# ----------------------------------------------------------------------------- the camera as a parameter


class Camera(torch.nn.Module):
    """Azimuth (radians) and elevation / 90 as parameters; ``label()`` -> ``(1, 3)`` ``[sin a, cos a, e]``."""

    def __init__(self, label: torch.Tensor, elev_range: tuple[float, float]):
        super().__init__()
        label = label.detach().float().reshape(-1)
        self.elev_bounds = (elev_range[0] / 90.0, elev_range[1] / 90.0)
        self.azim = torch.nn.Parameter(torch.atan2(label[0], label[1]).reshape(1))
        self.elev = torch.nn.Parameter(label[2].clamp(*self.elev_bounds).reshape(1))

    def label(self) -> torch.Tensor:
        return torch.stack([self.azim.sin(), self.azim.cos(), self.elev], dim=-1)

    @torch.no_grad()
    def clamp_(self) -> None:
        self.elev.clamp_(*self.elev_bounds)
        self.azim.copy_(torch.atan2(self.azim.sin(), self.azim.cos()))

    def degrees(self) -> tuple[float, float]:
        return math.degrees(float(self.azim.detach())), float(self.elev.detach()) * 90.0


def rotate_label(label: torch.Tensor, degrees: float) -> torch.Tensor:
    """``(1, 3)`` camera label turned by ``degrees`` of azimuth."""
    azim = math.degrees(math.atan2(float(label[0, 0]), float(label[0, 1]))) + degrees
    return pose_labels(torch.tensor([azim]), label[0, 2] * 90.0).to(label.device)


# ----------------------------------------------------------------------------- the search


class Search:
    """One run of the projector's loop on a private copy of the generator (its noise buffers are the variables)."""

    def __init__(self, G: Generator, target: torch.Tensor, distance: Distance, prepared: dict, settings: ProjectSettings,
                 w_avg: torch.Tensor, w_std: float, pose_init: torch.Tensor | None, generator: torch.Generator):
        self.settings, self.distance, self.prepared, self.w_std = settings, distance, prepared, w_std
        self.rng = generator
        self.G = copy.deepcopy(G).eval().requires_grad_(False)
        device = target.device
        rows = 1 if settings.space == "w" else G.num_ws
        self.w = torch.nn.Parameter(w_avg.to(device)[None, None].repeat(1, rows, 1).clone())
        buffers = noise_buffers(self.G)
        if settings.optimize_noise:
            self.noise = {k: torch.randn(v.shape, generator=generator).to(device).requires_grad_(True)
                          for k, v in buffers.items()}
            set_noise(self.G, self.noise)
        else:
            self.noise = {k: v.detach().clone() for k, v in buffers.items()}
        self.camera = None
        if G.pose_dim > 0:
            if pose_init is None:
                raise ValueError("a generator with a camera input needs a first guess of the camera (pose_init)")
            self.camera = Camera(pose_init, settings.elev_range).to(device)
            self.camera.requires_grad_(settings.optimize_pose)
        groups = [{"params": [self.w] + ([*self.noise.values()] if settings.optimize_noise else []),
                   "lr": settings.lr, "base_lr": settings.lr}]
        if self.camera is not None and settings.optimize_pose:
            groups.append({"params": list(self.camera.parameters()), "lr": settings.pose_lr,
                           "base_lr": settings.pose_lr})
        self.optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999))
        self.history: list[dict] = []
        self.last_loss = math.inf

    def ws(self, noise_scale: float = 0.0) -> torch.Tensor:
        w = self.w
        if noise_scale > 0:
            w = w + torch.randn(w.shape, generator=self.rng).to(w.device) * noise_scale
        return w.expand(1, self.G.num_ws, -1)

    def render(self, ws: torch.Tensor) -> torch.Tensor:
        pose = self.camera.label() if self.camera is not None else None
        return self.G.synthesize(ws, pose, noise_mode="const", fused_modconv=self.settings.fused_modconv)

    def step(self, step: int, total: int) -> float:
        s = self.settings
        t = step / total
        noise_scale = self.w_std * s.w_noise * max(0.0, 1.0 - t / s.w_noise_ramp) ** 2 if s.w_noise_ramp > 0 else 0.0
        ramp = learning_rate_ramp(t, s.lr_rampup, s.lr_rampdown)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * ramp
        images = self.render(self.ws(noise_scale))
        dist, parts = self.distance(images, self.prepared)
        reg = noise_regularizer(list(self.noise.values())) if s.optimize_noise else torch.zeros(())
        loss = dist.sum() + s.noise_reg * reg
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if s.optimize_noise:
            normalize_noise_(list(self.noise.values()))
        if self.camera is not None:
            self.camera.clamp_()
        self.last_loss = float(dist.detach().sum())
        if step % s.log_every == 0 or step == total - 1:
            row = {"step": step, "loss": self.last_loss, "noise_reg": float(reg.detach()), "lr": s.lr * ramp}
            row |= {k: float(v.detach().sum()) for k, v in parts.items()}
            if self.camera is not None:
                row["azim"], row["elev"] = self.camera.degrees()
            self.history.append(row)
        return self.last_loss

    def result(self, pose_init, seconds: float) -> Projection:
        pose = self.camera.label().detach() if self.camera is not None else pose_init
        return Projection(ws=self.ws().detach().clone(), space=self.settings.space, pose=pose, pose_init=pose_init,
                          noise={k: v.detach().clone() for k, v in self.noise.items()}, history=self.history,
                          seconds=seconds)


def project(G: Generator, target: torch.Tensor, distance: Distance, settings: ProjectSettings = ProjectSettings(),
            pose_init: torch.Tensor | None = None, progress: Callable | None = None,
            w_stats: tuple[torch.Tensor, float] | None = None) -> Projection:
    """Search ``ws`` (+ noise, + camera) so that ``G`` draws ``target: (1, 3, R, R)``; ``G`` is not modified.

    ``pose_init: (1, 3)`` is the first guess of the camera (required when ``G`` has a camera input; for other
    generators it is passed through as the estimate). ``w_stats`` = ``w_statistics(G)`` when already computed.
    """
    start = time.perf_counter()
    if target.ndim != 4 or target.shape[0] != 1 or target.shape[-1] != G.img_resolution:
        raise ValueError(f"target must be (1, 3, {G.img_resolution}, {G.img_resolution}), got {tuple(target.shape)}")
    w_avg, w_std = w_stats if w_stats is not None else w_statistics(G, settings.w_avg_samples, settings.seed,
                                                                      settings.elev_range)
    prepared = distance.prepare(target)
    rng = torch.Generator().manual_seed(settings.seed)
    can_turn = G.pose_dim > 0 and settings.optimize_pose and settings.pose_starts > 1
    if can_turn:  # several starting azimuths, a short run each; the best one continues the full schedule
        candidates = []
        for k in range(settings.pose_starts):
            label = rotate_label(pose_init, 360.0 * k / settings.pose_starts)
            search = Search(G, target, distance, prepared, settings, w_avg, w_std, label,
                             torch.Generator().manual_seed(settings.seed + k))
            for step in range(settings.start_steps):
                search.step(step, settings.steps)
            candidates.append(search)
        search = min(candidates, key=lambda s: s.last_loss)
        first = settings.start_steps
    else:
        search = Search(G, target, distance, prepared, settings, w_avg, w_std, pose_init, rng)
        first = 0
    steps = range(first, settings.steps)
    bar = progress(steps, desc="project", unit="step", leave=False) if progress else steps
    for step in bar:
        loss = search.step(step, settings.steps)
        if progress and step % settings.log_every == 0:
            bar.set_postfix(loss=f"{loss:.4f}")
    return search.result(pose_init, time.perf_counter() - start)


# ----------------------------------------------------------------------------- pivotal tuning


@dataclass(frozen=True)
class TuneSettings:
    steps: int = 0                     # 0: off
    lr: float = 3e-4                   # Adam lr of the synthesis network (PTI's value)
    locality: float = 1.0              # weight of the locality regulariser
    locality_radius: float = 30.0      # PTI's alpha: the regulariser's latents lie this far (in W) from the pivot
    locality_every: int = 10           # PTI applies the regulariser every 10 steps
    seed: int = 0


def pivotal_tuning(G: Generator, projection: Projection, target: torch.Tensor, distance: Distance,
                   settings: TuneSettings, progress: Callable | None = None) -> tuple[Generator, list[dict]]:
    """A copy of ``G`` (with the projection's noise) whose synthesis network (and camera path) is fine-tuned so
    that it draws ``target`` at the projection's latent and camera. Every ``locality_every`` steps, the tuned
    generator is also pulled toward the original at ``w_r = w_p + radius * (w_z - w_p) / |w_z - w_p|`` for a random
    ``w_z`` and a random camera in the training range (pixel MSE + the distance's terms)."""
    original = copy.deepcopy(G).eval().requires_grad_(False)
    set_noise(original, projection.noise)
    tuned = copy.deepcopy(original)
    tuned.synthesis.requires_grad_(True)
    if tuned.pose_dim > 0:
        tuned.pose.requires_grad_(True)
    params = [p for p in tuned.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    device = target.device
    prepared = distance.prepare(target)
    g = torch.Generator().manual_seed(settings.seed)
    history = []
    steps = range(settings.steps)
    bar = progress(steps, desc="pti", unit="step", leave=False) if progress else steps
    ws_pivot = projection.ws.to(device)
    for step in bar:
        image = tuned.synthesize(ws_pivot, projection.pose, noise_mode="const")
        dist, parts = distance(image, prepared)
        loss = dist.sum()
        reg = torch.zeros((), device=device)
        if settings.locality > 0 and step % settings.locality_every == 0:
            z = torch.randn(1, G.z_dim, generator=g).to(device)
            c = None
            if G.c_dim > 0:
                c = projection.pose if projection.pose is not None and G.c_dim == 3 else torch.zeros(1, G.c_dim)
                c = c.to(device)
            with torch.no_grad():
                w_z = original.mapping(z, c, update_w_avg=False)
                direction = w_z - ws_pivot
                w_r = ws_pivot + settings.locality_radius * direction / direction.norm(dim=-1, keepdim=True)
            pose = None
            if G.pose_dim > 0:
                pose = pose_labels(torch.rand(1, generator=g) * 360, torch.rand(1, generator=g) * 30).to(device)
            with torch.no_grad():
                reference = original.synthesize(w_r, pose, noise_mode="const")
            image_r = tuned.synthesize(w_r, pose, noise_mode="const")
            ref_prepared = distance.prepare(reference)
            d_r, _ = distance(image_r, ref_prepared)
            reg = (image_r - reference).square().mean() + d_r.sum()
            loss = loss + settings.locality * reg
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == settings.steps - 1:
            history.append({"step": step, "loss": float(dist.detach().sum()), "locality": float(reg.detach())}
                           | {k: float(v.detach().sum()) for k, v in parts.items()})
    return tuned.eval().requires_grad_(False), history


def with_noise(G: Generator, noise: dict[str, torch.Tensor]) -> Generator:
    """A frozen copy of ``G`` whose constant noise is ``noise`` (the projection's)."""
    out = copy.deepcopy(G).eval().requires_grad_(False)
    set_noise(out, {k: v.detach().to(next(out.parameters()).device) for k, v in noise.items()})
    return out

