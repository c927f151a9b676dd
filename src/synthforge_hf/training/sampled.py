"""Training on faces a sampler chooses (see `synthforge_hf.data.sampling`).

- `GeneratedBatches`: micro-batch ``i`` is the sampler's proposals for step ``i`` (this process's share),
  rendered by the pipeline in a DataLoader worker and made into a training batch.
- `SamplerFeedback`: after each training step, the per-sample losses of the step itself (no extra pass),
  gathered over the processes, go to the sampler, and the step's per-sample NME to a `ControlMap`.
- `ControlMap`: where the sampler put the training faces (camera yaw x pitch) and how the model did on
  them there, drawn next to the training curves so a user sees the sampler follow the error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from ..analysis import PhotoAnalyser
from ..constants import REFERENCE_MODEL
from ..data.sampling import ControlSpace, GuidedSampler, Proposals, TargetSampler, UniformSampler
from ..data.torch_data import examples_from_output
from ..evaluation.error_map import bin_labels, bin_means_2d
from ..evaluation.metrics import nme
from ..io.images import PHOTO_SUFFIXES, open_photo, photos_in
from ..models.synthforge.heatmaps import gaussian_heatmaps
from ..pipelines.synthforge import SynthForgePipeline
from ..visualization import heat_map
from .arguments import SBTrainingArguments
from .common import step_generator
from .photo_targets import photo_targets

SAMPLING_MAP = "sampling_map"  # .png and .json beside training_curves.png
TARGETS_FILE = "sampling_targets.json"  # target sampling: the photo faces aimed at, as control points
logger = logging.getLogger(__name__)


class GeneratedBatches(Dataset):
    """Micro-batch ``i`` of this process: rows ``process_index::num_processes`` of
    ``sampler.propose(i, batch_size * num_processes)``, rendered by ``pipe`` at ``resolution`` and made
    into tensors by ``make_batch(examples, generator)``. Workers each make whole micro-batches and ranks
    take disjoint rows, so no proposal is rendered twice or skipped."""

    def __init__(
        self,
        pipe,
        sampler,
        resolution: int,
        make_batch: Callable[[list[dict], torch.Generator], dict[str, torch.Tensor]],
        batch_size: int,
        seed: int,
        num_micro_steps: int,
        process_index: int = 0,
        num_processes: int = 1,
    ):
        self.pipe, self.sampler, self.resolution, self.make_batch = pipe, sampler, resolution, make_batch
        self.global_batch = batch_size * num_processes
        self.seed, self.num_micro_steps = seed, num_micro_steps
        self.process_index, self.num_processes = process_index, num_processes

    def __len__(self) -> int:
        return self.num_micro_steps

    def __getitem__(self, micro_step: int) -> dict[str, torch.Tensor]:
        mine = self.sampler.propose(micro_step, self.global_batch)[self.process_index :: self.num_processes]
        with _one_thread():  # as in the workers: the renderer's float sums depend on the thread count
            out = self.sampler.space.render(self.pipe, mine, self.resolution)
        first = micro_step * self.global_batch + self.process_index
        indices = list(range(first, first + len(mine) * self.num_processes, self.num_processes))
        examples = examples_from_output(out, indices)
        return self.make_batch(examples, step_generator(self.seed, micro_step, self.process_index))


@contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def rank_major(keys, num_processes: int):
    """The global batch's keys in the order `Accelerator.gather` returns the per-process values:
    process 0's rows (``keys[0::n]``), then process 1's, ..."""
    parts = [keys[r::num_processes] for r in range(num_processes)]
    return Proposals.cat(parts) if isinstance(keys, Proposals) else torch.cat(parts)


@torch.no_grad()
def per_sample_losses(config, out, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each sample's share of the SB's supervised loss (B,): its segmentation cross-entropy, depth L1
    and last-stack heatmap MSE, weighted as the configuration weighs them in the total loss."""
    labels = batch["labels"]
    valid = (labels != config.semantic_loss_ignore_index).float()
    cross_entropy = F.cross_entropy(
        out.logits, labels.long(), ignore_index=config.semantic_loss_ignore_index, reduction="none"
    )
    segmentation = (cross_entropy * valid).sum((1, 2)) / valid.sum((1, 2)).clamp(min=1)
    mask = (batch["depth"] > 0).float()
    depth = ((out.depth - batch["depth"]).abs() * mask).sum((1, 2)) / mask.sum((1, 2)).clamp(min=1)
    target = gaussian_heatmaps(
        batch["landmarks"], out.heatmaps.shape[-2:], config.heatmap_stride, config.heatmap_sigma
    )
    heatmap = (out.heatmaps - target).pow(2).mean((1, 2, 3))
    return (
        config.segmentation_loss_weight * segmentation
        + config.depth_loss_weight * depth
        + config.heatmap_loss_weight * heatmap
    ).float()


class ControlMap:
    """Counts and summed training NME of the faces trained on, binned by the camera's yaw (columns) and
    pitch (rows) offsets in degrees, five equal bins across each range (so uniform sampling fills them
    evenly); checkpointed with the run.

    Args:
        yaw_range (`float`): the largest camera yaw offset, degrees.
        pitch_range (`float`): the largest camera pitch offset, degrees.
    """

    def __init__(self, yaw_range: float, pitch_range: float):
        self.yaw_edges = _edges(yaw_range)
        self.pitch_edges = _edges(pitch_range)
        shape = (len(self.pitch_edges) - 1, len(self.yaw_edges) - 1)
        self.counts = torch.zeros(shape, dtype=torch.int64)
        self.nme_sums = torch.zeros(shape, dtype=torch.float64)

    def add(self, yaw: np.ndarray, pitch: np.ndarray, errors: np.ndarray) -> None:
        """Count faces at camera offsets ``yaw``, ``pitch`` (degrees) with training NME ``errors``."""
        finite = np.isfinite(errors)
        counts, means = bin_means_2d(
            pitch[finite], yaw[finite], errors[finite], self.pitch_edges, self.yaw_edges
        )
        self.counts += torch.from_numpy(counts)
        self.nme_sums += torch.from_numpy(np.nan_to_num(means) * counts)

    def to_dict(self) -> dict:
        counts = self.counts.numpy()
        with np.errstate(invalid="ignore"):
            means = np.where(counts > 0, self.nme_sums.numpy() / np.maximum(counts, 1), np.nan)
        return {
            "yaw_edges_degrees": self.yaw_edges,
            "pitch_edges_degrees": self.pitch_edges,
            "counts": counts.tolist(),
            "training_nme": np.where(np.isnan(means), None, np.round(means, 5)).tolist(),
        }

    def picture(self) -> Image.Image:
        """The training NME by camera yaw x pitch beside the share of faces the sampler put there."""
        report = self.to_dict()
        counts = np.array(report["counts"])
        means = np.array([[np.nan if v is None else v for v in row] for row in report["training_nme"]])
        share = counts / max(counts.sum(), 1)
        columns, rows = bin_labels(self.yaw_edges), bin_labels(self.pitch_edges)
        mean_nme = float(np.nansum(means * counts) / max(counts.sum(), 1))
        panels = [
            heat_map(
                means,
                counts,
                columns,
                rows,
                "training NME % by camera yaw (columns), pitch (rows)",
                2 * mean_nme,
            ),
            heat_map(share, counts, columns, rows, "% of the faces trained on", 2 / share.size),
        ]
        picture = Image.new("RGB", (sum(p.width for p in panels), max(p.height for p in panels)), "white")
        picture.paste(panels[0], (0, 0))
        picture.paste(panels[1], (panels[0].width, 0))
        return picture

    def save(self, output_dir: Path) -> None:
        (output_dir / f"{SAMPLING_MAP}.json").write_text(json.dumps(self.to_dict()))
        self.picture().save(output_dir / f"{SAMPLING_MAP}.png")

    def state_dict(self) -> dict:
        return {"counts": self.counts, "nme_sums": self.nme_sums}

    def load_state_dict(self, state: dict) -> None:
        self.counts, self.nme_sums = state["counts"], state["nme_sums"]


def _edges(extent: float, bins: int = 5) -> list[float]:
    return [round(float(v)) for v in np.linspace(-extent, extent, bins + 1)] if extent else [-1, 1]


class SamplerFeedback:
    """What one training step tells its sampler: ``(micro_step, out, batch)`` -> each sample's loss (its
    total supervised loss, or its landmark NME when ``loss`` is "landmarks"), gathered over the processes,
    recorded against the step's proposals (`rank_major` order); for generated faces also their training
    NME, added to ``control_map``."""

    def __init__(self, batches, accelerator, config, control_map: ControlMap | None, loss: str = "total"):
        self.batches, self.accelerator, self.config = batches, accelerator, config
        self.control_map = control_map
        self.loss = loss

    def __call__(self, micro_step: int, out, batch: dict[str, torch.Tensor]) -> None:
        sampler = self.batches.sampler
        predicted, target = (
            out.landmarks.detach().float().cpu().numpy(),
            batch["landmarks"].float().cpu().numpy(),
        )
        errors = torch.from_numpy(nme(predicted, target)).float().to(out.logits.device)
        losses = (
            errors.nan_to_num(0.0) if self.loss == "landmarks" else per_sample_losses(self.config, out, batch)
        )
        gathered = self.accelerator.gather(torch.stack([losses, errors], 1)).cpu()
        keys = rank_major(
            sampler.propose(micro_step, self.batches.global_batch), self.accelerator.num_processes
        )
        sampler.record(keys, gathered[:, 0])
        if self.control_map is not None and isinstance(keys, Proposals):
            space = sampler.space
            self.control_map.add(
                space.degrees(keys.units, "yaw").numpy(),
                space.degrees(keys.units, "pitch").numpy(),
                gathered[:, 1].numpy(),
            )


def load_pipeline(name: str | None) -> SynthForgePipeline:
    """The pipeline that generates the training faces: saved (a folder or Hub id) or the default."""
    pipe = (
        SynthForgePipeline.from_default_head() if name is None else SynthForgePipeline.from_pretrained(name)
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_sampler(
    args: SBTrainingArguments, pipe: SynthForgePipeline, space: ControlSpace, is_main_process: bool = True
):
    """The sampler of generated faces that ``args.sampling`` names."""
    if args.sampling == "uniform":
        return UniformSampler(space, args.seed)
    if args.sampling == "guided":
        return GuidedSampler(
            space,
            args.seed,
            refresh_steps=args.refresh_steps,
            uniform_share=args.uniform_share,
            hard_fraction=args.hard_fraction,
            spread=args.sampling_spread,
        )
    photos = readable_photos(Path(args.target_photos))
    analyser = PhotoAnalyser.from_pretrained(args.target_model or REFERENCE_MODEL)
    targets = photo_targets(analyser, photos.values(), pipe, space, seed=args.seed)
    if is_main_process:  # what the sampler aims at, for the user to read
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
        report = {
            "photos": [str(p) for p in photos],
            "faces": len(targets.weights),
            "photo_index": targets.photo_index.tolist(),
            "boxes": np.round(targets.boxes, 1).tolist(),
            "flip_disagreement_nme": np.round(targets.disagreement, 5).tolist(),
            "procrustes_residual": np.round(targets.residual, 5).tolist(),
            "weights": np.round(targets.weights.double().numpy(), 5).tolist(),
            "camera_yaw_degrees": np.round(space.degrees(targets.units, "yaw").double().numpy(), 2).tolist(),
            "camera_pitch_degrees": np.round(
                space.degrees(targets.units, "pitch").double().numpy(), 2
            ).tolist(),
            "expression_rms": np.round(
                space.parameters(targets.units)["expression"].pow(2).mean(1).sqrt().double().numpy(), 3
            ).tolist(),
        }
        (Path(args.output_dir) / TARGETS_FILE).write_text(json.dumps(report, indent=1))
    return TargetSampler(
        space,
        targets.units,
        targets.weights,
        args.seed,
        uniform_share=args.uniform_share,
        spread=args.sampling_spread,
    )


def readable_photos(folder: Path) -> dict[Path, np.ndarray]:
    """The photos under ``folder`` (recursively, sorted) as RGB arrays; one that cannot be read is
    reported and left out."""
    if not folder.is_dir():
        raise FileNotFoundError(f"--target-photos {folder} is not a folder")
    photos = {}
    for path in photos_in(folder):
        try:
            photos[path] = open_photo(path)
        except (OSError, ValueError) as error:
            logger.warning("--target-photos: %s is left out (%s)", path, error)
    if not photos:
        raise FileNotFoundError(f"--target-photos {folder}: no readable photo ({', '.join(PHOTO_SUFFIXES)})")
    return photos
