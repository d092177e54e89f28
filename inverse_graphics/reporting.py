"""What stages write for people and for DVC: metric summaries, loss-curve CSVs, silhouette sheets."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import torch
from PIL import Image

from .io_utils import write_json, write_text


def summarize(per_object: dict[str, dict], echoes: tuple[str, ...] = ()) -> dict:
    """One row over all objects: ``*_min`` metrics take the minimum, ``*seconds`` the sum, a value
    shared by every object is kept as is, any other metric is averaged. ``echoes`` (configuration
    echoes such as ``iterations``) stay out: they belong to the per-object file, not to the metrics."""
    names = sorted({k for row in per_object.values() for k in row} - set(echoes))
    summary: dict = {}
    for name in names:
        values = [row[name] for row in per_object.values() if name in row]
        if name.endswith("_min"):
            summary[name] = float(min(values))
        elif name.endswith("seconds"):
            summary[name] = round(float(sum(values)), 2)
        elif all(v == values[0] for v in values):
            summary[name] = values[0]
        else:
            summary[name] = float(np.mean(values))
    return summary


def write_curve(path: str | os.PathLike, history: list[dict]) -> None:
    """Per-iteration loss terms as CSV (``iteration`` first), for ``dvc plots``. Every key of any row is a column,
    in order of first appearance (a term that starts later, e.g. ADA's ``r_t``, is blank before it starts)."""
    if not history:
        write_text(path, "iteration\n")
        return
    columns = list(dict.fromkeys(key for row in history for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    write_text(path, buffer.getvalue())


def silhouette_sheet(target: torch.Tensor, fitted: torch.Tensor, max_cols: int = 10) -> Image.Image:
    """Rows of (target, fitted, overlay) per view; ``target, fitted: (N, H, W)`` in [0, 1].

    Overlay colours: white = both, red = target only (missed), blue = fitted only (extra).
    """
    t = target.detach().cpu().float().numpy() >= 0.5
    f = fitted.detach().cpu().float().numpy() >= 0.5
    overlay = np.stack([t, t & f, f], axis=-1).astype(np.float32)
    gray = lambda m: np.repeat(m[..., None].astype(np.float32), 3, axis=-1)  # noqa: E731
    n, h, w = t.shape
    pad = 2
    blocks = []
    for start in range(0, n, max_cols):
        idx = range(start, min(start + max_cols, n))
        rows = [np.concatenate([np.pad(img[i], ((pad, pad), (pad, pad), (0, 0)), constant_values=0.5) for i in idx], 1)
                for img in (gray(t), gray(f), overlay)]
        block = np.concatenate(rows, 0)
        if blocks and block.shape[1] < blocks[0].shape[1]:
            block = np.pad(block, ((0, 0), (0, blocks[0].shape[1] - block.shape[1]), (0, 0)), constant_values=0.5)
        blocks.append(block)
    return Image.fromarray((np.concatenate(blocks, 0) * 255).astype(np.uint8))


def report_object(name: str, row: dict) -> None:
    """Print one object's metrics on one line (the stage log)."""
    print(f"{name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}"
                                  for k, v in row.items()), flush=True)


def write_metrics(summary_path: str | os.PathLike, per_object_path: str | os.PathLike, per_object: dict,
                  echoes: tuple[str, ...] = ()) -> None:
    """The DVC metrics file (``summarize`` over objects, without the count or the ``echoes``) and the
    per-object rows beside it (plain JSON, everything)."""
    write_json(summary_path, summarize(per_object, echoes))
    write_json(per_object_path, per_object)
