"""A dataset folder defends what it holds: the pipeline fingerprint, shard digests, the shard plan, the
writer lock and writes that do not follow planted symbolic links."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from synthforge_hf.cli import main
from synthforge_hf.data.generate import CONFIG_FILE, generate_dataset, split_counts, verified_shards
from synthforge_hf.data.pipeline_hash import pipeline_fingerprint, without_defaults
from synthforge_hf.errors import FolderError
from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.hub.dataset_card import write_dataset_card
from synthforge_hf.pipelines.synthforge import SynthForgePipeline

RESOLUTION = 24
SIZES = {"train": 4, "validation": 2}
OPTIONS = dict(shard_size=2, resolution=RESOLUTION, batch_size=2, progress=False)
CLI_OPTIONS = ["--num-train", "4", "--num-validation", "2", "--shard-size", "2", "--resolution", "24"]
FIRST = "train-00000-of-00002.parquet"
SECOND = "train-00001-of-00002.parquet"
STRAY = "train-00099-of-00100.parquet"
HOLD_LOCK = """import sys, time
from pathlib import Path
from synthforge_hf.data.folder_lock import lock_shards
with lock_shards(Path(sys.argv[1]), range(int(sys.argv[2]), int(sys.argv[3]))):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def made(pipe, tmp_path_factory):
    out = tmp_path_factory.mktemp("made")
    generate_dataset(pipe, out, SIZES, **OPTIONS)
    return out


@pytest.fixture
def dataset(made, tmp_path) -> Path:
    """A private copy of the made dataset, to damage."""
    return Path(shutil.copytree(made, tmp_path / "dataset"))


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _other_weights() -> SynthForgePipeline:
    pipe = SynthForgePipeline.from_default_head()
    pipe.face_generator.skin_tones = pipe.face_generator.skin_tones + 0.01  # one buffer, a new tensor
    return pipe


def _other_config() -> SynthForgePipeline:
    return SynthForgePipeline.from_assets(generator=MeshFaceGenerator(skin_texture_strength=0.2))


def test_fingerprint_is_stable_and_names_the_changed_part(pipe):
    fingerprint = pipeline_fingerprint(pipe)
    assert pipeline_fingerprint(SynthForgePipeline.from_default_head()) == fingerprint
    for other, changed in (
        (_other_weights(), "face_generator.weights"),
        (_other_config(), "face_generator.config"),
    ):
        again = pipeline_fingerprint(other)
        assert [key for key in fingerprint if again[key] != fingerprint[key]] == [changed]


@pytest.mark.parametrize(
    "make_other, changed",
    [(_other_weights, "face_generator.weights"), (_other_config, "face_generator.config")],
)
@pytest.mark.slow
def test_resume_with_another_pipeline_is_refused_and_changes_nothing(dataset, make_other, changed):
    before = _files(dataset)
    with pytest.raises(FolderError, match=rf"pipeline_sha256\.{changed} differ.*use another --out") as caught:
        generate_dataset(make_other(), dataset, SIZES, **OPTIONS)
    assert "\n" not in str(caught.value)
    assert _files(dataset) == before


def test_a_spec_without_fingerprint_is_refused(pipe, dataset):
    path = dataset / CONFIG_FILE
    record = json.loads(path.read_text())
    del record["pipeline_sha256"]  # what a version before the fingerprint recorded
    path.write_text(json.dumps(record))
    with pytest.raises(FolderError, match=r"pipeline_sha256 \(not in the record\)"):
        generate_dataset(pipe, dataset, SIZES, **OPTIONS)


def test_flipped_bytes_under_an_intact_footer_are_remade(pipe, dataset):
    path = dataset / "data" / SECOND
    original = pq.read_table(path)
    data = bytearray(path.read_bytes())
    for offset in range(200, 208):  # inside the first column's pages, far from the footer
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    assert pq.read_metadata(path).num_rows == 2  # the footer still reads, as it did for the old check
    assert split_counts(dataset)["train"] == {"num_rows": 2, "rejected": 0}  # the damaged shard: not counted
    with pytest.raises(FolderError, match=f"{SECOND} is damaged"):
        verified_shards(dataset)
    summary = generate_dataset(pipe, dataset, SIZES, **OPTIONS)
    assert summary.shards_made == [SECOND] and len(summary.shards_skipped) == 2
    assert pq.read_table(path).equals(original)
    assert split_counts(dataset)["train"] == {"num_rows": 4, "rejected": 0}


def test_a_shard_without_its_digest_is_remade(pipe, dataset):
    (dataset / ".shards" / f"{SECOND}.json").unlink()
    assert generate_dataset(pipe, dataset, SIZES, **OPTIONS).shards_made == [SECOND]


def test_a_file_outside_the_plan_is_refused_everywhere(pipe, dataset, capsys):
    shutil.copy(dataset / "data" / SECOND, dataset / "data" / STRAY)
    before = _files(dataset)
    assert split_counts(dataset) == {
        "train": {"num_rows": 4, "rejected": 0},
        "validation": {"num_rows": 2, "rejected": 0},
    }
    for attempt in (
        lambda: generate_dataset(pipe, dataset, SIZES, **OPTIONS),
        lambda: write_dataset_card(dataset),
        lambda: verified_shards(dataset),
    ):
        with pytest.raises(FolderError, match=f"{STRAY} is not a shard of the dataset planned in"):
            attempt()
    with pytest.raises(SystemExit) as caught:
        main(["make-dataset", "--out", str(dataset), *CLI_OPTIONS, "--no-progress"])
    message = str(caught.value)
    assert message.startswith("synthforge make-dataset: ") and STRAY in message and "\n" not in message
    assert _files(dataset) == before


def test_the_card_names_its_shards_so_a_later_stray_is_not_loaded(dataset):
    write_dataset_card(dataset)
    shutil.copy(dataset / "data" / SECOND, dataset / "data" / STRAY)
    loaded = load_dataset(str(dataset))
    assert loaded["train"].num_rows == 4 and sorted(loaded["train"]["index"]) == [0, 1, 2, 3]
    assert loaded["validation"].num_rows == 2


def test_a_second_job_on_the_same_shards_is_refused_and_a_dead_ones_lock_is_not(pipe, tmp_path):
    out = tmp_path / "shared"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out), "0", "2"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderError, match=f"another make-dataset job is writing {re.escape(str(out))}"):
            generate_dataset(pipe, out, SIZES, **OPTIONS)
        assert sorted(p.name for p in out.iterdir()) == [".make-dataset.lock"]  # nothing written
        # Disjoint shards (another machine's --shards) go ahead, and leave the holder's files alone.
        (out / "data").mkdir()
        theirs = out / "data" / ".train-00000-of-00002.parquet.k2x9q1.tmp"
        theirs.write_bytes(b"being written")
        assert generate_dataset(pipe, out, SIZES, shard_range=range(2, 3), **OPTIONS).shards_made == [
            "validation-00000-of-00001.parquet"
        ]
        assert theirs.read_bytes() == b"being written"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    summary = generate_dataset(pipe, out, SIZES, **OPTIONS)  # the killed holder's lock died with it
    assert len(summary.shards_made) == 2 and not theirs.exists()


def test_a_link_at_a_predictable_temporary_name_is_not_followed(pipe, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    out = tmp_path / "dataset"
    (out / "data").mkdir(parents=True)
    (out / f".{CONFIG_FILE}.{os.getpid()}.tmp").symlink_to(outside)
    (out / "data" / f".train-00000-of-00001.parquet.{os.getpid()}.tmp").symlink_to(outside)
    generate_dataset(pipe, out, {"train": 1}, **OPTIONS)
    assert outside.read_text() == "keep"
    assert not (out / CONFIG_FILE).is_symlink() and split_counts(out)["train"]["num_rows"] == 1


@pytest.mark.parametrize("link", ["README.md", "assets", "assets/samples.png"])
def test_the_card_is_not_written_through_a_link(dataset, tmp_path, link):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "README.md").write_text("mine")
    if link == "assets/samples.png":
        (dataset / "assets").mkdir()
    target = elsewhere if link == "assets" else elsewhere / "README.md"
    (dataset / link).symlink_to(target)
    with pytest.raises(FolderError, match=f"{re.escape(str(dataset / link))} is a symbolic link"):
        write_dataset_card(dataset)
    assert _files(elsewhere) == {"README.md": b"mine"}
    if link != "README.md":
        assert not (dataset / "README.md").exists()  # refused before anything was written


def test_options_at_their_defaults_leave_the_fingerprint(pipe):
    assert without_defaults({"a": 1, "b": [1, 2], "c": 3}, {"a": 1, "b": (1, 2), "c": 4}) == {"c": 3}
    spelled_out = SynthForgePipeline.from_assets(generator=MeshFaceGenerator(glasses=False), roll=0.0)
    assert pipeline_fingerprint(spelled_out) == pipeline_fingerprint(pipe)  # as if the options were new
    assert pipeline_fingerprint(spelled_out, keep_defaults=True) == pipeline_fingerprint(
        pipe, keep_defaults=True
    )


def test_a_dataset_recorded_with_whole_configurations_resumes(pipe, tmp_path, monkeypatch):
    """A dataset begun by a version that hashed configurations with their defaults is finished by this one,
    keeping the shards already made and the recorded fingerprint."""
    from synthforge_hf.data import generate

    out = tmp_path / "begun-before"
    whole = pipeline_fingerprint(pipe, keep_defaults=True)
    assert whole != pipeline_fingerprint(pipe)
    with monkeypatch.context() as patched:
        patched.setattr(
            generate, "pipeline_fingerprint", lambda p: pipeline_fingerprint(p, keep_defaults=True)
        )
        generate_dataset(pipe, out, SIZES, shard_range=range(0, 1), **OPTIONS)
    first = (out / "data" / FIRST).read_bytes()
    summary = generate_dataset(pipe, out, SIZES, **OPTIONS)
    assert summary.shards_skipped == [FIRST] and len(summary.shards_made) == 2
    assert (out / "data" / FIRST).read_bytes() == first
    assert json.loads((out / CONFIG_FILE).read_text())["pipeline_sha256"] == whole
