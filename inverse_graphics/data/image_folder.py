"""Import a folder of car photos into the GAN dataset zip with the LSUN-car letterbox recipe.

Every file under the folder (recursively, in sorted path order) that PIL can decode is
centre-cropped to 4:3, resized (Lanczos) to ``resolution x 3/4 resolution`` and pasted into
a black square ``resolution x resolution`` canvas, with equal black bars top and bottom: the
512x384-in-512x512 framing of the official LSUN-car StyleGAN2 models. Files that are not
decodable images are skipped and listed in one warning. Folder images carry no labels.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import UserError
from .dataset_zip import DatasetZipWriter, encode_png


def letterbox(image: Image.Image, resolution: int) -> np.ndarray:
    """Any PIL image -> ``(resolution, resolution, 3) uint8``: 4:3 centre crop, resize, black bars top/bottom."""
    image = image.convert("RGB")
    w, h = image.size
    if w * 3 > h * 4:  # too wide: crop the sides
        cw, ch = round(h * 4 / 3), h
    else:  # too tall: crop top and bottom
        cw, ch = w, round(w * 3 / 4)
    left, top = (w - cw) // 2, (h - ch) // 2
    inner_h = resolution * 3 // 4
    inner = image.crop((left, top, left + cw, top + ch)).resize((resolution, inner_h), Image.LANCZOS)
    canvas = np.zeros((resolution, resolution, 3), dtype=np.uint8)
    bar = (resolution - inner_h) // 2
    canvas[bar:bar + inner_h] = np.asarray(inner)
    return canvas


def _open_image(path: Path) -> Image.Image | None:
    """The decoded image, or None when ``path`` is not a readable image."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # PIL raises all of these
        return None


def list_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder``, recursively, sorted by relative path."""
    return sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())


def import_image_folder(
    folder: str | os.PathLike,
    out_zip: str | os.PathLike,
    resolution: int,
    progress: Callable = lambda it, **kw: it,
) -> tuple[int, list[str]]:
    """Write ``out_zip`` from the photos under ``folder``; returns (images written, skipped relative paths).

    ``progress`` wraps the file iterator (e.g. ``tqdm``). Raises ``UserError`` naming the folder
    when it is missing or holds no readable image; nothing is written then.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: image folder not found")
    files = list_files(folder)
    skipped = []
    with DatasetZipWriter(out_zip, labelled=False) as writer:
        for path in progress(files, desc="import", unit="file"):
            image = _open_image(path)
            if image is None:
                skipped.append(path.relative_to(folder).as_posix())
            else:
                writer.add(encode_png(letterbox(image, resolution)))
        if writer.count == 0:  # raised inside the block, so no zip is written
            raise UserError(f"{folder}: no readable images (JPEG/PNG) found ({len(files)} files looked at)")
    if skipped:
        warnings.warn(f"{folder}: skipped {len(skipped)} file(s) that are not readable images: {', '.join(skipped)}",
                      stacklevel=2)
    return writer.count, skipped
