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

from inverse_graphics.render.cameras import load_rig
from stages._runner import parse_paths

ROOT = Path(__file__).resolve().parents[1]


def _cmd(repo: Path, stage: str) -> str:
    """The stage's ``cmd`` from dvc.yaml with ``${section.key}`` filled in from the repo's params.yaml."""
    cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    params = yaml.safe_load((repo / "params.yaml").read_text())

    def lookup(match):
        value = params
        for key in match.group(1).split("."):
            value = value[key]
        return str(value)

    return re.sub(r"\$\{([^}]+)\}", lookup, cmd)


def _run(repo: Path, cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": "", "TORCH_HOME": str(repo / "torch_home"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(cmd, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


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
    for stage in ("synth", "train_segmenter", "segment"):
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
    assert info["init"] == "scratch" and info["families"] == ["noise", "gradient", "texture", "shapes", "cars"]
    assert info["train_images"] == 9 and info["val_images"] == 3


def test_segment_writes_object_folders(repo):
    out = repo / "data/silhouettes/car_001"
    rig, source = load_rig(out / "cameras.json"), load_rig(repo / "data/heldout/car_001/cameras.json")
    assert rig == source and len(rig) == 3
    for i, files in enumerate(rig.files):
        assert files == {"image": f"images/{i:03d}.png", "mask": f"masks/{i:03d}.png"}
        mask = Image.open(out / files["mask"])
        assert mask.mode == "L" and mask.size == (48, 48) and set(np.unique(np.asarray(mask))) <= {0, 255}
        assert (out / files["image"]).read_bytes() == (repo / "data/heldout/car_001" / files["image"]).read_bytes()
    metrics = json.loads((repo / "metrics/segment.json").read_text())
    assert set(metrics) == {"mask_iou_mean", "mask_iou_min", "mask_iou_mean_64px", "mask_iou_min_64px",
                            "images_per_second", "empty_views"}
    assert 0 <= metrics["mask_iou_min"] <= metrics["mask_iou_mean"] <= 1 and metrics["images_per_second"] > 0
    assert (repo / "metrics/segment/car_000_overlay.png").is_file()
    assert (repo / "metrics/segment/eval_overlay.png").is_file()
    info = json.loads((repo / "metrics/segment_info.json").read_text())
    assert info["eval_background"] == "scene" and "scene" not in info["trained_on"]


def test_segment_bad_input_is_one_line(repo, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photos / "a.png")
    (photos / "b.txt").write_text("not a picture")
    cmd = re.sub(r"--input \S+", f"--input {photos}", _cmd(repo, "segment"))
    result = _run(repo, cmd, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {photos / 'b.txt'}: not an image file "
                                                  f"(expected only .png, .jpg, .jpeg, .bmp, .webp files in {photos})"]
    (photos / "b.txt").unlink()
    (photos / "c.png").write_bytes(b"\x89PNG broken")
    result = _run(repo, re.sub(r"--input \S+", f"--input {photos}", _cmd(repo, "segment")), check=False)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {photos / 'c.png'}: not a readable image")


def test_empty_mask_is_named_and_others_written(repo, monkeypatch, tmp_path):
    """A view whose mask comes out empty is left out of cameras.json and named; the other views are written."""
    import stages.segment as stage

    real = stage.segment_views

    def one_empty(segmenter, images, post):
        masks = real(segmenter, images, post)
        masks[1] = np.zeros_like(masks[1])
        return masks

    monkeypatch.setattr(stage, "segment_views", one_empty)
    monkeypatch.chdir(repo)
    out = tmp_path / "out"
    args = _cmd(repo, "segment").split()[3:]  # after "python -m stages.segment"
    args = [str(out) if prev == "--out" else a for prev, a in zip([""] + args, args)]
    args = [str(tmp_path / "objects.json") if prev == "--objects" else a for prev, a in zip([""] + args, args)]
    args = [str(tmp_path / "m.json") if prev == "--metrics" else a for prev, a in zip([""] + args, args)]
    args = [str(tmp_path / "plots") if prev == "--plots" else a for prev, a in zip([""] + args, args)]
    args = [str(tmp_path / "info.json") if prev == "--info" else a for prev, a in zip([""] + args, args)]
    stage.main(parse_paths("segment", stage.PATHS, args))
    objects = json.loads((tmp_path / "objects.json").read_text())
    assert objects["car_000"]["empty_views"] == ["car_000/001.png"]
    assert json.loads((tmp_path / "m.json").read_text())["empty_views"] == 2  # one per object
    rig = load_rig(out / "car_000" / "cameras.json")
    assert len(rig) == 2 and [f["mask"] for f in rig.files] == ["masks/000.png", "masks/002.png"]
    assert sorted(p.name for p in (out / "car_000" / "masks").iterdir()) == ["000.png", "002.png"]
