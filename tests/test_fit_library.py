"""The library shape prior (``fit_mesh --library``): retrieval, molding, and a fit that keeps what no view shows."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from inverse_graphics.errors import UserError
from inverse_graphics.evaluate.retrieval import training_cars
from inverse_graphics.fit.library_prior import library_template, load_library
from inverse_graphics.fit.silhouette_fit import SilhouetteFitSettings, fit_to_silhouettes
from inverse_graphics.mesh.box import box_mesh
from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.mesh.io import save_mesh
from inverse_graphics.mesh.metrics import silhouette_iou
from inverse_graphics.mesh.normalize import normalize_verts
from inverse_graphics.render.cameras import CameraRig, save_rig, tutorial_rig
from inverse_graphics.render.shaded import rasterize
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings
from inverse_graphics.viz import turntable

pytestmark = pytest.mark.usefixtures("one_thread")
SIZE = 32


def bowl(level: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """An ico-sphere whose cap above y = 0.6 is pressed in below the rim: a bowl that no side view can see into."""
    verts, faces = ico_sphere(level)
    y = verts[:, 1]
    verts = verts.clone()
    verts[:, 1] = torch.where(y > 0.6, 0.6 - 2 * (y - 0.6), y)
    return verts, faces


def side_rig(num_views: int = 8) -> CameraRig:
    """Views all round at elevation 0: the top of an object is seen edge-on only."""
    azim = tuple(float(a) for a in np.linspace(-180, 180, num_views, endpoint=False))
    return CameraRig((2.7,) * num_views, (0.0,) * num_views, azim, 60.0, SIZE)


def hard_masks(verts: torch.Tensor, faces: torch.Tensor, rig: CameraRig) -> torch.Tensor:
    return (rasterize(verts, faces, rig) >= 0).float()


def test_a_template_keeps_the_bowl_that_no_view_shows():
    """From the bowl itself as the template, the fit keeps its floor (the lowest top vertex stays low); from the
    sphere, with edges and the Laplacian pulling toward a flat membrane, the top closes over the rim. Both fit the
    silhouettes."""
    verts, faces = bowl()
    rig = side_rig()
    masks = hard_masks(verts, faces, rig)
    renderer = SilhouetteRenderer("fast", SilhouetteSettings(image_size=SIZE))
    settings = SilhouetteFitSettings(ico_level=2, iterations=150, log_every=50)
    floor = int(torch.argmax(ico_sphere(2)[0][:, 1]))  # the cap's apex, pressed to the bowl's floor (y = -0.2)
    from_template = fit_to_silhouettes(masks, rig, renderer, settings, progress=False, template=verts)
    from_sphere = fit_to_silhouettes(masks, rig, renderer, settings, progress=False)
    assert float(from_template.verts[floor, 1]) < 0.0
    assert float(from_sphere.verts[floor, 1]) > 0.4
    for result in (from_template, from_sphere):
        assert float(silhouette_iou(hard_masks(result.verts, result.faces, rig), masks).mean()) > 0.85


def test_a_template_must_be_the_spheres_and_the_laplacian_uniform():
    verts, faces = bowl()
    rig = side_rig(2)
    masks = hard_masks(verts, faces, rig)
    renderer = SilhouetteRenderer("fast", SilhouetteSettings(image_size=SIZE))
    with pytest.raises(ValueError, match="does not match ico_sphere"):
        fit_to_silhouettes(masks, rig, renderer, SilhouetteFitSettings(ico_level=1, iterations=1), progress=False,
                           template=verts)
    with pytest.raises(UserError, match="fit.laplacian: uniform"):
        fit_to_silhouettes(masks, rig, renderer, SilhouetteFitSettings(ico_level=2, iterations=1,
                                                                       laplacian="cotangent"),
                           progress=False, template=verts)


def test_library_template_retrieves_the_matching_car_and_molds_the_sphere_into_it():
    library = list(training_cars(0, 3))
    rig = tutorial_rig(4, image_size=SIZE)
    masks = hard_masks(library[1].verts, library[1].faces, rig)
    template = library_template(masks, rig, library, ico_level=1, mold_iterations=30)
    assert template.car.index == 1 and template.iou == pytest.approx(1.0)
    sphere = ico_sphere(1)[0]
    assert template.verts.shape == sphere.shape
    assert float((template.verts - sphere).norm(dim=1).mean()) > 0.05  # molded, not the sphere


def test_a_folder_library_is_normalised_and_bad_folders_get_one_line(tmp_path):
    folder = tmp_path / "cars"
    folder.mkdir()
    save_mesh(folder / "b_box.obj", *box_mesh((2.0, 1.0, 0.5)))
    verts, faces = ico_sphere(1)
    save_mesh(folder / "a_ball.obj", verts * 3 + 1, faces)
    (folder / "notes.txt").write_text("not a mesh")
    library = load_library(folder, seed=0, num_cars=0)
    assert [car.style for car in library] == ["a_ball", "b_box"]
    for car in library:
        lo, hi = car.verts.min(0).values, car.verts.max(0).values
        assert torch.allclose((lo + hi) / 2, torch.zeros(3), atol=1e-5)
        assert float(car.verts.norm(dim=1).max()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(UserError, match="fit.library.folder not found"):
        load_library(tmp_path / "absent", seed=0, num_cars=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no mesh files"):
        load_library(tmp_path / "empty", seed=0, num_cars=0)


def write_object(root, verts, faces, rig):
    """An object folder as ``synth`` writes one: cameras.json, masks/, mesh.obj."""
    (root / "masks").mkdir(parents=True)
    files = tuple({"mask": f"masks/{i:03d}.png"} for i in range(len(rig)))
    save_rig(root / "cameras.json", CameraRig(rig.dist, rig.elev, rig.azim, rig.fov, rig.image_size, files))
    for i, mask in enumerate(hard_masks(verts, faces, rig)):
        Image.fromarray((mask.numpy() * 255).astype(np.uint8)).save(root / "masks" / f"{i:03d}.png")
    save_mesh(root / "mesh.obj", verts, faces)


def run_fit_mesh(tmp_path, repo_root, params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    flags = ["--input", "input", "--views", ".", "--out", "models/meshes/v", "--metrics", "metrics/v.json",
             "--objects", "metrics/v_objects.json", "--plots", "metrics/v", "--library"]
    return subprocess.run([sys.executable, "-m", "stages.fit_mesh", *flags], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(repo_root), "PATH": ""})


def test_fit_mesh_stage_with_a_library(tmp_path, repo_root, default_params_text):
    """``--library`` with a folder: the bowl is retrieved from it (not the box), the per-object file names it, the
    source records the library, and the picture gains the template's row. ``fit.library.folder: null`` with
    photos (``synth.source: folder``) stops with one line, and so does a cotangent Laplacian."""
    verts, faces = bowl(3)
    verts = normalize_verts(verts)  # as the held-out cars are, and as the library's meshes will be
    write_object(tmp_path / "input" / "cup", verts, faces, side_rig())
    library = tmp_path / "library"
    library.mkdir()
    save_mesh(library / "bowl.obj", verts, faces)
    save_mesh(library / "box.obj", *box_mesh((0.8, 0.8, 0.8)))
    params = yaml.safe_load(default_params_text)
    params["fit"] |= {"ico_level": 3, "image_size": None, "iterations": 100, "log_every": 50}
    params["fit"]["library"] |= {"folder": str(library), "mold_iterations": 30}
    params["render"]["backend"] = "fast"
    proc = run_fit_mesh(tmp_path, repo_root, params)
    assert proc.returncode == 0, proc.stderr
    row = json.loads((tmp_path / "metrics" / "v_objects.json").read_text())["cup"]
    assert row["library_car"] == "bowl" and row["library_index"] == 0 and row["library_iou"] > 0.99
    assert row["silhouette_iou_mean"] > 0.9 and row["template_seconds"] > 0
    metrics = json.loads((tmp_path / "metrics" / "v.json").read_text())
    assert "library_car" not in metrics and metrics["library_iou"] == row["library_iou"]
    source = json.loads((tmp_path / "models" / "meshes" / "v" / "source.json").read_text())
    assert source["library"] == params["fit"]["library"]
    picture = Image.open(tmp_path / "metrics" / "v" / "cup_turntable.png")
    assert picture.height == 3 * turntable(verts, faces).height  # ground truth, template, fit
    params["fit"]["library"]["folder"] = None
    params["synth"] |= {"source": "folder", "folder": str(library)}
    proc = run_fit_mesh(tmp_path, repo_root, params)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: params.yaml: fit.library.folder: null needs")
    params["fit"]["laplacian"] = "cotangent"  # stops before any car is molded
    proc = run_fit_mesh(tmp_path, repo_root, params)
    assert proc.returncode == 2 and "fit.laplacian: --library needs uniform" in proc.stderr.strip().splitlines()[-1]


def test_the_library_weights_the_laplacian_of_the_departure(default_params_text):
    """``--library`` takes ``fit.library.w_laplacian`` (with or without the shape prior); without it, ``fit``'s."""
    from stages.fit_mesh import fit_settings

    fit = yaml.safe_load(default_params_text)["fit"]
    assert fit["library"]["w_laplacian"] != fit["w_laplacian"]
    assert fit_settings(fit, shape_prior=False, library=True).w_laplacian == fit["library"]["w_laplacian"]
    assert fit_settings(fit, shape_prior=True, library=True).w_laplacian == fit["library"]["w_laplacian"]
    assert fit_settings(fit, shape_prior=False).w_laplacian == fit["w_laplacian"]
