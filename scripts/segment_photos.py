"""Run the trained segmenter on a folder of photos and write one overlay picture (mask outline over each photo).

For looking at what the segmenter does on real pictures, e.g. the study's six StyleGAN car images:

    python scripts/segment_photos.py --input ../shared/data/seed_cars --model models/segmenter \\
        --out docs/segment/seed_cars.png [--size 128] [--json docs/segment/seed_cars.json]

Each photo is resized (area) so its longer side is ``--size`` (the scale the segmenter was trained at),
segmented with the ``segment`` test-time augmentation and post-processing of params.yaml, and the mask is
brought back to the photo's own size (bilinear on the probabilities). The photos are only read: they are not training
data and nothing is written next to them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.data.view_images import find_view_sets, read_image  # noqa: E402
from inverse_graphics.io_utils import write_json  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from inverse_graphics.segment.evaluate import to_chw  # noqa: E402
from inverse_graphics.segment.overlay import overlay_sheet  # noqa: E402
from inverse_graphics.segment.postprocess import Postprocess, clean_mask  # noqa: E402
from inverse_graphics.segment.weights import load_segmenter  # noqa: E402
from inverse_graphics.viz import save_png  # noqa: E402


def segment_photo(segmenter, image: np.ndarray, size: int, post: Postprocess) -> np.ndarray:
    """``image (H, W, 3) uint8`` -> mask ``(H, W) bool``, segmented at longer side ``size``."""
    picture = to_chw(image[None])
    h, w = picture.shape[-2:]
    scale = size / max(h, w)
    small = F.interpolate(picture, size=(max(8, round(h * scale)), max(8, round(w * scale))), mode="area")
    probs = segmenter(small)[:, None]
    return clean_mask(F.interpolate(probs, size=(h, w), mode="bilinear", align_corners=False)[0, 0], post)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="folder of photos")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "segmenter")
    parser.add_argument("--out", type=Path, required=True, help="overlay PNG to write")
    parser.add_argument("--json", type=Path, default=None, help="optional: mask area fraction per photo")
    parser.add_argument("--size", type=int, default=128, help="longer side the photos are segmented at")
    parser.add_argument("--display", type=int, default=256, help="tile size in the overlay picture")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seg = load_params(["segment"], ROOT / "params.yaml")["segment"]
    post = Postprocess(seg["threshold"], seg["largest_component"], seg["fill_holes"])
    segmenter = load_segmenter(args.model, tta=seg["tta"], read_size=seg["read_size"])
    (views,) = find_view_sets(args.input)
    tiles, masks, rows = [], [], {}
    for path in views.paths:
        image = read_image(path)
        mask = segment_photo(segmenter, image, args.size, post)
        scale = args.display / max(image.shape[:2])
        shown = F.interpolate(to_chw(image[None]), scale_factor=scale, mode="area")[0]
        tiles.append((shown.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
        masks.append(F.interpolate(torch.from_numpy(mask)[None, None].float(), size=shown.shape[-2:],
                                   mode="bilinear")[0, 0].numpy() >= 0.5)
        rows[path.name] = {"mask_area_fraction": round(float(mask.mean()), 4)}
    save_png(overlay_sheet(tiles, masks, labels=[p.name for p in views.paths], ncols=3, min_size=args.display),
             args.out)
    if args.json:
        write_json(args.json, {"segmenter": segmenter.source, "size": args.size, "photos": rows})
    print(json.dumps({"photos": len(views.paths), "out": str(args.out), **rows}))


if __name__ == "__main__":
    main()
