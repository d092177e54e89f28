"""The evaluate library and stages: error split arithmetic, missing variants, retrieval on tiny cars, the
one-view input folder, the evaluate stage end to end on two tiny held-out cars."""

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inverse_graphics.data.car_generator import build_car, render_car, sample_appearance, sample_car_params
from inverse_graphics.data.dataset_zip import read_dataset_zip
from inverse_graphics.errors import UserError
from inverse_graphics.evaluate.input_view import input_view
from inverse_graphics.evaluate.retrieval import mask_iou, retrieve, silhouettes, training_cars
from inverse_graphics.evaluate.variants import (INCOMPLETE, METRICS, MISSING, SCORED, SPLIT, VARIANTS, cost,
                                                error_split, summarize)
from inverse_graphics.mesh.io import save_mesh
from inverse_graphics.render.cameras import ring_rig, save_rig
from inverse_graphics.viz import to_uint8

ROOT = Path(__file__).resolve().parents[1]
TINY_SYNTH = {"seed": 0, "num_cars": 3, "images_per_car": 2, "resolution": 32, "heldout": 2, "heldout_views": 3,
              "heldout_resolution": 32, "camera": {"dist": 2.7, "fov": 60.0, "elev_min": 0.0, "elev_max": 30.0},
              "rig": {"views": 20, "elevations": [10.0, 25.0]}}  # multiview.rig


def row(f05: float, f02: float = 0.5, chamfer: float = 0.002) -> dict:
    return {"chamfer_l2": chamfer, "fscore@0.01": 0.1, "fscore@0.02": f02, "fscore@0.05": f05,
            "normal_consistency": 0.9, "iou3d": 0.8}


# ----------------------------------------------------------------------------- arithmetic


def test_cost_sign_follows_the_metric():
    assert cost("fscore@0.05", 0.95, 0.90) == pytest.approx(0.05)  # F lost
    assert cost("chamfer_l2", 0.001, 0.003) == pytest.approx(0.002)  # Chamfer gained: also a cost
    assert cost("fscore@0.05", 0.80, 0.90) == pytest.approx(-0.10)  # a step that helps has a negative cost


def test_error_split_steps_add_up_to_the_total():
    means = {"oracle_tutorial": row(0.95, chamfer=0.001), "oracle_rig": row(0.93, chamfer=0.0012),
             "segmented_gt": row(0.90, chamfer=0.0015), "chain": row(0.80, chamfer=0.003)}
    split = error_split(means, "fscore@0.05")
    assert split == pytest.approx({"rig_resolution": 0.02, "segmenter": 0.03, "generator": 0.10, "total": 0.15})
    chamfer = error_split(means, "chamfer_l2")
    assert chamfer["generator"] == pytest.approx(0.0015) and chamfer["total"] == pytest.approx(0.002)
    assert sum(chamfer[name] for name, _, _ in SPLIT) == pytest.approx(chamfer["total"])


def test_summarize_all_variants_scored():
    cars = ["car_000", "car_001"]
    f05 = {"oracle_tutorial": (0.96, 0.94), "oracle_rig": (0.94, 0.92), "segmented_gt": (0.92, 0.90),
           "chain": (0.86, 0.84), "single_view": (0.70, 0.72), "template": (0.80, 0.90),
           "average_car": (0.88, 0.80), "oracle_library": (0.97, 0.95)}
    scores = {v: {car: row(f) for car, f in zip(cars, fs)} for v, fs in f05.items()}
    metrics, status = summarize(scores, cars)
    assert all(s == {"status": SCORED, "missing_cars": []} for s in status.values())
    assert metrics["chain"]["fscore@0.05"] == pytest.approx(0.85)
    assert set(metrics["chain"]) == set(METRICS)
    assert metrics["chain_vs_oracle"] == pytest.approx(0.85 / 0.93)
    assert metrics["error_split"]["fscore@0.05"] == pytest.approx(
        {"rig_resolution": 0.02, "segmenter": 0.02, "generator": 0.06, "total": 0.10})
    assert metrics["chain_gain_over_single_view"]["fscore@0.05"] == pytest.approx(0.85 - 0.71)
    assert metrics["chain_gain_over_template"]["fscore@0.05"] == pytest.approx(0.0)
    assert metrics["chain_gain_over_template"]["chamfer_l2"] == pytest.approx(0.0)
    assert metrics["chain_gain_over_average_car"]["fscore@0.05"] == pytest.approx(0.85 - 0.84)


def test_missing_and_incomplete_variants_are_reported_not_averaged():
    cars = ["car_000", "car_001"]
    scores = {"oracle_tutorial": {c: row(0.95) for c in cars}, "oracle_rig": {c: row(0.93) for c in cars},
              "single_view": {"car_000": row(0.7)},  # one car short
              "chain": None, "mine": {c: row(0.5) for c in cars}}  # a user's own variant is scored too
    metrics, status = summarize(scores, cars)
    assert status["chain"] == {"status": MISSING, "missing_cars": cars}
    assert status["segmented_gt"]["status"] == MISSING and status["template"]["status"] == MISSING
    assert status["single_view"] == {"status": INCOMPLETE, "missing_cars": ["car_001"]}
    assert list(status) == [*VARIANTS, "mine"]
    assert set(metrics) == {"oracle_tutorial", "oracle_rig", "mine", "error_split"}
    assert metrics["error_split"]["fscore@0.05"] == pytest.approx({"rig_resolution": 0.02})
    assert "chain_vs_oracle" not in metrics and "chain_gain_over_single_view" not in metrics
    with pytest.raises(ValueError):
        summarize(scores, [])


# ----------------------------------------------------------------------------- retrieval


@pytest.fixture(scope="module")
def library():
    return list(training_cars(seed=0, num_cars=3))


def test_retrieval_finds_the_car_whose_silhouette_it_was(library):
    rig = ring_rig(4, (10.0, 25.0), image_size=48)
    for car in library:
        target = silhouettes(car.verts, car.faces, rig).float()
        found = retrieve(target, rig, library)
        assert found.best == car.index and found.iou == pytest.approx(1.0)
        others = [float(found.ious[k]) for k in range(len(library)) if k != car.index]
        assert max(others) < 1.0
    one_view = rig.subset([0])
    found = retrieve(silhouettes(library[2].verts, library[2].faces, one_view).float(), one_view, library)
    assert found.best == 2
    with pytest.raises(ValueError):
        retrieve(torch.zeros(1, 32, 32), one_view, library)  # wrong size


def test_mask_iou():
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    b = a.clone()
    a[0, :2] = True
    b[0, 1:3] = True
    assert mask_iou(a, b).tolist() == pytest.approx([4 / 12, 1.0])  # two empty masks agree


def test_training_cars_are_synths_training_cars(tmp_path):
    """Library car i is the car behind synth's training images i*k..i*k+k-1: drawing synth's camera and look after
    it from the same generator and rendering it gives those images byte for byte."""
    from stages.synth import _random_rig, write_training_set

    zip_path = tmp_path / "cars.zip"
    write_training_set(TINY_SYNTH, zip_path)
    images, _ = read_dataset_zip(zip_path)
    per_car = TINY_SYNTH["images_per_car"]
    for car in training_cars(TINY_SYNTH["seed"], TINY_SYNTH["num_cars"]):
        rng = np.random.default_rng(TINY_SYNTH["seed"] + car.index)
        built = build_car(sample_car_params(rng))
        assert torch.equal(built.normalized()[0], car.verts) and torch.equal(built.normalized()[1], car.faces)
        rig = _random_rig(rng, per_car, TINY_SYNTH["resolution"], TINY_SYNTH["camera"])
        rendered, _ = render_car(built, rig, sample_appearance(rng, per_car))
        for k, image in enumerate(rendered):
            name, stored = images[car.index * per_car + k]
            assert np.array_equal(np.asarray(stored.convert("RGB")), to_uint8(image)), name


# ----------------------------------------------------------------------------- input view


@pytest.fixture(scope="module")
def heldout(tmp_path_factory) -> Path:
    """Two tiny held-out cars written by synth's own function."""
    from stages.synth import write_heldout_car

    folder = tmp_path_factory.mktemp("heldout")
    for j in range(2):
        write_heldout_car(TINY_SYNTH, j, folder / f"car_{j:03d}")
    return folder


def test_input_view_is_the_input_with_its_true_silhouette(heldout, tmp_path):
    from inverse_graphics.data.object_views import load_object_input

    car = heldout / "car_000"
    rig, image, mask = input_view(car, heldout)
    _, true_rig = load_object_input(car)
    assert len(rig) == 1 and rig == dataclasses.replace(true_rig, files=())
    assert image.shape == (32, 32, 3) and mask.shape == (32, 32) and mask.dtype == torch.bool
    # the mask covers the car: inside it the input differs from the (vertical gradient) background
    row_background = image[:, :1, :]  # the left column is background in these renders
    differs = (image - row_background).abs().amax(-1) > 0.02
    assert (differs & mask).sum() > 0.8 * mask.sum() and mask.sum() > 20
    # another camera folder: the view takes its camera, the mask stays the true silhouette
    other = tmp_path / "estimated" / "car_000"
    other.mkdir(parents=True)
    turned = dataclasses.replace(true_rig, azim=(true_rig.azim[0] + 30.0,))
    save_rig(other / "input.json", turned)
    rig2, _, mask2 = input_view(car, tmp_path / "estimated")
    assert rig2.azim == turned.azim and torch.equal(mask2, mask)
    with pytest.raises(UserError, match="input.json: not found"):
        input_view(heldout / "car_001", tmp_path / "estimated")


# ----------------------------------------------------------------------------- the evaluate stage


def test_evaluate_stage_scores_reports_missing_and_draws(heldout, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(heldout, work / "heldout")
    meshes = work / "meshes"
    from inverse_graphics.data.object_views import load_object_mesh

    for car in ("car_000", "car_001"):
        gt = load_object_mesh(work / "heldout" / car)
        save_mesh(meshes / "oracle_tutorial" / f"{car}.obj", *gt)  # a perfect reconstruction
        save_mesh(meshes / "oracle_rig" / f"{car}.obj", gt[0] * torch.tensor([1.0, 0.8, 1.0]), gt[1])  # squashed
    save_mesh(meshes / "template" / "car_000.obj", *load_object_mesh(work / "heldout" / "car_001"))  # one car only
    (meshes / "chain").mkdir()  # a folder without meshes: still missing
    cmd = [sys.executable, "-m", "stages.evaluate", "--heldout", "heldout", "--meshes", "meshes",
           "--metrics", "out/evaluate.json", "--cars", "out/evaluate_cars.json", "--plots", "out/evaluate"]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((work / "out/evaluate.json").read_text())
    cars = json.loads((work / "out/evaluate_cars.json").read_text())
    assert metrics["oracle_tutorial"]["fscore@0.05"] == pytest.approx(1.0)
    assert metrics["oracle_tutorial"]["chamfer_l2"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["oracle_rig"]["fscore@0.01"] < 0.9
    assert metrics["error_split"]["fscore@0.01"]["rig_resolution"] == pytest.approx(
        1.0 - metrics["oracle_rig"]["fscore@0.01"])
    assert metrics["error_split"]["chamfer_l2"]["rig_resolution"] == pytest.approx(
        metrics["oracle_rig"]["chamfer_l2"] - metrics["oracle_tutorial"]["chamfer_l2"])
    assert set(metrics) == {"oracle_tutorial", "oracle_rig", "error_split"}
    assert cars["status"]["chain"]["status"] == MISSING and cars["status"]["template"]["status"] == INCOMPLETE
    assert cars["status"]["template"]["missing_cars"] == ["car_001"]
    assert cars["per_car"]["car_000"]["template"]["fscore@0.05"] < 1.0  # another car's mesh
    assert sorted(p.name for p in (work / "out/evaluate").iterdir()) == ["car_000.png", "car_001.png"]
    assert "chain" in proc.stdout and "missing" in proc.stdout


def test_evaluate_stage_bad_heldout_is_one_line(tmp_path):
    cmd = [sys.executable, "-m", "stages.evaluate", "--heldout", "nowhere", "--meshes", "m", "--metrics", "a.json",
           "--cars", "b.json", "--plots", "p"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: nowhere: input folder not found (expected one sub-folder per object with mesh.obj)"]


def test_chain_views_come_from_the_folder_the_chain_was_fitted_to(heldout, tmp_path):
    from stages.evaluate import chain_views

    meshes = tmp_path / "meshes"
    images, masks, note = chain_views(meshes, "car_000")
    assert images is None and masks is None and "chain missing" in note
    (meshes / "chain").mkdir(parents=True)
    (meshes / "chain" / "source.json").write_text(json.dumps({"input": str(heldout), "views": "rig"}))
    images, masks, note = chain_views(meshes, "car_000")
    assert images.shape == (20, 32, 32, 3) and masks.shape == (20, 32, 32) and note == ""
    images, masks, note = chain_views(meshes, "car_009")
    assert images is None and masks is None and "car_009" in note
