"""GAN training: losses move, augmentation, a killed run resumes exactly, two processes stay in lockstep."""

import argparse
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from inverse_graphics.errors import UserError
from inverse_graphics.gan.augment import AugmentPipe, adjust_p
from inverse_graphics.gan.checkpoint import read_snapshot
from inverse_graphics.gan.dataset import TrainingImages
from inverse_graphics.gan.train import NetworkConfig, TrainSettings, build_networks, train, update_ema
from inverse_graphics.params import load_params
from stages.train_gan import check_teachers, train_settings

TINY = NetworkConfig(resolution=16, z_dim=8, w_dim=8, mapping_layers=1, channel_base=128, channel_max=16,
                     mbstd_group=2)
FAST = dict(batch=4, tick_kimg=0.008, snapshot_kimg=0.016, r1_interval=2, ada_interval=1, ada_kimg=0.1)


def tiny_data(n_objects: int = 4, views: int = 4, seed: int = 0) -> TrainingImages:
    g = torch.Generator().manual_seed(seed)
    n = n_objects * views
    images = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    angles = torch.rand(n, generator=g) * 6.283
    labels = torch.stack([angles.sin(), angles.cos(), torch.rand(n, generator=g) / 3], dim=1)
    return TrainingImages(images, labels, torch.arange(n) // views)


def test_pairs_are_distinct_views_of_one_object():
    data = tiny_data()
    a, b = data.sample_pairs(50, torch.Generator().manual_seed(0))
    assert torch.equal(data.objects[a], data.objects[b]) and not torch.equal(a, b)
    assert bool((a != b).all())


def test_training_steps_update_everything_and_log_curves():
    state = build_networks(TINY, seed=0)
    before = {k: v.clone() for k, v in state.G.state_dict().items()}
    d_before = state.D_pair.b4.out.weight.clone()
    state = train(state, tiny_data(), TrainSettings(kimg=0.016, augment="fixed", augment_p=0.5, **FAST),
                  torch.device("cpu"))
    assert state.nimg == 16
    changed = [k for k, v in state.G.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("pose.") for k in changed) and any(k.startswith("synthesis.") for k in changed)
    assert not torch.equal(d_before, state.D_pair.b4.out.weight)
    row = state.history[-1]
    for key in ("loss_G", "loss_G_pair", "loss_D", "loss_D_pair", "r1_penalty", "seconds_per_kimg", "augment_p"):
        assert key in row and row[key] == row[key]  # present and not NaN


def test_the_camera_teacher_pulls_the_views_toward_the_cameras_asked_for():
    """A frozen reader that reads the camera from the image: G pays for reading another camera than asked, the term
    is logged, only G learns from it, and it needs a reader."""
    from inverse_graphics.gan.loss import LossSettings, StyleGAN2Loss

    torch.manual_seed(0)
    reader = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3)).requires_grad_(False)
    state = build_networks(TINY, seed=0)
    with pytest.raises(ValueError, match="camera_reader"):
        StyleGAN2Loss(state.G, state.D, state.D_pair, settings=LossSettings(camera_weight=1.0))
    loss = StyleGAN2Loss(state.G, state.D, state.D_pair, settings=LossSettings(camera_weight=1.0, style_mixing=0),
                         camera_reader=reader)
    data = tiny_data()
    z, pose_a, pose_b = torch.randn(4, 8), data.labels[:4], data.labels[4:8]
    row = loss.generator_step(z, pose_a, pose_b)
    img_a, img_b, _ = loss.generate(z, pose_a, pose_b)
    expected = ((reader(img_a) - pose_a).square().sum(1).mean() + (reader(img_b) - pose_b).square().sum(1).mean()) / 2
    assert row["loss_G_camera"] == pytest.approx(expected.item(), rel=1e-4)
    assert all(p.grad is None for p in reader.parameters())
    # a few steps on the camera term alone bring the reader's reading closer to the cameras asked for
    opt = torch.optim.Adam(state.G.parameters(), lr=0.01)
    first = None
    for _ in range(30):
        opt.zero_grad()
        img_a, img_b, _ = loss.generate(z, pose_a, pose_b)
        value = loss.camera_loss(img_a, pose_a)
        value.backward()
        opt.step()
        first = value.item() if first is None else first
    assert value.item() < 0.5 * first
    state = train(build_networks(TINY, seed=0), data, TrainSettings(kimg=0.008, camera_weight=1.0, **FAST),
                  torch.device("cpu"), camera_reader=reader)
    assert state.history[-1]["loss_G_camera"] >= 0


def test_ada_moves_p_toward_the_target():
    assert adjust_p(0.1, real_sign_mean=0.9, target=0.6, images_seen=1000, speed_kimg=10) == pytest.approx(0.2)
    assert adjust_p(0.1, real_sign_mean=0.1, target=0.6, images_seen=1000, speed_kimg=10) == pytest.approx(0.0)
    assert adjust_p(0.95, 1.0, 0.6, 1000, 10) == 1.0


def test_augment_pipe_identity_at_zero_same_transform_for_a_pair_and_twice_differentiable():
    pipe = AugmentPipe()
    x = torch.rand(4, 6, 16, 16) * 2 - 1
    assert torch.equal(pipe(x), x)
    pipe.p.fill_(1.0)
    torch.manual_seed(0)
    y = pipe(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    torch.manual_seed(0)
    pair = pipe(torch.cat([x[:, :3], x[:, :3]], dim=1))  # the two views of a pair get one transform
    torch.testing.assert_close(pair[:, :3], pair[:, 3:])
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(pipe(leaf).square().sum(), leaf, create_graph=True)
    grad.square().sum().backward()  # R1 through the augmentations needs this second derivative
    assert torch.isfinite(leaf.grad).all()


CHILD = textwrap.dedent("""
    import os, sys, torch
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {tests!r})
    from test_gan_train import TINY, FAST, tiny_data
    from inverse_graphics.gan import session
    from inverse_graphics.gan.train import TrainSettings
    kill_after = int(sys.argv[2])
    real_save = session.save_snapshot
    calls = []
    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == kill_after:
            os._exit(9)  # a hard kill right after a snapshot: no cleanup, no atexit
    session.save_snapshot = save_then_die
    torch.set_num_threads(1)
    session.run_training(tiny_data(), TINY, TrainSettings(kimg=0.048, **FAST), sys.argv[1], torch.device("cpu"),
                         log=lambda m: None)
""")


def test_a_killed_run_resumes_from_its_snapshot_and_ends_as_the_uninterrupted_one(tmp_path, repo_root):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(repo_root), tests=str(repo_root / "tests")))
    run = lambda folder, kill_after: subprocess.run(  # noqa: E731
        [sys.executable, str(script), str(folder), str(kill_after)], capture_output=True, text=True, timeout=300)
    killed = run(tmp_path / "killed", 1)
    assert killed.returncode == 9, killed.stderr
    assert read_snapshot(tmp_path / "killed" / "snapshot.pt")["nimg"] == 16  # the snapshot survived the kill
    resumed = run(tmp_path / "killed", 0)
    straight = run(tmp_path / "straight", 0)
    assert resumed.returncode == 0 and straight.returncode == 0, resumed.stderr + straight.stderr
    a, b = read_snapshot(tmp_path / "killed" / "snapshot.pt"), read_snapshot(tmp_path / "straight" / "snapshot.pt")
    assert a["nimg"] == b["nimg"] == 48
    for name in ("G", "G_ema", "D", "D_pair"):
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key} differs after resuming"


def _ddp_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    state = build_networks(TINY, seed=0)
    train(state, tiny_data(), TrainSettings(kimg=0.016, augment="ada", **FAST), torch.device("cpu"))
    torch.save({"G": state.G.state_dict(), "D": state.D.state_dict(), "p": float(state.augment.p)},
               os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_processes_end_with_identical_weights(tmp_path):
    torch.multiprocessing.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert a["p"] == b["p"]
    for name in ("G", "D"):
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key} differs between ranks"
    single = build_networks(TINY, seed=0)  # the ranks did train (not just stay at the initial weights)
    assert not torch.equal(single.G.state_dict()["synthesis.b16.conv1.weight"], a["G"]["synthesis.b16.conv1.weight"])


def test_a_fine_tune_averages_from_its_first_step():
    """``train_gan`` resuming: no EMA ramp-up (official), so G_ema keeps the checkpoint's weights at half-life pace."""
    section = load_params(["gan"])["gan"]
    fine_tune, scratch = train_settings(section, resuming=True), train_settings(section, resuming=False)
    assert fine_tune.ema_rampup is None and scratch.ema_rampup == TrainSettings.ema_rampup

    def kept_after_one_step(settings):
        G_ema, G = build_networks(TINY, seed=0).G, build_networks(TINY, seed=1).G
        start = [p.clone() for p in G_ema.parameters()]
        update_ema(G_ema, G, nimg=64, batch=64, settings=settings.resolved(16))
        moved = sum((p - s).abs().sum() for p, s in zip(G_ema.parameters(), start))
        return 1 - float(moved / sum((q - s).abs().sum() for q, s in zip(G.parameters(), start)))

    assert kept_after_one_step(fine_tune) > 0.99  # half-life batch * 10 / 32 kimg: beta ~0.998 per step
    assert kept_after_one_step(scratch) < 0.01     # ramp-up: a half-life of 3 images at 64 images seen


def test_a_finished_run_run_again_brings_its_sample_grids_back(tmp_path):
    """DVC empties the plots folder before it re-runs train_gan; a run that finds its training finished (only the
    measures changed) must still leave every snapshot's grid there."""
    from inverse_graphics.gan.session import run_training

    torch.set_num_threads(1)
    settings = TrainSettings(kimg=0.032, **FAST)
    plots = tmp_path / "plots"
    run_training(tiny_data(), TINY, settings, tmp_path / "run", torch.device("cpu"), log=lambda m: None, grid_dir=plots)
    first = sorted(p.name for p in plots.glob("grid-*.png"))
    assert first  # the snapshot grids (named by kimg)
    for png in plots.iterdir():
        png.unlink()
    state = run_training(tiny_data(), TINY, settings, tmp_path / "run", torch.device("cpu"), log=lambda m: None,
                         grid_dir=plots)
    assert state.nimg == 32  # nothing was trained again
    assert sorted(p.name for p in plots.glob("grid-*.png")) == first


def test_a_fine_tune_that_needs_a_teacher_stops_before_measuring_without_it(tmp_path):
    """train_mask_teacher leaves only a note while gan.consistency_weight is 0; a fine-tune with a weight names the
    missing checkpoint at once (before the minutes of its 'before' figures), and one without a weight needs none."""
    (tmp_path / "mask_teacher").mkdir()
    (tmp_path / "mask_teacher" / "not_trained.txt").write_text("not trained\n")
    args = argparse.Namespace(teacher=tmp_path / "camera_teacher.pt", mask_teacher=tmp_path / "mask_teacher")
    check_teachers(args, TrainSettings(kimg=1))
    with pytest.raises(UserError, match=r"mask_teacher: mask teacher not found \(stage train_mask_teacher"):
        check_teachers(args, TrainSettings(kimg=1, consistency_weight=10.0))
    with pytest.raises(UserError, match=r"camera_teacher.pt: camera teacher not found"):
        check_teachers(args, TrainSettings(kimg=1, camera_weight=1.0))
