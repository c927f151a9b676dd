"""One writer per shard: a lock on the part of a dataset folder that a make-dataset job writes.

The lock file ``.make-dataset.lock`` in the folder holds POSIX record locks (``fcntl.lockf``): byte 0
guards the spec (``generation.json``), held while it is checked or written; byte ``1 + i`` stands for
shard ``i`` of the global plan. A job locks the bytes of its shard range without waiting, so a second
job on overlapping shards is refused at once, while machines given disjoint ``--shards`` of one shared
folder still run side by side. The kernel drops the locks with the process, so a killed job leaves a
lock file that blocks nobody.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import FolderError

LOCK_FILE = ".make-dataset.lock"


def _open_lock_file(output_dir: Path) -> int:
    output_dir.mkdir(parents=True, exist_ok=True)  # --out itself may be a link the user chose
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(output_dir / LOCK_FILE, flags, 0o644)
    except OSError as err:
        raise FolderError(f"cannot open the lock file {output_dir / LOCK_FILE}: {err.strerror}") from None


@contextmanager
def lock_shards(output_dir: Path, shards: range) -> Iterator[int]:
    """Hold shards ``shards`` (indices into the global plan) of ``output_dir`` for this process; yields
    the lock file's descriptor, for `spec_lock`. Raises `FolderError` if another job holds any of them."""
    handle = _open_lock_file(output_dir)
    try:
        if len(shards):
            first, last = min(shards), max(shards)
            try:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, last - first + 1, 1 + first)
            except OSError:
                raise FolderError(
                    f"another make-dataset job is writing {output_dir} (shards {first}:{last + 1}); wait "
                    "for it to finish, or give this job other --shards or another --out"
                ) from None
        yield handle
    finally:
        os.close(handle)  # releases every lock this process holds on the file


@contextmanager
def spec_lock(handle: int) -> Iterator[None]:
    """Byte 0 of the lock file, waited for: one job at a time checks or writes the spec."""
    fcntl.lockf(handle, fcntl.LOCK_EX, 1, 0)
    try:
        yield
    finally:
        fcntl.lockf(handle, fcntl.LOCK_UN, 1, 0)
