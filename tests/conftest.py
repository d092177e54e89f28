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
