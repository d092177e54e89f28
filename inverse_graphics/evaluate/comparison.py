"""One picture per held-out car: input | synthesised views | masks on top, then a turntable per mesh (ground
truth first, then every variant with its scores), so a person sees where the reconstruction goes wrong."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..viz import contact_sheet, to_uint8

WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (120, 120, 120)
TITLE_H, LABEL_W, PAD = 14, 210, 6


def titled(image: Image.Image, title: str) -> Image.Image:
    """``image`` under a one-line ``title`` strip."""
    out = Image.new("RGB", (max(image.width, 6 * len(title) + 4), image.height + TITLE_H), WHITE)
    ImageDraw.Draw(out).text((2, 1), title, fill=BLACK)
    out.paste(image.convert("RGB"), (0, TITLE_H))
    return out


def placeholder(text: str, size: tuple[int, int] = (320, 64)) -> Image.Image:
    """A grey box saying why a panel is empty."""
    image = Image.new("RGB", size, (236, 236, 236))
    ImageDraw.Draw(image).text((6, size[1] // 2 - 6), text, fill=GREY)
    return image


def view_grid(views: torch.Tensor | np.ndarray, ncols: int = 10) -> Image.Image:
    """Views ``(N, S, S, 3)`` or masks ``(N, S, S)`` tiled ``ncols`` to a row."""
    return contact_sheet([to_uint8(v) for v in views], ncols=ncols, pad=1)


def hstack(images: Sequence[Image.Image], pad: int = PAD) -> Image.Image:
    """Images side by side, top-aligned, on white."""
    out = Image.new("RGB", (sum(im.width for im in images) + pad * (len(images) - 1), max(im.height for im in images)),
                    WHITE)
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + pad
    return out


def vstack(images: Sequence[Image.Image], pad: int = PAD) -> Image.Image:
    """Images top to bottom, left-aligned, on white."""
    out = Image.new("RGB", (max(im.width for im in images), sum(im.height for im in images) + pad * (len(images) - 1)),
                    WHITE)
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + pad
    return out


def labelled_row(label: str, image: Image.Image | None, detail: str = "") -> Image.Image:
    """A row: ``label`` (and a second line ``detail``) in a left column, ``image`` (or nothing) beside it."""
    height = max(image.height if image is not None else 0, 30)
    row = Image.new("RGB", (LABEL_W + (image.width if image is not None else 0), height), WHITE)
    draw = ImageDraw.Draw(row)
    draw.text((4, height // 2 - 12), label, fill=BLACK)
    if detail:
        draw.text((4, height // 2 + 2), detail, fill=GREY)
    if image is not None:
        row.paste(image, (LABEL_W, 0))
    return row


def comparison_picture(
    input_image: torch.Tensor,
    views: torch.Tensor | None,
    masks: torch.Tensor | None,
    rows: Sequence[tuple[str, Image.Image | None, str]],
    views_note: str = "",
) -> Image.Image:
    """The car's picture. ``input_image (H, W, 3)``; ``views (N, S, S, 3)`` and ``masks (N, S, S)`` of the chain
    (``None``: a placeholder saying ``views_note``); ``rows``: ``(label, turntable or None, detail)`` per mesh."""
    big = Image.fromarray(to_uint8(input_image)).resize((128, 128), Image.NEAREST)
    top = [titled(big, "input")]
    if views is not None:
        top.append(titled(view_grid(views), "synthesised views"))
    else:
        top.append(titled(placeholder(views_note or "no views"), "synthesised views"))
    if masks is not None:
        top.append(titled(view_grid(masks), "masks"))
    else:
        top.append(titled(placeholder(views_note or "no masks"), "masks"))
    body = [labelled_row(label, image, detail) for label, image, detail in rows]
    return vstack([hstack(top), *body])
