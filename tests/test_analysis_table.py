"""The table of a `synthforge analyse` run: what a resumed run keeps, drops and refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthforge_hf.analysis import FaceResult, PhotoResult
from synthforge_hf.analysis_table import ResultsTable
from synthforge_hf.errors import FolderError


def _result(faces: int) -> PhotoResult:
    found = [
        FaceResult((1.0, 2.0, 30.0, 40.0), 0.5, np.full((68, 2), 7.125, np.float32)) for _ in range(faces)
    ]
    return PhotoResult(found, np.zeros((40, 60), np.uint8), np.zeros((40, 60), np.float32))


def test_rows_per_face_and_per_photo_without_faces(tmp_path):
    table = ResultsTable(tmp_path / "faces.jsonl")
    assert table.resume() == set()
    table.append("a.jpg", _result(2))
    table.append("b.jpg", _result(0))
    table.append_error("c.jpg", ValueError("c.jpg: not a readable image"))
    rows = [json.loads(line) for line in (tmp_path / "faces.jsonl").read_text().splitlines()]
    assert [(r["photo"], r["face_index"], r["faces_in_photo"]) for r in rows] == [
        ("a.jpg", 0, 2),
        ("a.jpg", 1, 2),
        ("b.jpg", None, 0),
        ("c.jpg", None, 0),
    ]
    assert rows[0]["image_size"] == [60, 40] and rows[0]["landmarks_68"][0] == [7.12, 7.12]
    assert rows[3]["error"] == "c.jpg: not a readable image"
    assert table.write_parquet().exists()


def test_resume_keeps_whole_photos_and_drops_cut_ones(tmp_path):
    path = tmp_path / "faces.jsonl"
    table = ResultsTable(path)
    table.resume()
    table.append("a.jpg", _result(2))
    table.append("b.jpg", _result(0))
    table.append("c.jpg", _result(3))
    table.append_error("d.jpg", ValueError("d.jpg: unreadable"))
    lines = path.read_text().splitlines(keepends=True)
    # killed while writing c.jpg: its last row cut in half
    path.write_text("".join(lines[:4]) + lines[4][:20])
    assert ResultsTable(path).resume() == {"a.jpg", "b.jpg"}  # c.jpg cut short, d.jpg to try again
    assert path.read_text() == "".join(lines[:3])


def test_a_file_that_is_not_our_table_is_refused(tmp_path):
    path = tmp_path / "faces.jsonl"
    path.write_text('{"name": "my notes"}\n')
    with pytest.raises(FolderError, match="faces.jsonl line 1 is not a row of synthforge analyse"):
        ResultsTable(path).resume()
    assert path.read_text() == '{"name": "my notes"}\n'
