"""Stage I: training the synthetic backbone (SB) on generated data with Accelerate.

    synthforge train-sb --data outputs/faces --output-dir runs/sb --config tiny --max-steps 2000
    synthforge train-sb --sampling guided --output-dir runs/sb-guided --config tiny --max-steps 600
    accelerate launch -m synthforge_hf.cli train-sb --data /data/faces --output-dir runs/sb --config base

The faces are a dataset's rows, or rendered while training where a sampler puts them
(`synthforge_hf.data.sampling`, `training.sampled`). The run checkpoints with `Accelerator.save_state`
every ``save_steps`` (with the sampler's state); started again with the same arguments it resumes from the
latest checkpoint and continues exactly as if it had not stopped (batches, augmentations and SSL maps are
functions of the seed, the step and the sampler's state; see `training.common`). Rows are decoded (or faces
rendered) and augmented in ``num_workers`` DataLoader workers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import SEGMENTATION_CLASSES
from ..data.loading import load_split
from ..data.sampling import ControlSpace, PoolSampler
from ..data.torch_data import collate_examples, collate_rows, examples_from_output
from ..evaluation.metrics import confusion_matrix, f1_scores, mean_iou, nme
from ..models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
from ..models.synthforge.image_processing_synthforge import normalize_pixels
from .arguments import SBTrainingArguments
from .augment import FaceAugmentation
from .common import (
    StepBatches,
    fit,
    make_accelerator,
    make_optimizer,
    make_scheduler,
    step_generator,
)
from .sampled import ControlMap, GeneratedBatches, SamplerFeedback, load_pipeline, make_sampler


def build_config(name: str) -> SynthForgeConfig:
    """ "tiny", "small", "base" (the default configuration), "paper" (the paper network's widths), each
    with the SynthForge class names, or a saved configuration."""
    labels = {"id2label": dict(enumerate(SEGMENTATION_CLASSES))}
    named = {
        "tiny": SynthForgeConfig.tiny,
        "small": SynthForgeConfig.small,
        "base": SynthForgeConfig,
        "paper": SynthForgeConfig.paper,
    }
    if name in named:
        return named[name](**labels)
    return SynthForgeConfig.from_pretrained(name)


def to_model_inputs(batch: dict[str, torch.Tensor], size: int) -> dict[str, torch.Tensor]:
    """Resize a collated batch to the model's input size; landmarks follow."""
    height, width = batch["pixel_values"].shape[-2:]
    if (height, width) == (size, size):
        return batch
    out = dict(batch)
    out["pixel_values"] = F.interpolate(
        batch["pixel_values"], size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    for key in ("segmentation", "depth"):
        if key in batch:
            out[key] = F.interpolate(batch[key][:, None].float(), size=(size, size), mode="nearest")[:, 0]
    out["segmentation"] = out["segmentation"].long()
    out["landmarks_2d"] = batch["landmarks_2d"] * torch.tensor([size / width, size / height])
    return out


def sb_loss_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        "pixel_values": normalize_pixels(batch["pixel_values"]),
        "labels": batch["segmentation"],
        "depth": batch["depth"],
        "landmarks": batch["landmarks_2d"],
    }


@torch.no_grad()
def evaluate_sb(
    model: SynthForgeForFaceAnalysis,
    dataset,
    batch_size: int = 16,
    limit: int | None = None,
    collate: Callable[[list], dict[str, torch.Tensor]] = collate_rows,
) -> dict:
    """NME (inter-ocular) of the landmarks, mean F1 of the foreground classes, mIoU over the classes
    present, depth MAE (metres), on the items of ``dataset`` (rows; or examples, with ``collate`` set to
    `collate_examples`)."""
    model.eval()
    size = model.config.image_size
    count = len(dataset) if limit is None else min(limit, len(dataset))
    errors, depth_errors = [], []
    confusion = np.zeros((model.config.num_labels,) * 2, dtype=np.int64)
    device = next(model.parameters()).device
    for start in range(0, count, batch_size):
        rows = [dataset[i] for i in range(start, min(start + batch_size, count))]
        batch = to_model_inputs(collate(rows), size)
        out = model(normalize_pixels(batch["pixel_values"].to(device)))
        errors.append(nme(out.landmarks.cpu().numpy(), batch["landmarks_2d"].numpy()))
        prediction = out.logits.argmax(1).cpu().numpy()
        confusion += confusion_matrix(prediction, batch["segmentation"].numpy(), model.config.num_labels)
        mask = batch["depth"] > 0
        depth_errors.append((out.depth.cpu() - batch["depth"]).abs()[mask].numpy())
    f1 = f1_scores(confusion)
    return {
        "nme": float(np.concatenate(errors).mean()),
        "mean_f1": float(np.nanmean(f1[1:])),
        "miou": mean_iou(confusion),
        "depth_mae": float(np.concatenate(depth_errors).mean()),
        "samples": count,
    }


@dataclass
class SBBatchMaker:
    """Dataset rows (or examples, with ``collate`` set to `collate_examples`) -> one augmented,
    normalised training batch at the model's input size (runs in the DataLoader workers)."""

    size: int
    augmentation: FaceAugmentation | None
    collate: Callable[[list], dict[str, torch.Tensor]] = collate_rows

    def __call__(self, rows: list[dict], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = to_model_inputs(self.collate(rows), self.size)
        if self.augmentation is not None:
            batch = self.augmentation(batch, generator)
        return sb_loss_inputs(batch)


def train_sb(args: SBTrainingArguments) -> dict:
    """Train (or resume training) the SB; returns the final validation metrics."""
    output_dir = Path(args.output_dir)
    accelerator = make_accelerator(args)
    config = build_config(args.config)
    model = SynthForgeForFaceAnalysis(config)
    size = config.image_size
    optimizer = make_optimizer(
        model, "synthforge.", args.learning_rate, args.backbone_lr_scale, args.weight_decay
    )
    scheduler = make_scheduler(optimizer, args.warmup_steps, args.max_steps, args.min_lr_rate)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    batches, validation = training_data(args, accelerator, size)
    control_map = None
    if isinstance(batches, GeneratedBatches):
        ranges = batches.sampler.space.ranges
        control_map = ControlMap(math.degrees(ranges.yaw), math.degrees(ranges.pitch))
    sampler = getattr(batches, "sampler", None)
    for state in (sampler, control_map):
        if state is not None:
            accelerator.register_for_checkpointing(state)
    feedback = (
        SamplerFeedback(batches, accelerator, config, control_map, args.sampling_loss) if sampler else None
    )

    def compute_loss(model, batch: dict[str, torch.Tensor], micro_step: int):
        ssl = step_generator(args.seed, micro_step, accelerator.process_index, stream=1)
        out = model(**batch, ssl_generator=ssl)
        if feedback is not None:
            feedback(micro_step, out, batch)
        return out

    def evaluate(unwrapped) -> dict:
        if control_map is not None:
            control_map.save(output_dir)
        return evaluate_sb(unwrapped, validation, limit=args.eval_samples, collate=validation_collate)

    validation_collate = collate_examples if isinstance(validation, list) else collate_rows
    history = fit(
        args,
        accelerator,
        model,
        optimizer,
        scheduler,
        batches,
        compute_loss,
        "train-sb",
        evaluate if validation is not None else None,
        args.eval_steps,
    )
    final = {}
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(output_dir)
        SynthForgeImageProcessor(size=size).save_pretrained(output_dir)
        last = history[-1] if history else {}  # `fit` validated the final model in the last record
        final = {k.removeprefix("validation/"): v for k, v in last.items() if k.startswith("validation/")}
        (output_dir / "train_history.json").write_text(json.dumps({"history": history, "final": final}))
    accelerator.end_training()
    return final


def training_data(args: SBTrainingArguments, accelerator, size: int):
    """The run's micro-batches (a dataset's rows, or faces generated as ``args.sampling`` chooses them)
    and its validation items (the dataset's validation rows, or generated validation faces)."""
    augmentation = FaceAugmentation() if args.augment else None
    steps = args.max_steps * args.gradient_accumulation_steps
    ranks = (accelerator.process_index, accelerator.num_processes)
    if args.data is not None:
        train = load_split(args.data, "train")
        if train is None:
            raise FileNotFoundError(f"no train split in {args.data}: expected data/train-*.parquet")
        validation = load_split(args.data, "validation") if Path(args.data).is_dir() else None
        sampler = None
        if args.sampling == "pool":
            count = args.batch_size * accelerator.num_processes
            sampler = PoolSampler(len(train), count, args.seed, args.refresh_steps, args.pool_temperature)
        make_batch = SBBatchMaker(size, augmentation)
        return StepBatches(train, make_batch, args.batch_size, args.seed, steps, *ranks, sampler), validation
    pipe = load_pipeline(args.pipeline)
    space = ControlSpace(pipe)
    resolution = args.resolution or size
    validation_out = space.render(
        pipe, space.of_split(args.seed, "validation", 0, args.eval_samples), resolution
    )
    validation = examples_from_output(validation_out, list(range(args.eval_samples)))
    make_batch = SBBatchMaker(size, augmentation, collate_examples)
    sampler = make_sampler(args, pipe, space, accelerator.is_main_process)
    return GeneratedBatches(
        pipe, sampler, resolution, make_batch, args.batch_size, args.seed, steps, *ranks
    ), validation
