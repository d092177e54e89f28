"""Stages ``train_segmenter`` and ``segment`` end to end on a tiny synth output, with dvc.yaml's commands."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from inverse_graphics.data.view_images import read_image
from inverse_graphics.render.cameras import load_rig
from stages._runner import parse_paths

ROOT = Path(__file__).resolve().parents[1]


def _cmd(repo: Path, stage: str) -> str:
    """The stage's ``cmd`` from dvc.yaml with ``${section.key}`` filled in from the repo's params.yaml;
    ``stage@key`` is a ``foreach`` item (``${key}``, ``${item.x}``)."""
    name, _, key = stage.partition("@")
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][name]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    if key:
        params = {**params, "key": key, "item": spec["foreach"][key]}
        spec = spec["do"]
    cmd = spec["cmd"]

    def lookup(match):
        value = params
        for part in match.group(1).split("."):
            value = value[part]
        return str(value)

    return re.sub(r"\$\{([^}]+)\}", lookup, cmd)


def _run(repo: Path, cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": "", "TORCH_HOME": str(repo / "torch_home"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(cmd, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def params_of(repo: Path) -> dict:
    return yaml.safe_load((repo / "params.yaml").read_text())


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the code with tiny params, after synth, train_segmenter and segment."""
    dest = tmp_path_factory.mktemp("seg") / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("stages", "inverse_graphics"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synth"].update(num_cars=4, images_per_car=3, resolution=32, heldout=2, heldout_views=3,
                           heldout_resolution=48)
    params["train_segmenter"].update(steps=2, batch_size=4, val_cars=1, val_every=1)
    params["segment"].update(input_size=32, threshold=0.0)  # an untrained net: keep every mask non-empty
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("synth", "train_segmenter", "segment@heldout_rig"):
        _run(dest, _cmd(dest, stage))
    return dest


def test_train_segmenter_outputs(repo):
    assert (repo / "models/segmenter/segmenter.pt").is_file()
    metrics = json.loads((repo / "metrics/train_segmenter.json").read_text())
    assert set(metrics) == {"train_seconds", "train_cpu_seconds", "val_iou_mean", "val_iou_min"}
    assert 0 <= metrics["val_iou_min"] <= 1
    plots = repo / "metrics/train_segmenter"
    assert (plots / "loss.csv").read_text().splitlines()[0].startswith("step,loss,")
    assert len((plots / "val_iou.csv").read_text().splitlines()) == 3  # header + 2 validations
    assert (plots / "curves.png").is_file() and (plots / "val_samples.png").is_file()
    info = json.loads((repo / "metrics/train_segmenter_info.json").read_text())
    assert info["init"] == "scratch" and info["families"] == params_of(repo)["train_segmenter"]["backgrounds"]
    assert info["train_images"] == 9 and info["val_images"] == 3


def test_segment_writes_object_folders(repo):
    """dvc.yaml's heldout_rig item: every held-out car's rig/ views -> data/silhouettes/heldout_rig/<car>/."""
    out = repo / "data/silhouettes/heldout_rig/car_001"
    assert sorted(p.name for p in out.parent.iterdir()) == ["car_000", "car_001"]
    rig, source = load_rig(out / "cameras.json"), load_rig(repo / "data/heldout/car_001/rig/cameras.json")
    assert rig == source and len(rig) == 20  # every camera kept, as synth wrote it (the multiview rig)
    for i, files in enumerate(rig.files):
        assert files == {"image": f"images/{i:03d}.png", "mask": f"masks/{i:03d}.png"}
        mask = Image.open(out / files["mask"])
        assert mask.mode == "L" and mask.size == (32, 32) and set(np.unique(np.asarray(mask))) <= {0, 255}
        assert (out / files["image"]).read_bytes() == (repo / "data/heldout/car_001/rig" / files["image"]).read_bytes()
    metrics = json.loads((repo / "metrics/segment_heldout_rig.json").read_text())
    assert set(metrics) == {"mask_iou_mean", "mask_iou_min", "mask_iou_mean_64px", "mask_iou_min_64px",
                            "network_mask_iou_mean", "network_mask_iou_min", "eval_redrawn_views",
                            "eval_outlier_views", "eval_self_trained_objects", "eval_objects_without_consensus",
                            "input_mask_iou_mean", "input_mask_iou_min",
                            "images_per_second", "empty_views", "redrawn_views", "self_trained_objects"}
    # 3 evaluation views per car are too few for a majority (tolerance 2): the network's masks are the stage's
    assert metrics["eval_redrawn_views"] == 0 and metrics["network_mask_iou_mean"] == metrics["mask_iou_mean"]
    assert metrics["eval_self_trained_objects"] == metrics["eval_outlier_views"] == 0
    assert 0 <= metrics["mask_iou_min"] <= metrics["mask_iou_mean"] <= 1 and metrics["images_per_second"] > 0
    assert 0 <= metrics["input_mask_iou_min"] <= metrics["input_mask_iou_mean"] <= 1
    assert (repo / "metrics/segment/heldout_rig/car_000_overlay.png").is_file()
    assert (repo / "metrics/segment/heldout_rig/eval_overlay.png").is_file()
    info = json.loads((repo / "metrics/segment_heldout_rig_info.json").read_text())
    assert info["eval_background"] == "scene" and "scene" not in info["trained_on"]
    assert (info["input"], info["views"], info["eval"]) == ("data/heldout", "rig", "data/heldout")
    assert info["read_size"] == params_of(repo)["segment"]["read_size"]
    assert info["consensus"] == params_of(repo)["segment"]["consensus"]
    assert info["self_training"] == params_of(repo)["segment"]["self_training"]


def test_segmented_folders_are_fit_mesh_input(repo):
    """fit_mesh's reader takes segment's output as it takes the ground truth: same cameras, masks at the
    views' resolution."""
    import torch

    from inverse_graphics.data.object_views import find_objects, load_object_masks

    objects = find_objects(repo / "data/silhouettes/heldout_rig")
    assert [o.name for o in objects] == ["car_000", "car_001"]
    masks, rig = load_object_masks(objects[0], 32)
    gt_masks, gt_rig = load_object_masks(repo / "data/heldout/car_000/rig", 32)
    assert masks.shape == gt_masks.shape == (20, 32, 32) and rig == gt_rig
    assert set(torch.unique(masks).tolist()) <= {0.0, 1.0}


def test_segment_views_flag_and_no_eval(repo, tmp_path):
    """--views names a sub-folder of each object; --eval none skips the evaluation and its figures."""
    data = tmp_path / "src"
    shutil.copytree(repo / "data/heldout/car_000/rig", data / "blob" / "rig")
    (data / "no_rig").mkdir()  # not an object at these views: skipped
    cmd = _cmd(repo, "segment@heldout_rig").replace("--input data/heldout", f"--input {data}")
    cmd = cmd.replace("--eval data/heldout", "--eval none")
    cmd = re.sub(r"--(out|metrics|objects|plots|info) (\S+)", lambda m: f"--{m[1]} {tmp_path / m[1]}", cmd)
    _run(repo, cmd)
    assert load_rig(tmp_path / "out/blob/cameras.json") == load_rig(data / "blob/rig/cameras.json")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["blob"]
    metrics = json.loads((tmp_path / "metrics").read_text())
    assert set(metrics) == {"input_mask_iou_mean", "input_mask_iou_min", "images_per_second", "empty_views",
                            "redrawn_views", "self_trained_objects"}
    assert not (tmp_path / "plots/eval_overlay.png").exists() and (tmp_path / "plots/blob_overlay.png").is_file()
    assert json.loads((tmp_path / "info").read_text())["eval"] is None
    result = _run(repo, cmd.replace("--views rig", "--views views"), check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {data}: no object folders with views/cameras.json found"]


def test_segment_bad_input_is_one_line(repo, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photos / "a.png")
    (photos / "b.txt").write_text("not a picture")
    cmd = re.sub(r"--views \S+", "--views .", re.sub(r"--input \S+", f"--input {photos}", _cmd(repo, "segment@heldout_rig")))
    result = _run(repo, cmd, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {photos / 'b.txt'}: not an image file "
                                                  f"(expected only .png, .jpg, .jpeg, .bmp, .webp files in {photos})"]
    (photos / "b.txt").unlink()
    (photos / "c.png").write_bytes(b"\x89PNG broken")
    result = _run(repo, cmd, check=False)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {photos / 'c.png'}: not a readable image")


def _segment_with_view_1_empty(repo, monkeypatch, tmp_path, consensus: bool, self_training: bool = False) -> Path:
    """``segment@heldout_rig`` into ``tmp_path`` with view 1 of every object emptied after the network, the
    multi-view consensus on or off, self-training (the params' steps) or none; returns the output folder."""
    import stages.segment as stage
    from inverse_graphics.segment.consensus import Consensus
    from inverse_graphics.segment.self_training import SelfTraining

    real = stage.segment_views

    def one_empty(segmenter, images, post):
        masks = real(segmenter, images, post)
        masks[1] = np.zeros_like(masks[1])
        return masks

    monkeypatch.setattr(stage, "segment_views", one_empty)
    monkeypatch.setattr(stage, "Consensus", lambda **settings: Consensus(**(settings | {"enabled": consensus})))
    if not self_training:
        monkeypatch.setattr(stage, "SelfTraining", lambda **settings: SelfTraining(**(settings | {"steps": 0})))
    monkeypatch.chdir(repo)
    out = tmp_path / "out"
    args = _cmd(repo, "segment@heldout_rig").split()[3:]  # after "python -m stages.segment"
    args = [str(out) if prev == "--out" else a for prev, a in zip([""] + args, args)]
    args = [str(tmp_path / "objects.json") if prev == "--objects" else a for prev, a in zip([""] + args, args)]
    args = [str(tmp_path / "m.json") if prev == "--metrics" else a for prev, a in zip([""] + args, args)]
    args = [str(tmp_path / "plots") if prev == "--plots" else a for prev, a in zip([""] + args, args)]
    args = [str(tmp_path / "info.json") if prev == "--info" else a for prev, a in zip([""] + args, args)]
    stage.main(parse_paths("segment", stage.PATHS, args))
    return out


def test_consensus_redraws_a_view_that_disagrees(repo, monkeypatch, tmp_path):
    """With the consensus (the default), the emptied view is redrawn from the other 19 views' hull and named."""
    out = _segment_with_view_1_empty(repo, monkeypatch, tmp_path, consensus=True)
    objects = json.loads((tmp_path / "objects.json").read_text())
    assert objects["car_000"]["empty_views"] == [] and objects["car_000"]["redrawn_views"] == ["001.png"]
    assert objects["car_000"]["view_agreement_min"] == 0.0 and objects["car_000"]["consensus_held"] is True
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["empty_views"] == 0 and metrics["redrawn_views"] == 2  # one per object
    assert len(load_rig(out / "car_000" / "cameras.json")) == 20
    assert read_image(out / "car_000" / "masks" / "001.png").any()
    assert metrics["self_trained_objects"] == 0 and objects["car_000"]["self_trained"] is False


def test_self_training_after_the_consensus_redrew_a_view(repo, monkeypatch, tmp_path):
    """The redrawn view sets off self-training: a copy of the network taught by the consensus segments every view
    again (the emptying was the first network's: the copy's view 1 has a mask of its own)."""
    out = _segment_with_view_1_empty(repo, monkeypatch, tmp_path, consensus=True, self_training=True)
    objects = json.loads((tmp_path / "objects.json").read_text())
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["self_trained_objects"] == 2 and metrics["empty_views"] == 0
    for car in ("car_000", "car_001"):
        assert objects[car]["self_trained"] is True and objects[car]["outlier_views"] == ["001.png"]
        assert len(load_rig(out / car / "cameras.json")) == 20
        assert read_image(out / car / "masks" / "001.png").any()


def test_empty_mask_is_named_and_others_written(repo, monkeypatch, tmp_path):
    """A view whose mask comes out empty is left out of cameras.json and named; the other views are written."""
    out = _segment_with_view_1_empty(repo, monkeypatch, tmp_path, consensus=False)
    objects = json.loads((tmp_path / "objects.json").read_text())
    assert objects["car_000"]["empty_views"] == ["car_000/001.png"]
    assert json.loads((tmp_path / "m.json").read_text())["empty_views"] == 2  # one per object
    rig = load_rig(out / "car_000" / "cameras.json")
    kept = [i for i in range(20) if i != 1]
    assert rig == load_rig(repo / "data/heldout/car_000/rig/cameras.json").subset(kept) and len(rig) == 19
    assert [f["mask"] for f in rig.files] == [f"masks/{i:03d}.png" for i in kept]
    assert sorted(p.name for p in (out / "car_000" / "masks").iterdir()) == [f"{i:03d}.png" for i in kept]


def test_segmenter_study_runs_each_configuration(repo, tmp_path, capsys):
    """scripts/segmenter_study.py on the tiny synth output: ``--seconds`` sets the steps from a calibration run,
    each run's params.yaml carries its changes, and the JSON line holds the stage's own figures."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import segmenter_study

    work = tmp_path / "study"
    segmenter_study.main(["--dataset", str(repo / "data/dataset"), "--eval", str(repo / "data/heldout"),
                          "--params", str(repo / "params.yaml"), "--work", str(work), "--seconds", "3",
                          "--config", "lr:train_segmenter.lr=0.001", "--segment", str(repo / "data/heldout")])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    baseline, changed = line["configs"]["baseline"], line["configs"]["lr"]
    assert baseline["steps"] == params_of(repo)["train_segmenter"]["steps"]  # the baseline keeps params.yaml
    clock = np.loadtxt(work / "lr/calibration/train_plots/loss.csv", delimiter=",", skiprows=1, usecols=(0, 5))
    per_step = (clock[-1, 1] - clock[1, 1]) / (clock[-1, 0] - clock[1, 0])  # rows every 10 steps: 0, 10, ..., 59
    assert changed["steps"] == max(1, int(0.9 * 3 / per_step)) and changed["changes"] == {"train_segmenter.lr": 0.001}
    assert yaml.safe_load((work / "lr/params.yaml").read_text())["train_segmenter"]["lr"] == 0.001
    assert yaml.safe_load((work / "lr/calibration/params.yaml").read_text())["train_segmenter"]["steps"] == 60
    segment = json.loads((work / "lr/segment.json").read_text())
    assert changed["scene_mean"] == segment["mask_iou_mean"] and 0 <= changed["scene_min"] <= 1
    assert sorted(p.name for p in (work / "lr/silhouettes/heldout").iterdir()) == ["car_000", "car_001"]
    with pytest.raises(SystemExit, match="only segment and train_segmenter keys"):
        segmenter_study.main(["--dataset", ".", "--eval", ".", "--config", "x:fit.lr=1"])
