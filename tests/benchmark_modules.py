"""Benchmark scripts loaded as modules, for tests of their helpers and readers of ../shared/real-faces."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:  # the scripts import their helpers (recording.py) as `python` runs them
    sys.path.append(str(BENCHMARKS))


def load_benchmark(filename: str) -> ModuleType:
    """``benchmarks/<filename>`` as a module."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{Path(filename).stem}", BENCHMARKS / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_real_faces_benchmark(filename: str) -> ModuleType:
    """``benchmarks/<filename>`` as a module; skips the test when its ``REAL_FACES`` folder is absent."""
    module = load_benchmark(filename)
    if not module.REAL_FACES.is_dir():
        pytest.skip(f"{module.REAL_FACES} is absent")
    return module
