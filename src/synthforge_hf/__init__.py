"""SynthForge for the Hugging Face ecosystem: annotated synthetic faces and face-analysis models.

Public classes are imported lazily, so ``import synthforge_hf`` stays cheap; diffusers finds pipeline
components as attributes of this package. Importing it registers the ``face-analysis`` task with
transformers' ``pipeline()`` (when transformers' pipelines load; see `synthforge_hf.registration`).
"""

from __future__ import annotations

import importlib
from typing import Any

from . import registration as _registration

__version__ = "0.1.0"

_EXPORTS = {
    "ParametricHeadModel": "synthforge_hf.head.model",
    "HeadOutput": "synthforge_hf.head.model",
    "build_default_head": "synthforge_hf.head.default_head",
    "load_flame": "synthforge_hf.head.flame",
    "load_flame_from_dir": "synthforge_hf.head.flame",
    "load_ict_facekit": "synthforge_hf.head.ict_facekit",
    "FaceAnnotator": "synthforge_hf.rendering.annotator",
    "Cameras": "synthforge_hf.rendering.cameras",
    "FaceGenerator": "synthforge_hf.generators.base",
    "MeshFaceGenerator": "synthforge_hf.generators.mesh",
    "Next3DFaceGenerator": "synthforge_hf.generators.next3d.generator",
    "convert_next3d": "synthforge_hf.pipelines.synthforge.next3d_conversion",
    "SynthForgePipeline": "synthforge_hf.pipelines.synthforge",
    "SynthForgePipelineOutput": "synthforge_hf.pipelines.synthforge",
    "SamplingRanges": "synthforge_hf.pipelines.synthforge",
    "FaceAnalysisPipeline": "synthforge_hf.analysis_pipeline",
    "REFERENCE_MODEL": "synthforge_hf.constants",
}

__all__ = [*_EXPORTS, "__version__"]

_registration.install()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'synthforge_hf' has no attribute {name!r}")
