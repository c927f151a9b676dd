"""The training scaffold shared by Stage I (SB) and Stage II (LF).

- `make_accelerator`: one Accelerator set-up (several CPU processes use gloo).
- `StepBatches`: item ``i`` is micro-batch ``i``, a pure function of the seed and ``i`` (rows from a
  per-epoch permutation, augmentations from the step's own `torch.Generator`), so DataLoader workers
  can decode and augment ahead of the model and a resumed run sees exactly the batches it would have.
- `fit`: the loop (gradient accumulation, clipping, schedule, logging, evaluation, checkpoints that
  resume exactly, a history that survives restarts without duplicates or gaps).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import get_cosine_with_min_lr_schedule_with_warmup

from ..constants import TRAINING_ARGUMENTS_FILE
from ..visualization import training_curves
from .arguments import TrainingArguments

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.json"
HISTORY_FILE = "train_history.jsonl"
CURVES_FILE = "training_curves.png"  # the history drawn: losses and validation metrics by step
# Options that may change between a run and its resumption (they do not change the result).
FREE_TO_CHANGE = frozenset({"num_workers", "log_steps", "report_to", "save_steps", "torch_compile"})


def make_accelerator(args: TrainingArguments) -> Accelerator:
    """The run's Accelerator: CUDA when present; several CPU processes (torchrun / accelerate launch)
    train data-parallel over gloo."""
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.report_to,
        project_dir=args.output_dir,
        dynamo_backend="inductor" if args.torch_compile else "no",
    )
    set_seed(args.seed)
    return accelerator


@lru_cache(maxsize=4)
def _epoch_order(num_items: int, seed: int) -> tuple[int, ...]:
    return tuple(torch.randperm(num_items, generator=torch.Generator().manual_seed(seed)).tolist())


def batch_indices(num_items: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The item indices of batch ``step``: a fresh permutation per epoch from ``seed + epoch``, so the
    batch at a given step is the same in every run (what makes a resumed run continue identically)."""
    if num_items < batch_size:
        raise ValueError(f"the dataset has {num_items} items, fewer than one batch of {batch_size}")
    epoch, offset = divmod(step, num_items // batch_size)
    return list(_epoch_order(num_items, seed + epoch)[offset * batch_size : (offset + 1) * batch_size])


def step_generator(seed: int, step: int, process_index: int = 0, stream: int = 0) -> torch.Generator:
    """Random stream ``stream`` of one training step on one process (0: augmentations, 1: SSL maps)."""
    return torch.Generator().manual_seed(hash((seed, step, process_index, stream)) & (2**63 - 1))


class StepBatches(Dataset):
    """Micro-batch ``i`` of this process: rows ``batch_indices(...)[process_index::num_processes]``
    of the global batch (or the rows ``sampler.propose(i, global_batch)`` names), made into tensors by
    ``make_batch(rows, generator)``.

    ``rows``, ``make_batch`` and ``sampler`` must be picklable (they travel to the DataLoader workers).
    """

    def __init__(
        self,
        rows,
        make_batch: Callable[[list[Any], torch.Generator], dict[str, torch.Tensor]],
        batch_size: int,
        seed: int,
        num_micro_steps: int,
        process_index: int = 0,
        num_processes: int = 1,
        sampler=None,
    ):
        self.rows = rows
        self.sampler = sampler
        self.make_batch = make_batch
        self.global_batch = batch_size * num_processes
        self.seed = seed
        self.num_micro_steps = num_micro_steps
        self.process_index = process_index
        self.num_processes = num_processes
        batch_indices(len(rows), self.global_batch, seed, 0)  # refuse a dataset smaller than a batch now

    def __len__(self) -> int:
        return self.num_micro_steps

    def __getitem__(self, micro_step: int) -> dict[str, torch.Tensor]:
        if self.sampler is None:
            indices = batch_indices(len(self.rows), self.global_batch, self.seed, micro_step)
        else:
            indices = self.sampler.propose(micro_step, self.global_batch).tolist()
        rows = [self.rows[i] for i in indices[self.process_index :: self.num_processes]]
        return self.make_batch(rows, step_generator(self.seed, micro_step, self.process_index))


def _single_threaded_worker(worker_id: int) -> None:
    torch.set_num_threads(1)  # the workers decode and augment; the cores' threads belong to the model


def step_loader(batches: Dataset, start: int, stop: int, num_workers: int, pin_memory: bool) -> DataLoader:
    """Micro-batches ``start .. stop - 1`` in order, made ahead of the model by ``num_workers`` worker
    processes (0: in the main process)."""
    return DataLoader(
        batches,
        batch_size=None,
        sampler=range(start, stop),
        num_workers=num_workers,
        pin_memory=pin_memory,
        prefetch_factor=4 if num_workers else None,
        worker_init_fn=_single_threaded_worker if num_workers else None,
    )


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
    """`Accelerator.save_state` to ``checkpoints/step-N``; the step number is written last, so a
    checkpoint without it is incomplete."""
    path = output_dir / CHECKPOINTS / f"step-{step:08d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / TRAINER_STATE).write_text(json.dumps({"step": step}))
    accelerator.wait_for_everyone()
    return path


def resume(accelerator: Accelerator, output_dir: Path) -> int:
    """Load the latest checkpoint that loads (a damaged one is skipped with a warning); return the
    step to continue from (0 without one)."""
    complete = [p for p in sorted((output_dir / CHECKPOINTS).glob("step-*")) if (p / TRAINER_STATE).exists()]
    for checkpoint in reversed(complete):
        try:
            accelerator.load_state(str(checkpoint))
        except Exception as error:  # a truncated or corrupt file: fall back to the previous checkpoint
            logger.warning("%s does not load (%s); trying the previous checkpoint", checkpoint, error)
            continue
        return json.loads((checkpoint / TRAINER_STATE).read_text())["step"]
    return 0


def check_arguments(args: TrainingArguments, output_dir: Path, is_main_process: bool) -> None:
    """Record the run's arguments; refuse to resume a run in ``output_dir`` made with other ones (an
    option the record lacks counts at its default: a run made before the option existed resumes)."""
    current = {k: v for k, v in dataclasses.asdict(args).items() if k not in FREE_TO_CHANGE}
    defaults = {f.name: f.default for f in dataclasses.fields(args) if f.name in current}
    path = output_dir / TRAINING_ARGUMENTS_FILE
    if path.exists():
        recorded = {**defaults, **json.loads(path.read_text())}
        changed = sorted(k for k in current.keys() | recorded.keys() if current.get(k) != recorded.get(k))
        if changed:
            details = ", ".join(f"{k}: {recorded.get(k)!r} -> {current.get(k)!r}" for k in changed)
            raise ValueError(
                f"{output_dir} holds a run with other arguments ({details}): "
                "resume with the same arguments or use another --output_dir"
            )
    elif is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=1))


class History:
    """The per-step records in ``train_history.jsonl``: kept across restarts, cut back to the resumed
    step (so a resumed run has each step exactly once)."""

    def __init__(self, output_dir: Path, start_step: int, enabled: bool):
        self.path = output_dir / HISTORY_FILE
        self.enabled = enabled
        if enabled:
            kept = [line for line in self._lines() if json.loads(line)["step"] <= start_step]
            self.path.write_text("".join(line + "\n" for line in kept))

    def _lines(self) -> list[str]:
        return [line for line in self.path.read_text().splitlines() if line] if self.path.exists() else []

    def append(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as file:
                file.write(json.dumps(record) + "\n")

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self._lines()]


def fit(
    args: TrainingArguments,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    batches: Dataset,
    compute_loss: Callable[[torch.nn.Module, dict[str, torch.Tensor], int], Any],
    desc: str,
    evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    eval_steps: int = 0,
) -> list[dict]:
    """Train from the latest checkpoint to ``args.max_steps``; returns the whole history.

    ``compute_loss(model, batch, micro_step)`` returns an output with ``loss`` (and optionally a
    ``losses`` dict, logged per task); ``evaluate(unwrapped_model)`` runs on the main process every
    ``eval_steps`` steps and after the last step, and its metrics join that step's record (as
    ``validation/<name>``).

    ``batches`` (a `StepBatches` or any dataset whose item ``i`` is micro-batch ``i``) may hold a
    ``sampler`` (see `synthforge_hf.data.sampling`): its rounds of ``refresh_steps`` micro-steps are
    started here, each with a fresh loader (its workers then hold the round's state), and its summary
    joins each step's record.
    """
    output_dir = Path(args.output_dir)
    check_arguments(args, output_dir, accelerator.is_main_process)
    accelerator.wait_for_everyone()
    if args.report_to:
        accelerator.init_trackers(
            desc, config={k: v for k, v in dataclasses.asdict(args).items() if v is not None}
        )
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    start_step = resume(accelerator, output_dir)
    history = History(output_dir, start_step, accelerator.is_main_process)
    accumulation = args.gradient_accumulation_steps
    sampler = getattr(batches, "sampler", None)

    def loader_from(micro_step: int) -> tuple[Any, int]:
        """Micro-batches from ``micro_step`` to the end of its sampler round (or of the run)."""
        stop = len(batches)
        if sampler is not None and sampler.refresh_steps:
            round_index = micro_step // sampler.refresh_steps
            if round_index > sampler.round:
                sampler.start_round(round_index)
            stop = min(stop, (round_index + 1) * sampler.refresh_steps)
        loader = step_loader(batches, micro_step, stop, args.num_workers, accelerator.device.type == "cuda")
        return iter(loader), stop

    micro_batches, loader_stop = loader_from(start_step * accumulation)
    bar = tqdm(range(start_step, args.max_steps), disable=not accelerator.is_local_main_process, desc=desc)
    for step in bar:
        model.train()
        step_start, data_seconds = time.perf_counter(), 0.0
        for micro in range(accumulation):
            if step * accumulation + micro == loader_stop:
                micro_batches, loader_stop = loader_from(loader_stop)
            fetch_start = time.perf_counter()
            batch = {
                k: _to_device(v, accelerator.device, memory_format) for k, v in next(micro_batches).items()
            }
            data_seconds += time.perf_counter() - fetch_start
            with accelerator.accumulate(model):
                out = compute_loss(model, batch, step * accumulation + micro)
                accelerator.backward(out.loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
        record = {"step": step + 1, "loss": out.loss.item(), "lr": scheduler.get_last_lr()[0]}
        # .item() has waited for the device: the step's wall time, and the part spent waiting for batches
        record.update({"time/step": time.perf_counter() - step_start, "time/data": data_seconds})
        record.update({f"loss/{k}": v.item() for k, v in (getattr(out, "losses", None) or {}).items()})
        record.update(sampler.summary() if sampler is not None else {})
        due = step + 1 == args.max_steps or (eval_steps and (step + 1) % eval_steps == 0)
        if evaluate is not None and due and accelerator.is_main_process:
            record.update(
                {f"validation/{k}": v for k, v in evaluate(accelerator.unwrap_model(model)).items()}
            )
        history.append(record)
        if (step + 1) % args.log_steps == 0:
            accelerator.log(record, step=step + 1)
            bar.set_postfix(loss=f"{record['loss']:.3f}")
        if (step + 1) % args.save_steps == 0 and step + 1 < args.max_steps:
            save_checkpoint(accelerator, output_dir, step + 1)
    accelerator.wait_for_everyone()
    model.to(memory_format=torch.contiguous_format)  # what save_pretrained writes and users expect
    records = history.records()
    if accelerator.is_main_process and records:
        training_curves(records).save(output_dir / CURVES_FILE)
    return records


def _to_device(
    tensor: torch.Tensor, device: torch.device, memory_format: torch.memory_format
) -> torch.Tensor:
    tensor = tensor.to(device, non_blocking=True)
    return tensor.contiguous(memory_format=memory_format) if tensor.ndim == 4 else tensor
