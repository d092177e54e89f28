"""The car critic: a small CNN trained on the exactly labelled synthetic images, to measure the GAN's images.

It reads the camera of a car image (``pose``: ``[sin azim, cos azim, elev / 90]``) and tells the training cars
apart (``identity``: one class per training object). Its pooled features (``features``, 256-D) are the feature
space of the project's Fréchet and kernel distances between real and generated images: a stand-in for
Inception-v3 features, which need downloaded weights, named for what it is (``carnet``) and never called FID.

Trained once per data set (stage ``train_critic``), used by ``train_gan`` (pose error of generated views,
sample quality before and after the fine-tune) and by ``multiview`` (the first guess of an input's camera).
Images ``(N, 3, R, R)`` in [-1, 1] at the data set's resolution.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..io_utils import atomic_path
from .dataset import TrainingImages

CRITIC_FORMAT = "inverse-graphics-critic/1"


class CarCritic(torch.nn.Module):
    """Conv blocks (stride 2) -> global average pool -> ``features: (N, 256)`` -> pose ``(N, 3)`` and identity logits."""

    def __init__(self,
                 resolution: int = 64,           # Input resolution.
                 num_objects: int = 0,           # Identity classes (training cars); 0: no identity head.
                 width: int = 32,                # Channels of the first block (doubling per block, max 256).
                 feature_dim: int = 256):        # Size of the pooled feature vector.
        super().__init__()
        self.resolution, self.num_objects, self.num_features = resolution, num_objects, feature_dim
        self.width = width
        layers, ch, size = [], 3, resolution
        out = width
        while size > 4:
            layers += [torch.nn.Conv2d(ch, out, 3, padding=1), torch.nn.BatchNorm2d(out), torch.nn.ReLU(inplace=True),
                       torch.nn.Conv2d(out, out, 3, stride=2, padding=1), torch.nn.BatchNorm2d(out),
                       torch.nn.ReLU(inplace=True)]
            ch, out, size = out, min(out * 2, 256), size // 2
        self.body = torch.nn.Sequential(*layers)
        self.project = torch.nn.Linear(ch, feature_dim)
        self.pose_head = torch.nn.Linear(feature_dim, 3)
        self.identity_head = torch.nn.Linear(feature_dim, num_objects) if num_objects > 0 else None

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        """``features`` on the critic's own device, whatever device ``images`` come from."""
        images = images.to(self.pose_head.weight.device)
        if images.dtype == torch.uint8:
            images = images.float() / 127.5 - 1
        if images.shape[-1] != self.resolution:
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="bilinear",
                                   antialias=True, align_corners=False)
        return F.relu(self.project(self.body(images).mean(dim=[2, 3])))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, R, R)`` in [-1, 1] -> ``(N, feature_dim)`` on the device of ``images`` (uint8 images in [0, 255]
        are accepted too). A critic on a GPU reads images that metrics keep on the CPU."""
        return self._features(images).to(images.device)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Feature extractor interface for torchmetrics' FID/KID: ``(N, 3, R, R)`` -> ``(N, feature_dim)``."""
        return self.features(images)

    def pose(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3)``: ``[sin azim, cos azim, elev / 90]`` read from the images, on their device."""
        return self.pose_head(self._features(images)).to(images.device)


def pose_to_angles(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 3)`` labels -> azimuth and elevation ``(N,)`` in degrees."""
    return torch.rad2deg(torch.atan2(pose[:, 0], pose[:, 1])), pose[:, 2] * 90.0


def view_direction(pose: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` labels -> unit camera directions ``(N, 3)`` (the direction from the car to the camera)."""
    azim, elev = (torch.deg2rad(a) for a in pose_to_angles(pose))
    return torch.stack([elev.cos() * azim.sin(), elev.sin(), elev.cos() * azim.cos()], dim=-1)


def pose_error_deg(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """``(N,)`` angle in degrees between the predicted and the true viewing directions."""
    cos = (view_direction(pred) * view_direction(true)).sum(-1).clamp(-1, 1)
    return torch.rad2deg(torch.acos(cos))


@dataclass(frozen=True)
class CriticSettings:
    steps: int = 2400
    batch: int = 64
    lr: float = 2e-3
    width: int = 32                    # channels of the first block (doubling per block, max 256)
    seed: int = 0
    identity_weight: float = 0.5       # weight of the identity cross-entropy beside the pose MSE
    val_fraction: float = 0.1          # objects held out to measure the pose error
    mirror: bool = True                # mirror half the images, label azimuth a -> 180 - a (cars are symmetric)
    degrade: bool = False              # colour, blur and noise jitter, so generated images read like renders


def mirror_views(images: torch.Tensor, labels: torch.Tensor, which: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror ``images (N, 3, R, R)`` left-right where ``which (N,)`` is true; their labels ``(N, 3)`` become
    the camera at azimuth ``180 - a`` (``cos a`` changes sign): the mirror image of a left-right symmetric car
    seen from ``a`` (azimuth 0 looks at its side)."""
    flip = which.view(-1, 1, 1, 1)
    images = torch.where(flip, images.flip(-1), images)
    labels = torch.where(which.view(-1, 1), labels * labels.new_tensor([1.0, -1.0, 1.0]), labels)
    return images, labels


def degrade(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-image colour shift and scale, a light blur for half of them, and pixel noise: ``(N, 3, R, R)`` in [-1, 1]."""
    n = len(images)
    gain = 1 + 0.3 * (torch.rand(n, 3, 1, 1, generator=generator) - 0.5)
    shift = 0.2 * (torch.rand(n, 3, 1, 1, generator=generator) - 0.5)
    images = images * gain + shift
    blurred = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    blur = (torch.rand(n, 1, 1, 1, generator=generator) < 0.5).float() * torch.rand(n, 1, 1, 1, generator=generator)
    images = images + blur * (blurred - images)
    sigma = 0.05 * torch.rand(n, 1, 1, 1, generator=generator)
    return (images + sigma * torch.randn(images.shape, generator=generator)).clamp(-1, 1)


def train_critic(data: TrainingImages, settings: CriticSettings = CriticSettings(),
                 progress: Callable | None = None) -> tuple[CarCritic, dict]:
    """Train on ``data`` (labels = poses, objects = car ids); returns the critic and its metrics
    (``val_pose_error_deg_median`` on held-out objects, ``seconds``)."""
    if data.labels is None or data.labels.shape[1] != 3:
        raise UserError("train_critic: the data set needs 3-D pose labels [sin azim, cos azim, elev/90]")
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    objects = data.objects if data.objects is not None else torch.arange(len(data))
    unique = torch.unique(objects)
    val_objects = unique[torch.randperm(len(unique), generator=generator)[: max(1, int(len(unique) * settings.val_fraction))]]
    is_val = torch.isin(objects, val_objects)
    train_index, val_index = torch.nonzero(~is_val).flatten(), torch.nonzero(is_val).flatten()
    remap = {int(o): i for i, o in enumerate(torch.unique(objects[train_index]).tolist())}
    ids = torch.tensor([remap.get(int(o), -1) for o in objects.tolist()])
    critic = CarCritic(data.resolution, num_objects=len(remap), width=settings.width)
    optimizer = torch.optim.Adam(critic.parameters(), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=settings.steps)
    bar = progress(range(settings.steps), desc="train_critic", unit="step") if progress else range(settings.steps)
    start = time.perf_counter()
    critic.train()
    for _ in bar:
        index = train_index[torch.randint(len(train_index), (settings.batch,), generator=generator)]
        images, labels = data.to_float(data.images[index]), data.labels[index]
        images = images * (1 + 0.2 * (torch.rand(len(index), 1, 1, 1, generator=generator) - 0.5))  # contrast jitter
        if settings.mirror:
            images, labels = mirror_views(images, labels, torch.rand(len(index), generator=generator) < 0.5)
        if settings.degrade:
            images = degrade(images, generator)
        feats = critic.features(images)
        loss = F.mse_loss(critic.pose_head(feats), labels)
        if settings.identity_weight > 0:
            loss = loss + settings.identity_weight * F.cross_entropy(critic.identity_head(feats), ids[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    critic.eval()
    errors = predict_pose_error(critic, data.to_float(data.images[val_index]), data.labels[val_index])
    return critic, {"val_pose_error_deg_median": float(errors.median()),
                    "val_pose_error_deg_p90": float(errors.quantile(0.9)),
                    "val_images": len(val_index), "seconds": round(time.perf_counter() - start, 1)}


@torch.no_grad()
def predict_pose_error(critic: CarCritic, images: torch.Tensor, poses: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """``(N,)`` degrees between the critic's reading of ``images`` and the true ``poses``."""
    preds = torch.cat([critic.pose(images[i:i + batch]) for i in range(0, len(images), batch)])
    return pose_error_deg(preds, poses)


def save_critic(path: str | os.PathLike, critic: CarCritic, metrics: dict | None = None) -> None:
    payload = {"format": CRITIC_FORMAT, "resolution": critic.resolution, "num_objects": critic.num_objects,
               "width": critic.width, "state": critic.state_dict(), "metrics": metrics or {}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_critic(path: str | os.PathLike, device: torch.device | str = "cpu") -> CarCritic:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: car critic not found (written by the train_critic stage)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one user-facing line
        raise UserError(f"{path}: not a readable critic checkpoint ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != CRITIC_FORMAT:
        raise UserError(f"{path}: not a car critic checkpoint (expected format {CRITIC_FORMAT!r})")
    critic = CarCritic(payload["resolution"], payload["num_objects"], payload.get("width", 32))
    critic.load_state_dict(payload["state"])
    return critic.to(device).eval().requires_grad_(False)

