"""A parquet shard on disk: published in one step with a digest of its bytes, read back only if whole.

``data/<name>.parquet`` carries its SynthForge record (split, index range, rejected indices, spec) in
the parquet footer. The sha256 and size of the file are kept beside the data, in
``.shards/<name>.parquet.json`` (a hidden folder: `datasets` and the Hub upload never see it), written
before the shard is renamed into place. A shard whose bytes no longer match (flipped bytes, a copy cut
short, a file from elsewhere) is not whole, even when its footer still reads.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset

from ..io.digest import sha256_of
from ..io.safe_write import atomic_write_bytes, atomic_writer, real_folder, temporary_name_pattern

logger = logging.getLogger(__name__)

SHARD_METADATA_KEY = b"synthforge"
ROW_GROUP_SIZE = 100  # rows per parquet row group: what a streaming reader fetches at a time
RECORDS_DIR = ".shards"


def digest_path(path: Path) -> Path:
    """Where the digest of the shard file ``path`` (``<dataset>/data/<name>``) is kept."""
    return path.parent.parent / RECORDS_DIR / f"{path.name}.json"


def write_shard(rows: list[dict], features, path: Path, record: dict) -> None:
    """Encode ``rows`` and publish them as the parquet shard ``path`` in one atomic step, with the
    shard's ``record`` (split, index range, rejected indices, ...) in the file's metadata and the file's
    digest in `digest_path`."""
    rows = [{name: row[name] for name in features} for row in rows]  # the features' order: the viewer's
    table = (
        Dataset.from_list(rows, features=features).data.table if rows else features.arrow_schema.empty_table()
    )
    metadata = {**(table.schema.metadata or {}), SHARD_METADATA_KEY: json.dumps(record).encode()}
    digest = digest_path(path)
    real_folder(path.parent)
    real_folder(digest.parent)
    for target in (path, digest):  # left by a killed run of this shard (one writer per shard: the lock)
        for stale in target.parent.glob(temporary_name_pattern(target)):
            stale.unlink(missing_ok=True)

    def record_digest(temporary: Path) -> None:
        text = json.dumps({"sha256": sha256_of(temporary), "bytes": temporary.stat().st_size})
        atomic_write_bytes(digest, text.encode())

    with atomic_writer(path, before_replace=record_digest) as file:
        pq.write_table(table.replace_schema_metadata(metadata), file, row_group_size=ROW_GROUP_SIZE)


def read_shard_record(path: Path) -> dict | None:
    """The record of the shard file ``path`` with its ``num_rows``, or None (and a warning saying why)
    if it is absent, not a regular file, unlike its digest, or not a SynthForge shard."""
    if not path.exists() and not path.is_symlink():
        return None
    problem = _digest_problem(path)
    if problem is None:
        try:
            metadata = pq.read_metadata(path)
            return {**json.loads(metadata.metadata[SHARD_METADATA_KEY]), "num_rows": metadata.num_rows}
        except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
            problem = "unreadable or not a SynthForge shard"
    logger.warning("%s is %s: it does not count, and a resumed job makes it again", path, problem)
    return None


def _digest_problem(path: Path) -> str | None:
    if path.is_symlink() or not path.is_file():
        return "not a regular file"
    try:
        expected = json.loads(digest_path(path).read_text())
    except (OSError, ValueError):
        return f"without a readable digest ({digest_path(path)})"
    if not isinstance(expected, dict) or path.stat().st_size != expected.get("bytes"):
        return "damaged (its size differs from its digest record)"
    if sha256_of(path) != expected.get("sha256"):
        return "damaged (its sha256 differs from its digest record)"
    return None
