"""Low-level operations of StyleGAN2, in plain PyTorch (no custom CUDA kernels, so any torch version runs them).

- ``setup_filter`` / ``upfirdn2d``: FIR resampling (upsample by zero insertion, pad, filter, downsample), the
  operation behind StyleGAN2's anti-aliased up- and downsampling with the [1, 3, 3, 1] binomial filter.
- ``conv2d_resample``: a convolution fused with 2x FIR up- or downsampling.
- ``bias_act``: bias, activation, gain and clamp in one call.
- ``modulated_conv2d``: the style-modulated, demodulated convolution of StyleGAN2 (Karras et al. 2020, sec. 2.2),
  fused (one grouped convolution) or not (scale the activations around a shared convolution).

Conventions follow the StyleGAN2-ADA checkpoints so their weights work here unchanged: a convolution that
upsamples is a true convolution (kernel flipped with respect to ``F.conv2d``), every other one a correlation;
padding is given as ``[x_before, x_after, y_before, y_after]`` on the upsampled grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0), "relu": math.sqrt(2.0)}


def setup_filter(taps, normalize: bool = True) -> torch.Tensor:
    """1-D ``taps`` (e.g. [1, 3, 3, 1]) -> separable 2-D filter ``(k, k)`` float32, summing to 1 when normalised."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    return f


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, padding=(0, 0, 0, 0),
              gain: float = 1.0) -> torch.Tensor:
    """``x: (N, C, H, W)`` -> upsample by zero insertion (``up``), pad (negative crops), convolve with the 2-D
    filter ``f: (k, k)`` times ``gain``, keep every ``down``-th pixel. ``padding``: [x0, x1, y0, y1]."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    if f is not None:
        kernel = (f * gain).to(x.dtype).flip([0, 1])  # a true convolution: flip for conv2d's correlation
        x = F.conv2d(x, kernel[None, None].expand(c, 1, *f.shape), groups=c)
    elif gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` -> ``(N, C, 2H, 2W)``: 2x FIR upsampling that keeps the signal's magnitude."""
    k = f.shape[-1]
    return upfirdn2d(x, f, up=2, padding=[(k + 1) // 2, (k - 2) // 2] * 2, gain=4.0)


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` -> ``(N, C, H/2, W/2)``: 2x FIR downsampling."""
    k = f.shape[-1]
    return upfirdn2d(x, f, down=2, padding=[(k - 1) // 2, (k - 2) // 2] * 2)


def conv2d_resample(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor | None = None, up: int = 1,
                    down: int = 1, padding: int = 0, groups: int = 1) -> torch.Tensor:
    """Convolve ``x: (N, I, H, W)`` with ``weight: (O, I/groups, k, k)``, with 2x FIR ``up`` or ``down`` sampling.

    ``padding`` is the convolution's own padding on the (up)sampled grid. Upsampling: zero insertion + filter
    (gain 4), then a true convolution. Downsampling: filter, then a stride-2 correlation. Output
    ``(N, O, H*up/down, W*up/down)``.
    """
    k = weight.shape[-1]
    fk = f.shape[-1] if f is not None else 1
    if up > 1:
        pad = [padding + (fk + up - 1) // 2, padding + (fk - up) // 2] * 2
        x = upfirdn2d(x, f, up=up, padding=pad, gain=up**2)
        return F.conv2d(x, weight.flip([2, 3]), groups=groups)
    if down > 1:
        pad = [padding + (fk - down + 1) // 2, padding + (fk - down) // 2] * 2
        if k == 1:  # 1x1: downsample first, then convolve (cheaper, same result)
            return F.conv2d(upfirdn2d(x, f, down=down, padding=pad), weight, groups=groups)
        return F.conv2d(upfirdn2d(x, f, padding=pad), weight, stride=down, groups=groups)
    return F.conv2d(x, weight, padding=padding, groups=groups)


def bias_act(x: torch.Tensor, bias: torch.Tensor | None = None, act: str = "linear", gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """``x + bias`` (bias along dim 1), then the activation, times ``gain``, clamped to ``[-clamp, clamp]``."""
    if bias is not None:
        x = x + bias.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif act == "relu":
        x = F.relu(x)
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r} (expected 'linear', 'relu' or 'lrelu')")
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` so that the mean of its squares along ``dim`` is 1 (the pixel norm of the mapping input)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, fused: bool = True) -> torch.Tensor:
    """StyleGAN2's modulated convolution.

    ``x: (N, I, H, W)``, ``weight: (O, I, k, k)``, ``styles: (N, I)`` per-sample input scales, ``noise``
    broadcastable to the output (added after demodulation). Each sample's weight is ``weight * styles[n]``
    over the input channels, divided per output channel by its L2 norm when ``demodulate``. ``fused``: one
    grouped convolution with per-sample weights (fast for small batches, the inference default); otherwise
    the activations are scaled before and after one shared convolution (the training default).
    Returns ``(N, O, H*up, W*up)``.
    """
    n, in_ch = styles.shape
    out_ch = weight.shape[0]
    assert x.shape[:2] == (n, in_ch), f"x {tuple(x.shape)} does not match styles {tuple(styles.shape)}"
    assert weight.shape[1] == in_ch, f"weight {tuple(weight.shape)} does not match {in_ch} input channels"
    if x.dtype == torch.float16 and demodulate:  # keep fp16 in range: divide by the largest magnitudes first
        weight = weight * (1 / math.sqrt(in_ch * weight.shape[2] * weight.shape[3])
                           / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    demod = None
    if demodulate:
        w = weight[None] * styles[:, None, :, None, None]  # (N, O, I, k, k)
        demod = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (N, O)
    if not fused:
        x = x * styles.to(x.dtype)[:, :, None, None]
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding)
        if demod is not None:
            x = x * demod.to(x.dtype)[:, :, None, None]
        return x + noise.to(x.dtype) if noise is not None else x
    w = weight[None] * styles[:, None, :, None, None]
    if demod is not None:
        w = w * demod[:, :, None, None, None]
    x = x.reshape(1, n * in_ch, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(n * out_ch, in_ch, *weight.shape[2:]).to(x.dtype), resample_filter,
                        up=up, padding=padding, groups=n)
    x = x.reshape(n, out_ch, *x.shape[2:])
    return x + noise.to(x.dtype) if noise is not None else x
