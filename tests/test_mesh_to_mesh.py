"""The 3D fit: converges on the fox, repeats bitwise for a seed, stops cleanly on NaN/Inf."""

from pathlib import Path

import pytest
import torch

from inverse_graphics.errors import NonFiniteLossError, UserError
from inverse_graphics.fit.mesh_to_mesh import Fit3DSettings, fit_mesh_to_mesh
from inverse_graphics.mesh.io import load_mesh

FOX = Path(__file__).resolve().parents[1] / "assets" / "fox.obj"
SHORT = Fit3DSettings(ico_level=2, iterations=150, num_samples=1000, log_every=10)


@pytest.fixture(scope="module")
def fox():
    return load_mesh(FOX)


@pytest.fixture(scope="module")
def short_fit(fox):
    return fit_mesh_to_mesh(*fox, SHORT, progress=False)


def test_short_fit_brings_chamfer_down(short_fit):
    first, last = short_fit.history[0], short_fit.history[-1]
    assert last["iteration"] == SHORT.iterations - 1
    assert set(first) == {"iteration", "loss", "chamfer", "edge", "normal", "laplacian", "quadric"}
    assert last["chamfer"] < first["chamfer"] / 5
    assert short_fit.verts.shape == (162, 3) and short_fit.faces.shape == (320, 3)
    assert len(short_fit.history) == SHORT.iterations // SHORT.log_every + 1  # and the last iteration


def test_fit_is_bitwise_repeatable(fox, short_fit):
    again = fit_mesh_to_mesh(*fox, SHORT, progress=False)
    assert torch.equal(again.verts, short_fit.verts)
    assert again.history == short_fit.history


def test_adam_and_quadric_weight_run(fox):
    settings = Fit3DSettings(ico_level=1, iterations=30, num_samples=500, optimizer="adam", lr=0.01, w_quadric=1.0)
    result = fit_mesh_to_mesh(*fox, settings, progress=False)
    assert result.history[-1]["quadric"] < result.history[0]["quadric"]


def test_divergence_raises_with_the_last_finite_mesh(fox):
    settings = Fit3DSettings(ico_level=1, iterations=200, num_samples=200, lr=1e6)
    with pytest.raises(NonFiniteLossError, match=r"iteration \d+") as info:
        fit_mesh_to_mesh(*fox, settings, progress=False)
    err = info.value
    assert isinstance(err, UserError) and "\n" not in str(err)
    assert any(why in str(err) for why in ("loss term '", "vertices became non-finite", "surface area"))
    assert err.last_good_verts.shape == (42, 3) and torch.isfinite(err.last_good_verts).all()
    assert err.faces.shape == (80, 3)


def test_a_nan_term_is_named_with_its_iteration(fox, monkeypatch):
    from inverse_graphics.fit import mesh_to_mesh

    original, calls = mesh_to_mesh.laplacian_loss, []

    def laplacian_nan_on_third_call(verts, topo, method):
        calls.append(1)
        value = original(verts, topo, method)
        return value * float("nan") if len(calls) == 3 else value

    monkeypatch.setattr(mesh_to_mesh, "laplacian_loss", laplacian_nan_on_third_call)
    with pytest.raises(NonFiniteLossError, match="loss term 'laplacian' is nan at iteration 2") as info:
        fit_mesh_to_mesh(*fox, Fit3DSettings(ico_level=1, iterations=10, num_samples=100), progress=False)
    assert torch.isfinite(info.value.last_good_verts).all()


def test_poisoned_target_is_rejected(fox):
    verts, faces = fox
    poisoned = verts.clone()
    poisoned[3, 1] = float("nan")
    with pytest.raises(UserError, match="non-finite"):
        fit_mesh_to_mesh(poisoned, faces, SHORT, progress=False)


def test_unknown_optimizer_is_rejected(fox):
    with pytest.raises(ValueError, match="optimizer"):
        fit_mesh_to_mesh(*fox, Fit3DSettings(ico_level=0, iterations=1, optimizer="lbfgs"), progress=False)
