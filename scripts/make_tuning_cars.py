"""Cars to tune on that are not the cars the metrics are read on: held-out object folders from other seeds.

``synth`` writes the evaluation cars ``car_000 .. car_{heldout-1}`` from its held-out stream (seeds disjoint from
the training cars). This writes more cars from the same stream at indices ``--first .. --first+count-1`` (default
100: far past any ``synth.heldout`` in use), in the same layout (input.png + input.json, the tutorial views, the
multiview rig in ``rig/``, ``mesh.obj``), from the params.yaml sections ``synth`` and ``multiview.rig``. A design
choice judged on these cars (``scripts/multiview_study.py --input``) is not picked on the evaluation cars.

    python scripts/make_tuning_cars.py --out runs/tuning-cars [--count 12] [--first 100]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.errors import UserError  # noqa: E402
from inverse_graphics.io_utils import atomic_dir  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402
from stages.synth import write_heldout_car  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the car folders into (replaced)")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--first", type=int, default=100, help="first index in synth's held-out stream")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = parser.parse_args(argv)
    params = load_params(["synth", "multiview"], args.params)
    cfg = {**params["synth"], "rig": params["multiview"]["rig"]}
    if args.count < 1:
        raise UserError(f"--count: expected at least 1 car, got {args.count}")
    if args.first < cfg["heldout"]:
        raise UserError(f"--first {args.first}: indices below synth.heldout ({cfg['heldout']}) are the evaluation "
                        "cars; start at or after it")
    with atomic_dir(args.out) as tmp:
        for index in tqdm(range(args.first, args.first + args.count), desc="tuning cars", unit="car"):
            write_heldout_car(cfg, index, tmp / f"car_{index:03d}")
    print(f"make_tuning_cars: {args.count} cars (held-out stream {args.first}..{args.first + args.count - 1}) "
          f"in {args.out}")


if __name__ == "__main__":
    try:
        main()
    except UserError as err:
        raise SystemExit(f"error: {err}")
