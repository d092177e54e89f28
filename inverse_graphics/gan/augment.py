"""Adaptive discriminator augmentation (Karras et al. 2020, "Training GANs with Limited Data"), pipeline ``bgc``.

Every image the discriminator sees, real or generated, goes through the same random, differentiable transforms,
each applied to each sample with probability ``p``; below p ~ 0.8 they do not leak into the generator (the paper's
finding), and ``p`` is driven by the overfitting heuristic r_t = E[sign(D(real))] toward a target (0.6).

- blit: x-flip, rotation by a multiple of 90 degrees, integer translation (up to 1/8 of the image);
- geometric: isotropic scaling (log2-normal, std 0.2), rotation (uniform), anisotropic scaling (std 0.2),
  fractional translation (std 1/8); all composed into one affine matrix and resampled once (bilinear, reflected
  borders);
- colour: brightness (std 0.2), contrast (log2-normal, std 0.5), luma flip, hue rotation (uniform), saturation
  (log2-normal, std 1); composed into one 4x4 colour matrix about the luma axis.

The official pipeline upsamples with a wavelet filter before resampling; this one resamples bilinearly at the
image's own resolution (cheaper; a little blur). Images with ``3k`` channels (a pair of views stacked) get the
same transform on every RGB triplet.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _gate(p: float, n: int, device, generator=None) -> torch.Tensor:
    """``(n,)`` float: 1 where a transform is applied (probability ``p``), else 0."""
    return (torch.rand(n, device=device, generator=generator) < p).float()


def _rotation2d(theta: torch.Tensor) -> torch.Tensor:
    c, s = theta.cos(), theta.sin()
    m = torch.zeros(theta.shape[0], 3, 3, device=theta.device)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1], m[:, 2, 2] = c, -s, s, c, 1
    return m


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = torch.zeros(sx.shape[0], 3, 3, device=sx.device)
    m[:, 0, 0], m[:, 1, 1], m[:, 2, 2] = sx, sy, 1
    return m


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = torch.eye(3, device=tx.device).repeat(tx.shape[0], 1, 1)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


class AugmentPipe(torch.nn.Module):
    """``bgc`` augmentations with strength ``p`` (a buffer, so it is saved and synchronised with the networks)."""

    def __init__(self,
                 xflip: float = 1, rotate90: float = 1, xint: float = 1,  # blit: probability multipliers
                 scale: float = 1, rotate: float = 1, aniso: float = 1, xfrac: float = 1,  # geometric
                 brightness: float = 1, contrast: float = 1, lumaflip: float = 1, hue: float = 1,
                 saturation: float = 1,  # colour
                 xint_max: float = 0.125, scale_std: float = 0.2, rotate_max: float = 1.0, aniso_std: float = 0.2,
                 xfrac_std: float = 0.125, brightness_std: float = 0.2, contrast_std: float = 0.5,
                 hue_max: float = 1.0, saturation_std: float = 1.0):
        super().__init__()
        self.register_buffer("p", torch.zeros([]))
        self.probs = dict(xflip=xflip, rotate90=rotate90, xint=xint, scale=scale, rotate=rotate, aniso=aniso,
                          xfrac=xfrac, brightness=brightness, contrast=contrast, lumaflip=lumaflip, hue=hue,
                          saturation=saturation)
        self.xint_max, self.scale_std, self.rotate_max, self.aniso_std = xint_max, scale_std, rotate_max, aniso_std
        self.xfrac_std, self.brightness_std, self.contrast_std = xfrac_std, brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std

    def _on(self, name: str, n: int, device) -> torch.Tensor:
        return _gate(float(self.p) * self.probs[name], n, device)

    def geometric_matrix(self, n: int, size: int, device) -> torch.Tensor:
        """``(n, 3, 3)``: output pixel -> input pixel, in coordinates normalised to [-1, 1] (``affine_grid``)."""
        m = torch.eye(3, device=device).repeat(n, 1, 1)
        # blit
        flip = 1 - 2 * (self._on("xflip", n, device) * torch.randint(0, 2, (n,), device=device))
        m = m @ _scale2d(flip.float(), torch.ones(n, device=device))
        quarter = self._on("rotate90", n, device) * torch.randint(0, 4, (n,), device=device)
        m = m @ _rotation2d(quarter * (math.pi / 2))
        shift = (torch.rand(n, 2, device=device) * 2 - 1) * self.xint_max * self._on("xint", n, device)[:, None]
        shift = torch.round(shift * size / 2) / (size / 2)  # whole pixels: 2/size per pixel in [-1, 1] units
        m = m @ _translate2d(shift[:, 0] * 2, shift[:, 1] * 2)
        # general geometric
        s = torch.exp2(torch.randn(n, device=device) * self.scale_std * self._on("scale", n, device))
        m = m @ _scale2d(s, s)
        p_rot = 1 - math.sqrt(max(0.0, 1 - float(self.p) * self.probs["rotate"]))  # applied twice (pre and post)
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * self.rotate_max * _gate(p_rot, n, device)
        m = m @ _rotation2d(theta)
        a = torch.exp2(torch.randn(n, device=device) * self.aniso_std * self._on("aniso", n, device))
        m = m @ _scale2d(a, 1 / a)
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * self.rotate_max * _gate(p_rot, n, device)
        m = m @ _rotation2d(theta)
        t = torch.randn(n, 2, device=device) * self.xfrac_std * self._on("xfrac", n, device)[:, None]
        return m @ _translate2d(t[:, 0] * 2, t[:, 1] * 2)

    def color_matrix(self, n: int, device) -> torch.Tensor:
        """``(n, 4, 4)`` acting on homogeneous RGB in [-1, 1]."""
        luma = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)
        outer = torch.outer(luma, luma)
        eye = torch.eye(4, device=device)
        c = eye.repeat(n, 1, 1)
        b = torch.randn(n, device=device) * self.brightness_std * self._on("brightness", n, device)
        shift = eye.repeat(n, 1, 1)
        shift[:, :3, 3] = b[:, None]
        c = shift @ c
        k = torch.exp2(torch.randn(n, device=device) * self.contrast_std * self._on("contrast", n, device))
        c = torch.diag_embed(torch.stack([k, k, k, torch.ones_like(k)], dim=1)) @ c
        flip = self._on("lumaflip", n, device) * torch.randint(0, 2, (n,), device=device)
        c = (eye - 2 * outer * flip[:, None, None]) @ c  # reflect about the plane orthogonal to the luma axis
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * self.hue_max * self._on("hue", n, device)
        c = _rotation_about(luma[:3], theta) @ c
        sat = torch.exp2(torch.randn(n, device=device) * self.saturation_std * self._on("saturation", n, device))
        c = (outer + (eye - outer) * sat[:, None, None]) @ c
        return c

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images: (N, 3k, H, W)`` in about [-1, 1] -> augmented, same shape (identity when ``p == 0``)."""
        if float(self.p) <= 0:
            return images
        n, ch, h, w = images.shape
        if ch % 3:
            raise ValueError(f"AugmentPipe expects 3k channels, got {ch}")
        device = images.device
        geom = self.geometric_matrix(n, h, device)
        if not torch.equal(geom, torch.eye(3, device=device).expand(n, 3, 3)):
            grid = F.affine_grid(geom[:, :2, :].to(images.dtype), list(images.shape), align_corners=False)
            images = sample_bilinear_reflect(images, grid)
        color = self.color_matrix(n, device).to(images.dtype)
        rgb = images.reshape(n, ch // 3, 3, h * w)
        rgb = color[:, None, :3, :3] @ rgb + color[:, None, :3, 3:]
        return rgb.reshape(n, ch, h, w)


def _reflect(coord: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinates reflected into ``[0, size - 1]`` about the image borders (at -0.5 and size - 0.5)."""
    period = 2 * size
    c = torch.remainder(coord + 0.5, period)
    c = torch.where(c > size, period - c, c) - 0.5
    return c.clamp(0, size - 1)


def sample_bilinear_reflect(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``F.grid_sample(images, grid, 'bilinear', padding_mode='reflection', align_corners=False)`` written with
    gathers, so that it has a second derivative w.r.t. ``images`` (R1 regularisation differentiates the
    discriminator's input gradient; torch's grid_sample backward is not differentiable). No gradient w.r.t. the
    grid. ``images: (N, C, H, W)``, ``grid: (N, Ho, Wo, 2)`` in [-1, 1] -> ``(N, C, Ho, Wo)``."""
    n, c, h, w = images.shape
    grid = grid.detach()
    x = _reflect(((grid[..., 0] + 1) * w - 1) / 2, w)
    y = _reflect(((grid[..., 1] + 1) * h - 1) / 2, h)
    x0, y0 = x.floor(), y.floor()
    wx, wy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    flat = images.reshape(n, c, h * w)

    def at(yy, xx):
        index = (yy * w + xx).reshape(n, 1, -1).expand(n, c, -1)
        return flat.gather(2, index).reshape(n, c, *grid.shape[1:3])

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


def _rotation_about(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``(n, 4, 4)`` rotation by ``theta: (n,)`` about the unit 3-vector ``axis`` (Rodrigues)."""
    n = theta.shape[0]
    x, y, z = axis.tolist()
    k = torch.tensor([[0, -z, y], [z, 0, -x], [-y, x, 0]], device=theta.device)
    s, c = theta.sin()[:, None, None], theta.cos()[:, None, None]
    r = torch.eye(3, device=theta.device) + s * k + (1 - c) * (k @ k)
    out = torch.eye(4, device=theta.device).repeat(n, 1, 1)
    out[:, :3, :3] = r
    return out


def adjust_p(p: float, real_sign_mean: float, target: float, images_seen: int, speed_kimg: float) -> float:
    """One ADA update: move ``p`` toward keeping ``E[sign(D(real))]`` at ``target``; a full 0 -> 1 sweep takes
    ``speed_kimg`` thousand images. Returns the new ``p`` in [0, 1]."""
    step = math.copysign(1.0, real_sign_mean - target) * images_seen / (speed_kimg * 1000)
    return min(max(p + step, 0.0), 1.0)
