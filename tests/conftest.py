"""Shared fixtures: the real-format asset folder, the device tests run on, and the default pipeline.

Tests whose assertions do not depend on the device take ``torch_device``: CUDA when present, else the
CPU; ``SYNTHFORGE_TEST_DEVICE`` (cpu, cuda, cuda:1, ...) overrides it. Tests marked ``gpu`` need CUDA
and are skipped without it (``pytest -m gpu`` runs only them).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# A fresh `datasets` cache for each test session (and its subprocesses): test folders reuse names
# across runs (tmp_path numbering), and a cache kept from an earlier run could answer for them.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="synthforge-tests-datasets-")

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
DEVICE_VARIABLE = "SYNTHFORGE_TEST_DEVICE"
_DEVICE_KEY = pytest.StashKey[str]()


def _test_device() -> str:
    import torch

    name = os.environ.get(DEVICE_VARIABLE) or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise pytest.UsageError(f"{DEVICE_VARIABLE}={name!r} is not a torch device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError(f"{DEVICE_VARIABLE}={name!r}, but torch finds no CUDA device")
    return name


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_DEVICE_KEY] = _test_device()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def torch_device(pytestconfig) -> str:
    """The device of the device-independent tests (see the module docstring)."""
    return pytestconfig.stash[_DEVICE_KEY]


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
def pipe(torch_device):
    """The embedded default head's pipeline on ``torch_device``, built once (modules may define their own
    ``pipe``)."""
    from synthforge_hf.pipelines.synthforge import SynthForgePipeline

    return SynthForgePipeline.from_default_head().to(torch_device)
