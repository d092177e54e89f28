"""Test-time self-training: labels where the masks and the hull agree, a fine-tuned copy, the original untouched."""

import numpy as np
import pytest
import torch

from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.render.cameras import tutorial_rig
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings
from inverse_graphics.segment.consensus import Consensus
from inverse_graphics.segment.model import NetConfig, Segmenter, SegmenterNet
from inverse_graphics.segment.postprocess import mask_iou
from inverse_graphics.segment.self_training import SelfTraining, consensus_labels, self_train

SIZE, VIEWS = 32, 12


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_labels_are_where_masks_and_hull_agree():
    """A leak onto the background in one view is outside the other views' hull: those pixels carry no weight."""
    verts, faces = ico_sphere(3)
    verts = verts * torch.tensor([0.7, 0.35, 0.45])
    rig = tutorial_rig(VIEWS, image_size=SIZE)
    with torch.no_grad():
        masks = (SilhouetteRenderer("fast", SilhouetteSettings(SIZE))(verts, faces, rig) > 0.5).numpy()
    leaked = masks.copy()
    leaked[3, :4, :] = True  # a strip along the top edge, far from the object
    labels, weights = consensus_labels(leaked, rig, Consensus(tolerance=2))
    assert labels.shape == weights.shape == (VIEWS, SIZE, SIZE)
    assert bool((labels <= torch.from_numpy(leaked).float()).all())  # a label is never car where the mask is not
    assert float(weights[3, :4].mean()) < 0.1  # the leak is left out of the loss
    assert float(labels[3, :4].sum()) == 0
    agree = [mask_iou(l.numpy() > 0.5, m) for l, m in zip(labels, masks)]
    assert min(agree) > 0.85, agree  # elsewhere the labels are the object's masks


def _square_pictures(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` noise pictures ``(n, 3, SIZE, SIZE)`` with a bright square at a random place, and its masks."""
    pictures = torch.rand(n, 3, SIZE, SIZE, generator=g) * 0.5
    masks = torch.zeros(n, SIZE, SIZE)
    for i in range(n):
        r, c = torch.randint(0, SIZE - 12, (2,), generator=g).tolist()
        pictures[i, :, r:r + 12, c:c + 12] = 0.9
        masks[i, r:r + 12, c:c + 12] = 1
    return pictures, masks


def test_self_training_fits_the_labels_and_leaves_the_segmenter_as_it_was():
    torch.manual_seed(0)
    segmenter = Segmenter(SegmenterNet(NetConfig("mobilenet_v3_large", SIZE, refine=True)))
    before = {k: v.clone() for k, v in segmenter.net.state_dict().items()}
    pictures, labels = _square_pictures(6, torch.Generator().manual_seed(0))
    weights = torch.ones_like(labels)
    adapted = self_train(segmenter, pictures, labels, weights, SelfTraining(steps=30, lr=3e-3))
    assert all(torch.equal(before[k], v) for k, v in segmenter.net.state_dict().items())
    iou = lambda seg: np.mean([mask_iou(p.numpy() > 0.5, t.numpy() > 0.5)  # noqa: E731
                               for p, t in zip(seg(pictures), labels)])
    assert iou(adapted) > 0.8 > iou(segmenter)
    assert adapted.read_size == segmenter.read_size and "self-trained" in adapted.source


def test_pixels_without_weight_do_not_teach():
    """Labels that differ only where the weight is 0 train the same network, bit for bit."""
    segmenter = Segmenter(SegmenterNet(NetConfig("mobilenet_v3_large", SIZE, refine=False)))
    pictures, labels = _square_pictures(4, torch.Generator().manual_seed(1))
    weights = torch.ones_like(labels)
    weights[:, :, : SIZE // 2] = 0
    flipped = labels.clone()
    flipped[:, :, : SIZE // 2] = 1 - flipped[:, :, : SIZE // 2]
    settings = SelfTraining(steps=3, lr=1e-3, seed=5)
    a = self_train(segmenter, pictures, labels, weights, settings).net.state_dict()
    b = self_train(segmenter, pictures, flipped, weights, settings).net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = self_train(segmenter, pictures, flipped, torch.ones_like(labels), settings).net.state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)
