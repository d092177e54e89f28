"""Line charts as PNG with PIL alone (no plotting library in the environment): curves a person can look at."""

from __future__ import annotations

import math
from typing import Sequence

from PIL import Image, ImageDraw

COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207))


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str,
               size: tuple[int, int] = (480, 300), log_y: bool = False) -> Image.Image:
    """One chart of named ``(x, y)`` series, with axes, ticks and a legend; ``log_y`` for losses."""
    w, h = size
    left, right, top, bottom = 56, 12, 24, 36
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    tf = (lambda v: math.log10(max(v, 1e-12))) if log_y else (lambda v: v)
    xs = [x for xv, _ in series.values() for x in xv]
    ys = [tf(y) for _, yv in series.values() for y in yv if math.isfinite(y)]
    if not xs or not ys:
        draw.text((left, top), f"{title}: no data", fill=(0, 0, 0))
        return img
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.05 or 0.05
    y0, y1 = y0 - pad, y1 + pad
    px = lambda x: left + (x - x0) / (x1 - x0) * (w - left - right)  # noqa: E731
    py = lambda y: top + (1 - (y - y0) / (y1 - y0)) * (h - top - bottom)  # noqa: E731
    draw.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    for t in _ticks(y0, y1):
        draw.line([left - 3, py(t), left, py(t)], fill=(0, 0, 0))
        draw.line([left + 1, py(t), w - right - 1, py(t)], fill=(230, 230, 230))
        label = f"{10 ** t:.3g}" if log_y else f"{t:.3g}"
        draw.text((2, py(t) - 6), label, fill=(0, 0, 0))
    for t in _ticks(x0, x1):
        draw.line([px(t), h - bottom, px(t), h - bottom + 3], fill=(0, 0, 0))
        draw.text((px(t) - 10, h - bottom + 5), f"{t:g}", fill=(0, 0, 0))
    draw.text((left, 5), title, fill=(0, 0, 0))
    draw.text((w // 2 - 20, h - 14), xlabel, fill=(0, 0, 0))
    for k, (name, (xv, yv)) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = [(px(x), py(tf(y))) for x, y in zip(xv, yv) if math.isfinite(y)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        elif points:
            draw.ellipse([points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2], fill=colour)
        draw.text((w - right - 150, top + 4 + 12 * k), name, fill=colour)
    return img
