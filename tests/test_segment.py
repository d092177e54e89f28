"""The segmenter library: COCO weights path, checkpoints, the exact ASPP shortcut, composites, clean-up."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

from inverse_graphics.errors import UserError
from inverse_graphics.segment.backgrounds import ALL_FAMILIES, EVAL_FAMILIES, TRAIN_FAMILIES, make_backgrounds
from inverse_graphics.segment.composite import NONE, Augment, composite_batch, degrade
from inverse_graphics.segment.evaluate import composites
from inverse_graphics.segment.model import (AtrousConv2d, NetConfig, Segmenter, SegmenterNet, build_deeplab,
                                            read_side)
from inverse_graphics.segment.postprocess import Postprocess, clean_mask, mask_iou
from inverse_graphics.segment.train import BackgroundBank, TrainSettings, make_validation, train
from inverse_graphics.segment.weights import (COCO_FILES, coco_path, load_checkpoint, load_segmenter,
                                              save_checkpoint)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.parametrize("size, dilation, kernel, groups", [
    (4, 12, 3, 1),  # ASPP rate above the map size: centre tap only
    (8, 2, 5, 8),  # MobileNetV3's dilated depthwise 5x5: polyphase
    (8, 4, 3, 1),  # ResNet-50's layer4: polyphase with 16 sub-grids
    (7, 2, 3, 1),  # not divisible: the ordinary path
])
def test_atrous_conv_is_exact(size, dilation, kernel, groups):
    torch.manual_seed(0)
    pad = dilation * (kernel - 1) // 2
    conv = torch.nn.Conv2d(8, 8, kernel, padding=pad, dilation=dilation, groups=groups)
    fast = copy.deepcopy(conv)
    fast.__class__ = AtrousConv2d
    x = torch.randn(2, 8, size, size + (0 if size % 2 else 2), requires_grad=True)
    y_ref, y = conv(x), fast(x)
    assert torch.allclose(y, y_ref, atol=1e-5)
    (g_ref,) = torch.autograd.grad((y_ref ** 2).sum(), conv.weight)
    (g,) = torch.autograd.grad((y ** 2).sum(), fast.weight)
    assert torch.allclose(g, g_ref, atol=1e-4)


def test_deeplab_with_atrous_convs_is_unchanged():
    torch.manual_seed(0)
    fast = build_deeplab("mobilenet_v3_large").eval()
    slow = copy.deepcopy(fast)
    for module in slow.modules():
        if type(module) is AtrousConv2d:
            module.__class__ = torch.nn.Conv2d
    assert sum(type(m) is AtrousConv2d for m in fast.modules()) == 6  # 3 in the backbone, 3 in ASPP
    for size in (64, 224):  # 4x4 and 14x14 maps: all three paths
        x = torch.rand(1, 3, size, size)
        with torch.no_grad():
            assert torch.allclose(fast(x)["out"], slow(x)["out"], atol=1e-5)


def test_coco_weights_from_torch_home(tmp_path, monkeypatch):
    """A state dict with torchvision's COCO keys and shapes, under the exact file name: class 7 becomes the car."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / COCO_FILES["mobilenet_v3_large"]
    assert coco_path("mobilenet_v3_large") == expected
    with pytest.raises(UserError, match=str(expected).replace(".", r"\.")):
        load_segmenter("coco", config=NetConfig("mobilenet_v3_large", 64, refine=False))

    torch.manual_seed(1)
    reference = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    for module in reference.modules():  # non-trivial BN statistics, so a wrong key mapping would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    expected.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), expected)

    for refine in (False, True):  # a fresh refinement head passes the COCO logit through
        seg = load_segmenter("coco", config=NetConfig("mobilenet_v3_large", 96, refine=refine))
        images = torch.rand(2, 3, 96, 96)
        with torch.no_grad():
            z = reference.eval()((images - seg.net.mean) / seg.net.std)["out"]
        two_way = torch.softmax(z[:, [0, 7]], dim=1)[:, 1]  # car against background
        assert seg.source == "coco"
        assert torch.allclose(seg(images), two_way, atol=1e-5)
        head = seg.net.deeplab.classifier[4]
        assert torch.equal(head.weight[0], reference.classifier[4].weight[7] - reference.classifier[4].weight[0])


def test_checkpoint_round_trip_and_errors(tmp_path):
    torch.manual_seed(2)
    net = SegmenterNet(NetConfig("mobilenet_v3_large", 48, refine=True))
    torch.nn.init.normal_(net.refine.out.weight, std=0.1)
    save_checkpoint(tmp_path / "m" / "segmenter.pt", net, {"families": ["noise"]})
    loaded, info = load_checkpoint(tmp_path / "m")  # the folder resolves to segmenter.pt
    assert info == {"families": ["noise"]} and loaded.config == net.config
    images = torch.rand(3, 3, 40, 56)  # non-square, not the input size: output at the pictures' size
    seg_a, seg_b = Segmenter(net), load_segmenter(tmp_path / "m" / "segmenter.pt")
    probs = seg_b(images)
    assert probs.shape == (3, 40, 56) and probs.min() >= 0 and probs.max() <= 1
    assert torch.allclose(seg_a(images), probs)

    with pytest.raises(UserError, match="segmenter checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="junk.pt: not a readable segmenter checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="other.pt: not a segmenter checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_flip_averaging_is_mirror_symmetric_and_averages_the_two_readings(tmp_path):
    torch.manual_seed(3)
    net = SegmenterNet(NetConfig("mobilenet_v3_large", 32, refine=True))
    torch.nn.init.normal_(net.refine.out.weight, std=0.1)
    plain, flip = Segmenter(net), Segmenter(net, tta="flip")
    images = torch.rand(2, 3, 32, 40)
    mirrored = images.flip(-1)
    assert not torch.allclose(plain(mirrored), plain(images).flip(-1), atol=1e-4)  # the network alone is not
    assert torch.allclose(flip(mirrored), flip(images).flip(-1), atol=1e-6)  # the average is
    assert torch.allclose(flip(images), (plain(images) + plain(mirrored).flip(-1)) / 2, atol=1e-6)
    save_checkpoint(tmp_path / "segmenter.pt", net, {})
    assert torch.allclose(load_segmenter(tmp_path, tta="flip")(images), flip(images), atol=1e-6)
    with pytest.raises(ValueError, match="tta"):
        Segmenter(net, tta="rotate")


def test_read_side_brings_larger_pictures_down_less_and_never_brings_a_picture_up():
    """A 128 px picture is read at ``read_size`` (80), not the training 64; a picture at or below the training size,
    or too small to fill a multiple of 16 above it, is read at the training size as without ``read_size``."""
    assert read_side(128, 64, 80) == 80 and read_side(100, 64, 80) == 80 and read_side(96, 64, 128) == 96
    assert read_side(64, 64, 80) == read_side(48, 64, 80) == read_side(72, 64, 80) == 64
    assert read_side(128, 64, None) == 64 and read_side(32, 64, None) == 64


def test_read_size_sets_the_size_deeplab_reads_and_masks_stay_at_the_pictures_size(tmp_path):
    """``read_size`` (``segment.read_size``): the backbone sees a larger picture at that longer side instead of the
    training ``input_size``; the probabilities come back at the picture's own size; a picture no larger than the
    training size gives the same probabilities with or without it; a size off the stride is refused."""
    torch.manual_seed(4)
    net = SegmenterNet(NetConfig("mobilenet_v3_large", 32, refine=True))
    torch.nn.init.normal_(net.decoder.out.weight, std=0.1)
    seen = []
    first = next(iter(net.deeplab.backbone.values()))
    first.register_forward_hook(lambda module, inputs, output: seen.append(tuple(inputs[0].shape[-2:])))
    images = torch.rand(2, 3, 64, 48)
    trained, read_48 = Segmenter(net)(images), Segmenter(net, read_size=48)(images)
    assert seen == [(32, 24), (48, 36)]  # longer side 32 (input_size), then 48
    assert trained.shape == read_48.shape == (2, 64, 48) and not torch.allclose(trained, read_48)
    save_checkpoint(tmp_path / "segmenter.pt", net, {})
    assert torch.allclose(load_segmenter(tmp_path, read_size=48)(images), read_48, atol=1e-6)
    small = torch.rand(2, 3, 32, 32)
    assert torch.equal(Segmenter(net, read_size=48)(small), Segmenter(net)(small))
    for bad in (40, 8):
        with pytest.raises(ValueError, match=f"read_size {bad}: expected a multiple of 16"):
            Segmenter(net, read_size=bad)


def test_clean_mask():
    probs = np.zeros((20, 20))
    probs[2:12, 2:12] = 0.9
    probs[5:8, 5:8] = 0.1  # a hole
    probs[15:18, 15:18] = 0.8  # a smaller blob
    assert clean_mask(probs, Postprocess(0.5, False, False)).sum() == 100 - 9 + 9
    assert clean_mask(probs, Postprocess(0.5, True, False)).sum() == 100 - 9
    mask = clean_mask(probs)
    assert mask.sum() == 100 and mask[6, 6] and not mask[16, 16]
    assert not clean_mask(probs, Postprocess(threshold=0.95)).any()
    assert mask_iou(mask, mask) == 1.0 and mask_iou(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    assert mask_iou(mask, probs >= 0.5) == pytest.approx(91 / 109)


def test_background_families_are_seeded_images():
    cars = torch.rand(5, 3, 32, 32)
    assert set(TRAIN_FAMILIES).isdisjoint(EVAL_FAMILIES)
    for family in ALL_FAMILIES:
        a = make_backgrounds(family, 3, 32, torch.Generator().manual_seed(4), cars=cars, photos=cars)
        b = make_backgrounds(family, 3, 32, torch.Generator().manual_seed(4), cars=cars, photos=cars)
        assert a.shape == (3, 3, 32, 32) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b), family
        assert a.std() > 0.01, family
    with pytest.raises(ValueError, match="needs source images"):
        make_backgrounds("photos", 1, 32, torch.Generator())


def test_composite_targets_follow_the_car():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 32, 32)
    masks = torch.zeros(4, 32, 32, dtype=torch.bool)
    masks[:, 10:20, 8:24] = True
    backgrounds = torch.zeros(4, 3, 32, 32)
    pictures, targets = composite_batch(images, masks, backgrounds, NONE, g)
    assert torch.equal(targets, masks)  # no move: the target is the mask itself
    outside = pictures[:, :, ~masks[0]]  # a black background only shifted by the global recolouring
    assert (outside == outside[:, :, :1]).all()
    pictures, targets = composite_batch(images, masks, backgrounds, Augment(p_any_rotation=1.0), g)
    assert pictures.shape == (4, 3, 32, 32) and targets.dtype == torch.bool
    assert 0.4 < targets.sum() / masks.sum() < 2.8  # scale in [0.6, 1.6]: area within its square
    degraded = degrade(pictures, Augment(p_blur=1, p_resample=1, p_noise=1, p_jpeg=1), g)
    assert degraded.shape == pictures.shape and 0 <= degraded.min() and degraded.max() <= 1


def test_evaluation_composites_downsample_targets():
    images = torch.rand(2, 3, 32, 32)
    masks = torch.zeros(2, 32, 32, dtype=torch.bool)
    masks[:, 8:24, 4:28] = True
    pictures, targets = composites(images, masks, "scene", 0)
    assert torch.equal(targets, masks) and torch.equal(pictures[:, :, 8:24, 4:28], images[:, :, 8:24, 4:28])
    small, small_targets = composites(images, masks, "scene", 0, size=16)
    assert small.shape == (2, 3, 16, 16) and small_targets[:, 4:12, 2:14].all() and small_targets.sum() == 2 * 96


def test_training_runs_and_logs():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 3, 32, 32)
    masks = torch.zeros(6, 32, 32, dtype=torch.bool)
    masks[:, 8:24, 6:26] = True
    bank = BackgroundBank(("noise", "cars"), 32, g, cars=images, bank_size=4)
    assert bank.draw(5).shape == (5, 3, 32, 32)
    validation = make_validation(images[:2], masks[:2], ("noise",), 1, images, None)
    net = SegmenterNet(NetConfig("mobilenet_v3_large", 32, refine=True))
    before = [p.detach().clone() for p in net.parameters()]
    result = train(net, images, masks, TrainSettings(steps=2, batch_size=4, val_every=1, log_every=1,
                                                     families=("noise", "gradient", "texture", "cars")),
                   validation=validation, progress=False)
    assert [h["step"] for h in result.history] == [0, 1] and all(np.isfinite(h["loss"]) for h in result.history)
    assert [v["step"] for v in result.validation] == [1, 2] and 0 <= result.validation[-1]["val_iou_mean"] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters())) and not net.training


def test_train_settings_defaults_are_params_defaults():
    """The library's defaults and params.yaml's train_segmenter say the same recipe (they drifted once)."""
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())["train_segmenter"]
    defaults = TrainSettings()
    for key in ("steps", "batch_size", "lr", "weight_decay", "seed", "val_every", "aux_weight"):
        assert getattr(defaults, key) == cfg[key], key
    assert list(defaults.families) == cfg["backgrounds"]
