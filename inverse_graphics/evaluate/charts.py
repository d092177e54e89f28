"""Curves as PNG line charts drawn with PIL (no plotting library is installed): for the offline report."""

from __future__ import annotations

import csv
import math
import os
from typing import Mapping, Sequence

from PIL import Image, ImageDraw

PALETTE = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233), (230, 159, 0),
           (0, 0, 0), (120, 120, 120))
Series = tuple[Sequence[float], Sequence[float]]


def read_curve(path: str | os.PathLike) -> dict[str, list[float]]:
    """A curve CSV (header row, then numbers) -> column name -> values; cells that are not numbers become NaN."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return {}
    columns: dict[str, list[float]] = {name: [] for name in rows[0]}
    for row in rows[1:]:
        for name, cell in zip(rows[0], row):
            try:
                columns[name].append(float(cell))
            except ValueError:
                columns[name].append(math.nan)
    return columns


def nice_step(span: float, count: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving at most about ``count`` ticks over ``span``."""
    if not span > 0:
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _ticks(lo: float, hi: float) -> list[float]:
    step = nice_step(hi - lo)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def use_log_scale(series: Mapping[str, Series]) -> bool:
    """Log y when every value is positive and they span more than two decades (loss curves)."""
    ys = [y for _, yv in series.values() for y in yv if math.isfinite(y)]
    return bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 100


def line_chart(series: Mapping[str, Series], title: str, xlabel: str, size: tuple[int, int] = (440, 270),
               log_y: bool | None = None) -> Image.Image:
    """One chart of named ``(xs, ys)`` series with a frame, ticks, a title and a legend (``log_y=None``: auto)."""
    width, height = size
    left, right, top, bottom = 58, 10, 22, 34
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((left, 5), title, fill=(0, 0, 0))
    log_y = use_log_scale(series) if log_y is None else log_y
    ty = (lambda y: math.log10(y) if y > 0 else math.nan) if log_y else (lambda y: y)
    points = {name: [(x, ty(y)) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(ty(y))]
              for name, (xs, ys) in series.items()}
    xs = [x for pts in points.values() for x, _ in pts]
    ys = [y for pts in points.values() for _, y in pts]
    if not xs:
        draw.text((left, height // 2), "no finite values", fill=(0, 0, 0))
        return image
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    margin = (y1 - y0) * 0.05 or 0.5
    y0, y1 = y0 - margin, y1 + margin
    px = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    py = lambda y: top + (y1 - y) / (y1 - y0) * (height - top - bottom)  # noqa: E731
    for t in _ticks(y0, y1):
        draw.line([(left, py(t)), (width - right, py(t))], fill=(232, 232, 232))
        draw.text((2, py(t) - 5), f"{10 ** t:.2g}" if log_y else f"{t:.3g}", fill=(60, 60, 60))
    for t in _ticks(x0, x1):
        draw.line([(px(t), height - bottom), (px(t), height - bottom + 4)], fill=(0, 0, 0))
        draw.text((px(t) - 8, height - bottom + 6), f"{t:g}", fill=(60, 60, 60))
    draw.rectangle([left, top, width - right, height - bottom], outline=(0, 0, 0))
    draw.text((width // 2 - 3 * len(xlabel), height - 13), xlabel, fill=(0, 0, 0))
    for k, (name, pts) in enumerate(points.items()):
        colour = PALETTE[k % len(PALETTE)]
        xy = [(px(x), py(y)) for x, y in pts]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        elif xy:
            draw.ellipse([xy[0][0] - 2, xy[0][1] - 2, xy[0][0] + 2, xy[0][1] + 2], fill=colour)
        draw.text((width - right - 6 * min(len(name), 20) - 6, top + 3 + 11 * k), name[:20], fill=colour)
    return image
