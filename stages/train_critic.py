"""Stage ``train_critic``: the car critic that measures the GAN (camera reader + feature network).

Trained on the GAN's training set (exact camera labels, object ids); its median camera error on held-out training
cars is a floor for the generator's ``pose_error_deg``. Outputs ``<out>/critic.pt`` and ``<metrics>``.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from inverse_graphics.gan.critic import CriticSettings, save_critic, train_critic
from inverse_graphics.gan.dataset import find_dataset_zip, load_training_images
from inverse_graphics.io_utils import write_json
from inverse_graphics.params import load_params
from stages._runner import run_stage

PATHS = {"data": "folder with the GAN training zip (synth)", "out": "output folder (critic.pt)",
         "metrics": "metrics JSON"}


def train_and_save(section: dict, args, name: str = "train_critic") -> None:
    """Train a critic with the ``critic`` params ``section`` on ``args.data``; write ``args.out/critic.pt`` and
    ``args.metrics``."""
    section = dict(section)
    torch.set_num_threads(section.pop("threads"))
    data = load_training_images(find_dataset_zip(args.data))
    critic, metrics = train_critic(data, CriticSettings(**section), progress=tqdm)
    args.out.mkdir(parents=True, exist_ok=True)
    save_critic(args.out / "critic.pt", critic, metrics)
    write_json(args.metrics, metrics)
    print(f"{name}: median camera error on held-out cars {metrics['val_pose_error_deg_median']:.2f} deg "
          f"({metrics['seconds']:.0f} s)")


def main(args) -> None:
    train_and_save(load_params(["critic"])["critic"], args)


if __name__ == "__main__":
    run_stage("train_critic", main, PATHS)
