"""params.yaml validation: every error kind gives one line naming the dotted key."""

import copy
import importlib
import json
import subprocess
import sys

import pytest
import yaml

from inverse_graphics.errors import UserError
from inverse_graphics.params import SCHEMA, load_params, validate


@pytest.fixture
def raw(default_params_text):
    return yaml.safe_load(default_params_text)


def test_default_params_are_valid(raw):
    params = validate(raw)
    assert set(params) == set(SCHEMA)
    assert params["fit"]["iterations"] == 2000


def error_of(raw, sections=None) -> str:
    with pytest.raises(UserError) as info:
        validate(raw, sections)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_key(raw):
    raw["fit"]["w_edgee"] = 1.0
    assert error_of(raw).startswith("params.yaml: fit.w_edgee: unknown key")


def test_unknown_section(raw):
    raw["fitt"] = {}
    assert error_of(raw).startswith("params.yaml: fitt: unknown section")


def test_missing_key(raw):
    del raw["synth"]["camera"]["fov"]
    assert error_of(raw) == "params.yaml: synth.camera.fov: missing key"


def test_wrong_type(raw):
    raw["fit"]["iterations"] = "many"
    assert error_of(raw) == "params.yaml: fit.iterations: expected int, got str 'many'"


def test_bool_is_not_an_int(raw):
    raw["fit"]["iterations"] = True
    assert "fit.iterations: expected int" in error_of(raw)


def test_int_is_accepted_for_float(raw):
    raw["fit"]["lr"] = 1
    assert validate(raw)["fit"]["lr"] == 1.0 and isinstance(validate(raw)["fit"]["lr"], float)


def test_shape_prior_keys_are_checked(raw):
    """``fit.shape_prior`` holds only fit settings the prior may replace, each checked like ``fit``'s own."""
    raw["fit"]["shape_prior"]["w_laplacian"] = -2.0
    assert error_of(raw) == "params.yaml: fit.shape_prior.w_laplacian: must be >= 0.0, got -2.0"
    raw["fit"]["shape_prior"]["w_laplacian"] = 2.0
    raw["fit"]["shape_prior"]["mirror_axis"] = "w"
    assert error_of(raw) == "params.yaml: fit.shape_prior.mirror_axis: expected one of ['x', 'y', 'z'], got 'w'"
    raw["fit"]["shape_prior"]["mirror_axis"] = None  # a free mesh
    raw["fit"]["shape_prior"]["sigma"] = 4e-4  # the renderer's sigma is render.sigma at every fit's own size
    assert error_of(raw).startswith("params.yaml: fit.shape_prior.sigma: unknown key")
    del raw["fit"]["shape_prior"]["sigma"]
    raw["fit"]["shape_prior"]["lr"] = 0.5
    assert error_of(raw).startswith("params.yaml: fit.shape_prior.lr: unknown key")


def test_bad_choice(raw):
    raw["fit"]["optimizer"] = "lbfgs"
    assert error_of(raw) == "params.yaml: fit.optimizer: expected one of ['sgd', 'adam'], got 'lbfgs'"


def test_out_of_range(raw):
    raw["fit"]["w_edge"] = -1.0
    assert error_of(raw) == "params.yaml: fit.w_edge: must be >= 0.0, got -1.0"
    raw["fit"]["w_edge"] = 1.0
    raw["fit"]["lr_decay"] = 1.5
    assert error_of(raw) == "params.yaml: fit.lr_decay: must be <= 1.0, got 1.5"


def test_null_not_allowed(raw):
    raw["fit3d"]["target"] = None
    assert "fit3d.target: must not be null" in error_of(raw)


def test_fit_image_size_null_or_at_least_16(raw):
    raw["fit"]["image_size"] = None  # each object's own resolution
    assert validate(raw)["fit"]["image_size"] is None
    raw["fit"]["image_size"] = 8
    assert error_of(raw) == "params.yaml: fit.image_size: must be >= 16, got 8"


def test_cross_field_checks(raw):
    raw["synth"]["camera"]["elev_min"] = 40.0
    assert "synth.camera.elev_min" in error_of(raw)
    raw["synth"]["camera"]["elev_min"] = 0.0
    raw["synth"]["source"] = "folder"
    assert error_of(raw) == "params.yaml: synth.folder: required when synth.source is 'folder'"


def test_only_requested_sections_are_validated(raw):
    del raw["fit3d"]
    assert set(validate(raw, ["fit"])) == {"fit"}
    assert error_of(raw) == "params.yaml: fit3d: missing section"


def test_load_params_reports_missing_and_bad_yaml(tmp_path):
    with pytest.raises(UserError, match="params.yaml: file not found"):
        load_params(path=tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("fit: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(path=tmp_path / "params.yaml")


@pytest.mark.parametrize("stage", ["fit_mesh", "fit_mesh_3d"])
def test_stage_exits_2_with_one_line(tmp_path, repo_root, raw, stage):
    raw["fit"]["momentum"] = "high"
    raw["fit3d"]["momentum"] = "high"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    paths = importlib.import_module(f"stages.{stage}").PATHS
    flags = [arg for name in paths for arg in (f"--{name}", f"out/{name}")]
    proc = subprocess.run(
        [sys.executable, "-m", f"stages.{stage}", *flags],
        cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(repo_root), "PATH": ""},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: params.yaml: fit") and ".momentum: expected float" in lines[0]
    assert not (tmp_path / "out").exists()  # stopped before any work


def test_render_blend_and_sigma_final(raw):
    raw["render"]["blend"] = "softmax"
    assert error_of(raw, ["render"]).startswith("params.yaml: render.blend: expected one of")
    raw["render"]["blend"] = "product"
    raw["render"]["warmup_blend"] = 3
    assert error_of(raw, ["render"]).startswith("params.yaml: render.warmup_blend: expected str")
    raw["render"]["warmup_blend"] = None
    raw["render"]["sigma_final"] = -1.0
    assert error_of(raw, ["render"]).startswith("params.yaml: render.sigma_final: must be >=")
    raw["render"]["sigma_final"] = None
    assert validate(raw, ["render"])["render"]["sigma_final"] is None
    raw["render"]["sigma_size"] = 8
    assert error_of(raw, ["render"]).startswith("params.yaml: render.sigma_size: must be >= 16")
    raw["render"]["sigma_size"] = None  # sigma in NDC units at every size, PyTorch3D's convention
    assert validate(raw, ["render"])["render"]["sigma_size"] is None


def test_blend_names_match_the_renderer():
    from inverse_graphics.params import BLENDS
    from inverse_graphics.render.soft_raster import BLENDS as RENDERER_BLENDS

    assert BLENDS == RENDERER_BLENDS


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("blend", "contour", "render.blend: the pytorch3d backend is the tutorial's 'product'"),
        ("warmup_blend", "contour", "render.warmup_blend: the pytorch3d backend is the tutorial's 'product'"),
        ("sigma_final", 1e-5, "render.sigma_final: must be null"),
    ],
)
def test_pytorch3d_backend_is_only_the_tutorial(raw, key, value, message):
    raw["render"] |= {"backend": "pytorch3d", "blend": "product", "warmup_blend": None, "sigma_final": None}
    assert validate(raw, ["render"])["render"]["backend"] == "pytorch3d"
    raw["render"][key] = value
    assert error_of(raw, ["render"]).startswith(f"params.yaml: {message}")


def test_segment_params(raw):
    raw["segment"]["arch"] = "resnet101"
    assert error_of(raw).startswith("params.yaml: segment.arch: expected one of ['mobilenet_v3_large', 'resnet50']")
    raw["segment"]["arch"] = "mobilenet_v3_large"
    for size in (None, 64, 96):
        raw["segment"]["read_size"] = size
        assert validate(raw, ["segment"])["segment"]["read_size"] == size
    raw["segment"]["read_size"] = 72
    assert error_of(raw) == ("params.yaml: segment.read_size: expected a multiple of 16 (the backbone's output "
                             "stride) or null, got 72")


def test_segmenter_background_lists(raw):
    bad = yaml.safe_load(yaml.safe_dump(raw))
    bad["train_segmenter"]["backgrounds"] = ["noise", "plaid"]
    assert error_of(bad).startswith("params.yaml: train_segmenter.backgrounds[1]: expected one of")
    bad["train_segmenter"]["backgrounds"] = "noise"
    assert error_of(bad) == "params.yaml: train_segmenter.backgrounds: expected a list, got str 'noise'"
    bad["train_segmenter"]["backgrounds"] = []
    assert error_of(bad).startswith("params.yaml: train_segmenter.backgrounds: expected at least 1 item")
    raw["train_segmenter"]["backgrounds"] = ["noise", "scene"]  # the evaluation family may not be trained on
    assert error_of(raw).startswith("params.yaml: segment.eval_background: must be a family not in")


@pytest.mark.parametrize("edit, expected", [
    (lambda mv: mv.update(space="z"), "params.yaml: multiview.space: expected one of ['w', 'w+'], got 'z'"),
    (lambda mv: mv["rig"].update(elevations=["low"]), "params.yaml: multiview.rig.elevations: expected a non-empty"),
    (lambda mv: mv["rig"].update(elevations=[10.0, 95.0]), "params.yaml: multiview.rig.elevations: angles must lie"),
    (lambda mv: mv["rig"].update(views=1), "params.yaml: multiview.rig.views: fewer views than rings"),
    (lambda mv: mv["pose"].update(elev_range=[30.0, 0.0]), "params.yaml: multiview.pose.elev_range: expected [low, high]"),
    (lambda mv: mv["pose"].update(elev_range=[0.0]), "params.yaml: multiview.pose.elev_range: expected 2 numbers"),
    (lambda mv: mv["distance"].update(lpips=1.0), "params.yaml: multiview.distance.lpips: needs"),
    (lambda mv: mv["distance"].update(pixel=0.0, critic=0.0), "params.yaml: multiview.distance: every term has weight 0"),
    (lambda mv: mv.update(steps=0), "params.yaml: multiview.steps: must be >= 1"),
    (lambda mv: mv["pose"].update(starts=2, start_steps=5000), "params.yaml: multiview.pose.start_steps: must be <"),
])
def test_bad_multiview_values(raw, edit, expected):
    edit(raw["multiview"])
    assert error_of(raw).startswith(expected)


def test_the_camera_teacher_must_be_another_network_than_the_critic(tmp_path, repo_root, raw):
    """train_camera_teacher refuses the critic's own seed: the critic that measures G must not have taught it."""
    raw["camera_teacher"]["seed"] = raw["critic"]["seed"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run(
        [sys.executable, "-m", "stages.train_camera_teacher", "--data", "d", "--out", "out", "--metrics", "m.json"],
        cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(repo_root), "PATH": ""},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: params.yaml: camera_teacher.seed: 0 is critic.seed; the teacher must be "
                                   "another network than the critic that measures pose_error_deg")
    assert not (tmp_path / "out").exists()


def test_the_mask_teacher_must_be_another_network_than_the_segmenter(tmp_path, repo_root, raw):
    """train_mask_teacher refuses the segmenter's own seed: the segmenter that measures G must not have taught it."""
    raw["mask_teacher"]["seed"] = raw["train_segmenter"]["seed"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run(
        [sys.executable, "-m", "stages.train_mask_teacher", "--dataset", "d", "--out", "out", "--metrics", "m.json",
         "--plots", "p", "--info", "i.json"],
        cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(repo_root), "PATH": ""},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: params.yaml: mask_teacher.seed: 0 is train_segmenter.seed; the teacher "
                                   "must be another network than the segmenter that measures hull_consistency_iou")
    assert not (tmp_path / "out").exists()


def test_the_mask_teacher_is_not_trained_while_nothing_reads_it(tmp_path, repo_root, raw):
    """gan.consistency_weight 0 (the default): train_mask_teacher writes notes and trained: false, and reads no data
    (the dataset path does not exist); test_gan_train checks that a fine-tune with a weight refuses the note."""
    assert raw["gan"]["consistency_weight"] == 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run(
        [sys.executable, "-m", "stages.train_mask_teacher", "--dataset", "missing", "--out", "out", "--metrics",
         "m.json", "--plots", "p", "--info", "i.json"],
        cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(repo_root), "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "m.json").read_text()) == {"trained": False}
    assert json.loads((tmp_path / "i.json").read_text())["trained"] is False
    for folder in ("out", "p"):
        assert [p.name for p in (tmp_path / folder).iterdir()] == ["not_trained.txt"]
    assert "gan.consistency_weight is 0" in (tmp_path / "out" / "not_trained.txt").read_text()


def test_the_camera_teacher_is_not_trained_while_nothing_reads_it(tmp_path, repo_root, raw):
    """gan.camera_weight 0 (the default): train_camera_teacher writes a note and trained: false and reads no data;
    with a weight it trains, so here it fails on the missing data set instead of writing the note."""
    assert raw["gan"]["camera_weight"] == 0
    command = [sys.executable, "-m", "stages.train_camera_teacher", "--data", "missing", "--out", "out",
               "--metrics", "m.json"]
    env = {"PYTHONPATH": str(repo_root), "PATH": ""}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "m.json").read_text()) == {"trained": False}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["not_trained.txt"]
    assert "gan.camera_weight is 0" in (tmp_path / "out" / "not_trained.txt").read_text()
    weighted = copy.deepcopy(raw)
    weighted["gan"]["camera_weight"] = 10.0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(weighted))
    (tmp_path / "m.json").unlink()
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "missing" in proc.stderr and not (tmp_path / "m.json").exists()
