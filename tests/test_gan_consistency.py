"""The soft visual-hull consistency term: it agrees with the hard measure, its gradient makes views agree, and the
training loop runs it."""

import numpy as np
import pytest
import torch

from inverse_graphics.data.car_generator import build_car, render_car, sample_appearance, sample_car_params
from inverse_graphics.gan.consistency import SoftHull, consistency_loss, random_ring
from inverse_graphics.gan.metrics import hull_consistency_iou
from inverse_graphics.gan.train import TrainSettings, build_networks, train

from test_gan_train import FAST, TINY, tiny_data


def _masks(seed: int, rig) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return render_car(build_car(sample_car_params(rng)), rig, sample_appearance(rng, len(rig)))[1].float()


@pytest.fixture(scope="module")
def rig():
    return random_ring(8, torch.Generator().manual_seed(0), image_size=48)


@pytest.fixture(scope="module")
def cars(rig):
    return torch.stack([_masks(seed, rig) for seed in (500, 501)])  # (2, 8, 48, 48)


def test_random_ring_spreads_azimuths_evenly_within_the_elevation_range():
    rig = random_ring(6, torch.Generator().manual_seed(3), elev_range=(5.0, 20.0), image_size=32)
    azim = np.sort(np.array(rig.azim) % 360.0)
    assert np.allclose(np.diff(azim), 60.0, atol=1e-4)
    assert all(5.0 <= e <= 20.0 for e in rig.elev) and rig.image_size == 32


def test_soft_hull_of_binary_masks_agrees_with_the_hard_measure(rig, cars):
    _, soft = SoftHull(rig).loss(cars)
    hard = torch.stack([hull_consistency_iou(m > 0.5, rig, resolution=96) for m in cars])
    assert soft.shape == (2, 8)
    assert float(hard.mean()) > 0.97 and float(soft.mean()) > 0.93  # bilinear sampling softens the edges a little
    mixed = torch.stack([cars[k % 2, k] for k in range(8)])[None]  # the views of two cars, alternating
    _, soft_mixed = SoftHull(rig).loss(mixed)
    hard_mixed = hull_consistency_iou(mixed[0] > 0.5, rig, resolution=96)
    assert float(soft_mixed.mean()) < float(soft.mean()) - 0.03
    assert float(hard_mixed.mean()) < float(hard.mean()) - 0.03


def test_its_gradient_makes_the_views_of_two_cars_agree(rig, cars):
    """Gradient descent on the masks of mixed views raises the hard consistency measure."""
    mixed = torch.stack([cars[k % 2, k] for k in range(8)])[None]
    logits = (torch.logit(mixed.clamp(0.02, 0.98))).requires_grad_(True)
    hull = SoftHull(rig)
    opt = torch.optim.Adam([logits], lr=0.3)
    start = float(hull_consistency_iou(mixed[0] > 0.5, rig).mean())
    for _ in range(30):
        loss, _ = hull.loss(torch.sigmoid(logits))
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = float(hull_consistency_iou(torch.sigmoid(logits[0]) > 0.5, rig).mean())
    assert end > start + 0.02


def test_consistency_loss_renders_each_latent_at_every_camera(rig):
    calls = []

    def synthesize(ws, poses):
        calls.append((ws.shape, poses.shape))
        return torch.zeros(len(ws), 3, 48, 48) + ws[:, :1, :1, None]

    ws = torch.zeros(3, 5, 1, requires_grad=True)
    loss, iou = consistency_loss(synthesize, ws, lambda images: torch.sigmoid(images[:, 0] * 0 + 4), rig)
    assert calls == [(torch.Size([24, 5, 1]), torch.Size([24, 3]))]
    assert iou.shape == (3, 8) and torch.allclose(iou[0], iou[2])  # the same images give the same figures
    assert float(iou.min()) > 0.8  # all-car masks: the hull is all that every view's frustum holds
    loss.backward()


def test_training_with_the_consistency_term_logs_it_and_needs_a_reader():
    from inverse_graphics.gan.loss import LossSettings, StyleGAN2Loss

    state = build_networks(TINY, seed=0)
    with pytest.raises(ValueError, match="mask_reader"):
        StyleGAN2Loss(state.G, state.D, state.D_pair, settings=LossSettings(consistency_weight=1.0))
    reader = lambda images: torch.sigmoid(4 * images.mean(1))  # noqa: E731  (bright pixels are "car")
    settings = TrainSettings(kimg=0.008, consistency_weight=1.0, consistency_interval=1, consistency_latents=2,
                             consistency_views=3, **FAST)
    state = train(state, tiny_data(), settings, torch.device("cpu"), mask_reader=reader)
    row = state.history[-1]
    assert 0.0 <= row["loss_G_consistency"] <= 1.0 and 0.0 <= row["soft_hull_iou"] <= 1.0


def test_consistency_kimg_stops_the_term_part_way():
    """``consistency_kimg``: the term runs over the first N kimg only; the ticks after it carry no consistency row."""
    from inverse_graphics.gan.train import consistency_on

    settings = TrainSettings(kimg=0.016, consistency_weight=1.0, consistency_interval=1, consistency_latents=2,
                             consistency_views=3, consistency_kimg=0.008, **FAST)
    assert consistency_on(settings, 0) and consistency_on(settings, 7) and not consistency_on(settings, 8)  # images
    assert not consistency_on(TrainSettings(consistency_weight=0.0), 0)
    assert consistency_on(TrainSettings(consistency_weight=1.0), 10**9)  # None: throughout
    reader = lambda images: torch.sigmoid(4 * images.mean(1))  # noqa: E731
    state = train(build_networks(TINY, seed=0), tiny_data(), settings, torch.device("cpu"), mask_reader=reader)
    first, last = state.history[0], state.history[-1]
    assert first["kimg"] <= 0.008 and "loss_G_consistency" in first
    assert last["kimg"] == 0.016 and "loss_G_consistency" not in last
