"""Throughput and peak memory of the mesh backend with all annotations.

    python benchmarks/generation.py [--resolutions 256 512] [--num-samples 64] [--batch-size 16]

Prints one line per resolution and writes benchmarks/results/generation.json.
Target on 2 CPU cores: >= 20 samples/s at 256 px.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import torch

from synthforge_hf.pipelines.synthforge import SynthForgePipeline


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "generation.json")
    args = parser.parse_args()

    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    results = []
    for resolution in args.resolutions:
        pipe(
            num_samples=args.batch_size,
            resolution=resolution,
            seeds=list(range(args.batch_size)),
            output_type="np",
        )  # warm-up
        start = time.perf_counter()
        pipe(
            num_samples=args.num_samples,
            resolution=resolution,
            seeds=list(range(args.num_samples)),
            batch_size=args.batch_size,
            output_type="np",
        )
        elapsed = time.perf_counter() - start
        row = {
            "resolution": resolution,
            "samples": args.num_samples,
            "seconds": round(elapsed, 3),
            "samples_per_second": round(args.num_samples / elapsed, 2),
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }
        results.append(row)
        print(
            f"{resolution:4d} px: {row['samples_per_second']:6.2f} samples/s "
            f"({args.num_samples} samples in {elapsed:.2f} s), peak RSS {row['peak_rss_mib']} MiB"
        )
    report = {
        "benchmark": "mesh backend, default head, all annotations, output_type=np",
        "machine": {
            "cpu_count": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
