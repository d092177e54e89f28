"""scripts/fit_study.py: params changes in DVC's -S form reach fit_mesh, and the meshes are scored per seed."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from inverse_graphics.errors import UserError
from inverse_graphics.param_changes import apply_changes, parse_config
from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.mesh.io import save_mesh
from inverse_graphics.render.cameras import CameraRig, save_rig, tutorial_rig
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import fit_study  # noqa: E402

SIZE = 32


def test_configurations_are_checked(default_params_text):
    params = yaml.safe_load(default_params_text)
    name, changes = parse_config("lap:fit.shape_prior.w_laplacian=3,render.sigma_final=1e-5")
    assert name == "lap" and changes == {"fit.shape_prior.w_laplacian": 3, "render.sigma_final": 1e-5}
    changed = apply_changes(params, changes, name, fit_study.SECTIONS)
    assert changed["fit"]["shape_prior"]["w_laplacian"] == 3 and changed["render"]["sigma_final"] == 1e-5
    assert params["fit"]["shape_prior"]["w_laplacian"] != 3  # the original is left alone
    for text, message in [
        ("lap", "expected NAME:section.key=value"),
        ("lap:fit.lr", "'fit.lr' is not key=value"),
    ]:
        with pytest.raises(UserError, match=message):
            parse_config(text)
    for change, message in [
        ({"fit.nope": 1}, "--config c: fit.nope: no such key in params.yaml"),
        ({"synth.seed": 1}, "--config c: synth.seed: only fit and render keys can change here"),
        ({"fit.lr": -1.0}, "--config c: params.yaml: fit.lr: must be >="),
    ]:
        with pytest.raises(UserError, match=message):
            apply_changes(params, change, "c", fit_study.SECTIONS)


def test_study_fits_each_configuration_and_seed(tmp_path, default_params_text, capsys):
    """A tiny ellipsoid in the held-out layout; the baseline and one changed configuration at two seeds. Each run's
    params.yaml carries its changes and seed, and the JSON line scores every run against the ground truth."""
    verts, faces = ico_sphere(2)
    verts = verts * torch.tensor([0.9, 0.45, 0.6])
    rig = tutorial_rig(6, image_size=SIZE)
    with torch.no_grad():
        masks = SilhouetteRenderer("fast", SilhouetteSettings(image_size=SIZE))(verts, faces, rig) > 0.5
    obj = tmp_path / "cars" / "blob"
    (obj / "masks").mkdir(parents=True)
    files = tuple({"mask": f"masks/{i:03d}.png"} for i in range(len(rig)))
    save_rig(obj / "cameras.json", CameraRig(rig.dist, rig.elev, rig.azim, rig.fov, rig.image_size, files))
    for i, mask in enumerate(masks):
        Image.fromarray(mask.numpy().astype(np.uint8) * 255).save(obj / "masks" / f"{i:03d}.png")
    save_mesh(obj / "mesh.obj", verts, faces)
    params = yaml.safe_load(default_params_text)
    params["fit"] |= {"ico_level": 2, "iterations": 40}
    params["render"]["backend"] = "fast"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    work = tmp_path / "work"
    fit_study.main(["--masks", str(tmp_path / "cars"), "--seeds", "0,1", "--config", "short:fit.iterations=2",
                    "--params", str(tmp_path / "params.yaml"), "--work", str(work)])
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["benchmark"] == "fit_study" and result["seeds"] == [0, 1]
    assert result["configs"]["short"]["changes"] == {"fit.iterations": 2}
    for name, iterations in (("baseline", 40), ("short", 2)):
        for seed in (0, 1):
            run = yaml.safe_load((work / name / f"seed{seed}" / "params.yaml").read_text())
            assert run["fit"]["iterations"] == iterations and run["fit"]["seed"] == seed
            row = result["configs"][name]["seeds"][str(seed)]
            assert row["cars"] == 1 and 0 <= row["fscore@0.02"] <= row["fscore@0.05"] <= 1
    # 2 iterations leave an almost untouched sphere: farther from the ellipsoid than 40 iterations get
    assert result["configs"]["short"]["seeds"]["0"]["fscore@0.05"] < result["configs"]["baseline"]["seeds"]["0"][
        "fscore@0.05"]
    assert out[0].startswith("| configuration | changes | seed 0 | seed 1 |")
    # --reuse keeps a run whose params are unchanged and re-runs one whose params.yaml changed since
    kept = work / "baseline" / "seed0" / "scores.json"
    marker = kept.stat().st_mtime_ns
    fit_study.main(["--masks", str(tmp_path / "cars"), "--seeds", "0", "--params", str(tmp_path / "params.yaml"),
                    "--work", str(work), "--reuse"])
    assert kept.stat().st_mtime_ns == marker
    params["fit"]["iterations"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    fit_study.main(["--masks", str(tmp_path / "cars"), "--seeds", "0", "--params", str(tmp_path / "params.yaml"),
                    "--work", str(work), "--reuse"])
    assert kept.stat().st_mtime_ns != marker
    assert yaml.safe_load((work / "baseline" / "seed0" / "params.yaml").read_text())["fit"]["iterations"] == 3
