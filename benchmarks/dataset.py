"""Cost of writing the dataset, and streaming read speed.

    python benchmarks/dataset.py [--num-samples 256] [--resolution 256] [--batch-size 16]

Measures, on the same samples: the pipeline alone; the whole job (generation + PNG encoding +
parquet writing, `generate_dataset`); and reading the written shards back with
`load_dataset(..., streaming=True)` (decoded rows, and batches through `collate_rows`).
Target: writing costs <= 10% of generation time. Writes benchmarks/results/dataset.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does; must precede importing torch

import torch  # noqa: E402
from datasets import load_dataset
from recording import write_result
from torch.utils.data import DataLoader

from synthforge_hf.data.generate import generate_dataset
from synthforge_hf.data.shards import sample_seed
from synthforge_hf.data.torch_data import collate_rows
from synthforge_hf.pipelines.synthforge import SynthForgePipeline


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shard-size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "dataset.json")
    args = parser.parse_args()

    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    seeds = [sample_seed(0, "train", i) for i in range(args.num_samples)]
    pipe(seeds=seeds[: args.batch_size], resolution=args.resolution, output_type="np")  # warm-up

    start = time.perf_counter()
    for begin in range(0, args.num_samples, args.batch_size):
        pipe(seeds=seeds[begin : begin + args.batch_size], resolution=args.resolution, output_type="np")
    pipeline_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        generate_dataset(
            pipe,
            folder,
            {"train": args.num_samples},
            shard_size=args.shard_size,
            resolution=args.resolution,
            batch_size=args.batch_size,
            progress=False,
        )
        job_seconds = time.perf_counter() - start
        size_mib = sum(p.stat().st_size for p in Path(folder, "data").glob("*.parquet")) / 2**20

        stream = load_dataset(folder, split="train", streaming=True)
        start = time.perf_counter()
        rows = sum(1 for _ in stream)
        rows_seconds = time.perf_counter() - start
        start = time.perf_counter()
        batches = sum(1 for _ in DataLoader(stream, batch_size=args.batch_size, collate_fn=collate_rows))
        batch_seconds = time.perf_counter() - start

    overhead = job_seconds / pipeline_seconds - 1
    result = {
        "resolution": args.resolution,
        "samples": args.num_samples,
        "pipeline_samples_per_second": round(args.num_samples / pipeline_seconds, 2),
        "job_samples_per_second": round(args.num_samples / job_seconds, 2),
        "writing_overhead_percent": round(100 * overhead, 1),
        "parquet_mib": round(size_mib, 2),
        "kib_per_sample": round(size_mib * 1024 / args.num_samples, 1),
        "stream_rows_per_second": round(rows / rows_seconds, 1),
        "stream_batches_samples_per_second": round(args.num_samples / batch_seconds, 1),
        "batches": batches,
        "torch_threads": torch.get_num_threads(),
    }
    print(
        f"{args.resolution} px: pipeline {result['pipeline_samples_per_second']} samples/s, job "
        f"{result['job_samples_per_second']} samples/s (writing +{result['writing_overhead_percent']}%), "
        f"{result['kib_per_sample']} KiB/sample; streaming {result['stream_rows_per_second']} rows/s, "
        f"{result['stream_batches_samples_per_second']} samples/s as torch batches"
    )
    write_result(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
