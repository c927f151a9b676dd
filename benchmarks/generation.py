"""Throughput, time per part and peak memory of the mesh backend with all annotations.

    python benchmarks/generation.py [--resolutions 256 512] [--num-samples 64] [--batch-size 16]
        [--repeats 3] [--rasterizer auto|zbuffer|open3d|pytorch3d] [--device cpu|cuda]
        [--generator-option NAME=VALUE ...] [--out FILE]

Prints one line per resolution and writes benchmarks/results/generation.json: samples/s of the best of
``--repeats`` timed runs, the process CPU time per sample, and the wall time per sample spent in the head
model, the annotator and the image backend (hooks on the pipeline's modules). The machine's load average
is recorded before and after: on shared cores, figures taken under load are slower than the machine's.
``--generator-option`` sets a `MeshFaceGenerator` configuration value (e.g. ``clothing=true``), to time
the appearance parts. Target on 2 CPU cores: >= 20 samples/s at 256 px.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import time
from collections import defaultdict
from pathlib import Path

import torch
from recording import name_value_options, write_result

from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.rendering.annotator import FaceAnnotator

PARTS = ("head_model", "annotator", "face_generator")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class PartTimer:
    """Wall seconds spent in each of `PARTS` of a pipeline, by forward hooks on its modules."""

    def __init__(self, pipe: SynthForgePipeline, device: str):
        self.seconds: dict[str, float] = defaultdict(float)
        self._start: dict[str, float] = {}
        self._cuda = torch.device(device).type == "cuda"
        for name in PARTS:
            module = getattr(pipe, name)
            module.register_forward_pre_hook(functools.partial(self._enter, name))
            module.register_forward_hook(functools.partial(self._leave, name))

    def _now(self) -> float:
        if self._cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def _enter(self, name: str, _module, _args) -> None:
        self._start[name] = self._now()

    def _leave(self, name: str, _module, _args, _output) -> None:
        self.seconds[name] += self._now() - self._start[name]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per resolution; the best is kept")
    parser.add_argument("--rasterizer", default="auto", help="the annotator's rasterizer backend")
    parser.add_argument("--device", default="cpu", help="where the pipeline runs (cpu, cuda)")
    parser.add_argument("--generator-option", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "generation.json")
    args = parser.parse_args()

    generator_options = name_value_options(args.generator_option, "--generator-option")
    pipe = SynthForgePipeline.from_assets(
        "default", MeshFaceGenerator(**generator_options), FaceAnnotator(rasterizer=args.rasterizer)
    ).to(args.device)
    pipe.set_progress_bar_config(disable=True)
    timer = PartTimer(pipe, args.device)
    load_before = os.getloadavg()[0]
    results = []
    for resolution in args.resolutions:
        run = dict(resolution=resolution, seeds=list(range(args.num_samples)), batch_size=args.batch_size)
        pipe(**{**run, "seeds": run["seeds"][: args.batch_size]}, output_type="np")  # warm-up
        best = None
        for _ in range(args.repeats):
            timer.seconds.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            pipe(**run, output_type="np")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if best is None or wall < best["seconds"]:
                parts = {name: round(timer.seconds[name] / args.num_samples * 1e3, 1) for name in PARTS}
                best = {
                    "seconds": wall,
                    "cpu_ms_per_sample": round(cpu / args.num_samples * 1e3, 1),
                    "parts": parts,
                }
        row = {
            "resolution": resolution,
            "samples": args.num_samples,
            "seconds": round(best["seconds"], 3),
            "samples_per_second": round(args.num_samples / best["seconds"], 2),
            "cpu_ms_per_sample": best["cpu_ms_per_sample"],
            "wall_ms_per_sample_by_part": best["parts"],
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }
        results.append(row)
        print(
            f"{resolution:4d} px: {row['samples_per_second']:6.2f} samples/s "
            f"({args.num_samples} samples in {row['seconds']:.2f} s, {row['cpu_ms_per_sample']} CPU ms each; "
            f"ms/sample {best['parts']}), peak RSS {row['peak_rss_mib']} MiB"
        )
    report = {
        "benchmark": "mesh backend, default head, all annotations, output_type=np",
        "generator_options": generator_options,
        "rasterizer": pipe.annotator.config.rasterizer,
        "device": str(args.device),
        "threads": torch.get_num_threads(),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "results": results,
    }
    write_result(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
