"""Inception-v3 features for FID/KID, only from torchvision's weights already in the local torch hub cache.

Nothing is downloaded: when ``torch.hub.get_dir()/checkpoints/inception_v3_google-0cc3c7bd.pth`` (the file
``torchvision.models.inception_v3(weights="IMAGENET1K_V1")`` caches) is absent, the measures that need it are
skipped and the car critic's features stand in, under their own name. These are torchvision's ImageNet weights, not
the TensorFlow Inception graph of the original FID code, so the metric keys say ``inception_v3_torchvision``:
figures close to, but not interchangeable with, published FIDs.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import UserError

INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def inception_path() -> Path:
    """Where torchvision keeps the Inception-v3 ImageNet weights: ``torch.hub.get_dir()/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def inception_available() -> bool:
    return inception_path().is_file()


class InceptionFeatures(torch.nn.Module):
    """``(N, 3, R, R)`` images in [-1, 1] (or uint8) -> ``(N, 2048)`` pool features of torchvision's Inception-v3
    (resized to 299, ImageNet-normalised); the feature-extractor interface of torchmetrics' FID/KID."""

    num_features = 2048

    def __init__(self, path: Path | None = None):
        super().__init__()
        from torchvision.models import inception_v3

        path = Path(path) if path is not None else inception_path()
        if not path.is_file():
            raise UserError(f"{path}: torchvision's Inception-v3 weights not found (nothing is downloaded)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file becomes one line naming it
            raise UserError(f"{path}: not readable Inception-v3 weights ({' '.join(str(exc).split())[:200]})") from None
        self.net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        self.net.load_state_dict(state)
        self.net.fc = torch.nn.Identity()
        self.net.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, R, R)`` in [-1, 1] (or uint8) on any device -> ``(N, 2048)`` on the device of ``images``."""
        x = images.to(self.mean.device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else (x.float() + 1) / 2
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        feats = self.net((x - self.mean) / self.std)
        assert feats.shape == (images.shape[0], self.num_features), feats.shape
        return feats.to(images.device)

    def train(self, mode: bool = True):  # torchmetrics calls .train(); the network stays in eval mode
        return super().train(False)
