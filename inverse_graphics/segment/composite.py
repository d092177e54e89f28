"""Training pairs for the segmenter: a car render cut out by its mask, pasted on a background, degraded.

``composite_batch`` takes car renders with their ground-truth masks and backgrounds, moves the car
(rotation, scale, shift, flip), recolours it, pastes it with a soft (resampled) alpha edge, then
degrades the whole picture as a camera or a generator would (colour, blur, down/up resampling,
noise, JPEG). The target is the moved mask thresholded at 0.5, so it stays exact under every
photometric change.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@dataclass(frozen=True)
class Augment:
    """Probabilities and ranges of the augmentations (defaults: the training recipe)."""

    p_any_rotation: float = 0.5  # else +-max_tilt degrees
    max_tilt: float = 15.0
    min_scale: float = 0.7
    max_scale: float = 1.8
    max_shift: float = 0.25  # fraction of the image
    p_blur: float = 0.3
    max_blur_sigma: float = 1.2
    p_resample: float = 0.3  # down by 1.5-3x then back up, like a low-resolution generator's output
    p_noise: float = 0.5
    max_noise: float = 0.06
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (20, 90)


NONE = Augment(p_any_rotation=0.0, max_tilt=0.0, min_scale=1.0, max_scale=1.0, max_shift=0.0, p_blur=0.0,
               p_resample=0.0, p_noise=0.0, p_jpeg=0.0)


def _rand(g: torch.Generator, *shape, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def move(images: torch.Tensor, masks: torch.Tensor, size: int, aug: Augment,
         g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random similarity transform of ``images (N, 3, h, w)`` and ``masks (N, h, w)`` onto ``size x size``.

    Returns the moved images and soft alphas ``(N, 1, size, size)`` in [0, 1] (bilinear resampling of
    the binary mask: a one-pixel anti-aliased edge). The images are resampled premultiplied by the mask,
    so no colour of the render's own background bleeds into the car's edge.
    """
    n = images.shape[0]
    any_rot = _rand(g, n) < aug.p_any_rotation
    angle = torch.where(any_rot, _rand(g, n, hi=360.0), _rand(g, n, lo=-aug.max_tilt, hi=aug.max_tilt))
    angle = torch.deg2rad(angle)
    scale = torch.exp(_rand(g, n, lo=math.log(aug.min_scale), hi=math.log(aug.max_scale)))
    flip = torch.where(_rand(g, n) < 0.5, -1.0, 1.0)
    shift = _rand(g, n, 2, lo=-aug.max_shift, hi=aug.max_shift) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], -1),
                         torch.stack([sin * flip, cos, shift[:, 1]], -1)], 1)  # output -> input coordinates
    grid = F.affine_grid(theta, (n, 4, size, size), align_corners=False)
    m = masks[:, None].float()
    stack = torch.cat([images.float() * m, m], 1)
    moved = F.grid_sample(stack, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    alpha = moved[:, 3:].clamp(0, 1)
    return moved[:, :3] / alpha.clamp_min(1e-3), alpha


def recolour(images: torch.Tensor, g: torch.Generator, strength: float = 0.25) -> torch.Tensor:
    """Per-image channel gains, brightness offset and contrast around the mean: ``(N, 3, H, W)``."""
    n = images.shape[0]
    gain = _rand(g, n, 3, 1, 1, lo=1 - strength, hi=1 + strength)
    offset = _rand(g, n, 1, 1, 1, lo=-strength / 2, hi=strength / 2)
    contrast = _rand(g, n, 1, 1, 1, lo=1 - strength, hi=1 + strength)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * contrast + mean) * gain + offset


def blur(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of ``images (N, 3, H, W)``, one ``sigmas (N,)`` per image (0: unchanged)."""
    n = images.shape[0]
    radius = max(1, int(math.ceil(2.5 * float(sigmas.max()))))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t[None] / sigmas.clamp_min(1e-3)[:, None]) ** 2)  # (N, K)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(3, 0)  # (3N, K)
    x = images.reshape(1, 3 * n, *images.shape[-2:])
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k[:, None, None, :], groups=3 * n)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k[:, None, :, None], groups=3 * n)
    return x.reshape(images.shape)


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """``(3, H, W)`` in [0, 1] through a JPEG encode/decode round trip."""
    array = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    decoded = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(decoded).permute(2, 0, 1)


def degrade(images: torch.Tensor, aug: Augment, g: torch.Generator) -> torch.Tensor:
    """Blur, down/up resampling, Gaussian noise and JPEG, each with its probability: ``(N, 3, H, W)``."""
    n, size = images.shape[0], images.shape[-2:]
    x = images
    blurred = _rand(g, n) < aug.p_blur
    if blurred.any():
        sigmas = _rand(g, n, lo=0.3, hi=aug.max_blur_sigma)
        x = torch.where(blurred[:, None, None, None], blur(x, sigmas), x)
    resampled = (_rand(g, n) < aug.p_resample).nonzero()[:, 0].tolist()
    if resampled:
        x = x.clone()
        for i in resampled:
            factor = float(_rand(g, 1, lo=1.5, hi=3.0))
            small = (max(4, round(size[0] / factor)), max(4, round(size[1] / factor)))
            down = F.interpolate(x[i:i + 1], size=small, mode="area")
            x[i:i + 1] = F.interpolate(down, size=size, mode="bilinear" if _rand(g, 1) < 0.7 else "nearest")
    noisy = (_rand(g, n) < aug.p_noise).float() * _rand(g, n, hi=aug.max_noise)
    x = (x + noisy[:, None, None, None] * torch.randn(x.shape, generator=g)).clamp(0, 1)
    jpeg = (_rand(g, n) < aug.p_jpeg).nonzero()[:, 0].tolist()
    if jpeg:
        x = x.clone()
        for i in jpeg:
            x[i] = _jpeg(x[i], int(torch.randint(aug.jpeg_quality[0], aug.jpeg_quality[1] + 1, (1,), generator=g)))
    return x


def paste(images: torch.Tensor, alphas: torch.Tensor, backgrounds: torch.Tensor) -> torch.Tensor:
    """``images * alpha + backgrounds * (1 - alpha)``; ``images, backgrounds: (N, 3, H, W)``, ``alphas: (N, 1, H, W)``."""
    return images * alphas + backgrounds * (1 - alphas)


def composite_batch(images: torch.Tensor, masks: torch.Tensor, backgrounds: torch.Tensor, aug: Augment,
                    g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs from car renders ``images (N, 3, h, w)`` in [0, 1] and masks ``(N, h, w)``.

    ``backgrounds: (N, 3, S, S)``. Returns ``pictures (N, 3, S, S)`` in [0, 1] and ``targets (N, S, S) bool``.
    """
    size = backgrounds.shape[-1]
    moved, alpha = move(images, masks, size, aug, g)
    car = recolour(moved, g).clamp(0, 1)
    pictures = recolour(paste(car, alpha, backgrounds), g, strength=0.15).clamp(0, 1)
    return degrade(pictures, aug, g), alpha[:, 0] >= 0.5
