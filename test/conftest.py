"""Shared pytest setup: headless MuJoCo rendering and the repository paths."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (holds package.xml, urdf/, config/, launch/)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def cell():
    """The shipped cell description."""
    from factory_ai.config import load_cell_description

    return load_cell_description()
