"""Training throughput, peak memory and inference latency of the SB configurations.

    python benchmarks/training.py [--configs tiny small paper] [--steps 10] [--device cpu]
        [--normalization batch group] [--memory-formats channels_last contiguous] [--precisions bf16 no]

For each configuration, normalisation, memory format and precision: training samples/s (forward +
backward + AdamW step with all losses and the SSL loss, on random inputs of the configuration's
image size), peak memory (RSS on CPU, allocated on CUDA), and inference latency per 256 px image
(batch 1). Target: < 150 ms for `tiny` on CPU.
Writes benchmarks/results/training.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import time
from pathlib import Path

import torch

from synthforge_hf.models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CONFIGS = {"tiny": SynthForgeConfig.tiny, "small": SynthForgeConfig.small, "paper": SynthForgeConfig}


def benchmark(
    name: str,
    steps: int,
    batch_size: int,
    device: torch.device,
    normalization: str = "batch",
    memory_format: str = "channels_last",
    precision: str = "no",
) -> dict:
    config = CONFIGS[name](normalization=normalization)
    torch.manual_seed(0)
    layout = getattr(torch, f"{memory_format}_format" if memory_format == "contiguous" else memory_format)
    model = SynthForgeForFaceAnalysis(config).to(device, memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    size = config.image_size
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16, enabled=precision != "no"
    )
    inputs = {
        "pixel_values": torch.randn(batch_size, 3, size, size, device=device).contiguous(
            memory_format=layout
        ),
        "labels": torch.randint(0, config.num_labels, (batch_size, size, size), device=device),
        "depth": torch.rand(batch_size, size, size, device=device),
        "landmarks": torch.rand(batch_size, config.num_landmarks, 2, device=device) * size,
    }
    model.train()
    for step in range(steps + 2):  # two warm-up steps
        if step == 2:
            synchronize(device)
            start = time.perf_counter()
        with autocast:
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    synchronize(device)
    train_seconds = time.perf_counter() - start
    model.eval()
    image = torch.randn(1, 3, 256, 256, device=device).contiguous(memory_format=layout)
    with torch.inference_mode(), autocast:
        for _ in range(3):
            model(image)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(10):
            model(image)
        synchronize(device)
    latency = (time.perf_counter() - start) / 10
    return {
        "config": name,
        "normalization": normalization,
        "memory_format": memory_format,
        "precision": precision,
        "parameters_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "train_image_size": size,
        "batch_size": batch_size,
        "train_samples_per_second": round(steps * batch_size / train_seconds, 2),
        "peak_memory_mib": round(peak_memory_mib(device), 1),
        "inference_ms_256px": round(latency * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", nargs="+", default=["tiny", "small", "paper"], choices=CONFIGS)
    parser.add_argument("--normalization", nargs="+", default=["batch"], choices=["batch", "group"])
    parser.add_argument(
        "--memory-formats", nargs="+", default=["channels_last"], choices=["channels_last", "contiguous"]
    )
    parser.add_argument("--precisions", nargs="+", default=["no"], choices=["no", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "training.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    variants = itertools.product(args.configs, args.normalization, args.memory_formats, args.precisions)
    for name, normalization, memory_format, precision in variants:
        row = benchmark(name, args.steps, args.batch_size, device, normalization, memory_format, precision)
        rows.append(row)
        speed = f"train {row['train_samples_per_second']} samples/s at {row['train_image_size']} px"
        memory = (
            f"peak {row['peak_memory_mib']} MiB, inference {row['inference_ms_256px']} ms per 256 px image"
        )
        variant = f"{normalization} norm, {memory_format}, precision {precision}"
        print(f"{name} ({variant}): {row['parameters_millions']} M params, {speed}, {memory}")
    result = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
