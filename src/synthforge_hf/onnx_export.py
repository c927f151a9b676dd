"""An SB as an ONNX file, for onnxruntime, transformers.js and other runtimes without PyTorch.

    synthforge export-onnx --out exported/model.onnx     # the reference model; --model DIR for another SB

The file takes ``pixel_values`` (batch, 3, size, size), the image processor's output, with a dynamic
batch axis, and gives ``landmarks`` (batch, 68, 2, model-input pixels, decoded as the PyTorch model
decodes them), ``logits`` (batch, classes, size, size), ``depth`` (batch, size, size, metres) and
``heatmaps`` (batch, 68, size / 4, size / 4). The model's config.json and preprocessor_config.json are
written beside it, so the processor that prepares its inputs and maps its outputs back
(`SynthForgeImageProcessor.from_pretrained(folder)`) travels with it. Exported with PyTorch's exporter
(``torch.onnx.export(..., dynamo=True)``); needs the ``onnx`` extra (onnx, onnxscript; onnxruntime to run).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import FolderError
from .models.synthforge import SynthForgeForFaceAnalysis, SynthForgeImageProcessor

OUTPUT_NAMES = ("landmarks", "logits", "depth", "heatmaps")
INSTALL_HINT = 'pip install "synthforge-hf[onnx]" (onnx, onnxscript and onnxruntime)'


class _Outputs(torch.nn.Module):
    """The SB's outputs as a tuple, in `OUTPUT_NAMES` order (what an ONNX graph returns)."""

    def __init__(self, model: SynthForgeForFaceAnalysis):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(pixel_values)
        return out.landmarks, out.logits, out.depth, out.heatmaps


def export_onnx(model_id: str | Path, out: str | Path, opset: int = 18) -> Path:
    """Export the SB of ``model_id`` (a folder or Hub id) to the ONNX file ``out``, with its config and
    image processor configuration beside it. Files already at those paths are refused, not replaced.

    Args:
        model_id (`str` or `Path`): a saved SB folder or Hub repo id.
        out (`str` or `Path`): the ``.onnx`` file to write.
        opset (`int`, *optional*, defaults to 18): the ONNX opset.

    Returns:
        `Path`: the written ONNX file.
    """
    out = Path(out)
    beside = (out, out.parent / "config.json", out.parent / "preprocessor_config.json")
    taken = [path for path in beside if path.exists()]
    if taken:
        raise FolderError(
            f"{taken[0]} exists: export-onnx writes {out.name}, config.json and "
            "preprocessor_config.json; use another --out"
        )
    try:
        import onnxscript  # noqa: F401  (the exporter needs it; fail with the hint before the export)
    except ImportError as err:
        raise ImportError(f"ONNX export needs onnx and onnxscript: {INSTALL_HINT}") from err
    model = SynthForgeForFaceAnalysis.from_pretrained(model_id).eval()
    processor = SynthForgeImageProcessor.from_pretrained(model_id)
    size = model.config.image_size
    example = torch.zeros(2, 3, size, size)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        _Outputs(model),
        (example,),
        str(out),
        input_names=["pixel_values"],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={"pixel_values": {0: torch.export.Dim("batch")}},
        opset_version=opset,
        dynamo=True,
        verbose=False,
    )
    model.config.save_pretrained(out.parent)
    processor.save_pretrained(out.parent)
    return out
