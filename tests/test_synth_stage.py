"""The synth stage end to end: ``dvc repro synth`` (the repo's own stage) in a temp repo, byte-identical reruns,
bad params and flags."""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from inverse_graphics.data.dataset_zip import read_dataset_zip, read_images_and_masks
from inverse_graphics.render.cameras import load_rig

ROOT = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).parent / "dvc"
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": ""}

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
SYNTH_CMD = [sys.executable, *shlex.split(DVC_YAML["stages"]["synth"]["cmd"])[1:]]  # python -m stages.synth --...


def _tiny_repo(dest: Path, **synth) -> Path:
    """A copy of the code with the repo's params.yaml, its synth section shrunk (and overridden by ``synth``)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("stages", "inverse_graphics"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synth"].update(num_cars=3, images_per_car=2, resolution=32, heldout=1, heldout_views=3,
                           heldout_resolution=32, **synth)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def _run(cmd, cwd):
    result = subprocess.run(cmd, cwd=cwd, env={**ENV, "PATH": f"{Path(sys.executable).parent}:{ENV['PATH']}"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{cmd}: {result.stdout}\n{result.stderr}"
    return result


def test_dvc_repro_then_status_clean_and_deterministic(tmp_path):
    repo = _tiny_repo(tmp_path / "repo")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"synth": DVC_YAML["stages"]["synth"]}}))
    _run(["git", "init", "-q"], repo)
    _run(["git", "config", "user.name", "test"], repo)
    _run(["git", "config", "user.email", "test@example.com"], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-q", "-m", "init"], repo)
    _run([str(DVC), "init", "-q"], repo)
    _run([str(DVC), "repro", "synth"], repo)
    status = _run([str(DVC), "status"], repo)
    assert "up to date" in status.stdout, status.stdout

    zip_path = repo / "data/dataset/cars-32.zip"
    images, labels = read_dataset_zip(zip_path)
    assert len(images) == len(labels) == 6 and all(im.size == (32, 32) for _, im in images)
    masks, mask_labels = read_dataset_zip(repo / "data/dataset/masks-32.zip")
    assert [n for n, _ in masks] == [n for n, _ in images] and mask_labels is None
    assert all(m.mode == "L" and set(np.unique(np.asarray(m))) == {0, 255} for _, m in masks)
    image_arrays, mask_arrays = read_images_and_masks(zip_path, repo / "data/dataset/masks-32.zip")
    assert image_arrays.shape == (6, 32, 32, 3) and mask_arrays.shape == (6, 32, 32) and mask_arrays.dtype == bool
    assert (repo / "metrics/synth.json").is_file()
    assert (repo / "metrics/synth/train_samples.png").is_file() and (repo / "metrics/synth/heldout_views.png").is_file()
    car = repo / "data/heldout/car_000"
    rig = load_rig(car / "cameras.json")
    assert len(rig) == 3 and rig.image_size == 32 and rig.files[2] == {"image": "images/002.png", "mask": "masks/002.png"}
    assert load_rig(car / "input.json").image_size == 32 and (car / "mesh.obj").is_file()
    mask = np.asarray(Image.open(car / "masks/000.png"))
    assert Image.open(car / "masks/000.png").mode == "L" and set(np.unique(mask)) <= {0, 255} and mask.any()
    figures = json.loads((repo / "metrics/synth.json").read_text())
    info = json.loads((repo / "metrics/synth_info.json").read_text())
    assert "total_seconds" in figures and not {"num_cars", "heldout", "styles", "resolution"} & set(figures)
    assert info["num_cars"] == 3 and info["num_images"] == 6 and info["heldout"] == 1
    # the same car at the multiview rig (the ground truth of stage multiview), at synth.resolution
    mv_rig = yaml.safe_load((repo / "params.yaml").read_text())["multiview"]["rig"]
    gt = load_rig(car / "rig/cameras.json")
    assert len(gt) == mv_rig["views"] and gt.image_size == 32
    assert sorted(set(gt.elev)) == pytest.approx(sorted(mv_rig["elevations"]))
    assert all((car / "rig" / f["image"]).is_file() and (car / "rig" / f["mask"]).is_file() for f in gt.files)

    again = _tiny_repo(tmp_path / "again")
    _run(SYNTH_CMD, again)
    assert zip_path.read_bytes() == (again / "data/dataset/cars-32.zip").read_bytes()
    assert (repo / "data/dataset/masks-32.zip").read_bytes() == (again / "data/dataset/masks-32.zip").read_bytes()
    for path in sorted(p for p in car.rglob("*") if p.is_file()):
        assert path.read_bytes() == (again / path.relative_to(repo)).read_bytes(), path


def test_bad_param_is_one_line_exit_2(tmp_path):
    repo = _tiny_repo(tmp_path, num_carz=3)
    result = subprocess.run(SYNTH_CMD, cwd=repo, env=ENV, capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: params.yaml: synth.num_carz: "), result.stderr
    assert not (repo / "data").exists()


def test_missing_path_flag_is_one_line_exit_2(tmp_path):
    repo = _tiny_repo(tmp_path)
    cmd = [word for word in SYNTH_CMD if word != "--heldout" and word != "data/heldout"]
    result = subprocess.run(cmd, cwd=repo, env=ENV, capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "stages.synth: the following arguments are required: --heldout" in lines[0], lines
    assert not (repo / "data").exists()


def test_tuning_cars_come_from_the_heldout_stream_past_the_evaluation_cars(tmp_path):
    """scripts/make_tuning_cars.py writes synth-style held-out folders at other indices: not the evaluation cars."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_tuning_cars

    from inverse_graphics.errors import UserError
    from inverse_graphics.mesh.io import load_mesh
    from stages.synth import write_heldout_car

    repo = _tiny_repo(tmp_path / "repo")
    make_tuning_cars.main(["--out", str(tmp_path / "tune"), "--count", "2", "--first", "1",
                           "--params", str(repo / "params.yaml")])
    cars = sorted(p.name for p in (tmp_path / "tune").iterdir())
    assert cars == ["car_001", "car_002"]
    car = tmp_path / "tune/car_001"
    for name in ("input.png", "input.json", "cameras.json", "mesh.obj", "rig/cameras.json"):
        assert (car / name).is_file(), name
    params = yaml.safe_load((repo / "params.yaml").read_text())
    cfg = {**params["synth"], "rig": params["multiview"]["rig"]}
    write_heldout_car(cfg, 0, tmp_path / "eval_car")  # what synth writes as the (only) evaluation car
    tuning_verts, _ = load_mesh(car / "mesh.obj")
    eval_verts, _ = load_mesh(tmp_path / "eval_car/mesh.obj")
    assert tuning_verts.shape != eval_verts.shape or not np.allclose(tuning_verts.numpy(), eval_verts.numpy())
    with pytest.raises(UserError, match="evaluation cars"):
        make_tuning_cars.main(["--out", str(tmp_path / "bad"), "--count", "1", "--first", "0",
                               "--params", str(repo / "params.yaml")])
    assert not (tmp_path / "bad").exists()
