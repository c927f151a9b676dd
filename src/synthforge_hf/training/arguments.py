"""The options of a training run: `TrainingArguments` (every run), `SBTrainingArguments` (Stage I) and
`LFTrainingArguments` (Stage II). Plain dataclasses with nothing heavy imported, so the command line
reads and checks them before torch loads; each field's help is the ``--help`` text of the option."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..options import (
    option,
    refuse_negative,
    require_finite,
    require_fraction,
    require_positive,
    require_seed,
)


@dataclass(kw_only=True)
class TrainingArguments:
    """Options shared by `train-sb` and `train-lf`."""

    output_dir: str = option("folder of the model, its checkpoints and its history")
    max_steps: int = option("optimiser steps in all", default=1000)
    batch_size: int = option("samples per step and process", default=8)
    gradient_accumulation_steps: int = option("micro-batches per step", default=1)
    learning_rate: float = option("peak learning rate of AdamW", default=1e-3)
    weight_decay: float = option("AdamW weight decay", default=1e-4)
    warmup_steps: int = option("steps of linear warm-up", default=50)
    min_lr_rate: float = option("the cosine schedule's floor, as a fraction of the peak rate", default=0.05)
    mixed_precision: Literal["no", "fp16", "bf16"] = option(
        "Accelerate mixed precision (bf16 is fast on CPUs with AMX / AVX512-BF16)", default="no"
    )
    channels_last: bool = option(
        "train with channels-last weights and images (faster convolutions)", default=True
    )
    seed: int = option("seed of the batches, augmentations and SSL maps", default=0)
    num_workers: int = option("DataLoader worker processes that decode and augment batches", default=2)
    log_steps: int = option("log every N steps", default=10)
    save_steps: int = option("checkpoint every N steps", default=200)
    report_to: str | None = option("an Accelerate tracker name, e.g. tensorboard", default=None)
    torch_compile: bool = option(
        "compile the model with torch.compile (inductor), through Accelerate", default=False
    )

    def __post_init__(self) -> None:
        require_positive(
            self, "max_steps", "batch_size", "gradient_accumulation_steps", "log_steps", "save_steps"
        )
        require_finite(self, "learning_rate", "weight_decay")
        require_positive(self, "learning_rate")
        refuse_negative(self, "weight_decay", "warmup_steps", "num_workers")
        require_fraction(self, "min_lr_rate")
        require_seed(self)


@dataclass(kw_only=True)
class SBTrainingArguments(TrainingArguments):
    """Options of `train_sb` (and of `synthforge train-sb`)."""

    data: str | None = option(
        "a dataset folder from make-dataset (train and validation splits); without it the faces are "
        "generated while training, by --pipeline",
        default=None,
    )
    config: str = option(
        "tiny, small, base (the default network), paper (the paper network's widths), or a config.json / "
        "saved model folder",
        default="tiny",
    )
    backbone_lr_scale: float = option("learning-rate factor of the feature encoder", default=1.0)
    eval_steps: int = option("validate every N steps (0: only after the last step)", default=200)
    eval_samples: int = option("validation samples per evaluation", default=64)
    augment: bool = option("label-consistent augmentations", default=True)
    sampling: Literal["uniform", "pool", "guided", "target"] = option(
        "where the training faces come from: uniform (every parameter uniform; with --data, the dataset's "
        "rows in shuffled epochs), pool (--data's rows re-weighted by their losses, as the official "
        "synthforge-train), guided (generated where recent losses are high) or target (generated "
        "around the poses and expressions of --target-photos)",
        default="uniform",
    )
    pipeline: str | None = option(
        "the pipeline that generates faces without --data: a saved pipeline folder or Hub id "
        "(default: the embedded default head and the mesh renderer)",
        default=None,
    )
    resolution: int | None = option(
        "the size generated faces are rendered at (default: the model's input size)", default=None
    )
    refresh_steps: int = option(
        "pool and guided: micro-steps between two updates of the sampling by the recorded losses", default=25
    )
    uniform_share: float = option(
        "guided and target: the share of each batch sampled uniformly (coverage never falls below it)",
        default=0.25,
    )
    hard_fraction: float = option(
        "guided: the fraction of recent samples, hardest first, whose controls are perturbed", default=0.2
    )
    sampling_spread: float = option(
        "guided and target: the perturbation's standard deviation, in units of each control's range",
        default=0.08,
    )
    sampling_loss: Literal["total", "landmarks"] = option(
        "pool and guided: what makes a face hard: its total supervised loss (segmentation, depth and "
        "heatmaps, as weighted in training) or its landmark NME alone",
        default="total",
    )
    pool_temperature: float = option(
        "pool: rows are drawn with probabilities softmax(temperature * loss)", default=0.2
    )
    target_photos: str | None = option(
        "target: a folder of unlabelled photos whose poses and expressions the sampler aims at", default=None
    )
    target_model: str | None = option(
        "target: the model that reads --target-photos (default: the reference model)", default=None
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require_finite(self, "backbone_lr_scale", "sampling_spread", "pool_temperature")
        refuse_negative(self, "backbone_lr_scale", "eval_steps", "sampling_spread", "pool_temperature")
        require_positive(self, "eval_samples", "refresh_steps")
        require_fraction(self, "uniform_share", "hard_fraction")
        if self.resolution is not None:
            require_positive(self, "resolution")
        if self.sampling == "pool" and self.data is None:
            raise ValueError("--sampling pool re-weights the rows of a dataset: give --data")
        if self.sampling in ("guided", "target") and self.data is not None:
            raise ValueError(f"--sampling {self.sampling} generates its faces: leave out --data")
        if self.data is not None and self.pipeline is not None:
            raise ValueError("--pipeline generates faces in place of --data: give one of them")
        if (self.sampling == "target") != (self.target_photos is not None):
            raise ValueError("--target-photos goes with --sampling target, and it needs them")


@dataclass(kw_only=True)
class LFTrainingArguments(TrainingArguments):
    """Options of `train_lf` (and of `synthforge train-lf`)."""

    backbone: str = option("the trained SB: a folder or Hub repo id")
    benchmark: Literal["300w", "lapa", "celebamask-hq"] = option("the label set to learn")
    data: str = option("the benchmark's folder")
    split: str = option("the benchmark split to train on", default="train")
    boxes: Literal["landmarks", "detector", "ground-truth"] = option(
        "300W: the face boxes of the crops, as in synthforge evaluate --boxes", default="landmarks"
    )
    use_features: bool = option("feed the SB's features to the head too", default=True)
    max_steps: int = option("optimiser steps in all", default=500)
    warmup_steps: int = option("steps of linear warm-up", default=20)
