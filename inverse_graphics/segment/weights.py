"""Segmenter weights: torchvision's COCO (VOC labels) files from the local hub cache, and our checkpoints.

``coco``: torchvision's ``COCO_WITH_VOC_LABELS_V1`` DeepLabV3 weights, read only from
``torch.hub.get_dir()/checkpoints/<file>`` (``$TORCH_HOME/hub/checkpoints``, by default
``~/.cache/torch/hub/checkpoints``); nothing is ever downloaded. Their 21-class head becomes the
one-logit car head: ``logit = z_car - z_background`` (VOC class 7 minus class 0), so
``sigmoid(logit)`` is the two-way softmax of car against background.

Checkpoint file (``torch.save`` of plain tensors and values, read with ``weights_only=True``)::

    {"format": "inverse_graphics.segmenter", "version": 1, "config": NetConfig fields,
     "state_dict": SegmenterNet.state_dict(), "info": {...free-form: init, training set, families...}}
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import UserError
from ..io_utils import atomic_path
from .model import NetConfig, Segmenter, SegmenterNet

COCO_FILES = {
    "resnet50": "deeplabv3_resnet50_coco-cd0a2569.pth",
    "mobilenet_v3_large": "deeplabv3_mobilenet_v3_large-fc3c493d.pth",
}
VOC_BACKGROUND, VOC_CAR = 0, 7
FORMAT, VERSION = "inverse_graphics.segmenter", 1
CHECKPOINT_NAME = "segmenter.pt"  # the file inside a model folder such as models/segmenter


def coco_path(arch: str) -> Path:
    """Where torchvision keeps the COCO weights of ``arch``: ``torch.hub.get_dir()/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / COCO_FILES[arch]


def coco_available(arch: str) -> bool:
    return coco_path(arch).is_file()


def load_coco_state(arch: str) -> dict[str, torch.Tensor]:
    """The COCO state dict of ``arch`` from the local hub cache; one clear error naming the path when absent."""
    path = coco_path(arch)
    if not path.is_file():
        raise UserError(f"{path}: torchvision COCO weights for deeplabv3_{arch} not found (segment.weights: coco "
                        f"reads only this local file, it never downloads; copy {COCO_FILES[arch]} there or set "
                        f"TORCH_HOME)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise UserError(f"{path}: not a readable torch state dict ({type(exc).__name__}: {exc})") from None
    return state


def apply_coco(net: SegmenterNet, state: dict[str, torch.Tensor]) -> None:
    """Load a 21-class COCO/VOC DeepLabV3 state dict into ``net``; the car head = class 7 minus class 0.

    The auxiliary classifier's weights are dropped; the refinement head (if any) keeps its zero output.
    """
    head = "classifier.4"
    try:
        weight, bias = state[f"{head}.weight"], state[f"{head}.bias"]
    except KeyError as exc:
        raise UserError(f"COCO state dict has no {exc.args[0]} (expected torchvision's DeepLabV3 keys)") from None
    if weight.shape[0] != 21:
        raise UserError(f"COCO state dict: {head}.weight has {weight.shape[0]} classes, expected 21 (VOC labels)")
    body = {k: v for k, v in state.items() if not k.startswith("aux_classifier.") and not k.startswith(head + ".")}
    body[f"{head}.weight"] = (weight[VOC_CAR] - weight[VOC_BACKGROUND])[None]
    body[f"{head}.bias"] = (bias[VOC_CAR] - bias[VOC_BACKGROUND])[None]
    missing, unexpected = net.deeplab.load_state_dict(body, strict=False)
    if missing or unexpected:
        raise UserError(f"COCO state dict does not match deeplabv3_{net.config.arch}: "
                        f"missing {missing[:3]}, unexpected {unexpected[:3]}")


def save_checkpoint(path: str | os.PathLike, net: SegmenterNet, info: dict | None = None) -> None:
    """Write ``net`` (config + state dict + ``info``) atomically."""
    payload = {"format": FORMAT, "version": VERSION, "config": net.config.to_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "info": info or {}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def checkpoint_file(path: str | os.PathLike) -> Path:
    """A checkpoint path, or a folder holding ``segmenter.pt``."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def load_checkpoint(path: str | os.PathLike) -> tuple[SegmenterNet, dict]:
    """Rebuild the network from a checkpoint written by ``save_checkpoint``; returns it and its ``info``."""
    file = checkpoint_file(path)
    if not file.is_file():
        raise UserError(f"{file}: segmenter checkpoint not found (run the train_segmenter stage, or give the "
                        f"path of a checkpoint it wrote)")
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"{file}: not a readable segmenter checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{file}: not a segmenter checkpoint (expected \"format\": \"{FORMAT}\")")
    if payload.get("version") != VERSION:
        raise UserError(f"{file}: segmenter checkpoint version {payload.get('version')}, this code reads {VERSION}")
    try:
        net = SegmenterNet(NetConfig(**payload["config"]))
        net.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise UserError(f"{file}: checkpoint does not match its config ({' '.join(str(exc).split())[:200]})") from None
    return net, payload.get("info", {})


def coco_net(config: NetConfig) -> SegmenterNet:
    """A ``SegmenterNet`` with the COCO weights of ``config.arch`` (error naming the path when absent)."""
    net = SegmenterNet(config)
    apply_coco(net, load_coco_state(config.arch))
    return net


def load_segmenter(spec: str | os.PathLike, device: torch.device | str = "cpu",
                   config: NetConfig | None = None, tta: str = "none", read_size: int | None = None) -> Segmenter:
    """``spec``: ``"coco"`` (with ``config`` for arch/input size/refine) or a checkpoint file or folder;
    ``tta``, ``read_size``: ``Segmenter``'s test-time augmentation and reading size (``segment.tta``,
    ``segment.read_size``)."""
    if str(spec) == "coco":
        return Segmenter(coco_net(config or NetConfig(refine=False)), device, source="coco", tta=tta,
                         read_size=read_size)
    net, _ = load_checkpoint(spec)
    return Segmenter(net, device, source=str(checkpoint_file(spec)), tta=tta, read_size=read_size)


def generator_image_segmenter(spec: str | os.PathLike, device: torch.device | str = "cpu", tta: str = "none",
                              read_size: int | None = None):
    """The segmenter as the GAN stages use it: ``images (N, 3, S, S) in [-1, 1]`` (generator range) ->
    car probabilities ``(N, S, S)`` on the CPU."""
    segmenter = load_segmenter(spec, device, tta=tta, read_size=read_size)
    return lambda images: segmenter((images.to(device) + 1) / 2).cpu()


def differentiable_segmenter(spec: str | os.PathLike, device: torch.device | str = "cpu"):
    """A frozen segmenter that passes gradients to its input (the GAN's mask teacher): ``images (N, 3, S, S) in
    [-1, 1]`` (generator range) -> car probabilities ``(N, S, S)`` on ``device``, read at ``S`` itself."""
    net, _ = load_checkpoint(spec)
    net = net.to(device).eval().requires_grad_(False)
    return lambda images: torch.sigmoid(net((images + 1) / 2))
