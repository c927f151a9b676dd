"""Independent pieces of a CPU batch on the cores, one intra-op thread each.

Rendering a sample is many small tensor operations. Splitting each operation over the cores costs a
synchronisation per operation, which is large on shared machines (a core taken by another process stalls
every operation); running whole pieces of the batch side by side on single-threaded cores does not.
PyTorch releases the GIL inside its operations, so Python threads are enough.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


def parallel_map(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``[function(item) for item in items]`` on ``torch.get_num_threads()`` threads that each run PyTorch
    on one thread, in the caller's grad mode; the caller's thread setting is left as it was."""
    threads = torch.get_num_threads()
    grad = torch.is_grad_enabled()

    def run(item: Item) -> Result:
        torch.set_num_threads(1)  # per thread: the caller's setting is not touched
        with torch.set_grad_enabled(grad):
            return function(item)

    if threads <= 1 or len(items) <= 1:
        try:
            return [run(item) for item in items]
        finally:
            torch.set_num_threads(threads)
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(run, items))


def split(size: int, parts: int | None = None) -> list[slice]:
    """``size`` rows in at most ``parts`` (default: the PyTorch thread count) contiguous, near-equal
    slices."""
    parts = max(1, min(size, parts or torch.get_num_threads()))
    bounds = [size * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
