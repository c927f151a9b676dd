"""The folders the dataset commands write into may hold the user's own files: those are never
overwritten. A command refuses, naming the file, a folder that another command made, a shard name
already taken by a file none of this project's commands wrote, or an ``--out`` that is a file; every
other file in the folder is left as it is."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import FolderError
from .shard_file import SHARD_METADATA_KEY, digest_path

MADE_BY = {"generation.json": "make-dataset", "import.json": "import-official"}  # each command's record


def check_output_folder(folder: Path, command: str, shard_names: list[str]) -> None:
    """Raise `FolderError` if ``command`` (make-dataset or import-official) cannot write its shards
    ``data/<shard_names>`` into ``folder`` without overwriting or mixing with files it did not write."""
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"--out {folder} is a file, not a folder")
    for record, maker in MADE_BY.items():
        if maker != command and (folder / record).exists():
            raise FolderError(
                f"{folder} holds a dataset made by synthforge {maker} ({folder / record}); {command} "
                "would mix its shards with that one's: use another --out"
            )
    for name in shard_names:
        path = folder / "data" / name
        if path.exists() and not _written_here(path):
            raise FolderError(
                f"{path} is not a shard made by synthforge, and {command} would overwrite it: "
                "move it away or use another --out"
            )


def _written_here(path: Path) -> bool:
    """Whether a file at a shard's name was written by this project: its digest record is beside the
    data (written before the shard takes its name), or its parquet footer holds a SynthForge record."""
    if digest_path(path).exists():
        return True
    try:
        return SHARD_METADATA_KEY in (pq.read_metadata(path).metadata or {})
    except (OSError, pa.ArrowException):
        return False


def refuse_unplanned_files(folder: Path, shard_names: list[str]) -> None:
    """Raise `FolderError` naming the first entry of ``data/`` that is not one of ``shard_names``
    (hidden ones, such as temporary files, aside: `datasets` skips them too): `load_dataset` and the
    Hub would take it for part of the dataset."""
    data = folder / "data"
    entries = sorted(data.iterdir()) if data.is_dir() else []
    unplanned = [p for p in entries if not p.name.startswith(".") and p.name not in set(shard_names)]
    if unplanned:
        more = f" (and {len(unplanned) - 1} more)" if len(unplanned) > 1 else ""
        raise FolderError(
            f"{unplanned[0]}{more} is not a shard of the dataset planned in {folder}; "
            f"move it out of {data}, or use another --out"
        )
