"""GAN measures: the car critic, pose error, hull consistency, feature distances; the ring rig."""

import numpy as np
import pytest
import torch

from inverse_graphics.data.car_generator import build_car, render_car, sample_appearance, sample_car_params
from inverse_graphics.gan.critic import CarCritic, CriticSettings, degrade, mirror_views, pose_error_deg, train_critic
from inverse_graphics.gan.dataset import TrainingImages
from inverse_graphics.gan.metrics import feature_distances, hull_consistency_iou, pose_error
from inverse_graphics.gan.networks import Generator
from inverse_graphics.gan.session import pose_labels, sample_grid
from inverse_graphics.render.cameras import ring_rig


def test_ring_rig_covers_rings_of_azimuths():
    rig = ring_rig(20, (10.0, 25.0), image_size=64)
    assert len(rig) == 20 and rig.image_size == 64
    assert sorted(set(rig.elev)) == [10.0, 25.0]
    first = sorted(a for a, e in zip(rig.azim, rig.elev) if e == 10.0)
    second = sorted(a for a, e in zip(rig.azim, rig.elev) if e == 25.0)
    assert np.allclose(np.diff(first), 36.0) and np.allclose(np.diff(second), 36.0)
    assert abs(second[0] - first[0]) == pytest.approx(18.0)  # the second ring is turned by half a step
    with pytest.raises(ValueError):
        ring_rig(1, (10.0, 25.0))


def test_pose_error_is_the_angle_between_viewing_directions():
    front = pose_labels(torch.tensor([0.0]), torch.tensor([0.0]))
    side = pose_labels(torch.tensor([90.0]), torch.tensor([0.0]))
    top = pose_labels(torch.tensor([0.0]), torch.tensor([90.0]))
    assert pose_error_deg(front, side).item() == pytest.approx(90.0, abs=1e-3)
    assert pose_error_deg(front, top).item() == pytest.approx(90.0, abs=1e-3)
    assert pose_error_deg(front, front).item() == pytest.approx(0.0, abs=0.1)


def _car_views(seed: int, rig):
    rng = np.random.default_rng(seed)
    car = build_car(sample_car_params(rng))
    return render_car(car, rig, sample_appearance(rng, len(rig)))


def test_hull_consistency_is_high_for_one_car_and_lower_for_several():
    rig = ring_rig(20, image_size=48)
    masks = [_car_views(seed, rig)[1] for seed in (500, 501, 502)]
    one = hull_consistency_iou(masks[0], rig)
    assert one.shape == (20,) and float(one.mean()) > 0.97
    mixed = torch.stack([masks[k % 3][k] for k in range(20)])
    assert float(hull_consistency_iou(mixed, rig).mean()) < float(one.mean()) - 0.03


def test_a_mirrored_view_is_the_view_from_the_mirrored_azimuth():
    """The critic's mirror augmentation: a render at azimuth a, mirrored, is the render at 180 - a (same label map)."""
    from inverse_graphics.render.cameras import CameraRig

    rng = np.random.default_rng(7)
    car = build_car(sample_car_params(rng))
    azim = torch.tensor([30.0, 75.0, 200.0, 290.0])
    elev = torch.tensor([5.0, 20.0, 12.0, 28.0])
    look = sample_appearance(rng, 4)
    _, masks = render_car(car, CameraRig((2.7,) * 4, tuple(elev.tolist()), tuple(azim.tolist()), 60.0, 48), look)
    _, mirrored_masks = render_car(car, CameraRig((2.7,) * 4, tuple(elev.tolist()), tuple((180 - azim).tolist()), 60.0, 48), look)
    images = masks[:, None].float().expand(4, 3, 48, 48)
    flipped, labels = mirror_views(images, pose_labels(azim, elev), torch.tensor([True, True, True, False]))
    for k in range(3):
        assert (flipped[k, 0].bool() ^ mirrored_masks[k]).float().mean() < 0.01  # a few boundary pixels at most
        assert pose_error_deg(labels[k:k + 1], pose_labels(180 - azim[k:k + 1], elev[k:k + 1])).item() < 0.1
    assert (flipped[0, 0].bool() ^ masks[0]).float().mean() > 0.02  # mirroring is not a no-op at 30 degrees
    assert torch.equal(flipped[3], images[3]) and torch.equal(labels[3], pose_labels(azim[3:], elev[3:])[0])
    out = degrade(images * 2 - 1, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1 and not torch.equal(out, images * 2 - 1)


def test_critic_learns_the_camera_of_car_renders():
    """A short training on 40 cars x 6 views: the held-out cars' camera error falls well below chance (~90 deg).

    300 steps leave it noisy: the median read 24.6 to 41.5 degrees over critic seeds 0-4 on one machine, and seed 0
    read 37.8 there but under 30 on another CPU; 50 is far from chance and from that spread alike."""
    torch.manual_seed(0)
    images, labels, objects = [], [], []
    for i in range(40):
        rng = np.random.default_rng(1000 + i)
        car = build_car(sample_car_params(rng))
        azim = rng.uniform(0, 360, 6)
        elev = rng.uniform(0, 30, 6)
        from inverse_graphics.render.cameras import CameraRig

        rig = CameraRig((2.7,) * 6, tuple(elev), tuple(azim), 60.0, 32)
        views, _ = render_car(car, rig, sample_appearance(rng, 6))
        images.append((views * 255).round().byte().permute(0, 3, 1, 2))
        labels.append(pose_labels(torch.tensor(azim), torch.tensor(elev)))
        objects += [i] * 6
    data = TrainingImages(torch.cat(images), torch.cat(labels), torch.tensor(objects))
    critic, metrics = train_critic(data, CriticSettings(steps=300, batch=32, val_fraction=0.2))
    assert metrics["val_pose_error_deg_median"] < 50.0
    assert critic(data.to_float(data.images[:4])).shape == (4, critic.num_features)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_generator_measures_and_sample_grid_run(device):
    """On a GPU too: ``generate`` hands the images back on the CPU, where the metrics keep them, and the critic
    reads them on its own device (train_gan on CUDA once failed here)."""
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, pose_dim=3,
                  mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=128, channel_max=16))
    G = G.to(device).eval()
    critic = CarCritic(16, num_objects=0).to(device).eval()
    poses = pose_labels(torch.rand(12) * 360, torch.rand(12) * 30)
    errors = pose_error(G, critic, poses)
    assert errors.shape == (12,) and bool(((errors >= 0) & (errors <= 180)).all())
    images = torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8)
    data = TrainingImages(images, poses.repeat(4, 1)[:40])
    distances = feature_distances(G, critic, "carnet", data, num_images=40, kid_subset=20)
    assert distances["frechet_distance_carnet"] > 0
    grid = sample_grid(G, rows=2, cols=3)
    assert grid.shape[2] == 3 and grid.shape[0] > 2 * 16 and grid.shape[1] > 3 * 16


def test_inception_features_only_from_the_local_hub_cache(tmp_path, monkeypatch):
    """No file: unavailable and one clear error; a torchvision Inception-v3 state dict there: (N, 2048) features."""
    from torchvision.models import inception_v3

    from inverse_graphics.errors import UserError
    from inverse_graphics.gan.inception import InceptionFeatures, inception_available, inception_path

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert not inception_available()
    with pytest.raises(UserError, match="Inception-v3 weights not found"):
        InceptionFeatures()
    inception_path().parent.mkdir(parents=True)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), inception_path())
    assert inception_available()
    features = InceptionFeatures()
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    out = features(images)
    assert out.shape == (2, 2048) and torch.isfinite(out).all()
    assert not torch.equal(out[0], out[1])
