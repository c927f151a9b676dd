"""Pieces shared by the SB and LF training loops: deterministic batches, optimiser and schedule,
checkpoints that resume exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import get_cosine_with_min_lr_schedule_with_warmup

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.json"


def index_batches(num_items: int, batch_size: int, seed: int, start_step: int = 0) -> Iterator[list[int]]:
    """Batches of item indices, forever: a fresh permutation per epoch from ``seed + epoch``, so the
    batch at a given step is the same in every run (what makes a resumed run continue identically)."""
    if num_items < batch_size:
        raise ValueError(f"the dataset has {num_items} items, fewer than one batch of {batch_size}")
    per_epoch = num_items // batch_size
    step = start_step
    while True:
        epoch, offset = divmod(step, per_epoch)
        order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed + epoch))
        yield order[offset * batch_size : (offset + 1) * batch_size].tolist()
        step += 1


def step_generator(seed: int, step: int, process_index: int = 0) -> torch.Generator:
    """The random stream of one training step (augmentations, SSL maps) on one process."""
    return torch.Generator().manual_seed(hash((seed, step, process_index)) & (2**63 - 1))


def make_optimizer(
    model: torch.nn.Module, backbone_prefix: str, lr: float, backbone_lr_scale: float, weight_decay: float
) -> torch.optim.AdamW:
    """AdamW with the backbone (parameters under ``backbone_prefix``) at ``lr * backbone_lr_scale``."""
    backbone = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith(backbone_prefix)]
    heads = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(backbone_prefix)]
    groups = [{"params": heads, "lr": lr}]
    if backbone:
        groups.append({"params": backbone, "lr": lr * backbone_lr_scale})
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)


def make_scheduler(optimizer, warmup_steps: int, total_steps: int, min_lr_rate: float):
    """Linear warm-up, then cosine decay to ``min_lr_rate`` times each group's learning rate."""
    return get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps, min_lr_rate=min_lr_rate
    )


def save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int) -> Path:
    """`Accelerator.save_state` to ``checkpoints/step-N`` plus the step number."""
    path = output_dir / CHECKPOINTS / f"step-{step:08d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / TRAINER_STATE).write_text(json.dumps({"step": step}))
    accelerator.wait_for_everyone()
    return path


def latest_checkpoint(output_dir: Path) -> Path | None:
    complete = [p for p in sorted((output_dir / CHECKPOINTS).glob("step-*")) if (p / TRAINER_STATE).exists()]
    return complete[-1] if complete else None


def resume(accelerator: Accelerator, output_dir: Path) -> int:
    """Load the latest complete checkpoint, if any; return the step to continue from."""
    checkpoint = latest_checkpoint(output_dir)
    if checkpoint is None:
        return 0
    accelerator.load_state(str(checkpoint))
    return json.loads((checkpoint / TRAINER_STATE).read_text())["step"]
