"""Loading a generated dataset's split for training: a local folder or a Hub repository.

`datasets.load_dataset(folder)` keys its Arrow cache on the folder's name and dataset card (the card's
`configs` list patterns, not files), so a folder generated again in the same place, or another folder of
the same name and card, loads the Arrow copy of the first one. `load_split` names a local folder's shard
files instead, which keys the cache on those files and their modification times.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset, load_dataset


def split_files(folder: str | Path, split: str) -> list[str]:
    """The parquet shards of ``split`` in a generated dataset folder (``data/{split}-*.parquet``)."""
    return [str(path) for path in sorted(Path(folder, "data").glob(f"{split}-*.parquet"))]


def load_split(data: str | Path, split: str) -> Dataset | None:
    """``split`` of a generated dataset: a local folder or a Hub repository id.

    A local folder is read from its shard files (``data/{split}-*.parquet``), so the cache follows
    those files (see the module docstring); a Hub repository is cached by its revision, as
    `datasets.load_dataset` does.

    Args:
        data (`str` or `Path`):
            A dataset folder (what `generate_dataset` or ``synthforge import-official`` wrote) or a Hub
            dataset id.
        split (`str`):
            The split, e.g. "train" or "validation".

    Returns:
        `datasets.Dataset` or `None`: the split's rows (images decoded as PIL images, see
        `synthforge_hf.data.features`); None when a local folder has no such split.

    Example:

    ```python
    >>> from synthforge_hf import SynthForgePipeline
    >>> from synthforge_hf.data.generate import generate_dataset
    >>> from synthforge_hf.data.loading import load_split
    >>> summary = generate_dataset(
    ...     SynthForgePipeline.from_default_head(), "faces", {"train": 3}, resolution=32, progress=False
    ... )
    >>> train = load_split("faces", "train")
    >>> train.num_rows, train[0]["image"].size, len(train[0]["landmarks_2d"])
    (3, (32, 32), 68)
    >>> load_split("faces", "validation") is None
    True

    ```
    """
    if not Path(data).is_dir():
        return load_dataset(str(data), split=split)
    files = split_files(data, split)
    if not files:
        return None
    return load_dataset("parquet", data_files={split: files}, split=split)
