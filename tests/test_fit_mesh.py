"""The silhouette fit and the ``fit_mesh`` stage on a tiny object rendered by the project itself."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from inverse_graphics.errors import NonFiniteLossError
from inverse_graphics.fit.optim import final_decay_schedule
from inverse_graphics.fit.silhouette_fit import (SilhouetteFitSettings, fit_to_silhouettes, mirror_symmetrizer,
                                                 silhouette_loss)
from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.mesh.io import load_mesh, save_mesh
from inverse_graphics.mesh.metrics import silhouette_iou
from inverse_graphics.render.cameras import CameraRig, save_rig, tutorial_rig
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings

SIZE = 32


def ellipsoid():
    verts, faces = ico_sphere(2)
    return verts * torch.tensor([0.9, 0.45, 0.6]), faces


def mirror_gap(verts: torch.Tensor) -> float:
    """Largest distance from a vertex's mirror image across z = 0 to the nearest vertex; ``verts: (V, 3)``."""
    flipped = verts * torch.tensor([1.0, 1.0, -1.0])
    return float(torch.cdist(flipped, verts, compute_mode="donot_use_mm_for_euclid_dist").min(1).values.max())


@pytest.fixture(scope="module")
def target():
    rig = tutorial_rig(8, image_size=SIZE)
    renderer = SilhouetteRenderer("fast", SilhouetteSettings(image_size=SIZE))
    with torch.no_grad():
        masks = (renderer(*ellipsoid(), rig) > 0.5).float()
    return masks, rig, renderer


def test_silhouette_losses():
    a = torch.zeros(1, 4, 4)
    b = torch.ones(1, 4, 4)
    assert silhouette_loss(a, b, "mse") == 1 and silhouette_loss(b, b, "mse") == 0
    assert silhouette_loss(b, b, "iou") == pytest.approx(0.0) and silhouette_loss(a, b, "iou") == pytest.approx(1.0)


def test_final_decay_schedule_ramps_lr_to_zero():
    def lrs(decay_fraction):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2.0)
        schedule = final_decay_schedule(optimizer, 8, decay_fraction)
        seen = []
        for _ in range(8):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return seen

    assert lrs(0.5) == pytest.approx([2, 2, 2, 2, 2, 1.5, 1, 0.5])  # last 4 of 8 iterations: 4/4 .. 1/4
    assert lrs(0.0) == pytest.approx([2] * 8)  # the tutorials' constant lr


def test_fit_improves_silhouettes_and_is_repeatable(target):
    masks, rig, renderer = target
    settings = SilhouetteFitSettings(ico_level=3, iterations=150, views_per_iter=2, log_every=5)
    sphere_verts, faces = ico_sphere(3)
    with torch.no_grad():
        before = silhouette_iou(renderer(sphere_verts, faces, rig), masks).mean()
    result = fit_to_silhouettes(masks, rig, renderer, settings, progress=False)
    with torch.no_grad():
        after = silhouette_iou(renderer(result.verts, result.faces, rig), masks).mean()
    assert after > 0.95 and after > before + 0.1
    assert result.history[0]["iteration"] == 0 and result.history[-1]["iteration"] == 149
    assert set(result.history[0]) == {"iteration", "loss", "silhouette", "edge", "normal", "laplacian"}
    again = fit_to_silhouettes(masks, rig, renderer, settings, progress=False)
    assert torch.equal(result.verts, again.verts)


def test_a_mirrored_fit_stays_symmetric_and_still_fits(target):
    """``mirror_axis``: every vertex has a partner mirrored across z = 0 to within float error, after a fit whose
    views are not symmetric themselves (the tutorial rig's 8 cameras); the silhouettes still fit."""
    masks, rig, renderer = target
    settings = SilhouetteFitSettings(ico_level=3, iterations=150, log_every=5, mirror_axis="z")
    result = fit_to_silhouettes(masks, rig, renderer, settings, progress=False)
    assert mirror_gap(result.verts) < 1e-5
    free = fit_to_silhouettes(masks, rig, renderer, SilhouetteFitSettings(ico_level=3, iterations=150), progress=False)
    assert mirror_gap(free.verts) > 1e-3  # without it the fit is not symmetric: the test could fail
    with torch.no_grad():
        assert silhouette_iou(renderer(result.verts, result.faces, rig), masks).mean() > 0.95


def test_mirroring_needs_a_symmetric_source_mesh():
    verts, _ = ico_sphere(2)
    assert torch.equal(mirror_symmetrizer(verts, None)(verts), verts)
    with pytest.raises(ValueError, match="not mirror-symmetric across z"):
        mirror_symmetrizer(verts + torch.tensor([0.0, 0.0, 0.1]), "z")
    with pytest.raises(ValueError, match="unknown mirror axis 'w'"):
        mirror_symmetrizer(verts, "w")


def test_non_finite_loss_names_iteration_and_term(target):
    masks, rig, renderer = target
    settings = SilhouetteFitSettings(ico_level=1, iterations=50, lr=1e12, w_edge=1.0)
    with pytest.raises(NonFiniteLossError, match=r"loss term '\w+' is (nan|inf|-inf) at iteration \d+") as info:
        fit_to_silhouettes(masks, rig, renderer, settings, progress=False)
    assert torch.isfinite(info.value.last_good_verts).all()


def test_camera_count_must_match(target):
    masks, rig, renderer = target
    with pytest.raises(Exception, match="8 masks but 3 cameras"):
        fit_to_silhouettes(masks, rig.subset([0, 1, 2]), renderer, SilhouetteFitSettings(iterations=1), progress=False)


def test_shape_prior_settings(default_params_text):
    """``--shape-prior``: the prior's keys replace ``fit``'s; without it, ``fit``'s own."""
    from stages.fit_mesh import fit_settings

    fit = yaml.safe_load(default_params_text)["fit"]
    prior = fit["shape_prior"]
    assert prior["w_laplacian"] != fit["w_laplacian"] and prior["mirror_axis"] is not None  # else this tests nothing
    settings = fit_settings(fit, shape_prior=True)
    assert (settings.mirror_axis, settings.w_laplacian) == (prior["mirror_axis"], prior["w_laplacian"])
    assert settings.iterations == fit["iterations"] and settings.w_edge == fit["w_edge"]
    settings = fit_settings(fit, shape_prior=False)
    assert (settings.mirror_axis, settings.w_laplacian) == (None, fit["w_laplacian"])


@pytest.mark.parametrize("shape_prior", [False, True], ids=["free", "shape_prior"])
def test_fit_mesh_stage(tmp_path, repo_root, target, default_params_text, shape_prior):
    """The views sit in a sub-folder of the object (``--views rig``), the ground truth beside it; the metrics hold
    figures only (no object count, no iteration count: those are in the per-object file). ``--shape-prior`` fits
    with ``fit.shape_prior``'s settings: a mirror-symmetric mesh, the prior recorded in ``source.json``."""
    masks, rig, _ = target
    obj = tmp_path / "input" / "blob"
    views = obj / "rig"
    (views / "masks").mkdir(parents=True)
    files = tuple({"mask": f"masks/{i:03d}.png"} for i in range(len(rig)))
    save_rig(views / "cameras.json", CameraRig(rig.dist, rig.elev, rig.azim, rig.fov, rig.image_size, files))
    for i, mask in enumerate(masks):
        Image.fromarray((mask.numpy() * 255).astype(np.uint8)).save(views / "masks" / f"{i:03d}.png")
    save_mesh(obj / "mesh.obj", *ellipsoid())
    (tmp_path / "input" / "not_an_object").mkdir()  # no rig/cameras.json: not fitted
    params = yaml.safe_load(default_params_text)
    params["fit"] |= {"ico_level": 3, "image_size": None, "iterations": 150}
    params["render"]["backend"] = "fast"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    flags = ["--input", "input", "--views", "rig", "--out", "models/meshes/v", "--metrics", "metrics/fit_mesh_v.json",
             "--objects", "metrics/fit_mesh_v_objects.json", "--plots", "metrics/fit_mesh/v"]
    flags += ["--shape-prior"] if shape_prior else []
    proc = subprocess.run([sys.executable, "-m", "stages.fit_mesh", *flags], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(repo_root), "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "metrics" / "fit_mesh_v.json").read_text())
    per_object = json.loads((tmp_path / "metrics" / "fit_mesh_v_objects.json").read_text())
    assert list(per_object) == ["blob"]
    for key in ("silhouette_iou_mean", "silhouette_iou_min", "chamfer_l2", "fscore@0.05", "iou3d", "seconds"):
        assert key in metrics and key in per_object["blob"]
    assert "objects" not in metrics and "iterations" not in metrics and per_object["blob"]["iterations"] == 150
    assert metrics["silhouette_iou_mean"] > 0.9
    out = tmp_path / "models" / "meshes" / "v"
    assert (out / "blob.obj").is_file()
    prior = params["fit"]["shape_prior"] if shape_prior else None
    assert json.loads((out / "source.json").read_text()) == {"input": "input", "views": "rig", "shape_prior": prior}
    if shape_prior:
        assert prior["mirror_axis"] == "z" and mirror_gap(load_mesh(out / "blob.obj")[0]) < 1e-4
    else:
        assert mirror_gap(load_mesh(out / "blob.obj")[0]) > 1e-3
    plots = sorted(p.name for p in (tmp_path / "metrics" / "fit_mesh" / "v").iterdir())
    assert plots == ["blob.csv", "blob_silhouettes.png", "blob_turntable.png"]
