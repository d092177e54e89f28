"""How well a critic recipe reads cameras: one JSON line per recipe.

The car critic is the ruler of ``train_gan``'s ``pose_error_deg``: the angle between the camera a generator was
asked for and the camera the critic reads from the image. Its own error on renders of held-out training cars is
a floor under that figure. For each recipe (``critic`` params overrides, ``key=value`` joined by commas) this
trains a critic on the GAN's training set like ``train_critic`` and prints its median / 90th-percentile error on
the held-out cars, the median error on mirrored renders under the two possible label maps (which one is the
mirror's camera), and the ``pose_error_deg`` it gives each generator (median, 90th percentile; 512 cameras of
the training set, seed 1).

    python scripts/critic_study.py "steps=800" "steps=2400" "steps=2400,mirror=true" \\
        --generators assets/gan/base-64.pt models/gan/generator.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inverse_graphics.errors import UserError  # noqa: E402
from inverse_graphics.gan.checkpoint import load_generator  # noqa: E402
from inverse_graphics.gan.critic import CriticSettings, pose_error_deg, train_critic  # noqa: E402
from inverse_graphics.gan.dataset import find_dataset_zip, load_training_images  # noqa: E402
from inverse_graphics.gan.metrics import pose_error  # noqa: E402
from inverse_graphics.params import load_params  # noqa: E402


def recipe_settings(recipe: str, defaults: dict) -> CriticSettings:
    """``"steps=2400,mirror=true"`` over the ``critic`` params -> settings (one clear error for a bad key)."""
    known = {f.name for f in fields(CriticSettings)}
    values = {k: v for k, v in defaults.items() if k in known}
    for item in filter(None, recipe.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in known:
            raise UserError(f"recipe {recipe!r}: {item!r} is not key=value with a key of {sorted(known)}")
        values[key.strip()] = yaml.safe_load(value)
    return CriticSettings(**values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+", help="critic params overrides, e.g. steps=2400,mirror=true")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "dataset", help="folder with the training zip")
    parser.add_argument("--generators", type=Path, nargs="*", default=[ROOT / "assets" / "gan" / "base-64.pt"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    defaults = load_params(["critic"])["critic"]
    settings = [recipe_settings(r, defaults) for r in args.recipes]  # all checked before the first training
    generators = {str(p): load_generator(p).eval() for p in args.generators}
    data = load_training_images(find_dataset_zip(args.data))
    poses = data.labels[torch.randint(len(data), (512,), generator=torch.Generator().manual_seed(1))]
    sample = data.to_float(data.images[:640]).flip(-1)
    for recipe, setting in zip(args.recipes, settings):
        critic, metrics = train_critic(data, setting)
        out = {"benchmark": "critic_study", "recipe": recipe, "threads": args.threads,
               "train_seconds": metrics["seconds"],
               "heldout_error_deg": [round(metrics["val_pose_error_deg_median"], 2),
                                     round(metrics["val_pose_error_deg_p90"], 2)]}
        with torch.no_grad():
            read = torch.cat([critic.pose(chunk) for chunk in sample.split(256)])
            labels = data.labels[:640]
            for name, sign in (("cos", [1.0, -1.0, 1.0]), ("sin", [-1.0, 1.0, 1.0])):
                out[f"mirrored_error_deg_if_{name}_flips"] = round(
                    float(pose_error_deg(read, labels * labels.new_tensor(sign)).median()), 2)
            for path, G in generators.items():
                errors = pose_error(G, critic, poses)
                out[f"pose_error_deg {path}"] = [round(float(errors.median()), 2), round(float(errors.quantile(0.9)), 2)]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:
        sys.exit(f"critic_study: {exc}")
