"""Shared test set-up: repo root on sys.path, analytics off, single-threaded determinism."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def default_params_text() -> str:
    return (ROOT / "params.yaml").read_text()


@pytest.fixture
def one_thread():
    """One torch thread: with the cores shared, OpenMP barriers of a second thread stall (see stages/synth.py);
    small convolutions gain nothing from a second thread. Modules take it with ``pytestmark``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
