"""Pieces of a CPU batch side by side: order, grad mode, the caller's thread setting, the split."""

from __future__ import annotations

import threading

import torch

from synthforge_hf.rendering.parallel import parallel_map, split


def test_results_come_in_order_on_single_threaded_workers_in_the_callers_grad_mode():
    threads = torch.get_num_threads()
    weight = torch.ones(3, requires_grad=True)
    seen = []

    def work(i: int):
        seen.append((threading.get_ident(), torch.get_num_threads()))
        return (weight * i).sum()

    with torch.no_grad():
        out = parallel_map(work, list(range(6)))
    assert [o.item() for o in out] == [0.0, 3.0, 6.0, 9.0, 12.0, 15.0]
    assert not any(o.requires_grad for o in out)
    assert all(n == 1 for _, n in seen)
    assert torch.get_num_threads() == threads
    out = parallel_map(work, [1, 2])
    assert all(o.requires_grad for o in out)


def test_split_covers_the_rows_in_near_equal_slices():
    assert split(16, 2) == [slice(0, 8), slice(8, 16)]
    assert split(5, 2) == [slice(0, 2), slice(2, 5)]
    assert split(1, 4) == [slice(0, 1)]
    pieces = split(10, 3)
    assert [i for s in pieces for i in range(10)[s]] == list(range(10))
