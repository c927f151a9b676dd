"""onnxruntime against PyTorch on the CPU: latency of the exported SB at batch 1 and 8.

    python benchmarks/onnx_runtime.py [--model DIR] [--repeats 10]     (default: the reference model)

Exports the model (`synthforge_hf.onnx_export.export_onnx`) to a temporary folder, then times the same
inputs through `onnxruntime.InferenceSession` and through the PyTorch model (`torch.inference_mode`), the
median of ``--repeats`` runs after two warm-ups, with the threads both libraries choose, and checks that
their landmarks agree. Writes benchmarks/results/onnx-runtime.json.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from recording import RESULTS, write_result

from synthforge_hf.constants import REFERENCE_MODEL
from synthforge_hf.models.synthforge import SynthForgeForFaceAnalysis
from synthforge_hf.onnx_export import export_onnx

ROOT = Path(__file__).resolve().parents[1]


def median_ms(run, argument, repeats: int) -> float:
    """Median milliseconds of ``run(argument)`` over ``repeats`` calls, after two warm-up calls."""
    for _ in range(2):
        run(argument)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(argument)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REFERENCE_MODEL))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS / "onnx-runtime.json")
    args = parser.parse_args()
    model = SynthForgeForFaceAnalysis.from_pretrained(args.model).eval()
    size = model.config.image_size
    rows = []
    with tempfile.TemporaryDirectory() as work:
        session = onnxruntime.InferenceSession(
            str(export_onnx(args.model, Path(work) / "model.onnx")), providers=["CPUExecutionProvider"]
        )
        for batch in (1, 8):
            pixels = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
            feed = {"pixel_values": pixels.numpy()}
            with torch.inference_mode():
                torch_ms = median_ms(model, pixels, args.repeats)
                expected = model(pixels).landmarks.numpy()
            onnx_ms = median_ms(functools.partial(session.run, None), feed, args.repeats)
            difference = float(np.abs(session.run(["landmarks"], feed)[0] - expected).max())
            row = {
                "batch": batch,
                "image_size": size,
                "pytorch_ms": torch_ms,
                "onnxruntime_ms": onnx_ms,
                "landmarks_max_difference_px": round(difference, 6),
            }
            print(row)
            rows.append(row)
    write_result(
        args.out,
        {
            "model": args.model,
            "torch_threads": torch.get_num_threads(),
            "onnxruntime": onnxruntime.__version__,
            "results": rows,
        },
    )


if __name__ == "__main__":
    main()
