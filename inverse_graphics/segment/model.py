"""The car segmenter: torchvision DeepLabV3 with a one-logit car head, and an optional refinement.

``SegmenterNet`` runs DeepLabV3 on the picture resized to ``input_size`` (longer side) and brings its
car logit back to the picture's own resolution. DeepLabV3's output stride is 8 (ResNet-50) or 16
(MobileNetV3): on a 64 px input that is an 8x8 or 4x4 logit map, which cannot draw a car's outline.
With ``refine`` two residual corrections follow, as DeepLabV3+ does (Chen et al., 2018): a
``Decoder`` at stride 4 from the ASPP features and the backbone's stride-4 features, then a
``RefineHead`` at the picture's full resolution from the picture itself. Both end in a zero-initialised
layer, so fresh corrections pass the DeepLabV3 logit through unchanged (COCO weights keep their output).

``Segmenter`` is the inference API other stages use::

    seg = load_segmenter("models/segmenter", device)   # or a checkpoint file, or "coco"
    probs = seg(images)                                 # images (N, 3, H, W) in [0, 1] -> (N, H, W)

``tta="flip"`` (test-time augmentation, ``segment.tta``; off by default) averages the probabilities of each
picture and of its left-right mirror image, mirrored back: a mirrored car is still a car, and two readings of one
picture disagree where the network is unsure (README: +0.014 mask IoU on unseen backgrounds over 12 tuning cars;
the chain's meshes do not gain).

``read_size`` (``segment.read_size``): a picture larger than the training ``input_size`` is brought down to
``read_size`` (or its own size, rounded down to a multiple of 16, if that is smaller) instead of ``input_size``;
pictures at or below ``input_size`` are read as before. Measured, not derived: a network trained at 64 px reads
128 px pictures about +0.03 mask IoU better over unseen backgrounds at 80 px (two trained networks, 17 held-out
cars), worse from 96 px up; bringing 64 px pictures up to 80 px lowered the chain's meshes (README). Sizes are
multiples of 16, the MobileNet backbone's output stride (72 px misaligns its logit map and scores far lower).

Networks are always built with ``weights=None, weights_backbone=None``: nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large, deeplabv3_resnet50

ARCHS = {"mobilenet_v3_large": deeplabv3_mobilenet_v3_large, "resnet50": deeplabv3_resnet50}
LOW_LEVEL = {"mobilenet_v3_large": ("3", 24), "resnet50": ("layer1", 256)}  # stride-4 backbone output, channels
MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, as torchvision's pretrained weights expect
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class NetConfig:
    """What a checkpoint needs to rebuild its network: architecture, DeepLabV3 input size, refinement."""

    arch: str = "mobilenet_v3_large"
    input_size: int = 64
    refine: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class AtrousConv2d(nn.Conv2d):
    """A dilated ("atrous") convolution computed the cheap way on small feature maps; exact either way.

    PyTorch's CPU kernels for dilated convolutions, depthwise ones above all, are several times slower
    than for undilated ones, and DeepLabV3's backbones dilate their last stages (output stride 8 or 16).
    Two exact rewrites for "same"-padded, stride-1 convolutions with dilation ``d``:

    - when ``d`` is at least the map's height and width (ASPP's rates 12/24/36 on the 4x4 or 8x8 map of
      a 64-128 px picture), every tap but the centre reads zero padding: a 1x1 convolution with the
      centre tap gives the same output and gradients;
    - when ``d`` divides the height and width, the map splits into ``d x d`` interleaved sub-grids
      ("space to batch", as DeepLab's own atrous implementation does); each is convolved without
      dilation and the results are interleaved back.

    Other shapes take the ordinary path. Parameters and state-dict keys are those of ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (dh, dw), (kh, kw) = self.dilation, self.kernel_size
        same = self.stride == (1, 1) and self.padding == (dh * (kh - 1) // 2, dw * (kw - 1) // 2) and kh % 2 and kw % 2
        h, w = x.shape[-2:]
        if not same or (dh, dw) == (1, 1):
            return super().forward(x)
        if h <= dh and w <= dw:
            centre = self.weight[:, :, kh // 2:kh // 2 + 1, kw // 2:kw // 2 + 1]
            return F.conv2d(x, centre, self.bias, 1, 0, 1, self.groups)
        if h % dh or w % dw:
            return super().forward(x)
        n, c = x.shape[:2]
        phases = x.reshape(n, c, h // dh, dh, w // dw, dw).permute(0, 3, 5, 1, 2, 4).reshape(n * dh * dw, c, h // dh, w // dw)
        y = F.conv2d(phases, self.weight, self.bias, 1, ((kh - 1) // 2, (kw - 1) // 2), 1, self.groups)
        co = y.shape[1]
        return y.reshape(n, dh, dw, co, h // dh, w // dw).permute(0, 3, 4, 1, 5, 2).reshape(n, co, h, w)


def build_deeplab(arch: str, num_classes: int = 1, aux_loss: bool = False) -> nn.Module:
    """torchvision ``deeplabv3_<arch>`` with random weights (never a download); dilated convs as ``AtrousConv2d``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown segmenter arch {arch!r} (known: {', '.join(ARCHS)})")
    model = ARCHS[arch](weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=aux_loss)
    for module in model.modules():
        if type(module) is nn.Conv2d and module.dilation != (1, 1):
            module.__class__ = AtrousConv2d
    return model


def _conv_bn(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Decoder(nn.Module):
    """DeepLabV3+-style decoder: a logit correction at stride 4.

    ``forward(aspp (N, 256, h, w), low (N, C, 4h', 4w'), coarse (N, 1, h, w)) -> (N, 1, 4h', 4w')``, where
    ``aspp`` are the DeepLab head's features before its last 1x1 convolution and ``low`` the backbone's
    stride-4 features.
    """

    def __init__(self, low_channels: int, width: int = 48):
        super().__init__()
        self.low = _conv_bn(low_channels, 32, 1)
        self.aspp = _conv_bn(256, 48, 1)
        self.body = nn.Sequential(_conv_bn(32 + 48 + 1, width, 3), _conv_bn(width, width, 3))
        self.out = nn.Conv2d(width, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, aspp: torch.Tensor, low: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        size = low.shape[-2:]
        up = lambda t: F.interpolate(t, size=size, mode="bilinear", align_corners=False)  # noqa: E731
        x = torch.cat([up(self.aspp(aspp)), self.low(low), up(coarse).clamp(-20, 20) / 4], 1)
        return self.out(self.body(x))


class RefineHead(nn.Module):
    """Full-resolution residual correction of a logit from the picture.

    ``forward(picture (N, 3, H, W) normalised, logit (N, 1, H, W)) -> (N, 1, H, W)``.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(4, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(width, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, picture: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
        return logit + self.out(self.body(torch.cat([picture, logit.clamp(-20, 20) / 4], 1)))


READ_STRIDE = 16  # read sizes are multiples of the coarsest backbone's output stride


def read_side(picture_side: int, input_size: int, read_size: int | None = None) -> int:
    """The longer side DeepLabV3 reads a picture of ``picture_side`` px at: the training ``input_size``, or, for a
    larger picture, ``read_size`` or the picture's side rounded down to a multiple of ``READ_STRIDE``, whichever is
    smaller (never below ``input_size``: a picture is not brought up past the training size for ``read_size``)."""
    if read_size is None or picture_side <= input_size:
        return input_size
    return max(input_size, min(read_size, picture_side // READ_STRIDE * READ_STRIDE))


class SegmenterNet(nn.Module):
    """DeepLabV3 (one output channel: the car logit) + optional ``Decoder`` and ``RefineHead``."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        self.deeplab = build_deeplab(config.arch, num_classes=1, aux_loss=False)
        self.low_key, low_channels = LOW_LEVEL[config.arch]
        self.decoder = Decoder(low_channels) if config.refine else None
        self.refine = RefineHead() if config.refine else None
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, pictures: torch.Tensor, with_coarse: bool = False, read_size: int | None = None):
        """``pictures (N, 3, H, W)`` in [0, 1] -> car logits ``(N, H, W)`` at the pictures' resolution.

        ``with_coarse``: also return DeepLabV3's own logit brought to ``(N, H, W)`` (for deep supervision).
        ``read_size``: a picture larger than ``config.input_size`` is read at up to this longer side
        (``read_side``).
        """
        h, w = pictures.shape[-2:]
        x = (pictures - self.mean) / self.std
        scale = read_side(max(h, w), self.config.input_size, read_size) / max(h, w)
        small = (max(8, round(h * scale)), max(8, round(w * scale)))
        net_in = x if small == (h, w) else F.interpolate(x, size=small, mode="bilinear", antialias=scale < 1,
                                                         align_corners=False)
        feats, low = net_in, None
        for name, module in self.deeplab.backbone.items():  # torchvision's IntermediateLayerGetter, unrolled
            feats = module(feats)
            if name == self.low_key:
                low = feats
        *body, last = self.deeplab.classifier  # DeepLabHead: ASPP, 3x3 conv, BN, ReLU, then the 1x1 class conv
        aspp = feats
        for layer in body:
            aspp = layer(aspp)
        coarse = last(aspp)
        up = lambda t: t if t.shape[-2:] == (h, w) else F.interpolate(t, size=(h, w), mode="bilinear",  # noqa: E731
                                                                      align_corners=False)
        base = logit = up(coarse)
        if self.decoder is not None:
            logit = logit + up(self.decoder(aspp, low, coarse))
        if self.refine is not None:
            logit = self.refine(x, logit)
        return (logit[:, 0], base[:, 0]) if with_coarse else logit[:, 0]


TTA_MODES = ("none", "flip")


class Segmenter:
    """Inference wrapper: ``seg(images (N, 3, H, W) in [0, 1]) -> car probabilities (N, H, W)``.

    Runs in eval mode without gradients, ``batch_size`` pictures at a time, on ``device``.
    ``source`` says where the weights came from (a path, or ``coco``); ``tta``: ``"none"``, or ``"flip"`` to
    average each picture's probabilities with those of its left-right mirror image (mirrored back);
    ``read_size``: pictures larger than the training ``input_size`` are read at up to this longer side
    (``read_side``; ``None``: every picture at ``input_size``).
    """

    def __init__(self, net: SegmenterNet, device: torch.device | str = "cpu", batch_size: int = 32, source: str = "",
                 tta: str = "none", read_size: int | None = None):
        if tta not in TTA_MODES:
            raise ValueError(f"segmenter tta {tta!r}: expected one of {', '.join(TTA_MODES)}")
        if read_size is not None and (read_size < READ_STRIDE or read_size % READ_STRIDE):
            raise ValueError(f"segmenter read_size {read_size}: expected a multiple of {READ_STRIDE}")
        self.device = torch.device(device)
        self.net = net.to(self.device, memory_format=torch.channels_last).eval()
        self.batch_size = batch_size
        self.source = source
        self.tta = tta
        self.read_size = read_size

    @property
    def config(self) -> NetConfig:
        return self.net.config

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``images (N, 3, H, W)`` in [0, 1] -> logits ``(N, H, W)`` on the images' device."""
        out = [self.net(chunk.to(self.device, torch.float32).contiguous(memory_format=torch.channels_last),
                        read_size=self.read_size).to(images.device) for chunk in images.split(self.batch_size)]
        return torch.cat(out)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        probs = torch.sigmoid(self.logits(images))
        if self.tta == "flip":
            probs = (probs + torch.sigmoid(self.logits(images.flip(-1))).flip(-1)) / 2
        return probs
