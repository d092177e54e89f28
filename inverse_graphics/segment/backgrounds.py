"""Procedural backgrounds for segmenter training and evaluation, one family per function.

Every family returns ``(N, 3, S, S) float32`` in [0, 1] drawn from a ``torch.Generator``, so a
seed fixes the images:

- ``noise``: coloured noise at one random scale; ``gradient``: linear or radial colour ramps;
- ``texture``: stripes, rotated checkers, random blocks or fractal noise in two colours;
- ``shapes``: clutter of random polygons, ellipses and lines over a noise or ramp ground;
- ``cars``: crops of other cars' renders, clearly smaller (tiled) or larger (close-ups) than the pasted car;
- ``photos``: crops of a user's photos;
- ``scene``: a procedural street (sky, buildings with window grids, trees, road with lane marks).

``TRAIN_FAMILIES`` may be used for training; ``scene`` is kept for evaluation, so the reported IoU
is on a kind of background the segmenter has not seen.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

TRAIN_FAMILIES = ("noise", "gradient", "texture", "shapes", "cars", "photos")
EVAL_FAMILIES = ("scene",)
ALL_FAMILIES = TRAIN_FAMILIES + EVAL_FAMILIES


def _rand(g: torch.Generator, *shape, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """An int in [lo, hi)."""
    return int(torch.randint(lo, hi, (1,), generator=g))


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``y, x: (S, S)`` in [0, 1]."""
    t = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    return torch.meshgrid(t, t, indexing="ij")


def _colours(g: torch.Generator, n: int) -> torch.Tensor:
    """``(n, 3)`` colours: a mix of saturated, pastel, dark and grey."""
    base = _rand(g, n, 3)
    grey = _rand(g, n, 1).expand(n, 3)
    pick = (_rand(g, n, 1) < 0.3).float()
    return pick * grey + (1 - pick) * base


def noise(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Coloured noise at one random scale (1 to 32 px cells), bilinear or blocky, around a random colour."""
    out = []
    for _ in range(n):
        cells = max(1, size // (2 ** _randint(g, 0, 6)))
        field = torch.rand(1, 3, cells, cells, generator=g)
        mode = "nearest" if _rand(g, 1) < 0.3 else "bilinear"
        field = F.interpolate(field, size=(size, size), mode=mode, **({} if mode == "nearest" else {"align_corners": False}))
        base, amp = _colours(g, 1).view(1, 3, 1, 1), _rand(g, 1, lo=0.1, hi=1.0)
        out.append((base + amp * (field - 0.5)).clamp(0, 1))
    return torch.cat(out)


def gradient(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Linear (any direction, 2-3 colour stops) or radial colour gradients."""
    y, x = _grid(size)
    out = []
    for _ in range(n):
        if _rand(g, 1) < 0.7:
            theta = float(_rand(g, 1, hi=2 * math.pi))
            t = x * math.cos(theta) + y * math.sin(theta)
        else:
            cy, cx = _rand(g, 2).tolist()
            t = ((x - cx) ** 2 + (y - cy) ** 2).sqrt()
        t = (t - t.min()) / (t.max() - t.min() + 1e-6)
        stops = _colours(g, 3)
        if _rand(g, 1) < 0.5:  # two stops
            img = stops[0, :, None, None] * (1 - t) + stops[1, :, None, None] * t
        else:
            lo, hi = (2 * t).clamp(0, 1), (2 * t - 1).clamp(0, 1)
            img = stops[0, :, None, None] * (1 - lo) + stops[1, :, None, None] * (lo - hi) + stops[2, :, None, None] * hi
        out.append(img[None])
    return torch.cat(out).clamp(0, 1)


def _stripes(size: int, g: torch.Generator) -> torch.Tensor:
    y, x = _grid(size)
    theta, freq, phase = float(_rand(g, 1, hi=math.pi)), float(_rand(g, 1, lo=2, hi=16)), float(_rand(g, 1, hi=6.3))
    wave = torch.sin(2 * math.pi * freq * (x * math.cos(theta) + y * math.sin(theta)) + phase)
    t = (wave > 0).float() if _rand(g, 1) < 0.5 else (wave + 1) / 2
    c = _colours(g, 2)
    return c[0, :, None, None] * (1 - t) + c[1, :, None, None] * t


def _checker(size: int, g: torch.Generator) -> torch.Tensor:
    y, x = _grid(size)
    theta, freq = float(_rand(g, 1, hi=math.pi)), float(_rand(g, 1, lo=2, hi=12))
    u, v = x * math.cos(theta) + y * math.sin(theta), -x * math.sin(theta) + y * math.cos(theta)
    t = ((torch.floor(u * freq) + torch.floor(v * freq)) % 2).float()
    c = _colours(g, 2)
    return c[0, :, None, None] * (1 - t) + c[1, :, None, None] * t


def _blocks(size: int, g: torch.Generator) -> torch.Tensor:
    img = _colours(g, 1).view(3, 1, 1).expand(3, size, size).clone()
    for _ in range(_randint(g, 5, 40)):
        x0, y0 = _randint(g, -size // 4, size), _randint(g, -size // 4, size)
        w, h = _randint(g, 2, size // 2 + 2), _randint(g, 2, size // 2 + 2)
        img[:, max(0, y0):max(0, y0 + h), max(0, x0):max(0, x0 + w)] = _colours(g, 1).view(3, 1, 1)
    return img


def _fractal(size: int, g: torch.Generator) -> torch.Tensor:
    field = torch.zeros(1, 1, size, size)
    for octave in range(1, int(math.log2(size)) + 1):
        cells = 2 ** octave
        layer = torch.rand(1, 1, cells, cells, generator=g)
        field += F.interpolate(layer, size=(size, size), mode="bilinear", align_corners=False) / octave
    t = ((field - field.min()) / (field.max() - field.min() + 1e-6))[0]
    c = _colours(g, 2)
    return c[0, :, None, None] * (1 - t) + c[1, :, None, None] * t


def texture(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Procedural textures: stripes (sharp or smooth), rotated checkers, random blocks, fractal noise."""
    makers = (_stripes, _checker, _blocks, _fractal)
    return torch.stack([makers[_randint(g, 0, len(makers))](size, g) for _ in range(n)]).clamp(0, 1)


def shapes(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Clutter: 8-40 random polygons, ellipses and thick lines in random colours over a noise or ramp ground."""
    grounds = torch.where((_rand(g, n) < 0.5)[:, None, None, None], noise(n, size, g), gradient(n, size, g))
    out = []
    for ground in grounds:
        image = Image.fromarray((ground.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(_randint(g, 8, 41)):
            colour = tuple(int(c) for c in (_colours(g, 1)[0] * 255))
            kind = _randint(g, 0, 3)
            cx, cy, r = (_rand(g, 3) * torch.tensor([size, size, size / 3])).tolist()
            if kind == 0:
                k = _randint(g, 3, 7)
                angles = torch.sort(_rand(g, k, hi=2 * math.pi)).values
                radii = r * _rand(g, k, lo=0.3, hi=1.0)
                draw.polygon([(cx + float(q * math.cos(a)), cy + float(q * math.sin(a))) for a, q in zip(angles, radii)],
                             fill=colour)
            elif kind == 1:
                rx, ry = r * _rand(g, 2, lo=0.2, hi=1.0)
                draw.ellipse([cx - float(rx), cy - float(ry), cx + float(rx), cy + float(ry)], fill=colour)
            else:
                x2, y2 = (_rand(g, 2) * size).tolist()
                draw.line([cx, cy, x2, y2], fill=colour, width=_randint(g, 1, max(2, size // 16)))
        out.append(torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(out)


def crops(n: int, size: int, g: torch.Generator, sources: torch.Tensor, min_scale: float = 0.5,
          max_scale: float = 2.0) -> torch.Tensor:
    """Random zoomed, shifted, possibly flipped crops of ``sources: (M, 3, h, w)`` images, resized to ``size``.

    Used for ``cars`` (other training renders, so whole or partial cars appear behind the target car)
    and ``photos`` (a user's photos). A zoom below 1 tiles the source (other cars appear smaller).
    """
    idx = torch.randint(0, len(sources), (n,), generator=g)
    zoom = torch.exp(_rand(g, n, lo=math.log(min_scale), hi=math.log(max_scale)))
    shift = _rand(g, n, 2, lo=-1.0, hi=1.0) * (1 - 1 / zoom).abs()[:, None]
    flip = torch.where(_rand(g, n) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = flip / zoom
    theta[:, 1, 1] = 1 / zoom
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, (n, 3, size, size), align_corners=False)
    return F.grid_sample(sources[idx].float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def scene(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Procedural street scenes (evaluation only): sky, a horizon, buildings with window grids, trees,
    an asphalt road with dashed lane marks in perspective, and sensor noise."""
    y, x = _grid(size)
    out = []
    for _ in range(n):
        horizon = float(_rand(g, 1, lo=0.3, hi=0.7))
        sky_top, sky_bottom = _rand(g, 3, lo=0.4, hi=1.0), _rand(g, 3, lo=0.6, hi=1.0)
        t = (y / horizon).clamp(0, 1)
        img = sky_top[:, None, None] * (1 - t) + sky_bottom[:, None, None] * t
        # buildings standing on the horizon
        xpos = 0.0
        while xpos < 1.0:
            w, h = float(_rand(g, 1, lo=0.08, hi=0.3)), float(_rand(g, 1, lo=0.05, hi=horizon))
            if _rand(g, 1) < 0.8:
                inside = (x >= xpos) & (x < xpos + w) & (y >= horizon - h) & (y < horizon)
                wall = _colours(g, 1)[0] * 0.8
                img = torch.where(inside, wall[:, None, None], img)
                rows, cols = _randint(g, 2, 9), _randint(g, 2, 6)
                u, v = (x - xpos) / w * cols, (y - (horizon - h)) / h * rows
                window = inside & (u % 1 > 0.25) & (u % 1 < 0.75) & (v % 1 > 0.3) & (v % 1 < 0.7)
                img = torch.where(window, (wall * float(_rand(g, 1, lo=0.3, hi=1.6))).clamp(0, 1)[:, None, None], img)
            xpos += w
        # ground: asphalt with noise
        ground = (y >= horizon)
        asphalt = float(_rand(g, 1, lo=0.15, hi=0.6)) * _rand(g, 3, lo=0.9, hi=1.1)
        grain = 0.05 * torch.randn(size, size, generator=g)
        img = torch.where(ground, (asphalt[:, None, None] + grain).clamp(0, 1), img)
        # lane marks converging to a vanishing point on the horizon
        vx = float(_rand(g, 1, lo=0.2, hi=0.8))
        depth = (y - horizon).clamp_min(1e-3)
        for offset in (-0.6, 0.0, 0.6):
            lane_x = vx + offset * depth / (1 - horizon)
            near = ground & ((x - lane_x).abs() < 0.012 + 0.02 * depth)
            dashed = near & ((torch.log(depth) * 6) % 1 < 0.5) if offset == 0.0 else near
            img = torch.where(dashed, torch.full((3, 1, 1), 0.92), img)
        # trees: dark green blobs on the horizon
        for _ in range(_randint(g, 0, 5)):
            cx, r = float(_rand(g, 1)), float(_rand(g, 1, lo=0.03, hi=0.12))
            blob = ((x - cx) ** 2 + (y - (horizon - r)) ** 2) < r ** 2
            green = torch.tensor([0.1, 0.35, 0.1]) * float(_rand(g, 1, lo=0.6, hi=1.4))
            img = torch.where(blob, green[:, None, None], img)
        img = img + 0.02 * torch.randn(3, size, size, generator=g)
        out.append(img.clamp(0, 1))
    return torch.stack(out)


def make_backgrounds(family: str, n: int, size: int, g: torch.Generator,
                     cars: torch.Tensor | None = None, photos: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` backgrounds ``(n, 3, size, size)`` of one ``family`` (see the module docstring).

    ``cars`` / ``photos``: ``(M, 3, h, w)`` source images for those two families.
    """
    if family == "noise":
        return noise(n, size, g)
    if family == "gradient":
        return gradient(n, size, g)
    if family == "texture":
        return texture(n, size, g)
    if family == "shapes":
        return shapes(n, size, g)
    if family == "scene":
        return scene(n, size, g)
    if family in ("cars", "photos"):
        sources = cars if family == "cars" else photos
        if sources is None or len(sources) == 0:
            raise ValueError(f"background family {family!r} needs source images")
        if family == "photos":
            return crops(n, size, g, sources, 1.0, 3.0)
        # other cars either clearly smaller than the pasted one (tiled) or clearly larger (a close-up part)
        small = crops(n, size, g, sources, 0.3, 0.6)
        large = crops(n, size, g, sources, 1.8, 3.5)
        return torch.where((_rand(g, n) < 0.5)[:, None, None, None], small, large)
    raise ValueError(f"unknown background family {family!r} (known: {', '.join(ALL_FAMILIES)})")


def photo_crops_source(arrays: list[np.ndarray], size: int) -> torch.Tensor:
    """User photos ``(H, W, 3) uint8`` -> ``(M, 3, size, size)`` float centre squares to crop from."""
    out = []
    for a in arrays:
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float()[None] / 255.0
        h, w = t.shape[-2:]
        side = min(h, w)
        t = t[..., (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        out.append(F.interpolate(t, size=(size, size), mode="area"))
    return torch.cat(out)
