"""Shared fixtures: the real-format asset folder and small meshes with known geometry."""

from __future__ import annotations

from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    if not ASSETS.is_dir():
        pytest.skip(f"real-format assets not found at {ASSETS} (CI provides ../shared/assets)")
    return ASSETS


@pytest.fixture(scope="session")
def flame_template(assets_dir):
    from synthforge_hf.io.obj import read_obj

    return read_obj(assets_dir / "flame" / "head_template.obj")
