"""The table of a `synthforge analyse` run: one row per face, appended a photo at a time, so that a run
killed at any moment resumes without analysing a photo twice or leaving one out.

``faces.jsonl`` holds JSON rows ``{"photo", "image_size", "faces_in_photo", "face_index", "box", "score",
"landmarks_68", "error"}``: one per face, or one with ``face_index`` null for a photo without a face or
that could not be read. A photo's rows are written in one append and flushed to disk; on resuming, a
photo counts as done when all its rows are there (a row cut short by a kill, and the rest of its photo,
are dropped), and the photos that could not be read are tried again. ``faces.parquet`` is the same
table for dataframes, written once every photo is done.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from .analysis import PhotoResult
from .errors import FolderError
from .io.safe_write import atomic_write_bytes, refuse_symlink

COLUMNS = ("photo", "image_size", "faces_in_photo", "face_index", "box", "score", "landmarks_68", "error")


class ResultsTable:
    """The table at ``path`` (``OUT/faces.jsonl``)."""

    def __init__(self, path: Path):
        self.path = refuse_symlink(path)

    def resume(self) -> set[str]:
        """The photos the table already holds whole (their rows kept; any others dropped from the file)."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return set()
        rows_of: dict[str, list[dict]] = defaultdict(list)
        for number, line in enumerate(self.path.read_text().splitlines(keepends=True), start=1):
            try:
                row = json.loads(line) if line.endswith("\n") else None
            except ValueError:
                row = None
            if row is None:  # the last line, cut short by a kill
                break
            if not isinstance(row, dict) or set(row) != set(COLUMNS):
                raise FolderError(
                    f"{self.path} line {number} is not a row of synthforge analyse; move the file away or "
                    "use another --out"
                )
            rows_of[row["photo"]].append(row)
        whole = {
            photo: rows
            for photo, rows in rows_of.items()
            if rows[0]["error"] is None and len(rows) == max(rows[0]["faces_in_photo"], 1)
        }
        kept = "".join(json.dumps(row) + "\n" for rows in whole.values() for row in rows)
        atomic_write_bytes(self.path, kept.encode())
        return set(whole)

    def append(self, photo: Path, result: PhotoResult) -> None:
        height, width = result.parsing.shape
        base = {"photo": str(photo), "image_size": [width, height], "faces_in_photo": len(result.faces)}
        rows = [
            {
                **base,
                "face_index": index,
                "box": [round(v, 2) for v in face.box],
                "score": None if face.score is None else round(face.score, 4),
                "landmarks_68": np.round(face.landmarks.astype(np.float64), 2).tolist(),
                "error": None,
            }
            for index, face in enumerate(result.faces)
        ]
        self._write(rows or [{**dict.fromkeys(COLUMNS), **base}])

    def append_error(self, photo: Path, error: Exception) -> None:
        self._write(
            [{**dict.fromkeys(COLUMNS), "photo": str(photo), "faces_in_photo": 0, "error": str(error)}]
        )

    def _write(self, rows: list[dict]) -> None:
        with open(self.path, "a") as table:
            table.write("".join(json.dumps(row) + "\n" for row in rows))
            table.flush()
            os.fsync(table.fileno())

    def write_parquet(self) -> Path:
        """``faces.parquet`` beside the JSONL table, with the same rows."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [json.loads(line) for line in self.path.read_text().splitlines()]
        target = self.path.with_suffix(".parquet")
        pq.write_table(pa.Table.from_pylist(rows), target)
        return target
