"""Stage I: training the synthetic backbone (SB) on generated data with Accelerate.

    synthforge train-sb --data outputs/faces --output-dir runs/sb --config tiny --max-steps 2000
    accelerate launch -m synthforge_hf.cli train-sb --data /data/faces --output-dir runs/sb --config paper

The run checkpoints with `Accelerator.save_state` every ``save_steps``; started again with the same
arguments it resumes from the latest checkpoint and continues exactly as if it had not stopped
(batches, augmentations and SSL maps are functions of the seed and the step).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from datasets import load_dataset
from tqdm.auto import tqdm

from ..constants import SEGMENTATION_CLASSES
from ..data.torch_data import collate_rows
from ..evaluation.metrics import confusion_matrix, f1_scores, mean_iou, nme
from ..models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
from ..models.synthforge.image_processing_synthforge import normalize_pixels
from .augment import FaceAugmentation
from .common import index_batches, make_optimizer, make_scheduler, resume, save_checkpoint, step_generator

logger = logging.getLogger(__name__)


@dataclass
class SBTrainingArguments:
    """Options of `train_sb` (and of `synthforge train-sb`)."""

    data: str
    output_dir: str
    config: str = "tiny"  # "tiny", "paper", or a path to a config.json / saved model
    max_steps: int = 1000
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    backbone_lr_scale: float = 1.0
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    min_lr_rate: float = 0.05
    mixed_precision: str = "no"
    seed: int = 0
    log_steps: int = 10
    eval_steps: int = 200
    save_steps: int = 200
    eval_samples: int = 64
    augment: bool = True
    report_to: str | None = None  # an Accelerate tracker name, e.g. "tensorboard"


def build_config(name: str) -> SynthForgeConfig:
    """ "tiny", "paper" (with the SynthForge class names), or a saved configuration."""
    labels = {"id2label": dict(enumerate(SEGMENTATION_CLASSES))}
    if name == "tiny":
        return SynthForgeConfig.tiny(**labels)
    if name == "paper":
        return SynthForgeConfig(**labels)
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
    model: SynthForgeForFaceAnalysis, dataset, batch_size: int = 16, limit: int | None = None
) -> dict:
    """NME (inter-ocular) of the landmarks, mean F1 of the foreground classes, mIoU over the classes
    present, depth MAE (metres)."""
    model.eval()
    size = model.config.image_size
    count = len(dataset) if limit is None else min(limit, len(dataset))
    errors, depth_errors = [], []
    confusion = np.zeros((model.config.num_labels,) * 2, dtype=np.int64)
    device = next(model.parameters()).device
    for start in range(0, count, batch_size):
        rows = [dataset[i] for i in range(start, min(start + batch_size, count))]
        batch = to_model_inputs(collate_rows(rows), size)
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


def train_sb(args: SBTrainingArguments) -> dict:
    """Train (or resume training) the SB; returns the final validation metrics."""
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),  # several CPU processes (torchrun / accelerate launch) use gloo
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.report_to,
        project_dir=str(output_dir),
    )
    set_seed(args.seed)
    train = load_dataset(args.data, split="train")
    validation = load_dataset(args.data, split="validation") if _has_split(args.data, "validation") else None
    model = SynthForgeForFaceAnalysis(build_config(args.config))
    optimizer = make_optimizer(
        model, "synthforge.", args.learning_rate, args.backbone_lr_scale, args.weight_decay
    )
    scheduler = make_scheduler(optimizer, args.warmup_steps, args.max_steps, args.min_lr_rate)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    if args.report_to:
        accelerator.init_trackers(
            "synthforge-sb", config={k: v for k, v in asdict(args).items() if v is not None}
        )
    start_step = resume(accelerator, output_dir)
    augmentation = FaceAugmentation() if args.augment else None
    per_process = args.batch_size
    global_batch = per_process * accelerator.num_processes
    batches = index_batches(
        len(train), global_batch, args.seed, start_step * args.gradient_accumulation_steps
    )
    size = accelerator.unwrap_model(model).config.image_size
    bar = tqdm(
        range(start_step, args.max_steps), disable=not accelerator.is_local_main_process, desc="train-sb"
    )
    history = []
    for step in bar:
        model.train()
        for micro in range(args.gradient_accumulation_steps):
            indices = next(batches)[accelerator.process_index :: accelerator.num_processes]
            batch = to_model_inputs(collate_rows([train[i] for i in indices]), size)
            generator = step_generator(
                args.seed, step * args.gradient_accumulation_steps + micro, accelerator.process_index
            )
            if augmentation is not None:
                batch = augmentation(batch, generator)
            inputs = {k: v.to(accelerator.device) for k, v in sb_loss_inputs(batch).items()}
            with accelerator.accumulate(model):
                out = model(**inputs, ssl_generator=generator)
                accelerator.backward(out.loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
        record = {
            "step": step + 1,
            "loss": out.loss.item(),
            "lr": scheduler.get_last_lr()[0],
            **{f"loss/{k}": v.item() for k, v in out.losses.items()},
        }
        history.append(record)
        if (step + 1) % args.log_steps == 0:
            accelerator.log(record, step=step + 1)
            bar.set_postfix(loss=f"{record['loss']:.3f}")
        if validation is not None and (step + 1) % args.eval_steps == 0 and accelerator.is_main_process:
            metrics = evaluate_sb(accelerator.unwrap_model(model), validation, limit=args.eval_samples)
            accelerator.log({f"validation/{k}": v for k, v in metrics.items()}, step=step + 1)
        if (step + 1) % args.save_steps == 0 and step + 1 < args.max_steps:
            save_checkpoint(accelerator, output_dir, step + 1)
    accelerator.wait_for_everyone()
    final = {}
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.save_pretrained(output_dir)
        SynthForgeImageProcessor(size=unwrapped.config.image_size).save_pretrained(output_dir)
        if validation is not None:
            final = evaluate_sb(unwrapped, validation, limit=args.eval_samples)
        (output_dir / "train_history.json").write_text(json.dumps({"history": history, "final": final}))
    accelerator.end_training()
    return final


def _has_split(data: str, split: str) -> bool:
    return any(Path(data, "data").glob(f"{split}-*.parquet"))
