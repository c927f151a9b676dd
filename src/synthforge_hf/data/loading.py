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
    """``split`` of a generated dataset: a local folder (None when it has no such split) or a Hub
    repository id (cached by its revision, as `load_dataset` does)."""
    if not Path(data).is_dir():
        return load_dataset(str(data), split=split)
    files = split_files(data, split)
    if not files:
        return None
    return load_dataset("parquet", data_files={split: files}, split=split)
