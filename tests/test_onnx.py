"""ONNX export (`synthforge export-onnx`, in a fresh process): the file runs in onnxruntime with the PyTorch
model's outputs, at any batch size."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from synthforge_hf.errors import FolderError
from synthforge_hf.models.synthforge import (
    SynthForgeConfig,
    SynthForgeForFaceAnalysis,
    SynthForgeImageProcessor,
)
from synthforge_hf.onnx_export import OUTPUT_NAMES, export_onnx

ort = pytest.importorskip("onnxruntime", reason="the ONNX export needs the `onnx` extra")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
    with torch.no_grad():  # biases away from zero, so every output carries the weights' values
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.add_(0.1 * torch.randn_like(parameter))
    model.save_pretrained(folder / "sb")
    SynthForgeImageProcessor(size=64).save_pretrained(folder / "sb")
    command = [
        sys.executable,
        "-m",
        "synthforge_hf.cli",
        "export-onnx",
        "--model",
        "sb",
        "--out",
        "onnx/model.onnx",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote onnx/model.onnx" in result.stdout
    return model, folder / "onnx" / "model.onnx"


@pytest.mark.parametrize("batch", [1, 3])
def test_onnxruntime_gives_the_models_outputs(exported, batch):
    model, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)
    pixels = torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(batch))
    landmarks, logits, depth, heatmaps = session.run(None, {"pixel_values": pixels.numpy()})
    with torch.no_grad():
        expected = model(pixels)
    assert landmarks.shape == (batch, 68, 2)
    np.testing.assert_allclose(landmarks, expected.landmarks.numpy(), rtol=1e-4, atol=64 * 1e-4)
    np.testing.assert_allclose(logits, expected.logits.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(depth, expected.depth.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(heatmaps, expected.heatmaps.numpy(), rtol=1e-4, atol=1e-5)
    assert np.ptp(landmarks) > 1.0  # points spread over the image, not one spot


def test_the_processor_travels_with_the_file(exported):
    _, path = exported
    processor = SynthForgeImageProcessor.from_pretrained(path.parent)
    assert processor.size == {"height": 64, "width": 64}
    assert json.loads((path.parent / "config.json").read_text())["model_type"] == "synthforge"


def test_existing_files_are_not_replaced(exported, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"mine")
    with pytest.raises(FolderError, match="model.onnx exists"):
        export_onnx(exported[1].parent, tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").read_bytes() == b"mine"
