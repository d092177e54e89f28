"""The scaffolding the fit loops share: settings from a params section, the NaN/Inf guard, logged iterations."""

import pytest
import torch

from inverse_graphics.errors import NonFiniteLossError, UserError
from inverse_graphics.fit.loop import FiniteGuard, log_iteration, settings_from_section
from inverse_graphics.fit.mesh_to_mesh import Fit3DSettings
from inverse_graphics.fit.silhouette_fit import SilhouetteFitSettings


def test_settings_from_a_params_section(default_params_text):
    import yaml

    params = yaml.safe_load(default_params_text)
    fit = settings_from_section(SilhouetteFitSettings, params["fit"])
    assert fit.lr_decay == params["fit"]["lr_decay"] and fit.iterations == params["fit"]["iterations"]
    fit3d = settings_from_section(Fit3DSettings, params["fit3d"] | {"w_quadric": 2.5})
    assert fit3d.w_quadric == 2.5 and not hasattr(fit3d, "target")  # paths are not settings


def test_guard_names_the_first_bad_term_and_the_iteration():
    faces = torch.zeros(2, 3, dtype=torch.long)
    guard = FiniteGuard("car_000", torch.zeros(4, 3), faces, what="mesh")
    good = torch.ones(4, 3)
    guard.check_terms({"chamfer": torch.tensor(1.0), "edge": torch.tensor(0.5)}, 0)
    guard.accept(good)
    good.add_(1.0)  # the guard keeps a copy, not the optimiser's live tensor
    with pytest.raises(NonFiniteLossError) as info:
        guard.check_terms({"chamfer": torch.tensor(1.0), "edge": torch.tensor(float("inf")),
                           "normal": torch.tensor(float("nan"))}, 7)
    err = info.value
    assert str(err) == "car_000: loss term 'edge' is inf at iteration 7; kept the last finite mesh"
    assert isinstance(err, UserError) and torch.equal(err.last_good_verts, torch.ones(4, 3)) and err.faces is faces


def test_guard_checks_the_parameters_and_works_without_a_mesh():
    guard = FiniteGuard("projection", torch.zeros(1, 512), what="latent")
    guard.check_params(torch.zeros(1, 512), "the step of iteration 3")
    bad = torch.zeros(1, 512)
    bad[0, 9] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"^projection: w became non-finite after the last step; "
                                                 r"kept the last finite latent$") as info:
        guard.check_params(bad, "the last step", "w")
    assert info.value.faces is None and info.value.last_good.shape == (1, 512)
    assert "overflow" in str(guard.fail("at iteration 2, area overflow"))


def test_logged_iterations():
    assert [i for i in range(25) if log_iteration(i, 25, 10)] == [0, 10, 20, 24]
    assert [i for i in range(3) if log_iteration(i, 3, 10)] == [0, 2]
