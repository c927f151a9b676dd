"""The real-faces protocol: a 300W-format folder built from the photos' face crops gives, through
`evaluate`, the NME computed by hand from the same crops mapped back into the photos."""

from __future__ import annotations

import pytest
import torch

from synthforge_hf.data.framing import Framing
from synthforge_hf.evaluation.benchmarks import evaluate
from synthforge_hf.evaluation.metrics import nme
from synthforge_hf.evaluation.readers import Face300W
from synthforge_hf.models.synthforge import (
    SynthForgeConfig,
    SynthForgeForFaceAnalysis,
    SynthForgeImageProcessor,
)

from .benchmark_modules import load_real_faces_benchmark


@pytest.fixture(scope="module")
def real_faces_module():
    return load_real_faces_benchmark("real_faces.py")


def test_evaluate_on_the_crops_equals_the_nme_by_hand(real_faces_module, tmp_path):
    torch.manual_seed(0)
    model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
    framing = Framing(0.55, (-0.01, -0.14))
    size = model.config.image_size
    predicted, target = real_faces_module.real_faces(model, framing, "landmarks")  # photo pixels
    assert predicted.shape == target.shape == (43, 68, 2)
    by_hand = nme(predicted[18:], target[18:])  # the 25 faces of the testing XML
    folder = real_faces_module.write_300w_folder(tmp_path / "300W", framing, size)
    assert len(Face300W(folder, "train")) == 18
    result = evaluate(model, SynthForgeImageProcessor(size=size), "300w", Face300W(folder, "common"))
    assert result["samples"] == 25
    assert result["nme"] == pytest.approx(float(by_hand.mean()), rel=1e-4)
