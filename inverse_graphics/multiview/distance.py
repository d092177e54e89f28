"""Image distances for GAN inversion: how far a generated image is from the input.

The official projector measures LPIPS-VGG16 (Zhang et al. 2018), whose weights cannot be downloaded here. What the
project owns instead:

- ``PixelPyramid``: mean squared error at several scales (full, 1/2, 1/4, ...), averaged over scales; the coarse
  scales weigh layout and colour, the fine one detail.
- ``FeatureDistance`` over a network's layers, computed as in LPIPS: features normalised to unit length over
  channels, squared differences summed over channels, averaged over space, averaged over layers (LPIPS sums layers
  and weighs channels with learned weights; with no learned weights here, a plain mean). Extractors:
  ``critic_layers`` (the car critic, trained on the exactly labelled synthetic renders: it knows cars' shapes and
  cameras) and ``discriminator_layers`` (the GAN's own discriminator).
- ``lpips_vgg16``: the real LPIPS-VGG16, from two local files the user gives (torchvision's VGG16 weights and
  LPIPS' v0.1 linear layers); a missing or foreign file is a one-line ``UserError`` naming it. Never downloaded.

A ``Distance`` sums weighted terms; ``prepare(target)`` caches the target's embeddings once per projection.
Images ``(N, 3, R, R)`` in [-1, 1]; distances ``(N,)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import UserError

# LPIPS' input normalisation (its ScalingLayer) and the VGG16 ``features`` indices of relu1_2 .. relu5_3.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
VGG16_TAPS = (3, 8, 15, 22, 29)
VGG16_CHANNELS = (64, 128, 256, 512, 512)
VGG16_FILE = "torchvision's VGG16 ImageNet weights (vgg16-397923af.pth, keys features.N.weight/bias)"
LPIPS_FILE = "LPIPS v0.1 linear layers for VGG (lpips/weights/v0.1/vgg.pth, keys lin0..lin4 .model.1.weight)"


def unit_channels(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """``(N, C, H, W)`` -> the same with every pixel's channel vector scaled to unit length (LPIPS' normalisation)."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + eps)


class PixelPyramid(torch.nn.Module):
    """Mean squared error at ``scales`` scales (2x average pooling between them), averaged over the scales."""

    def __init__(self, scales: int = 4):
        super().__init__()
        if scales < 1:
            raise ValueError("scales must be >= 1")
        self.scales = scales

    def embed(self, images: torch.Tensor) -> list[torch.Tensor]:
        out = [images]
        for _ in range(self.scales - 1):
            if out[-1].shape[-1] < 2:
                break
            out.append(F.avg_pool2d(out[-1], 2))
        return out

    def compare(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([(x - y).square().mean(dim=[1, 2, 3]) for x, y in zip(a, b)]).mean(dim=0)


class FeatureDistance(torch.nn.Module):
    """LPIPS-style distance in the layers that ``extractor`` returns (``images -> [(N, C_l, H_l, W_l), ...]``).

    ``channel_weights``: per layer ``(C_l,)`` non-negative weights (LPIPS' linear layers; the layer terms are then
    summed, as in LPIPS), or None: channels summed with weight 1 and layers averaged."""

    def __init__(self, extractor: Callable[[torch.Tensor], list[torch.Tensor]],
                 channel_weights: list[torch.Tensor] | None = None):
        super().__init__()
        self.extractor = extractor
        self.channel_weights = None
        if channel_weights is not None:
            self.channel_weights = [w.reshape(1, -1, 1, 1).float() for w in channel_weights]
        for i, module in enumerate(getattr(extractor, "modules_", ())):  # so that .to(device) moves them
            self.add_module(f"net{i}", module)

    def embed(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [unit_channels(f) for f in self.extractor(images)]

    def compare(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        terms = []
        for i, (x, y) in enumerate(zip(a, b)):
            d = (x - y).square()
            if self.channel_weights is not None:
                d = d * self.channel_weights[i].to(d.device)
            terms.append(d.sum(dim=1).mean(dim=[1, 2]))
        terms = torch.stack(terms)
        return terms.sum(dim=0) if self.channel_weights is not None else terms.mean(dim=0)


class _Extractor:
    """A callable ``images -> list of feature maps`` that remembers its networks in ``modules_``."""

    def __init__(self, fn: Callable[[torch.Tensor], list[torch.Tensor]], *modules: torch.nn.Module):
        self.fn, self.modules_ = fn, modules

    def __call__(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.fn(images)


def critic_layers(critic) -> _Extractor:
    """The car critic's block outputs (one per stride-2 block: R/2, R/4, ... down to 4x4), images resized to its
    resolution. The critic stays frozen and in eval mode (batch-norm running statistics)."""
    critic = critic.eval().requires_grad_(False)
    layers = list(critic.body)
    blocks = [layers[i:i + 6] for i in range(0, len(layers), 6)]  # conv, bn, relu, conv(stride 2), bn, relu

    def extract(images: torch.Tensor) -> list[torch.Tensor]:
        x = images
        if x.shape[-1] != critic.resolution:
            x = F.interpolate(x, size=(critic.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False)
        out = []
        for block in blocks:
            for layer in block:
                x = layer(x)
            out.append(x)
        return out

    return _Extractor(extract, critic)


def discriminator_layers(D) -> _Extractor:
    """The outputs of the discriminator's residual blocks (R/2 ... 4x4). ``D`` is frozen; it must read 3-channel
    images of the generator's resolution."""
    D = D.eval().requires_grad_(False)
    if D.img_channels != 3:
        raise ValueError(f"discriminator_layers needs a 3-channel discriminator, got {D.img_channels}")

    def extract(images: torch.Tensor) -> list[torch.Tensor]:
        x, out = None, []
        for r in D.block_resolutions:
            x, _ = getattr(D, f"b{r}")(x, images, force_fp32=True)
            out.append(x.float())
        return out

    return _Extractor(extract, D)


def _load_state(path: Path, key: str, expected: str) -> dict:
    if not path.is_file():
        raise UserError(f"params.yaml: {key}: {path} not found (expected {expected}; nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one user-facing line
        raise UserError(f"{path}: not a readable weight file for {key} ({' '.join(str(exc).split())[:160]}; "
                        f"expected {expected})") from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: expected a state dict for {key} ({expected})")
    return state


def lpips_vgg16(vgg_path: str | os.PathLike, linear_path: str | os.PathLike) -> FeatureDistance:
    """LPIPS-VGG16 from local files: ``vgg_path`` = torchvision's VGG16 state dict (only ``features.*`` is used),
    ``linear_path`` = LPIPS v0.1's linear layers. Wrong shapes or missing keys are a ``UserError`` naming the file."""
    from torchvision.models.vgg import cfgs, make_layers  # VGG16's convolutional part, without the classifier

    vgg_path, linear_path = Path(vgg_path), Path(linear_path)
    features = make_layers(cfgs["D"], batch_norm=False)[: VGG16_TAPS[-1] + 1]
    state = _load_state(vgg_path, "multiview.distance.lpips_vgg16", VGG16_FILE)
    wanted = {k: v for k, v in features.state_dict().items()}
    for name, tensor in wanted.items():
        source = state.get(f"features.{name}")
        if source is None or tuple(source.shape) != tuple(tensor.shape):
            got = None if source is None else tuple(source.shape)
            raise UserError(f"{vgg_path}: features.{name}: expected shape {tuple(tensor.shape)}, got {got} "
                            f"(expected {VGG16_FILE})")
        tensor.copy_(source)
    features = features.eval().requires_grad_(False)

    lin = _load_state(linear_path, "multiview.distance.lpips_linear", LPIPS_FILE)
    weights = []
    for i, channels in enumerate(VGG16_CHANNELS):
        found = [v for k, v in lin.items() if k.startswith(f"lin{i}.") and k.endswith("weight")]
        if len(found) != 1 or tuple(found[0].shape) != (1, channels, 1, 1):
            shapes = [tuple(v.shape) for v in found]
            raise UserError(f"{linear_path}: lin{i}: expected one weight of shape (1, {channels}, 1, 1), got {shapes} "
                            f"(expected {LPIPS_FILE})")
        weights.append(found[0].flatten().float())
    shift = torch.tensor(LPIPS_SHIFT).reshape(1, 3, 1, 1)
    scale = torch.tensor(LPIPS_SCALE).reshape(1, 3, 1, 1)

    def extract(images: torch.Tensor) -> list[torch.Tensor]:
        x = (images - shift.to(images.device)) / scale.to(images.device)
        out = []
        for index, layer in enumerate(features):
            x = layer(x)
            if index in VGG16_TAPS:
                out.append(x)
        return out

    return FeatureDistance(_Extractor(extract, features), weights)


@dataclass
class Term:
    name: str
    weight: float
    module: torch.nn.Module  # PixelPyramid or FeatureDistance


class Distance(torch.nn.Module):
    """``sum_k weight_k * term_k``; ``prepare(target)`` once, then ``forward(images, prepared)``."""

    def __init__(self, terms: list[Term]):
        super().__init__()
        self.terms = [t for t in terms if t.weight > 0]
        if not self.terms:
            raise UserError("params.yaml: multiview.distance: every term has weight 0 (nothing to match)")
        for t in self.terms:
            self.add_module(t.name, t.module)

    @torch.no_grad()
    def prepare(self, target: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """The embeddings of ``target: (N, 3, R, R)`` for each term."""
        return {t.name: [e.detach() for e in t.module.embed(target)] for t in self.terms}

    def forward(self, images: torch.Tensor, prepared: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """-> total ``(N,)`` and the unweighted terms ``{name: (N,)}``."""
        parts = {t.name: t.module.compare(t.module.embed(images), prepared[t.name]) for t in self.terms}
        total = sum(t.weight * parts[t.name] for t in self.terms)
        return total, parts


def build_distance(weights: dict[str, float], pixel_scales: int = 4, critic=None, discriminator=None,
                   lpips_files: tuple[str | None, str | None] = (None, None)) -> Distance:
    """A ``Distance`` from term weights ``{"pixel", "critic", "discriminator", "lpips"}`` (0: off). A term with a
    positive weight whose network is missing is a ``UserError`` naming what to provide."""
    terms = []
    if weights.get("pixel", 0) > 0:
        terms.append(Term("pixel", weights["pixel"], PixelPyramid(pixel_scales)))
    if weights.get("critic", 0) > 0:
        if critic is None:
            raise UserError("multiview.distance.critic > 0 needs the car critic (train_critic's critic.pt)")
        terms.append(Term("critic", weights["critic"], FeatureDistance(critic_layers(critic))))
    if weights.get("discriminator", 0) > 0:
        if discriminator is None:
            raise UserError("multiview.distance.discriminator > 0 needs a checkpoint with a discriminator "
                            "(train_gan's snapshot.pt or an official .pkl), not a generator-only file")
        terms.append(Term("discriminator", weights["discriminator"], FeatureDistance(discriminator_layers(discriminator))))
    if weights.get("lpips", 0) > 0:
        vgg, linear = lpips_files
        if not vgg or not linear:
            raise UserError("params.yaml: multiview.distance.lpips > 0 needs multiview.distance.lpips_vgg16 "
                            f"({VGG16_FILE}) and multiview.distance.lpips_linear ({LPIPS_FILE}): local paths")
        terms.append(Term("lpips", weights["lpips"], lpips_vgg16(vgg, linear)))
    return Distance(terms)
