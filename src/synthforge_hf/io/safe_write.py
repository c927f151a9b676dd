"""Writing files into a folder without following links planted in it.

A file is written to a temporary file created exclusively (``O_EXCL``, an unpredictable name) in the
target's own folder, flushed to disk and renamed over the target, so a reader sees the old file or the
new one, never a part, and a link waiting at a predictable temporary name cannot redirect the write.
A target, or a folder created for one, that is a symbolic link is refused.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import FolderError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: mkstemp creates files 0600, published files get the usual mode


def refuse_symlink(path: Path) -> Path:
    """``path``, or a `FolderError` if it is a symbolic link (writing there would write elsewhere)."""
    if path.is_symlink():
        raise FolderError(
            f"{path} is a symbolic link: refusing to write through it; replace it with a real file or folder"
        )
    return path


def real_folder(path: Path) -> Path:
    """Create the folder ``path`` (with parents) if missing; refuse it if it is a symbolic link."""
    refuse_symlink(path).mkdir(parents=True, exist_ok=True)
    return path


def temporary_name_pattern(path: Path) -> str:
    """The glob of the temporary files `atomic_writer` makes for ``path`` (for removing stale ones)."""
    return f".{path.name}.*.tmp"


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def atomic_writer(path: Path, before_replace: Callable[[Path], None] | None = None) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` once the block finishes; on an error ``path`` is untouched.

    ``before_replace(temporary)`` runs on the finished, flushed file just before it takes ``path``'s
    place (e.g. to record its digest first)."""
    refuse_symlink(path)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), 0o666 & ~_UMASK)
            yield file
            file.flush()
            os.fsync(file.fileno())
        if before_replace is not None:
            before_replace(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` in one step (see `atomic_writer`)."""
    with atomic_writer(path) as file:
        file.write(data)
