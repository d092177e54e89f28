"""The shipped base generator (``assets/gan/base-64.pt``): small enough for git, safe to load, and a full match for
the default fine-tune's network, with its recipe and curves describing the same run."""

import csv
import json
import sys
from pathlib import Path

import pytest

from inverse_graphics.gan.checkpoint import read_snapshot, transfer_weights
from inverse_graphics.gan.train import NetworkConfig, build_networks
from inverse_graphics.params import load_params

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "gan"


def test_the_shipped_base_fits_the_default_network_and_its_recipe():
    path = ASSETS / "base-64.pt"
    assert path.stat().st_size <= 20e6
    payload = read_snapshot(path)  # torch.load(weights_only=True): no code runs
    assert payload["opt_G"] is None and payload["opt_D"] is None and payload["G"] is None  # weights only

    network = load_params(["gan"])["gan"]["network"]
    config = NetworkConfig(label_dim=3, **network)
    state = build_networks(config, seed=0)
    for name in ("G_ema", "D", "D_pair"):  # every tensor of the default network comes from the file
        report = transfer_weights(getattr(state, name), payload[name])
        assert not report["shape_mismatch"] and not report["missing_in_source"] and not report["unused"], name

    recipe = json.loads((ASSETS / "base-64-recipe.json").read_text())
    assert all(recipe["config"][key] == value for key, value in network.items())
    kimg = payload["total_nimg"] / 1000
    assert recipe["phases"][-1]["kimg"][1] == round(kimg)
    with open(ASSETS / "base-64-curves.csv") as f:
        assert abs(float(list(csv.DictReader(f))[-1]["total_kimg"]) - kimg) < 1.0


def test_the_base_script_refuses_a_consistency_term_without_a_mask_teacher(tmp_path, monkeypatch, capsys):
    from scripts import train_base_gan

    monkeypatch.setattr(sys, "argv", ["train_base_gan.py", "--out", str(tmp_path / "run"), "--consistency-weight",
                                      "10", "--mask-teacher", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit) as exit_info:
        train_base_gan.main()
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--mask-teacher" in message and "segmenter.pt" in message and "nowhere" in message
    assert not (tmp_path / "run").exists()  # refused before rendering or writing anything
