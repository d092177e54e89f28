"""Stage ``multiview`` end to end on a tiny generator and critic made here: the object-folder output, the metrics,
the anchors path of an unconditional generator, and one-line errors for bad input."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from inverse_graphics.data.car_generator import build_car, render_car, sample_appearance, sample_car_params
from inverse_graphics.data.object_views import load_object_masks
from inverse_graphics.gan.checkpoint import save_generator
from inverse_graphics.gan.critic import CarCritic, save_critic
from inverse_graphics.gan.train import NetworkConfig, build_networks
from inverse_graphics.multiview.views import ViewAnchors, save_anchors
from inverse_graphics.render.cameras import load_rig, random_rig, ring_rig, save_rig
from inverse_graphics.viz import save_png
from stages import multiview as stage
from stages._runner import run_stage

ROOT = Path(__file__).resolve().parents[1]
RES = 16
VIEWS = 4


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def background_threshold_stand_in(images: torch.Tensor) -> torch.Tensor:
    """TEST STAND-IN for the segmenter (issue 10): pixels that differ from the image's left/right border colour
    in their row. Used only here, to exercise the mask figures' code path."""
    border = torch.cat([images[..., :1], images[..., -1:]], dim=-1).mean(dim=-1, keepdim=True)
    return ((images - border).abs().amax(dim=1) > 0.15).float()


def _setup(root, pose_input: str = "synthesis", **multiview) -> list[str]:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["multiview"].update(steps=6, w_avg_samples=64, rig={"views": VIEWS, "elevations": [10.0, 25.0]},
                               matched={"samples": 64, "top": 8}, **multiview)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    config = NetworkConfig(resolution=RES, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=32,
                           label_dim=3 if pose_input != "none" else 0, pose_input=pose_input,
                           pair_discriminator=False)
    save_generator(root / "gan/generator.pt", build_networks(config).G_ema, config, {"total_kimg": 0.0})
    torch.manual_seed(0)
    save_critic(root / "critic/critic.pt", CarCritic(RES).eval())
    # one held-out car as synth writes it: input.png + input.json, rig/ with the views at the multiview rig
    rng = np.random.default_rng(3)
    car, look = build_car(sample_car_params(rng)), sample_appearance(rng, 1)
    obj = root / "heldout/car_000"
    input_rig = random_rig(1, torch.Generator().manual_seed(0), image_size=RES)
    image, _ = render_car(car, input_rig, look)
    save_png(image[0], obj / "input.png")
    save_rig(obj / "input.json", input_rig)
    rig = ring_rig(VIEWS, (10.0, 25.0), params["synth"]["camera"]["dist"], RES, params["synth"]["camera"]["fov"])
    files = tuple({"image": f"images/{k:03d}.png", "mask": f"masks/{k:03d}.png"} for k in range(VIEWS))
    images, masks = render_car(car, rig, look)
    save_rig(obj / "rig/cameras.json", replace(rig, files=files))
    for k in range(VIEWS):
        save_png(images[k], obj / "rig" / files[k]["image"])
        save_png(masks[k], obj / "rig" / files[k]["mask"])
    return ["--input", "heldout", "--generator", "gan/generator.pt", "--critic", "critic/critic.pt",
            "--segmenter", "segmenter", "--out", "multiview", "--metrics", "metrics/multiview.json",
            "--objects", "metrics/multiview_objects.json", "--plots", "metrics/multiview"]


def test_a_search_in_w_saves_the_one_w_it_found(tmp_path, monkeypatch):
    argv = _setup(tmp_path, space="w")
    monkeypatch.chdir(tmp_path)
    run_stage("multiview", stage.main, stage.PATHS, argv)
    with np.load(tmp_path / "multiview/car_000/latent.npz") as latent:
        assert str(latent["space"]) == "w" and latent["w"].shape == (1, 16)
        assert np.allclose(latent["ws"][0], latent["w"][0][None])  # every layer gets the same w


def test_stage_writes_object_folders_and_metrics(tmp_path, monkeypatch, capsys):
    argv = _setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    run_stage("multiview", stage.main, stage.PATHS, argv)
    assert "no segmenter" in capsys.readouterr().out
    obj = tmp_path / "multiview/car_000"
    rig = load_rig(obj / "cameras.json")
    assert len(rig) == VIEWS and rig.image_size == RES
    assert [f["image"] for f in rig.files] == [f"images/{k:03d}.png" for k in range(VIEWS)]
    assert sorted(p.name for p in (obj / "images").iterdir()) == [f"{k:03d}.png" for k in range(VIEWS)]
    assert Image.open(obj / "images/000.png").size == (RES, RES)
    for name in ("input.png", "input.json", "recon.png", "latent.npz"):
        assert (obj / name).is_file(), name
    assert len(load_rig(obj / "input.json")) == 1
    with np.load(obj / "latent.npz") as latent:
        # the default search is in W+: one w per layer, and no single w to save
        assert str(latent["space"]) == "w+" and "w" not in latent.files
        assert latent["ws"].shape[0] == 1 and latent["ws"].shape[1] > 1 and latent["pose"].shape == (1, 3)
        assert not np.allclose(latent["ws"][0, 0], latent["ws"][0, -1])  # the layers went their own ways
        assert any(k.startswith("noise.") for k in latent.files)
    metrics = json.loads((tmp_path / "metrics/multiview.json").read_text())
    assert set(metrics) == {"projection_psnr", "projection_ssim", "input_pose_error_deg", "critic_pose_error_deg",
                            "view_psnr_mean", "seconds_per_image", "view_mask_iou_mean", "view_mask_iou_min",
                            "hull_consistency_iou", "background_mask_iou_truth", "matched_mask_iou"}
    # no segmenter: the views' masks come from background subtraction, which recovers synth's own masks
    assert metrics["background_mask_iou_truth"] > 0.9
    assert 0 <= metrics["input_pose_error_deg"] <= 180 and np.isfinite(metrics["projection_psnr"])
    objects = json.loads((tmp_path / "metrics/multiview_objects.json").read_text())
    assert list(objects) == ["car_000"]
    run = json.loads((tmp_path / "multiview/run.json").read_text())
    assert run["generator_total_kimg"] == 0.0 and run["view_masks"].startswith("background subtraction") and run["steps"] == 6
    assert (tmp_path / "metrics/multiview/car_000.png").is_file()
    assert (tmp_path / "metrics/multiview/car_000.csv").read_text().startswith("step,")


def test_mask_figures_with_a_segmenter(tmp_path, monkeypatch):
    argv = _setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stage, "load_segment_fn", lambda folder, device, tta, read_size: background_threshold_stand_in)
    run_stage("multiview", stage.main, stage.PATHS, argv)
    metrics = json.loads((tmp_path / "metrics/multiview.json").read_text())
    for key in ("view_mask_iou_mean", "view_mask_iou_min", "hull_consistency_iou"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["view_mask_iou_min"] <= metrics["view_mask_iou_mean"]
    assert "background_mask_iou_truth" not in metrics  # a segmenter was given
    assert json.loads((tmp_path / "multiview/run.json").read_text())["view_masks"] == "segmenter"


def test_the_views_masks_are_cut_at_segment_threshold(tmp_path, monkeypatch):
    """A segmenter that reads 0.7 where it sees car and 0.45 elsewhere: at segment.threshold 0.4 every view's mask is
    the whole picture, so each view's IoU with the truth is the true mask's share of the picture; at 0.5 it is not."""
    def soft_stand_in(images: torch.Tensor) -> torch.Tensor:
        return 0.45 + 0.25 * background_threshold_stand_in(images)

    monkeypatch.setattr(stage, "load_segment_fn", lambda folder, device, tta, read_size: soft_stand_in)
    ious = {}
    for threshold in (0.5, 0.4):
        root = tmp_path / str(threshold)
        root.mkdir()
        argv = _setup(root)
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["segment"]["threshold"] = threshold
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        monkeypatch.chdir(root)
        run_stage("multiview", stage.main, stage.PATHS, argv)
        ious[threshold] = json.loads((root / "metrics/multiview.json").read_text())["view_mask_iou_mean"]
    truth, _ = load_object_masks(tmp_path / "0.4/heldout/car_000/rig", RES)
    share = (truth >= 0.5).float().mean(dim=(1, 2)).mean().item()
    assert abs(ious[0.4] - share) < 1e-6 and abs(ious[0.5] - share) > 1e-3


def test_unconditional_generator_uses_view_anchors(tmp_path, monkeypatch, capsys):
    argv = _setup(tmp_path, pose_input="none", anchors="anchors.npz", anchor_layers=2)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:  # no anchors file yet: one line naming it
        run_stage("multiview", stage.main, stage.PATHS, argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: anchors.npz: view anchors file not found")
    from inverse_graphics.gan.checkpoint import load_generator

    G = load_generator(tmp_path / "gan/generator.pt")
    rig = ring_rig(VIEWS, (10.0, 25.0), image_size=RES)
    ws = G.mapping(torch.randn(VIEWS, G.z_dim, generator=torch.Generator().manual_seed(0)), None)
    save_anchors(tmp_path / "anchors.npz", ViewAnchors(ws, rig.azim, rig.elev))
    run_stage("multiview", stage.main, stage.PATHS, argv)
    assert len(list((tmp_path / "multiview/car_000/images").iterdir())) == VIEWS
    metrics = json.loads((tmp_path / "metrics/multiview.json").read_text())
    # no camera input to search: the estimate is the critic's reading
    assert metrics["input_pose_error_deg"] == pytest.approx(metrics["critic_pose_error_deg"], abs=1e-4)


@pytest.mark.parametrize("damage", ["corrupt", "missing_input"])
def test_bad_input_is_one_line(tmp_path, monkeypatch, capsys, damage):
    argv = _setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    if damage == "corrupt":
        (tmp_path / "heldout/car_000/input.png").write_bytes(b"\x89PNG broken")
        expected = "error: heldout/car_000/input.png: not a readable image"
    else:
        argv[argv.index("heldout")] = "nowhere"
        expected = "error: nowhere: input not found"
    with pytest.raises(SystemExit) as info:
        run_stage("multiview", stage.main, stage.PATHS, argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the lines above it are progress bars
    assert info.value.code == 2 and err.startswith(expected)
    assert not (tmp_path / "multiview").exists()  # nothing half-written


def test_bad_multiview_param_stops_before_any_work(tmp_path, monkeypatch, capsys):
    argv = _setup(tmp_path, space="z")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        run_stage("multiview", stage.main, stage.PATHS, argv)
    assert "params.yaml: multiview.space: expected one of ['w', 'w+'], got 'z'" in capsys.readouterr().err


def test_views_come_from_the_latent_moved_toward_the_mean(tmp_path, monkeypatch):
    """``multiview.view_psi``: the views are drawn from ``w_avg + psi (ws - w_avg)``; the reconstruction keeps ws."""
    from inverse_graphics.gan.checkpoint import load_generator
    from inverse_graphics.multiview.projector import w_statistics

    argv = _setup(tmp_path, view_psi=0.25, view_center="w_avg")
    monkeypatch.chdir(tmp_path)
    run_stage("multiview", stage.main, stage.PATHS, argv)
    G = load_generator(tmp_path / "gan/generator.pt", "cpu")
    w_avg, _ = w_statistics(G, 64, 0)
    with np.load(tmp_path / "multiview/car_000/latent.npz") as latent:
        ws, view_ws = torch.from_numpy(latent["ws"]), torch.from_numpy(latent["view_ws"])
        assert float(latent["view_psi"]) == 0.25
    assert not torch.allclose(ws, w_avg.expand_as(ws), atol=1e-3)  # the search moved away from the mean
    assert torch.allclose(view_ws, w_avg + 0.25 * (ws - w_avg), atol=1e-5)
    rig = load_rig(tmp_path / "multiview/car_000/cameras.json")
    from inverse_graphics.multiview.views import camera_views

    expected = ((camera_views(G, view_ws, rig) + 1) / 2 * 255).round()
    saved = torch.from_numpy(np.asarray(Image.open(tmp_path / "multiview/car_000/images/001.png"), dtype=np.float32))
    assert (saved.permute(2, 0, 1)[:3] - expected[1]).abs().max() <= 1  # the image is G at view_ws (8-bit rounding)


def test_average_car_stage_draws_the_mean_latent_for_every_car(tmp_path, monkeypatch):
    """Stage ``average_car``: every held-out car's folder holds the generator's mean latent at the rig (the chain's
    reference without its input)."""
    import shutil

    from inverse_graphics.gan.checkpoint import load_generator
    from inverse_graphics.multiview.projector import w_statistics
    from inverse_graphics.multiview.views import camera_views
    from stages import average_car

    _setup(tmp_path)
    shutil.copytree(tmp_path / "heldout/car_000", tmp_path / "heldout/car_001")
    monkeypatch.chdir(tmp_path)
    run_stage("average_car", average_car.main, average_car.PATHS,
              ["--input", "heldout", "--generator", "gan/generator.pt", "--out", "average"])
    G = load_generator(tmp_path / "gan/generator.pt", "cpu")
    w_avg, _ = w_statistics(G, 64, 0)
    rig = load_rig(tmp_path / "average/car_001/cameras.json")
    assert len(rig) == VIEWS and [f["image"] for f in rig.files] == [f"images/{k:03d}.png" for k in range(VIEWS)]
    expected = ((camera_views(G, w_avg[None, None].repeat(1, G.num_ws, 1), rig) + 1) / 2 * 255).round()
    for car in ("car_000", "car_001"):
        for k in range(VIEWS):
            saved = np.asarray(Image.open(tmp_path / f"average/{car}/images/{k:03d}.png"), dtype=np.float32)
            assert np.abs(saved.transpose(2, 0, 1)[:3] - expected[k].numpy()).max() <= 1
    assert json.loads((tmp_path / "average/run.json").read_text())["objects"] == 2


def test_views_toward_the_matched_mean(tmp_path, monkeypatch):
    """``multiview.view_center: matched``: the views are drawn from ``m + psi (ws - m)``, ``m`` the mean latent of
    the generator's cars whose masks at the input's estimated camera best match the input's mask."""
    from inverse_graphics.gan.checkpoint import load_generator
    from inverse_graphics.multiview.background import background_masks
    from inverse_graphics.multiview.io import read_input_image
    from inverse_graphics.multiview.views import matched_mean

    argv = _setup(tmp_path, view_psi=0.5, view_center="matched")
    monkeypatch.chdir(tmp_path)
    run_stage("multiview", stage.main, stage.PATHS, argv)
    G = load_generator(tmp_path / "gan/generator.pt", "cpu")
    with np.load(tmp_path / "multiview/car_000/latent.npz") as latent:
        ws, view_ws = torch.from_numpy(latent["ws"]), torch.from_numpy(latent["view_ws"])
        center, pose = torch.from_numpy(latent["view_center"]), torch.from_numpy(latent["pose"])
    target = read_input_image(tmp_path / "heldout/car_000/input.png", RES)
    expected = matched_mean(G, background_masks(target)[0], pose, background_masks, samples=64, top=8, seed=0)
    assert torch.allclose(center, expected.w, atol=1e-5)  # the stage's centre is the matched mean of its input
    assert torch.allclose(view_ws, center + 0.5 * (ws - center), atol=1e-5)
    run = json.loads((tmp_path / "multiview/run.json").read_text())
    assert run["view_center"] == "matched" and run["matched"] == {"samples": 64, "top": 8}
    metrics = json.loads((tmp_path / "metrics/multiview.json").read_text())
    assert 0.0 <= metrics["matched_mask_iou"] <= 1.0


def test_matched_mean_finds_the_generator_car_that_made_the_mask():
    """The target mask is one sample's own mask: with ``top=1`` that sample (IoU 1) is what comes back."""
    from inverse_graphics.multiview.views import matched_mean

    torch.manual_seed(0)
    config = NetworkConfig(resolution=RES, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=32,
                           label_dim=3, pose_input="synthesis", pair_discriminator=False)
    G = build_networks(config).G_ema.eval()
    pose = torch.tensor([[0.0, 1.0, 0.2]])
    cut = lambda images: background_threshold_stand_in(images) > 0.5  # noqa: E731
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        w = G.mapping(torch.randn(64, G.z_dim, generator=g), None)[:, 0]
        masks = cut(G.synthesize(w[:, None].expand(-1, G.num_ws, -1), pose.expand(64, -1), noise_mode="const"))
    pick = int(torch.argmax(masks.flatten(1).sum(1)))  # a sample with a non-empty mask
    found = matched_mean(G, masks[pick], pose, cut, samples=64, top=1, seed=7)
    assert float(found.ious[0]) == 1.0
    with torch.no_grad():
        again = cut(G.synthesize(found.w[None, None].expand(1, G.num_ws, -1), pose, noise_mode="const"))[0]
    assert torch.equal(again, masks[pick])
    many = matched_mean(G, masks[pick], pose, cut, samples=64, top=8, seed=7)
    assert torch.all(many.ious[:-1] >= many.ious[1:])  # best first
    with pytest.raises(ValueError, match="top"):
        matched_mean(G, masks[pick], pose, cut, samples=8, top=9)
    with pytest.raises(ValueError, match="camera input"):
        matched_mean(G, masks[pick], None, cut, samples=8, top=2)
