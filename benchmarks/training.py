"""Training throughput, peak memory and inference latency of the SB configurations.

    python benchmarks/training.py [--configs tiny small base paper] [--steps 10] [--device cpu]
        [--normalization batch group] [--memory-formats channels_last contiguous] [--precisions bf16 no]
        [--official-code DIR]
    python benchmarks/training.py --data outputs/faces --configs paper --batch-size 32 --steps 20 \
        [--num-workers 4] [--precisions bf16] [--torch-compile]

For each configuration, normalisation, memory format and precision: training samples/s (forward +
backward + AdamW step with all losses and the SSL loss, on random inputs of the configuration's
image size), peak memory (RSS on CPU, allocated on CUDA), and inference latency per 256 px image
(batch 1), and the forward FLOPs of that image in total and per part (encoder, heads), which do not
depend on the machine or its load. Target: < 150 ms for `tiny` on CPU.
`base` is the project's default network, `paper` the same design at the paper network's widths. With
``--official-code DIR`` (a checkout of synthforge-train; none of its code is kept here) the official
MultiModal network, built by that code as its Lightning module sets it up, is timed with the same
harness as ``official``: its step is forward + backward + AdamW on the sum of its outputs' means (no SSL
pass, which the official code makes by running the whole network again), beside ``base`` and ``paper``
timed the same way (``loss: outputs``), so all three compare at equal work.
With ``--data``, the real loop instead (`train_sb` on a make-dataset folder: decoding and augmenting in
DataLoader workers, pinned memory on CUDA): samples/s and the share of each step spent waiting for
batches, from the run's own ``time/data`` and ``time/step`` records (the first two steps left out).
Target on a GPU at the paper's config, batch 32: under 5%.
Writes benchmarks/results/training.json (training-loop.json with ``--data``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from recording import write_result
from torch.utils.flop_counter import FlopCounterMode

from synthforge_hf.constants import LANDMARK_GROUPS
from synthforge_hf.models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CONFIGS = {
    "tiny": SynthForgeConfig.tiny,
    "small": SynthForgeConfig.small,
    "base": SynthForgeConfig,
    "paper": SynthForgeConfig.paper,
}


def forward_gflops(model: SynthForgeForFaceAnalysis, image: torch.Tensor) -> dict:
    """Forward FLOPs (a multiply-add counts two) of one image, in total and per part of the network, by
    `torch.utils.flop_counter`: a machine-independent account of where inference work goes."""
    with torch.inference_mode(), FlopCounterMode(display=False, depth=1) as counter:
        model(image)
    parts = {
        name.split(".", 1)[1]: round(sum(counts.values()) / 1e9, 2)
        for name, counts in counter.get_flop_counts().items()
        if name.count(".") == 1
    }
    total = round(counter.get_total_flops() / 1e9, 2)
    return {"forward_gflops_256px": total, "forward_gflops_by_part": parts}


def official_network(code: Path) -> torch.nn.Module:
    """synthforge-train's MultiModal network from its own code: backbone UNet(3, 64), segmentation
    UNet(64, 20), depth UNet(64, 1) and the 2-stack StackedHGNetV2 on the 64-channel features, with the
    settings of its Lightning module's ``setup`` (68 points, 9 edge groups, 64 px heatmaps)."""
    sys.path.insert(0, str(code))
    from synthforge_train.src.models import StackedHGNetV2, UNet

    closed = {"right_eye", "left_eye", "outer_lip", "inner_lip"}
    edges = tuple((group in closed, tuple(points)) for group, points in LANDMARK_GROUPS.items())
    config = types.SimpleNamespace(out_height=64, out_width=64, use_AAM=True, width=256, height=256)
    keypoints = StackedHGNetV2(
        config=config,
        classes_num=[68, len(edges), 68],
        edge_info=edges,
        nstack=2,
        add_coord=False,
        x_in_channel=64,
        in_channel=64,
        skip_pre=False,
    )
    return OfficialNetwork(UNet(3, 64), UNet(64, 20), UNet(64, 1), keypoints)


class OfficialNetwork(torch.nn.Module):
    """The official parts in one module: ``forward`` gives every output, as the training step uses them."""

    def __init__(self, backbone, segmentation, depth, keypoints):
        super().__init__()
        self.backbone, self.segmentation, self.depth, self.keypoints = (
            backbone,
            segmentation,
            depth,
            keypoints,
        )

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        features = self.backbone(pixel_values)
        outputs = [self.segmentation(features), self.depth(features), self.keypoints(features)]
        return _tensors(outputs)


def _tensors(value) -> list[torch.Tensor]:
    """Every tensor in a nest of lists, tuples and dicts (the hourglass returns several)."""
    if isinstance(value, torch.Tensor):
        return [value]
    items = value.values() if isinstance(value, dict) else value
    return [t for item in items for t in _tensors(item)]


def outputs_loss(outputs) -> torch.Tensor:
    """The same work for every network: the sum of its outputs' means."""
    return sum(t.float().mean() for t in _tensors(outputs))


def equal_work_benchmark(name: str, model: torch.nn.Module, steps: int, batch_size: int, device) -> dict:
    """Forward + backward + AdamW on ``outputs_loss`` at 256 px, and 256 px inference, for any network."""
    torch.manual_seed(0)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    pixels = torch.randn(batch_size, 3, 256, 256, device=device).contiguous(memory_format=torch.channels_last)
    model.train()
    for step in range(steps + 2):  # two warm-up steps
        if step == 2:
            synchronize(device)
            start = time.perf_counter()
        outputs_loss(model(pixels)).backward()
        optimizer.step()
        optimizer.zero_grad()
    synchronize(device)
    train_seconds = time.perf_counter() - start
    model.eval()
    image = pixels[:1]
    with torch.inference_mode():
        for _ in range(2):
            model(image)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(5):
            model(image)
        synchronize(device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(image)
    return {
        "config": name,
        "loss": "outputs",
        "parameters_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "forward_gflops_256px": round(counter.get_total_flops() / 1e9, 2),
        "train_image_size": 256,
        "batch_size": batch_size,
        "train_samples_per_second": round(steps * batch_size / train_seconds, 2),
        "inference_ms_256px": round((time.perf_counter() - start) / 5 * 1000, 1),
    }


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
        **forward_gflops(model, image),
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


def loop_benchmark(
    data: Path, name: str, steps: int, batch_size: int, num_workers: int, precision: str, compile_: bool
) -> dict:
    """`train_sb` for ``steps`` steps on ``data``: samples/s and the data-loading share of a step."""
    from synthforge_hf.training.common import HISTORY_FILE
    from synthforge_hf.training.sb import SBTrainingArguments, train_sb

    with tempfile.TemporaryDirectory() as output_dir:
        args = SBTrainingArguments(
            data=str(data),
            output_dir=output_dir,
            config=name,
            max_steps=steps + 2,
            batch_size=batch_size,
            num_workers=num_workers,
            mixed_precision=precision,
            torch_compile=compile_,
            eval_steps=0,
            eval_samples=4,  # fit validates after the last step, outside the timed steps
            save_steps=10**9,
            log_steps=10**9,
        )
        train_sb(args)
        records = [json.loads(line) for line in (Path(output_dir) / HISTORY_FILE).read_text().splitlines()]
    timed = [r for r in records if r["step"] > 2]
    step_seconds = statistics.median(r["time/step"] for r in timed)
    return {
        "config": name,
        "precision": precision,
        "torch_compile": compile_,
        "batch_size": batch_size,
        "num_workers": num_workers,
        "train_samples_per_second": round(batch_size / step_seconds, 2),
        "median_step_seconds": round(step_seconds, 4),
        "data_loading_share": round(
            sum(r["time/data"] for r in timed) / sum(r["time/step"] for r in timed), 4
        ),
        "peak_memory_mib": round(
            peak_memory_mib(torch.device("cuda" if torch.cuda.is_available() else "cpu")), 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", nargs="+", default=["tiny", "small", "base", "paper"], choices=CONFIGS)
    parser.add_argument("--normalization", nargs="+", default=["batch"], choices=["batch", "group"])
    parser.add_argument(
        "--memory-formats", nargs="+", default=["channels_last"], choices=["channels_last", "contiguous"]
    )
    parser.add_argument("--precisions", nargs="+", default=["no"], choices=["no", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, help="a make-dataset folder: time the real training loop on it")
    parser.add_argument(
        "--official-code",
        type=Path,
        help="a synthforge-train checkout: time its network beside base and paper",
    )
    parser.add_argument("--num-workers", type=int, default=2, help="DataLoader workers (with --data)")
    parser.add_argument("--torch-compile", action="store_true", help="torch.compile the model (with --data)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "training.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.data is not None:  # the loop picks its device itself (CUDA when present)
        rows = []
        for name, precision in itertools.product(args.configs, args.precisions):
            row = loop_benchmark(
                args.data, name, args.steps, args.batch_size, args.num_workers, precision, args.torch_compile
            )
            rows.append(row)
            print(
                f"{name} (precision {precision}, batch {row['batch_size']}, {row['num_workers']} workers): "
                f"{row['train_samples_per_second']} samples/s, data loading "
                f"{100 * row['data_loading_share']:.1f}% of a step, peak {row['peak_memory_mib']} MiB"
            )
        out = args.out.with_name("training-loop.json") if args.out.name == "training.json" else args.out
        write_result(out, {"device": "cuda" if torch.cuda.is_available() else "cpu", "results": rows})
        return
    rows = []
    variants = itertools.product(args.configs, args.normalization, args.memory_formats, args.precisions)
    for name, normalization, memory_format, precision in variants:
        row = benchmark(name, args.steps, args.batch_size, device, normalization, memory_format, precision)
        rows.append(row)
        speed = f"train {row['train_samples_per_second']} samples/s at {row['train_image_size']} px"
        memory = (
            f"peak {row['peak_memory_mib']} MiB, inference {row['inference_ms_256px']} ms per 256 px image "
            f"({row['forward_gflops_256px']} GFLOP: {row['forward_gflops_by_part']})"
        )
        variant = f"{normalization} norm, {memory_format}, precision {precision}"
        print(f"{name} ({variant}): {row['parameters_millions']} M params, {speed}, {memory}")
    if args.official_code is not None:
        networks = {
            "official": official_network(args.official_code),
            "base": SynthForgeForFaceAnalysis(SynthForgeConfig()),
            "paper": SynthForgeForFaceAnalysis(SynthForgeConfig.paper()),
        }
        for name, network in networks.items():
            row = equal_work_benchmark(name, network, args.steps, args.batch_size, device)
            rows.append(row)
            print(f"{name} (equal work): {row}")
    write_result(args.out, {"device": str(device), "torch_threads": torch.get_num_threads(), "results": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
