"""Shared fixtures: the real-format asset folder and small meshes with known geometry."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# A fresh `datasets` cache for each test session (and its subprocesses): test folders reuse names
# across runs (tmp_path numbering), and a cache kept from an earlier run could answer for them.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="synthforge-tests-datasets-")

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


@pytest.fixture(scope="session")
def pipe():
    """The embedded default head's pipeline, built once (modules may define their own ``pipe``)."""
    from synthforge_hf.pipelines.synthforge import SynthForgePipeline

    return SynthForgePipeline.from_default_head()
