"""Which sample goes where: per-sample seeds and the shard plan of a dataset.

Sample ``i`` of a split is a pure function of ``(base_seed, split, i)``, so any shard can be made, or
made again, on any machine, in any order.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

SPLITS = ("train", "validation", "test")


def sample_seed(base_seed: int, split: str, index: int) -> int:
    """The pipeline seed of sample ``index`` of ``split`` (a 63-bit integer)."""
    digest = hashlib.blake2b(f"synthforge/{base_seed}/{split}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


@dataclass(frozen=True)
class Shard:
    """Samples ``start <= index < stop`` of ``split``, written to ``data/<filename>``."""

    split: str
    shard_index: int
    num_shards: int
    start: int
    stop: int

    @property
    def filename(self) -> str:
        return f"{self.split}-{self.shard_index:05d}-of-{self.num_shards:05d}.parquet"

    @property
    def indices(self) -> range:
        return range(self.start, self.stop)


def plan_shards(split_sizes: dict[str, int], shard_size: int) -> list[Shard]:
    """Every shard of every split, in a fixed order (splits in the order given)."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    shards = []
    for split, size in split_sizes.items():
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
        if size < 0:
            raise ValueError(f"split {split!r} has a negative size {size}")
        count = math.ceil(size / shard_size)
        for k in range(count):
            shards.append(Shard(split, k, count, k * shard_size, min((k + 1) * shard_size, size)))
    return shards


def parse_shard_range(text: str, total: int) -> range:
    """``"a:b"`` (shards a to b - 1 of the global shard list; an empty end is the list's own) -> a range.
    Raises `ValueError` unless 0 <= a < b <= total: a range outside the plan would make nothing."""
    try:
        start, stop = (
            int(part) if part else default for part, default in zip(text.split(":"), (0, total), strict=True)
        )
    except ValueError as err:
        raise ValueError(f"shard range must look like 'a:b', got {text!r}") from err
    if not 0 <= start < stop <= total:
        raise ValueError(f"shard range {text!r} is outside the plan's shards 0:{total} (or empty)")
    return range(start, stop)
