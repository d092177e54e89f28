"""GAN inversion and viewpoint control (``inverse_graphics/multiview``) on tiny generators made here."""

import numpy as np
import pytest
import torch

from inverse_graphics.errors import UserError
from inverse_graphics.gan.critic import pose_error_deg
from inverse_graphics.gan.networks import Generator
from inverse_graphics.gan.session import pose_labels
from inverse_graphics.multiview.distance import (LPIPS_FILE, VGG16_FILE, Distance, FeatureDistance, PixelPyramid,
                                                 Term, build_distance, critic_layers, lpips_vgg16)
from inverse_graphics.multiview.io import find_inputs, read_input_image
from inverse_graphics.multiview.projector import (ProjectSettings, TuneSettings, learning_rate_ramp,
                                                  noise_buffers, noise_regularizer, normalize_noise_,
                                                  pivotal_tuning, project, w_statistics, with_noise)
from inverse_graphics.multiview.scores import mask_iou, psnr
from inverse_graphics.multiview.views import (ViewAnchors, anchor_views, camera_views, load_anchors, make_anchors,
                                              match_anchors, render_views, save_anchors)
from inverse_graphics.render.cameras import ring_rig

RES = 16


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_generator(pose_dim: int = 3, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(16, 0, 16, RES, 3, pose_dim=pose_dim, mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=dict(channel_base=256, channel_max=32)).eval().requires_grad_(False)


def pixel_distance(scales: int = 2) -> Distance:
    return build_distance({"pixel": 1.0}, pixel_scales=scales)


def fast(**kw) -> ProjectSettings:
    return ProjectSettings(**{"steps": 150, "w_avg_samples": 500, "log_every": 10, **kw})


def target_of(G, seed: int, azim: float, elev: float):
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
    pose = pose_labels(torch.tensor([azim]), torch.tensor([elev]))
    ws = G.mapping(z, None)
    return ws, pose, G.synthesize(ws, pose, noise_mode="const")


def test_projection_recovers_a_known_latent_and_camera():
    G = tiny_generator()
    ws_true, pose_true, target = target_of(G, seed=1, azim=140.0, elev=20.0)
    guess = pose_labels(torch.tensor([160.0]), torch.tensor([10.0]))  # the first guess is 20 deg off
    before = [b.clone() for b in noise_buffers(G).values()]
    result = project(G, target, pixel_distance(), fast(optimize_noise=False, pose_lr=0.05), pose_init=guess)
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < 0.01 * losses[0]
    assert float(pose_error_deg(result.pose, pose_true)) < 3.0
    assert float(pose_error_deg(guess, pose_true)) > 15.0
    w_avg, _ = w_statistics(G, 500)
    assert (result.ws - ws_true).norm() < 0.1 * (ws_true - w_avg).norm()
    assert all(torch.equal(a, b) for a, b in zip(before, noise_buffers(G).values()))  # G itself is untouched
    assert result.pose_init is guess and result.space == "w"


def test_fixed_camera_is_kept_when_pose_search_is_off():
    G = tiny_generator()
    _, _, target = target_of(G, seed=2, azim=30.0, elev=15.0)
    guess = pose_labels(torch.tensor([50.0]), torch.tensor([12.0]))
    result = project(G, target, pixel_distance(), fast(steps=5, optimize_pose=False), pose_init=guess)
    assert torch.allclose(result.pose, guess, atol=1e-6)


def test_camera_label_stays_on_the_unit_circle_and_in_the_elevation_range():
    G = tiny_generator()
    _, _, target = target_of(G, seed=3, azim=-100.0, elev=29.0)
    guess = pose_labels(torch.tensor([0.0]), torch.tensor([5.0]))
    result = project(G, target, pixel_distance(), fast(steps=40, pose_lr=0.5, elev_range=(0.0, 10.0)),
                     pose_init=guess)
    assert float(result.pose[0, :2].norm()) == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= float(result.pose[0, 2]) * 90 <= 10.0 + 1e-4
    assert all(0.0 <= row["elev"] <= 10.0 + 1e-4 for row in result.history)


def test_noise_regulariser_and_renormalisation():
    g = torch.Generator().manual_seed(0)
    white = [torch.randn(32, 32, generator=g), torch.randn(8, 8, generator=g)]
    smooth = [torch.nn.functional.avg_pool2d(torch.randn(1, 1, 36, 36, generator=g), 5, 1)[0, 0] * 5 for _ in range(2)]
    assert float(noise_regularizer(white)) < 0.05 and float(noise_regularizer(smooth)) > 1.0
    bufs = [3 + 2 * torch.randn(16, 16, generator=g), torch.rand(8, 8, generator=g)]
    normalize_noise_(bufs)
    for b in bufs:
        assert abs(float(b.mean())) < 1e-5 and float(b.square().mean()) == pytest.approx(1.0, abs=1e-4)
    # the projector's buffers are renormalised after every step and end as white as they began
    G = tiny_generator()
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.fill_(0.2)
    _, _, target = target_of(G, seed=4, azim=10.0, elev=10.0)
    result = project(G, target, pixel_distance(), fast(steps=30), pose_init=pose_labels([10.0], [10.0]))
    assert set(result.noise) == set(noise_buffers(G))
    for buf in result.noise.values():
        assert abs(float(buf.mean())) < 1e-4 and float(buf.square().mean()) == pytest.approx(1.0, abs=1e-3)
    assert float(noise_regularizer(list(result.noise.values()))) < 0.05


def test_learning_rate_schedule_ramps_up_and_down():
    assert learning_rate_ramp(0.0, 0.05, 0.25) == 0.0
    assert learning_rate_ramp(0.5, 0.05, 0.25) == pytest.approx(1.0)
    assert 0.0 < learning_rate_ramp(0.9, 0.05, 0.25) < 0.5


def test_w_plus_fits_a_style_mix_that_w_cannot():
    G = tiny_generator()
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(7))
    ws = G.mapping(z, None)
    mixed = torch.cat([ws[:1, : G.num_ws // 2], ws[1:, G.num_ws // 2:]], dim=1)  # coarse from car 0, fine from car 1
    pose = pose_labels([60.0], [15.0])
    target = G.synthesize(mixed, pose, noise_mode="const")
    settings = dict(steps=120, optimize_noise=False, optimize_pose=False)
    w = project(G, target, pixel_distance(), fast(space="w", **settings), pose_init=pose)
    w_plus = project(G, target, pixel_distance(), fast(space="w+", **settings), pose_init=pose)
    assert torch.allclose(w.ws[0], w.ws[0, :1].expand_as(w.ws[0]))  # W: one w for every layer
    assert not torch.allclose(w_plus.ws[0], w_plus.ws[0, :1].expand_as(w_plus.ws[0]))
    assert w_plus.history[-1]["loss"] < 0.5 * w.history[-1]["loss"]


def test_several_starting_azimuths_escape_a_back_to_front_guess():
    G = tiny_generator()
    _, pose_true, target = target_of(G, seed=5, azim=90.0, elev=15.0)
    guess = pose_labels([-85.0], [15.0])  # seen from the other side
    result = project(G, target, pixel_distance(), fast(steps=150, optimize_noise=False, pose_lr=0.05,
                                                       pose_starts=2, start_steps=40), pose_init=guess)
    assert float(pose_error_deg(result.pose, pose_true)) < 5.0


def test_pivotal_tuning_lowers_the_loss_and_leaves_the_original_alone():
    G = tiny_generator()
    _, pose, target = target_of(G, seed=6, azim=20.0, elev=20.0)
    target = (target + 0.3 * torch.randn(target.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    distance = pixel_distance()
    result = project(G, target, distance, fast(steps=60), pose_init=pose)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    tuned, history = pivotal_tuning(G, result, target, distance, TuneSettings(steps=60, lr=3e-3, locality=1.0))
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert any(row["locality"] > 0 for row in history)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    with torch.no_grad():
        start = with_noise(G, result.noise).synthesize(result.ws, result.pose, noise_mode="const")
        after = tuned.synthesize(result.ws, result.pose, noise_mode="const")
    assert psnr(after, target) > psnr(start, target)


def test_camera_views_keep_the_latent_and_set_each_camera():
    G = tiny_generator()
    ws, _, _ = target_of(G, seed=8, azim=0.0, elev=0.0)
    rig = ring_rig(4, (10.0, 25.0), image_size=RES)
    views = camera_views(G, ws, rig)
    assert views.shape == (4, 3, RES, RES)
    poses = pose_labels(torch.tensor(rig.azim), torch.tensor(rig.elev))
    for k in range(4):
        assert torch.allclose(views[k], G.synthesize(ws, poses[k:k + 1], noise_mode="const")[0].clamp(-1, 1), atol=1e-5)


# ----------------------------------------------------------------------------- anchors (unconditional generators)


def test_anchor_views_take_the_coarse_layers_from_the_anchor(tmp_path):
    G = tiny_generator(pose_dim=0)
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(9))
    ws = G.mapping(z, None)
    rig = ring_rig(2, (10.0,), image_size=RES)
    anchors = ViewAnchors(ws[:2].clone(), rig.azim, rig.elev, {"made_by": "test"})
    save_anchors(tmp_path / "anchors.npz", anchors)
    anchors = load_anchors(tmp_path / "anchors.npz")
    assert anchors.meta == {"made_by": "test"} and len(anchors) == 2
    car = ws[2:3]
    views = anchor_views(G, car, anchors, rig, layers=4)
    for k in range(2):
        expected = torch.cat([ws[k:k + 1, :4], car[:, 4:]], dim=1)
        assert torch.allclose(views[k], G.synthesize(expected, noise_mode="const")[0].clamp(-1, 1), atol=1e-5)
    other_coarse = car.clone()
    other_coarse[:, :4] = ws[0, :4]  # the car's own coarse ws do not matter: the anchor's replace them
    assert torch.allclose(anchor_views(G, other_coarse, anchors, rig, layers=4), views)
    assert not torch.allclose(views[0], views[1])  # two anchors, two viewpoints
    assert torch.allclose(render_views(G, car, rig, anchors, 4), views)
    with pytest.raises(UserError, match="multiview.anchors"):
        render_views(G, car, rig, None)
    with pytest.raises(UserError, match="no anchor within"):
        match_anchors(anchors, ring_rig(3, (10.0,), image_size=RES))


def test_bad_anchor_files_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_anchors(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="bad.npz: not a view anchors file"):
        load_anchors(tmp_path / "bad.npz")


def test_make_anchors_projects_and_averages_per_camera():
    G = tiny_generator(pose_dim=0)
    cameras = [(0.0, 10.0), (90.0, 10.0)]
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(10))
    images = G(z, None, noise_mode="const").reshape(2, 2, 3, RES, RES)
    anchors = make_anchors(G, cameras, images, pixel_distance(), fast(steps=10, space="w+"))
    assert anchors.ws.shape == (2, G.num_ws, G.w_dim)
    assert anchors.azim == (0.0, 90.0) and anchors.meta["images_per_anchor"] == 2
    views = anchor_views(G, G.mapping(z[:1], None), anchors, _rig(cameras), layers=2)
    assert views.shape == (2, 3, RES, RES) and torch.isfinite(views).all()


def _rig(cameras):
    from inverse_graphics.render.cameras import CameraRig

    return CameraRig((2.7,) * len(cameras), tuple(e for _, e in cameras), tuple(a for a, _ in cameras), 60.0, RES)


# ----------------------------------------------------------------------------- distances


def test_pixel_pyramid_and_critic_features():
    from inverse_graphics.gan.critic import CarCritic

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    pyramid = PixelPyramid(3)
    assert len(pyramid.embed(a)) == 3
    assert torch.allclose(pyramid.compare(pyramid.embed(a), pyramid.embed(a)), torch.zeros(2))
    torch.manual_seed(0)
    critic = FeatureDistance(critic_layers(CarCritic(32).eval()))
    d = critic.compare(critic.embed(a), critic.embed(b))
    assert d.shape == (2,) and bool((d > 0).all())
    assert torch.allclose(critic.compare(critic.embed(a), critic.embed(a)), torch.zeros(2))
    distance = Distance([Term("pixel", 1.0, pyramid), Term("critic", 0.5, critic)])
    x = a.clone().requires_grad_(True)
    total, parts = distance(x, distance.prepare(b))
    total.sum().backward()
    assert set(parts) == {"pixel", "critic"} and x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(UserError, match="needs the car critic"):
        build_distance({"critic": 1.0})
    with pytest.raises(UserError, match="discriminator"):
        build_distance({"discriminator": 1.0})
    with pytest.raises(UserError, match="every term has weight 0"):
        build_distance({"pixel": 0.0})


def _fake_lpips_files(tmp_path, bad_key: str | None = None):
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["D"], batch_norm=False)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    if bad_key is not None:
        state[bad_key] = torch.zeros(3)
    torch.save(state, tmp_path / "vgg16.pth")
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    torch.save(lin, tmp_path / "vgg.pth")
    return tmp_path / "vgg16.pth", tmp_path / "vgg.pth"


def test_lpips_vgg16_from_local_files_of_the_right_shapes(tmp_path):
    vgg, lin = _fake_lpips_files(tmp_path)
    lpips = lpips_vgg16(vgg, lin)
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1, torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    assert len(lpips.embed(a)) == 5
    assert float(lpips.compare(lpips.embed(a), lpips.embed(a))) == pytest.approx(0.0, abs=1e-6)
    assert float(lpips.compare(lpips.embed(a), lpips.embed(b))) > 0
    distance = build_distance({"lpips": 1.0}, lpips_files=(str(vgg), str(lin)))
    assert [t.name for t in distance.terms] == ["lpips"]


def test_lpips_missing_or_wrong_files_name_what_is_expected(tmp_path):
    with pytest.raises(UserError) as info:
        lpips_vgg16(tmp_path / "nothing.pth", tmp_path / "vgg.pth")
    assert "nothing.pth" in str(info.value) and "vgg16-397923af.pth" in str(info.value)
    assert "nothing is downloaded" in str(info.value)
    vgg, lin = _fake_lpips_files(tmp_path, bad_key="features.0.weight")
    with pytest.raises(UserError, match=r"features.0.weight: expected shape \(64, 3, 3, 3\)"):
        lpips_vgg16(vgg, lin)
    vgg, lin = _fake_lpips_files(tmp_path)
    torch.save({"lin0.model.1.weight": torch.rand(1, 64, 1, 1)}, lin)
    with pytest.raises(UserError, match="lin1"):
        lpips_vgg16(vgg, lin)
    (tmp_path / "garbage.pth").write_bytes(b"garbage")
    with pytest.raises(UserError, match="garbage.pth: not a readable weight file"):
        lpips_vgg16(tmp_path / "garbage.pth", lin)
    with pytest.raises(UserError, match="lpips_vgg16"):
        build_distance({"lpips": 1.0})
    assert "vgg16-397923af.pth" in VGG16_FILE and "vgg.pth" in LPIPS_FILE


# ----------------------------------------------------------------------------- inputs and scores


def test_inputs_and_bad_input_errors(tmp_path):
    from PIL import Image

    with pytest.raises(UserError, match="missing: input not found"):
        find_inputs(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="empty: no inputs found"):
        find_inputs(empty)
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(folder / "wide.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    sources = find_inputs(folder)
    assert [s.name for s in sources] == ["broken", "wide"] and sources[1].folder is None
    image = read_input_image(sources[1].image, RES)
    assert image.shape == (1, 3, RES, RES) and float(image.max()) == pytest.approx(200 / 127.5 - 1, abs=1e-6)
    assert read_input_image(sources[1].image, RES, "letterbox")[0, :, 0].abs().sub(1).abs().max() < 1e-6  # black bar
    with pytest.raises(UserError) as info:
        read_input_image(sources[0].image, RES)
    assert "broken.jpg: not a readable image" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UserError, match="nope.png: input image not found"):
        read_input_image(folder / "nope.png", RES)
    obj = tmp_path / "objects" / "car_a"
    obj.mkdir(parents=True)
    Image.fromarray(np.zeros((RES, RES, 3), np.uint8)).save(obj / "input.png")
    (src,) = find_inputs(tmp_path / "objects")
    assert src.name == "car_a" and src.folder == obj and src.true_rig is None and src.gt_views is None


def test_scores():
    a = torch.zeros(1, 3, 8, 8)
    assert psnr(a, a) == float("inf")
    assert psnr(a, a + 0.2) == pytest.approx(10 * np.log10(1 / 0.01), abs=1e-3)  # 0.2 in [-1, 1] is 0.1 in [0, 1]
    m = torch.zeros(2, 4, 4, dtype=torch.bool)
    m[0, :2] = True
    t = torch.zeros(2, 4, 4)
    t[0, :1] = 1
    assert mask_iou(m, t).tolist() == [0.5, 1.0]


def test_w_statistics_use_the_tracked_mean_when_there_is_one():
    G = tiny_generator()
    w_avg, w_std = w_statistics(G, 300)
    assert w_std > 0 and not torch.allclose(w_avg, torch.zeros_like(w_avg))  # untracked (zeros): sample mean
    G.mapping.w_avg.fill_(0.5)
    w_avg, _ = w_statistics(G, 300)
    assert torch.allclose(w_avg, torch.full_like(w_avg, 0.5))


def test_background_masks_recover_synth_masks_and_ignore_background_noise():
    from inverse_graphics.data.car_generator import build_car, render_car, sample_appearance, sample_car_params
    from inverse_graphics.multiview.background import background_masks

    rng = np.random.default_rng(5)
    car = build_car(sample_car_params(rng))
    rig = ring_rig(6, (10.0, 25.0), image_size=64)
    images, masks = render_car(car, rig, sample_appearance(rng, len(rig)))
    found = background_masks(images.permute(0, 3, 1, 2) * 2 - 1)
    assert found.shape == masks.shape and found.dtype == torch.bool
    assert mask_iou(found, masks).min() > 0.85
    # a generated-looking scene: gradient shaded across each row, noise, one box of another colour
    gen = torch.Generator().manual_seed(0)
    y, x = torch.linspace(0, 1, 64)[:, None], torch.linspace(-1, 1, 64)[None]
    scene = (0.8 - 0.4 * y - 0.05 * x**2).expand(3, 64, 64) + 0.02 * torch.randn(3, 64, 64, generator=gen)
    box = torch.zeros(64, 64, dtype=torch.bool)
    box[26:40, 16:48] = True
    scene = torch.where(box, torch.tensor([0.1, 0.6, 0.3])[:, None, None], scene)
    found = background_masks(scene[None] * 2 - 1)
    assert mask_iou(found, box[None]).item() > 0.9


def test_view_ceiling_oracle_moves_toward_the_car_every_view_shows():
    """scripts/view_ceiling.py: told every view's mask of a known latent, the oracle latent's views match them
    better than the start's (a soft brightness mask stands in for the segmenter)."""
    from inverse_graphics.segment.train import soft_iou_loss
    from scripts.view_ceiling import oracle_latent

    G = tiny_generator()
    rig = ring_rig(6, (10.0, 30.0), image_size=RES)
    ws_true, _, _ = target_of(G, seed=1, azim=0.0, elev=20.0)
    ws_start, _, _ = target_of(G, seed=2, azim=0.0, elev=20.0)

    def segment_logits(images: torch.Tensor) -> torch.Tensor:
        return 8 * images.mean(1)

    targets = (segment_logits(camera_views(G, ws_true, rig)) >= 0).float()

    def score(ws: torch.Tensor) -> float:
        return 1 - soft_iou_loss(segment_logits(camera_views(G, ws, rig)), targets).item()

    found = oracle_latent(G, segment_logits, ws_start, rig, targets, steps=30, lr=0.05, space="w")
    assert found.shape == ws_start.shape and (found[:, :1] == found).all()  # one w shared by every layer
    assert score(found) > score(ws_start) + 0.02
