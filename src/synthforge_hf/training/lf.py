"""Stage II: label fine-tuning (LF) on a real benchmark, on top of a frozen SB (evaluated by
`synthforge_hf.evaluation.benchmarks`).

synthforge train-lf --backbone runs/sb --benchmark 300w --data /data/300W --output-dir runs/lf-300w
synthforge evaluate --model runs/lf-300w --benchmark 300w --data /data/300W --split common
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..evaluation.benchmarks import (
    BENCHMARKS,
    labels_in_crop,
    landmarks_in_crop,
    model_inputs,
    open_benchmark,
)
from ..models.synthforge import SynthForgeForFaceAnalysis, SynthForgeImageProcessor
from ..models.synthforge_lf import SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel
from .arguments import LFTrainingArguments
from .common import StepBatches, fit, make_accelerator, make_optimizer, make_scheduler


def prepare_batch(samples: list[dict], processor: SynthForgeImageProcessor) -> dict[str, torch.Tensor]:
    """Model inputs and targets on the crops `evaluate` scores (`model_inputs`: each face's box framed as
    the processor frames faces, or the whole image padded), targets in the crops' model-input pixels."""
    inputs = model_inputs(processor, samples)
    batch = {"pixel_values": inputs["pixel_values"]}
    affines = inputs["affines"].numpy()
    if "landmarks" in samples[0]:
        points = [landmarks_in_crop(s["landmarks"], a) for s, a in zip(samples, affines, strict=True)]
        batch["landmarks"] = torch.as_tensor(np.stack(points), dtype=torch.float32)
    if "segmentation" in samples[0]:
        output_size = tuple(inputs["pixel_values"].shape[-2:])
        maps = [
            labels_in_crop(s["segmentation"], image_size, a, output_size)
            for s, image_size, a in zip(samples, inputs["original_sizes"].tolist(), affines, strict=True)
        ]
        batch["labels"] = torch.as_tensor(np.stack(maps).astype(np.int64))
    return batch


@dataclass
class LFBatchMaker:
    """Benchmark samples -> model inputs and targets (runs in the DataLoader workers)."""

    processor: SynthForgeImageProcessor

    def __call__(self, samples: list[dict], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = prepare_batch(samples, self.processor)
        return {k: batch[k] for k in ("pixel_values", "landmarks", "labels") if k in batch}


def train_lf(args: LFTrainingArguments) -> Path:
    """Train an LF model; saves it (head only, SB by reference) with its image processor."""
    if args.benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {args.benchmark!r}; use one of {list(BENCHMARKS)}")
    output_dir = Path(args.output_dir)
    accelerator = make_accelerator(args)
    task, outputs, names, _ = BENCHMARKS[args.benchmark]
    backbone = SynthForgeForFaceAnalysis.from_pretrained(args.backbone)
    processor = SynthForgeImageProcessor.from_pretrained(args.backbone)  # the SB's size and framing
    config = SynthForgeLabelFinetuneConfig(
        backbone=str(args.backbone),
        backbone_config=backbone.config.to_dict(),
        task=task,
        num_outputs=outputs,
        use_features=args.use_features,
        label_names=list(names) if names else None,
    )
    model = SynthForgeLabelFinetuneModel(config, backbone=backbone)
    dataset = open_benchmark(args.benchmark, args.data, args.split, args.boxes)
    optimizer = make_optimizer(model, "backbone.", args.learning_rate, 0.0, args.weight_decay)
    scheduler = make_scheduler(optimizer, args.warmup_steps, args.max_steps, args.min_lr_rate)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    batches = StepBatches(
        dataset,
        LFBatchMaker(processor),
        min(args.batch_size, len(dataset) // accelerator.num_processes),
        args.seed,
        args.max_steps * args.gradient_accumulation_steps,
        accelerator.process_index,
        accelerator.num_processes,
    )
    history = fit(args, accelerator, model, optimizer, scheduler, batches, lambda m, b, _: m(**b), "train-lf")
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
        (output_dir / "train_history.json").write_text(json.dumps(history))
    accelerator.end_training()
    return output_dir
