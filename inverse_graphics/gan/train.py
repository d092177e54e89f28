"""The StyleGAN2-ADA training loop: alternating G and D steps, lazy regularisation, G EMA, adaptive augmentation,
atomic snapshots that a killed run resumes from, and per-tick curves.

Data parallel over ``torch.distributed`` when it is initialised (``torchrun``; gloo on the CPU, nccl on CUDA): every
rank draws its own share of the batch, gradients are averaged across ranks after each phase (one flat all-reduce,
as StyleGAN2-ADA's own loop does), the augmentation strength is agreed from all ranks' statistics, and only rank 0
writes files. Ranks start from the same weights and stay bitwise identical.

Shapes: images ``(N, 3, R, R)`` in [-1, 1]; poses ``(N, 3)`` = ``[sin azim, cos azim, elev / 90]``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from .augment import AugmentPipe, adjust_p
from .dataset import TrainingImages
from .loss import LossSettings, StyleGAN2Loss
from .networks import Discriminator, Generator


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of G, D and the pair discriminator; JSON-able (stored in every snapshot)."""

    resolution: int = 64
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 2
    channel_base: int = 2048
    channel_max: int = 128
    d_channel_base: int | None = None  # discriminators' channel_base; None: the generator's
    label_dim: int = 3                 # dataset label size (the camera); 0: unconditional
    pose_input: str = "synthesis"      # 'synthesis': camera on its own path; 'mapping': label into w; 'none'
    pair_discriminator: bool = True    # judge pairs of views of one latent (needs object ids in the data)
    mbstd_group: int = 4
    num_fp16_res: int = 0              # fp16 (CUDA only) for the N highest resolutions
    conv_clamp: float | None = None    # clamp activations (256 with fp16)

    def generator_kwargs(self) -> dict:
        pose_dim = self.label_dim if self.pose_input == "synthesis" else 0
        c_dim = self.label_dim if self.pose_input == "mapping" else 0
        return dict(z_dim=self.z_dim, c_dim=c_dim, w_dim=self.w_dim, img_resolution=self.resolution,
                    img_channels=3, pose_dim=pose_dim, mapping_kwargs=dict(num_layers=self.mapping_layers),
                    synthesis_kwargs=dict(channel_base=self.channel_base, channel_max=self.channel_max,
                                          num_fp16_res=self.num_fp16_res, conv_clamp=self.conv_clamp))

    def discriminator_kwargs(self, pair: bool = False) -> dict:
        c_dim = 0 if self.pose_input == "none" else self.label_dim * (2 if pair else 1)
        base = self.channel_base if self.d_channel_base is None else self.d_channel_base
        return dict(c_dim=c_dim, img_resolution=self.resolution, img_channels=6 if pair else 3,
                    channel_base=base, channel_max=self.channel_max, num_fp16_res=self.num_fp16_res,
                    conv_clamp=self.conv_clamp, epilogue_kwargs=dict(mbstd_group_size=self.mbstd_group))


@dataclass(frozen=True)
class TrainSettings:
    """How to train; ``None`` values take the official 'auto' defaults for the batch and resolution."""

    kimg: float = 10.0                 # images to show the discriminator, in thousands
    batch: int = 32
    lr: float = 0.0025                 # Adam lr of G and D (betas 0, 0.99)
    r1_gamma: float | None = None      # None: 0.0002 * res^2 / batch
    r1_interval: int = 16              # lazy R1 every N minibatches
    pl_weight: float = 0.0
    pl_interval: int = 4
    style_mixing: float = 0.9
    pair_weight: float = 1.0
    camera_weight: float = 0.0         # camera teacher's weight in G's loss (train(camera_reader=...))
    consistency_weight: float = 0.0    # soft-hull consistency weight in G's loss (train(mask_reader=...))
    consistency_interval: int = 4      # the consistency term runs every N minibatches (its gradient times N)
    consistency_latents: int = 4       # latents per consistency step
    consistency_views: int = 8         # views of each (a ring of azimuths at random elevations)
    consistency_kimg: float | None = None  # the term runs over the first N kimg of the run only (None: throughout)
    ema_kimg: float | None = None      # None: batch * 10 / 32
    ema_rampup: float | None = 0.05    # EMA half-life ramps up with the images seen; None: no ramp-up
    augment: str = "ada"               # 'ada' | 'fixed' | 'none'
    augment_p: float = 0.0             # initial (or, with 'fixed', constant) strength
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 500.0            # images for p to sweep 0 -> 1 (official: 100 when resuming)
    tick_kimg: float = 1.0             # one curve row per tick
    snapshot_kimg: float = 5.0         # snapshot + sample grid every N kimg (and at the end)
    seed: int = 0

    def resolved(self, resolution: int) -> "TrainSettings":
        """The same settings with the automatic values filled in."""
        gamma = 0.0002 * resolution**2 / self.batch if self.r1_gamma is None else self.r1_gamma
        ema = self.batch * 10 / 32 if self.ema_kimg is None else self.ema_kimg
        return TrainSettings(**{**asdict(self), "r1_gamma": gamma, "ema_kimg": ema})


def consistency_on(settings: TrainSettings, nimg: int) -> bool:
    """Whether the hull-consistency term runs after ``nimg`` images of the run: a positive weight, and inside
    ``consistency_kimg`` when set (then the adversarial loss alone trains on, and the samples recover)."""
    if settings.consistency_weight <= 0:
        return False
    return settings.consistency_kimg is None or nimg < settings.consistency_kimg * 1000


@dataclass
class GanState:
    """Everything a run needs to continue: networks, optimisers, progress, augmentation strength and RNG."""

    config: NetworkConfig
    G: Generator
    D: Discriminator
    G_ema: Generator
    D_pair: Discriminator | None = None
    augment: AugmentPipe | None = None
    opt_G: torch.optim.Optimizer | None = None
    opt_D: torch.optim.Optimizer | None = None
    nimg: int = 0                      # images shown so far in this run
    total_nimg: int = 0                # images shown including earlier runs this one resumed from
    pl_mean: float = 0.0               # running mean of the path lengths (path-length regulariser)
    history: list[dict] = field(default_factory=list)


def build_networks(config: NetworkConfig, seed: int = 0) -> GanState:
    """Fresh G, D (+ D_pair), G_ema = copy of G; weights from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    G = Generator(**config.generator_kwargs())
    D = Discriminator(**config.discriminator_kwargs())
    D_pair = Discriminator(**config.discriminator_kwargs(pair=True)) if config.pair_discriminator else None
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    return GanState(config, G, D, G_ema, D_pair, AugmentPipe())


def _elevation_range(data: TrainingImages) -> tuple[float, float]:
    """Degrees: the smallest and largest camera elevation of the training labels (``elev / 90`` in column 2)."""
    if data.labels is None:
        return (0.0, 30.0)
    elev = data.labels[:, 2] * 90.0
    return float(elev.min()), float(elev.max())


def _lazy_adam(params, lr: float, interval: int) -> torch.optim.Adam:
    """Adam with lr and betas rescaled for a loss whose regulariser runs every ``interval`` steps (official)."""
    ratio = interval / (interval + 1) if interval > 0 else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(0.0, 0.99**ratio), eps=1e-8)


def make_optimizers(state: GanState, settings: TrainSettings) -> None:
    g_params = list(state.G.parameters())
    d_params = list(state.D.parameters()) + (list(state.D_pair.parameters()) if state.D_pair is not None else [])
    g_interval = settings.pl_interval if settings.pl_weight > 0 else 0
    state.opt_G = _lazy_adam([p for p in g_params if p.requires_grad], settings.lr, g_interval)
    state.opt_D = _lazy_adam([p for p in d_params if p.requires_grad], settings.lr, settings.r1_interval)


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _average_gradients(modules: list[torch.nn.Module]) -> None:
    """All-reduce (mean) the gradients of ``modules`` across ranks as one flat tensor (no-op on one process)."""
    _, world = _world()
    if world == 1:
        return
    params = [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset:offset + p.numel()].view_as(p))
        offset += p.numel()


def _average_w_avg(G: Generator) -> None:
    """Each rank tracks the mean of its own latents' w: average the trackers so the ranks stay identical."""
    _, world = _world()
    if world > 1 and hasattr(G.mapping, "w_avg"):
        dist.all_reduce(G.mapping.w_avg)
        G.mapping.w_avg /= world


def _nan_to_num(modules) -> None:
    for m in modules:
        if m is not None:
            for p in m.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)


def update_ema(G_ema: Generator, G: Generator, nimg: int, batch: int, settings: TrainSettings) -> None:
    """``G_ema = lerp(G, G_ema, beta)`` with a half-life of ``ema_kimg`` thousand images (ramped up early)."""
    ema_nimg = settings.ema_kimg * 1000
    if settings.ema_rampup is not None:
        ema_nimg = min(ema_nimg, nimg * settings.ema_rampup)
    beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(G_ema.buffers(), G.buffers()):
            b_ema.copy_(b)


def train(
    state: GanState,
    data: TrainingImages,
    settings: TrainSettings,
    device: torch.device,
    on_tick: Callable[[GanState, dict], None] | None = None,
    on_snapshot: Callable[[GanState], None] | None = None,
    progress: Callable | None = None,
    camera_reader: Callable[[torch.Tensor], torch.Tensor] | None = None,
    mask_reader: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> GanState:
    """Train ``state`` for ``settings.kimg`` thousand images (counted from ``state.nimg``, so a resumed state
    continues where it stopped). ``on_tick(state, row)`` gets each curve row; ``on_snapshot(state)`` is called
    every ``snapshot_kimg`` and at the end (rank 0 only); ``progress`` is a tqdm-like factory;
    ``camera_reader`` (images ``(N, 3, R, R)`` -> camera labels ``(N, 3)``, frozen) is the camera teacher that
    ``settings.camera_weight`` weighs; ``mask_reader`` (images -> car probabilities ``(N, R, R)``, frozen,
    differentiable) is the segmenter of ``settings.consistency_weight``'s term.
    """
    settings = settings.resolved(data.resolution)
    rank, world = _world()
    if settings.batch % world:
        raise ValueError(f"batch {settings.batch} is not divisible by {world} processes")
    batch = settings.batch // world
    config = state.config
    pairs = config.pair_discriminator
    if pairs and not data.has_pairs:
        raise ValueError("pair_discriminator needs object ids with two or more views per object in the data set")
    if config.label_dim > 0 and (data.labels is None or data.labels.shape[1] != config.label_dim):
        got = None if data.labels is None else data.labels.shape[1]
        raise ValueError(f"the networks expect {config.label_dim}-D labels, the data set has {got}")
    if pairs and batch % 2:
        raise ValueError(f"pair training needs an even per-process batch, got {batch}")
    if data.resolution != config.resolution:
        raise ValueError(f"data set resolution {data.resolution} != network resolution {config.resolution}")
    for module in (state.G, state.D, state.D_pair, state.augment):
        if module is not None:
            module.to(device).train()
    state.G_ema.to(device).eval()
    if state.opt_G is None:
        make_optimizers(state, settings)
    for opt in (state.opt_G, state.opt_D):  # a resumed optimiser's moments follow its parameters to the device
        opt.load_state_dict(opt.state_dict())
    if state.augment is not None:
        state.augment.p.fill_(settings.augment_p if settings.augment != "none" and state.nimg == 0
                              else float(state.augment.p))
    loss = StyleGAN2Loss(state.G, state.D, state.D_pair, state.augment if settings.augment != "none" else None,
                         LossSettings(settings.r1_gamma, settings.style_mixing, settings.pl_weight,
                                      pair_weight=settings.pair_weight, camera_weight=settings.camera_weight,
                                      consistency_weight=settings.consistency_weight,
                                      consistency_latents=settings.consistency_latents,
                                      consistency_views=settings.consistency_views),
                         camera_reader=camera_reader, mask_reader=mask_reader, elev_range=_elevation_range(data))
    loss.pl_mean = torch.tensor(state.pl_mean)
    generator = torch.Generator()

    def reseed() -> None:
        """Random streams are a function of (seed, rank, images seen), re-derived at every snapshot, so a run
        resumed from a snapshot continues exactly as the uninterrupted run did."""
        seed = (settings.seed * 1000003 + rank * 7919 + state.nimg) % 2**62
        generator.manual_seed(seed)
        torch.manual_seed(seed)

    reseed()
    total = int(settings.kimg * 1000)
    tick_start, tick_nimg, step = time.perf_counter(), state.nimg, state.nimg // settings.batch
    stats: dict[str, list[float]] = {}
    signs = []
    next_snapshot = (state.nimg // int(settings.snapshot_kimg * 1000) + 1) * int(settings.snapshot_kimg * 1000)
    bar = progress(total=total, initial=state.nimg, unit="img", unit_scale=True, desc="train_gan") if progress else None

    def real_batch():
        if pairs:
            a, b = data.sample_pairs(batch // 2, generator)
            images = data.to_float(data.images[torch.cat([a, b])]).to(device)
            poses = data.labels[torch.cat([a, b])].to(device)
            h = batch // 2
            return images[:h], poses[:h], images[h:], poses[h:]
        images, labels = data.sample(batch, generator)
        return images.to(device), labels.to(device) if labels is not None else None, None, None

    def fake_inputs():
        """Latents and cameras drawn from real views (pairs of cameras of one real object when pairing)."""
        n = batch // 2 if pairs else batch
        z = torch.randn(n, config.z_dim, generator=generator).to(device)
        if data.labels is None:
            return z, None, None
        if pairs:
            a, b = data.sample_pairs(n, generator)
            return z, data.labels[a].to(device), data.labels[b].to(device)
        index = torch.randint(len(data), (n,), generator=generator)
        return z, data.labels[index].to(device), None

    while state.nimg < total:
        # ---------------------------------------------------------------- G
        state.opt_G.zero_grad(set_to_none=True)
        state.G.requires_grad_(True), state.D.requires_grad_(False)
        if state.D_pair is not None:
            state.D_pair.requires_grad_(False)
        row = loss.generator_step(*fake_inputs())
        if settings.pl_weight > 0 and step % settings.pl_interval == 0:
            z, pa, _ = fake_inputs()
            row |= loss.path_length_step(z, pa, gain=settings.pl_interval)
        if consistency_on(settings, state.nimg) and step % settings.consistency_interval == 0:
            row |= loss.consistency_step(generator, gain=settings.consistency_interval)
        _average_gradients([state.G]), _nan_to_num([state.G])
        state.opt_G.step()
        # ---------------------------------------------------------------- D
        state.opt_D.zero_grad(set_to_none=True)
        state.G.requires_grad_(False), state.D.requires_grad_(True)
        if state.D_pair is not None:
            state.D_pair.requires_grad_(True)
        real_a, pose_a, real_b, pose_b = real_batch()
        z, fa, fb = fake_inputs()
        row |= loss.discriminator_step(real_a, pose_a, real_b, pose_b, z, fa, fb)
        if settings.r1_gamma > 0 and step % settings.r1_interval == 0:
            row |= loss.r1_step(real_a, pose_a, real_b, pose_b, gain=settings.r1_interval)
        _average_gradients([state.D, state.D_pair]), _nan_to_num([state.D, state.D_pair])
        state.opt_D.step()
        _average_w_avg(state.G)
        # ---------------------------------------------------------------- bookkeeping
        state.nimg += settings.batch
        state.total_nimg += settings.batch
        step += 1
        update_ema(state.G_ema, state.G, state.nimg, settings.batch, settings)
        signs.append(row.pop("real_sign"))
        for key, value in row.items():
            stats.setdefault(key, []).append(value)
        if settings.augment == "ada" and step % settings.ada_interval == 0:
            mean_sign = torch.tensor(sum(signs) / len(signs))
            if world > 1:
                dist.all_reduce(mean_sign)
                mean_sign /= world
            state.augment.p.fill_(adjust_p(float(state.augment.p), float(mean_sign), settings.ada_target,
                                           settings.batch * settings.ada_interval, settings.ada_kimg))
            stats.setdefault("r_t", []).append(float(mean_sign))
            signs = []
        if bar is not None:
            bar.update(settings.batch)
        done = state.nimg >= total
        if state.nimg - tick_nimg >= settings.tick_kimg * 1000 or done:
            seconds = time.perf_counter() - tick_start
            tick = {"kimg": round(state.nimg / 1000, 3), "total_kimg": round(state.total_nimg / 1000, 3),
                    "seconds_per_kimg": seconds / ((state.nimg - tick_nimg) / 1000),
                    "augment_p": float(state.augment.p) if state.augment is not None else 0.0}
            tick |= {key: sum(values) / len(values) for key, values in sorted(stats.items())}
            state.history.append(tick)
            if bar is not None:
                bar.set_postfix(G=f"{tick.get('loss_G', math.nan):.3f}", D=f"{tick.get('loss_D', math.nan):.3f}",
                                p=f"{tick['augment_p']:.2f}")
            if on_tick is not None and rank == 0:
                on_tick(state, tick)
            tick_start, tick_nimg, stats = time.perf_counter(), state.nimg, {}
        state.pl_mean = float(loss.pl_mean)
        if (state.nimg >= next_snapshot or done) and rank == 0 and on_snapshot is not None:
            on_snapshot(state)
        if state.nimg >= next_snapshot:
            next_snapshot += int(settings.snapshot_kimg * 1000)
            signs = []
            reseed()
    if bar is not None:
        bar.close()
    return state
