"""Feeding training: rows of the dataset (local, streamed, or generated on the fly) as torch tensors.

`to_training_example` turns a dataset row into tensors; `collate_rows` is the `collate_fn` of a
`torch.utils.data.DataLoader` over rows. `SyntheticFaceStream` generates samples during training without
writing them, with the same per-sample seeds as the generation job, split across DataLoader workers
and distributed ranks without overlap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .features import decode_depth
from .shards import sample_seed

TENSOR_KEYS = (
    "landmarks_2d",
    "landmarks_3d",
    "landmark_visibility",
    "landmarks_70",
    "landmark_visibility_70",
    "head_pose",
    "shape",
    "expression",
    "pose",
    "camera",
)


def to_training_example(row: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A decoded dataset row -> ``pixel_values`` (3,H,W) float in [0,1], ``segmentation`` (H,W) long,
    ``depth`` (H,W) metres, landmarks and parameters as tensors."""
    image = np.asarray(row["image"].convert("RGB"), dtype=np.float32) / 255.0
    example = {
        "pixel_values": torch.from_numpy(image).permute(2, 0, 1).contiguous(),
        "segmentation": torch.from_numpy(np.asarray(row["segmentation"], dtype=np.int64)),
        "depth": torch.from_numpy(decode_depth(row["depth"], row["depth_scale"])),
        "index": torch.tensor(row["index"]),
    }
    for key in TENSOR_KEYS:
        value = np.asarray(row[key])
        example[key] = torch.from_numpy(value.astype(np.float32) if value.dtype.kind == "f" else value)
    return example


def collate_examples(examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack examples (`to_training_example` outputs, or `SyntheticFaceStream` items) into a batch."""
    return {key: torch.stack([e[key] for e in examples]) for key in examples[0]}


def collate_rows(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """`collate_fn` for a DataLoader over dataset rows (local or streamed): convert, then stack.

    Each row becomes tensors (`to_training_example`): ``pixel_values`` (3,H,W) float in [0,1],
    ``segmentation`` (H,W) long, ``depth`` (H,W) metres decoded from its 16-bit PNG, landmarks and
    parameters; the rows are then stacked (`collate_examples`).

    Args:
        rows (`list[dict[str, Any]]`):
            Decoded dataset rows (`datasets` gives PIL images for the image columns).

    Returns:
        `dict[str, torch.Tensor]`: the batch: ``pixel_values`` (B,3,H,W), ``segmentation`` (B,H,W),
        ``depth`` (B,H,W), ``index`` (B,), ``landmarks_2d`` (B,68,2), ``landmarks_3d`` (B,68,3),
        ``landmark_visibility`` (B,68), ``shape``, ``expression``, ``pose`` and ``camera`` (B,25).

    Example:

    ```python
    >>> from torch.utils.data import DataLoader
    >>> from synthforge_hf import SynthForgePipeline
    >>> from synthforge_hf.data.generate import generate_dataset
    >>> from synthforge_hf.data.loading import load_split
    >>> from synthforge_hf.data.torch_data import collate_rows
    >>> summary = generate_dataset(
    ...     SynthForgePipeline.from_default_head(), "faces", {"train": 4}, resolution=32, progress=False
    ... )
    >>> loader = DataLoader(load_split("faces", "train"), batch_size=2, collate_fn=collate_rows)
    >>> batch = next(iter(loader))
    >>> batch["pixel_values"].shape, batch["segmentation"].dtype, batch["landmarks_2d"].shape
    (torch.Size([2, 3, 32, 32]), torch.int64, torch.Size([2, 68, 2]))

    ```
    """
    return collate_examples([to_training_example(row) for row in rows])


class SyntheticFaceStream(IterableDataset):
    """Samples made by a pipeline while training reads them, without writing them.

    Sample ``i`` of ``split`` is the generation job's sample ``i`` (same seed), so the stream and a
    written dataset agree. Indices ``start, start + 1, ...`` (forever if ``num_samples`` is None) are
    dealt round-robin in batches to ``num_replicas`` ranks and, within a rank, to the DataLoader
    workers, so no two of them make the same sample. Items are the examples `collate_rows` makes of
    dataset rows (stack them with `collate_examples`).

    Args:
        pipe (`SynthForgePipeline`):
            The pipeline that makes the samples (its progress bar is turned off).
        split (`str`, *optional*, defaults to `"train"`):
            The split whose seeds the samples use.
        base_seed (`int`, *optional*, defaults to 0):
            The dataset's base seed (`sample_seed(base_seed, split, i)`).
        resolution (`int`, *optional*, defaults to 256):
            Image size in pixels (square).
        batch_size (`int`, *optional*, defaults to 8):
            Samples the pipeline renders together (the unit dealt to ranks and workers).
        num_samples (`int`, *optional*):
            How many samples; None streams forever.
        start (`int`, *optional*, defaults to 0):
            The first sample index.
        rank (`int`, *optional*, defaults to 0):
            This process's rank, in [0, ``num_replicas``).
        num_replicas (`int`, *optional*, defaults to 1):
            The number of distributed processes.

    Example:

    ```python
    >>> from torch.utils.data import DataLoader
    >>> from synthforge_hf import SynthForgePipeline
    >>> from synthforge_hf.data.torch_data import SyntheticFaceStream, collate_examples
    >>> stream = SyntheticFaceStream(SynthForgePipeline.from_default_head(), resolution=32, num_samples=3)
    >>> batch = next(iter(DataLoader(stream, batch_size=3, collate_fn=collate_examples)))
    >>> batch["pixel_values"].shape, batch["index"].tolist(), batch["depth"].dtype
    (torch.Size([3, 3, 32, 32]), [0, 1, 2], torch.float32)

    ```
    """

    def __init__(
        self,
        pipe,
        split: str = "train",
        base_seed: int = 0,
        resolution: int = 256,
        batch_size: int = 8,
        num_samples: int | None = None,
        start: int = 0,
        rank: int = 0,
        num_replicas: int = 1,
    ):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.pipe = pipe
        self.split = split
        self.base_seed = base_seed
        self.resolution = resolution
        self.batch_size = batch_size
        self.num_samples = num_samples
        self.start = start
        self.rank = rank
        self.num_replicas = num_replicas

    def _my_batches(self) -> Iterator[list[int]]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        stride, offset = self.num_replicas * workers, self.rank * workers + worker
        stop = None if self.num_samples is None else self.start + self.num_samples
        batch_start = self.start + offset * self.batch_size
        while stop is None or batch_start < stop:
            end = batch_start + self.batch_size if stop is None else min(batch_start + self.batch_size, stop)
            yield list(range(batch_start, end))
            batch_start += stride * self.batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        self.pipe.set_progress_bar_config(disable=True)
        for indices in self._my_batches():
            seeds = [sample_seed(self.base_seed, self.split, i) for i in indices]
            out = self.pipe(seeds=seeds, resolution=self.resolution, batch_size=len(seeds), output_type="pt")
            yield from examples_from_output(out, indices)


def examples_from_output(out, indices: list[int]) -> list[dict[str, torch.Tensor]]:
    """The samples of a pipeline output (``output_type="pt"``) as the examples `collate_rows` makes of
    dataset rows, with ``index`` from ``indices``."""
    return [
        {
            "pixel_values": out.images[k],
            "segmentation": out.segmentation[k].long(),
            "depth": out.depth[k],
            "index": torch.tensor(index),
            "landmarks_2d": out.landmarks_2d[k],
            "landmarks_3d": out.landmarks_3d[k],
            "landmark_visibility": out.landmark_visibility[k],
            "landmarks_70": torch.cat([out.landmarks_2d[k], out.pupils_2d[k]]),
            "landmark_visibility_70": torch.cat([out.landmark_visibility[k], out.pupil_visibility[k]]),
            "head_pose": out.head_pose[k].float(),
            **{key: out.parameters[key][k].float() for key in ("shape", "expression", "pose", "camera")},
        }
        for k, index in enumerate(indices)
    ]
