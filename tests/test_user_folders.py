"""Folders users own: make-dataset and import-official never overwrite or mix with files they did not
write, and say which file and which option to change (in a fresh process, as a user meets them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

from .official_release import write_official_release

pytestmark = pytest.mark.slow  # the whole file: see CONTRIBUTING.md, "Tests"

SMALL = ["--limit", "2", "--shard-size", "2", "--resolution", "24", "--no-progress"]


def _synthforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "synthforge_hf.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


def _last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_make_dataset_keeps_the_users_readme_and_shards(tmp_path):
    folder = tmp_path / "mine"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("# My notes\n")
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"my own table")
    result = _synthforge("make-dataset", "--out", "mine", *SMALL, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert _last_line(result).startswith(
        "synthforge make-dataset: mine/README.md is not a SynthForge dataset card"
    )
    (folder / "README.md").rename(tmp_path / "notes.md")
    result = _synthforge("make-dataset", "--out", "mine", *SMALL, cwd=tmp_path)
    assert result.returncode == 1
    assert _last_line(result) == (
        "synthforge make-dataset: mine/data/train-00000-of-00001.parquet is not a shard made by synthforge, "
        "and make-dataset would overwrite it: move it away or use another --out"
    )
    assert (folder / "data" / "train-00000-of-00001.parquet").read_bytes() == b"my own table"
    assert (tmp_path / "notes.md").read_text() == "# My notes\n"


def test_make_dataset_finishes_its_own_folder_and_keeps_a_readme_put_there_later(tmp_path):
    assert _synthforge("make-dataset", "--out", "faces", *SMALL, cwd=tmp_path).returncode == 0
    assert _synthforge("make-dataset", "--out", "faces", *SMALL, cwd=tmp_path).returncode == 0  # its own card
    (tmp_path / "faces" / "README.md").write_text("# rewritten by hand\n")
    result = _synthforge("make-dataset", "--out", "faces", *SMALL, cwd=tmp_path)
    assert result.returncode == 1 and "faces/README.md is not a SynthForge dataset card" in _last_line(result)
    assert (tmp_path / "faces" / "README.md").read_text() == "# rewritten by hand\n"


def test_import_official_into_a_make_dataset_folder_is_refused(pipe, tmp_path):
    write_official_release(pipe, tmp_path / "release", 3)
    assert _synthforge("make-dataset", "--out", "faces", *SMALL, cwd=tmp_path).returncode == 0
    before = sorted(p.name for p in (tmp_path / "faces" / "data").iterdir())
    result = _synthforge("import-official", "release", "--out", "faces", "--no-progress", cwd=tmp_path)
    assert result.returncode == 1 and "faces holds a dataset made by synthforge make-dataset" in _last_line(
        result
    )
    assert sorted(p.name for p in (tmp_path / "faces" / "data").iterdir()) == before
    assert load_dataset(str(tmp_path / "faces"), split="train").num_rows == 2


def test_import_official_resumes_its_own_import_and_refuses_another(pipe, tmp_path):
    write_official_release(pipe, tmp_path / "release", 3)
    args = ["import-official", "release", "--out", "imported", "--shard-size", "2", "--no-progress"]
    assert _synthforge(*args, cwd=tmp_path).returncode == 0
    first = tmp_path / "imported" / "data" / "train-00000-of-00002.parquet"
    second = tmp_path / "imported" / "data" / "train-00001-of-00002.parquet"
    kept, made_at = first.stat().st_mtime_ns, second.stat().st_mtime_ns
    second.unlink()  # a run stopped before its last shard
    assert _synthforge(*args, cwd=tmp_path).returncode == 0
    assert first.stat().st_mtime_ns == kept and second.stat().st_mtime_ns != made_at
    assert load_dataset(str(tmp_path / "imported"), split="train")["index"] == [0, 1, 2]
    other = ["import-official", "release", "--out", "imported", "--shard-size", "3", "--no-progress"]
    result = _synthforge(*other, cwd=tmp_path)
    assert (
        result.returncode == 1
        and "holds an import of other samples or settings (shard_size" in _last_line(result)
    )


@pytest.mark.parametrize("command", ["make-dataset", "import-official"])
def test_an_out_that_is_a_file_is_refused(tmp_path, command):
    (tmp_path / "taken").write_text("a file")
    args = [command, *(["release"] if command == "import-official" else SMALL), "--out", "taken"]
    if command == "import-official":
        (tmp_path / "release" / "annotations").mkdir(parents=True)
        (tmp_path / "release" / "annotations" / "00000.json").write_text("{}")
    result = _synthforge(*args, cwd=tmp_path)
    assert (
        result.returncode == 1
        and f"synthforge {command}: --out taken is a file, not a folder" == _last_line(result)
    )
    assert (tmp_path / "taken").read_text() == "a file"
