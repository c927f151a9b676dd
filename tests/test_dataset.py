"""The dataset job: typed shards, exact regeneration, resumption after SIGKILL, streaming, the card."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from datasets import Array2D, Image, load_dataset
from huggingface_hub import DatasetCard
from torch.utils.data import DataLoader

from synthforge_hf.cli import main
from synthforge_hf.constants import SEGMENTATION_CLASSES
from synthforge_hf.data.features import DEPTH_SCALE, decode_depth
from synthforge_hf.data.generate import generate_dataset, split_counts
from synthforge_hf.data.shards import parse_shard_range, plan_shards, sample_seed
from synthforge_hf.data.torch_data import SyntheticFaceStream, collate_rows
from synthforge_hf.hub.dataset_card import write_dataset_card

from .official_release import write_official_release
from .processes import run_cli_in_processes

RESOLUTION = 32


@pytest.fixture(scope="module")
def dataset_dir(pipe, tmp_path_factory):
    out = tmp_path_factory.mktemp("faces")
    generate_dataset(
        pipe,
        out,
        {"train": 10, "validation": 4},
        shard_size=4,
        resolution=RESOLUTION,
        batch_size=3,
        progress=False,
    )
    write_dataset_card(out)
    return out


def test_plan_seeds_and_ranges():
    shards = plan_shards({"train": 10, "validation": 4}, 4)
    assert [s.filename for s in shards] == [
        "train-00000-of-00003.parquet",
        "train-00001-of-00003.parquet",
        "train-00002-of-00003.parquet",
        "validation-00000-of-00001.parquet",
    ]
    assert [list(s.indices) for s in shards[:3]] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert sample_seed(0, "train", 5) == sample_seed(0, "train", 5) < 2**63
    assert len({sample_seed(0, "train", i) for i in range(1000)} | {sample_seed(0, "validation", 0)}) == 1001
    assert sample_seed(1, "train", 5) != sample_seed(0, "train", 5)
    assert parse_shard_range("1:", 4) == range(1, 4) and parse_shard_range(":2", 4) == range(0, 2)
    for text in ("x", "1:2:3", "1"):
        with pytest.raises(ValueError, match="a:b"):
            parse_shard_range(text, 4)
    for text in ("2:2", "3:1", "-1:", "0:5", "4:"):  # empty, reversed, negative, past the plan
        with pytest.raises(ValueError, match="outside the plan"):
            parse_shard_range(text, 4)
    with pytest.raises(ValueError, match="split"):
        plan_shards({"training": 3}, 2)


def test_shards_load_with_typed_features(dataset_dir):
    names = sorted(p.name for p in (dataset_dir / "data").iterdir())
    assert names == [f"train-0000{k}-of-00003.parquet" for k in range(3)] + [
        "validation-00000-of-00001.parquet"
    ]
    ds = load_dataset(str(dataset_dir))
    assert ds["train"].num_rows == 10 and ds["validation"].num_rows == 4
    features = ds["train"].features
    assert isinstance(features["image"], Image) and isinstance(features["segmentation"], Image)
    assert features["landmarks_2d"] == Array2D((68, 2), "float32")
    assert sorted(ds["train"]["index"]) == list(range(10))
    row = ds["train"][7]
    assert row["image"].size == (RESOLUTION, RESOLUTION) and row["depth"].mode.startswith("I")
    assert np.asarray(row["segmentation"]).max() < len(SEGMENTATION_CLASSES)
    assert row["segmentation"].mode == "P"  # class ids as values, shown in the official colours
    assert list(features)[0] == "image"  # the column the Hub's viewer shows first
    assert "parts" not in features  # the default draws nothing in front of the head
    layout = np.asarray(row["landmarks_70"])
    assert layout.shape == (70, 2) and np.array_equal(layout[:68], np.asarray(row["landmarks_2d"]))
    assert np.isfinite(layout[68:]).all() and len(row["head_pose"]) == 3


def test_a_row_regenerates_exactly_from_its_seed(pipe, dataset_dir):
    row = load_dataset(str(dataset_dir), split="train")[6]
    assert row["seed"] == sample_seed(0, "train", 6)
    out = pipe(seeds=[row["seed"]], resolution=RESOLUTION, output_type="np")
    assert np.array_equal(np.asarray(row["image"]), np.round(out.images[0] * 255).astype(np.uint8))
    assert np.array_equal(np.asarray(row["segmentation"]), out.segmentation[0])
    depth = decode_depth(row["depth"], row["depth_scale"])
    assert np.abs(depth - out.depth[0]).max() <= DEPTH_SCALE / 2 + 1e-7
    # Batched float math may differ in the last bits from a batch of one.
    np.testing.assert_allclose(
        np.asarray(row["landmarks_2d"], dtype=np.float32), out.landmarks_2d[0], atol=1e-4
    )
    assert row["landmark_visibility"] == out.landmark_visibility[0].tolist()
    np.testing.assert_array_equal(np.asarray(row["shape"], dtype=np.float32), out.parameters["shape"][0])
    # Explicit parameters reproduce it too.
    again = pipe(
        shape=torch.tensor([row["shape"]]),
        expression=torch.tensor([row["expression"]]),
        pose=torch.tensor([row["pose"]]),
        yaw=torch.tensor([row["yaw"]]),
        pitch=torch.tensor([row["pitch"]]),
        fov=torch.tensor([row["fov"]]),
        latents=torch.tensor([row["latents"]]),
        resolution=RESOLUTION,
        output_type="np",
    )
    assert np.array_equal(again.segmentation[0], out.segmentation[0])


def test_streaming_gives_the_same_rows_and_feeds_a_dataloader(dataset_dir):
    stream = load_dataset(str(dataset_dir), split="validation", streaming=True)
    local = load_dataset(str(dataset_dir), split="validation")
    for streamed, stored in zip(stream, local, strict=True):
        assert streamed["index"] == stored["index"]
        assert np.array_equal(np.asarray(streamed["image"]), np.asarray(stored["image"]))
    loader = DataLoader(
        load_dataset(str(dataset_dir), split="train", streaming=True), batch_size=4, collate_fn=collate_rows
    )
    batch = next(iter(loader))
    assert batch["pixel_values"].shape == (4, 3, RESOLUTION, RESOLUTION) and batch["pixel_values"].max() <= 1
    assert batch["segmentation"].dtype == torch.int64 and batch["landmarks_2d"].shape == (4, 68, 2)
    assert ((batch["depth"] > 0) == (batch["segmentation"] > 0)).all()


def test_card_is_valid_and_made_from_the_records(dataset_dir):
    card = DatasetCard.load(dataset_dir / "README.md")
    splits = {s["name"]: s["num_examples"] for s in card.data.dataset_info["splits"]}
    assert splits == {"train": 10, "validation": 4}
    assert card.data.configs[0]["data_files"][0] == {  # the shards by name: no other file is loaded
        "split": "train",
        "path": [f"data/train-0000{k}-of-00003.parquet" for k in range(3)],
    }
    assert card.data.license == "apache-2.0" and "n<1K" in card.data.size_categories
    for name in SEGMENTATION_CLASSES:
        assert f"`{name}`" in card.text
    assert (dataset_dir / "assets" / "samples.png").exists() and "assets/samples.png" in card.text
    assert "Part classes" not in card.text and "| `parts` |" not in card.text


def test_stream_generated_on_the_fly_matches_the_dataset(pipe, dataset_dir):
    stored = load_dataset(str(dataset_dir), split="train")
    stream = SyntheticFaceStream(pipe, resolution=RESOLUTION, batch_size=2, num_samples=5, start=3)
    examples = list(stream)
    assert [int(e["index"]) for e in examples] == [3, 4, 5, 6, 7]
    image = np.round(examples[2]["pixel_values"].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.array_equal(image, np.asarray(stored[5]["image"]))
    ranks = [
        SyntheticFaceStream(pipe, resolution=RESOLUTION, batch_size=2, num_samples=7, rank=r, num_replicas=2)
        for r in range(2)
    ]
    seen = [int(e["index"]) for r in ranks for e in r]
    assert sorted(seen) == list(range(7))


def test_a_sample_with_non_finite_pixels_is_reported_and_rejected(pipe, tmp_path, monkeypatch, caplog):
    """A sample whose image holds a NaN (a renderer's numerical slip) is logged and left out, never
    written as garbage bytes; the others are written."""
    render = type(pipe).__call__

    def with_a_nan(self, *args, seeds, **kwargs):
        out = render(self, *args, seeds=seeds, **kwargs)
        if sample_seed(0, "train", 1) in seeds:
            out.images[seeds.index(sample_seed(0, "train", 1)), 3, 4, 0] = np.nan
        return out

    monkeypatch.setattr(type(pipe), "__call__", with_a_nan)
    summary = generate_dataset(
        pipe, tmp_path, {"train": 3}, shard_size=3, resolution=RESOLUTION, progress=False
    )
    assert (summary.written, summary.rejected) == (2, 1)
    assert "train sample 1: its image has non-finite pixels; rejected" in caplog.text


def test_rejection_and_a_changed_spec(pipe, tmp_path):
    summary = generate_dataset(
        pipe,
        tmp_path,
        {"train": 3},
        shard_size=2,
        resolution=RESOLUTION,
        min_visible_landmarks=69,
        progress=False,
    )
    assert (summary.written, summary.rejected) == (0, 3)
    assert split_counts(tmp_path) == {"train": {"num_rows": 0, "rejected": 3}}
    with pytest.raises(ValueError, match="different settings"):
        generate_dataset(pipe, tmp_path, {"train": 3}, shard_size=2, resolution=RESOLUTION, progress=False)


def test_corrupt_shard_is_made_again_and_others_are_kept(pipe, tmp_path):
    generate_dataset(pipe, tmp_path, {"train": 4}, shard_size=2, resolution=RESOLUTION, progress=False)
    first, second = sorted((tmp_path / "data").glob("*.parquet"))
    kept = first.read_bytes()
    second.write_bytes(second.read_bytes()[:100])
    summary = generate_dataset(
        pipe, tmp_path, {"train": 4}, shard_size=2, resolution=RESOLUTION, progress=False
    )
    assert summary.shards_made == [second.name] and summary.shards_skipped == [first.name]
    assert first.read_bytes() == kept and pq.read_metadata(second).num_rows == 2


def test_machines_split_by_shard_range_make_the_same_dataset(pipe, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    sizes = {"train": 5}
    generate_dataset(pipe, whole, sizes, shard_size=2, resolution=RESOLUTION, progress=False)
    for shard_range in (range(0, 1), range(1, 3)):
        generate_dataset(
            pipe, parts, sizes, shard_size=2, resolution=RESOLUTION, shard_range=shard_range, progress=False
        )
    for path in sorted((whole / "data").glob("*.parquet")):
        assert pq.read_table(path).equals(pq.read_table(parts / "data" / path.name))


def _indices(directory: Path) -> list[int]:
    return sorted(
        i for path in (directory / "data").glob("*.parquet") for i in pq.read_table(path)["index"].to_pylist()
    )


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_has_every_index_once(tmp_path):
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "synthforge_hf.cli",
        "make-dataset",
        "--out",
        str(out),
        "--num-train",
        "60",
        "--num-validation",
        "0",
        "--shard-size",
        "5",
        "--resolution",
        str(RESOLUTION),
        "--batch-size",
        "5",
        "--no-progress",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600  # a loaded machine takes long to start; the loop ends at 2 shards
    while time.monotonic() < deadline and len(list((out / "data").glob("*.parquet"))) < 2:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed while still working, not after finishing
    made_before = {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")}
    assert 2 <= len(made_before) < 12
    assert not (out / "README.md").exists()
    assert (out / ".make-dataset.lock").exists()  # the killed job's lock file stays; its lock died with it

    assert main(command[3:]) == 0
    assert _indices(out) == list(range(60))  # each index exactly once
    assert not list((out / "data").glob(".*.tmp"))
    for name, mtime in made_before.items():  # whole shards from the killed run were kept, not remade
        assert (out / "data" / name).stat().st_mtime_ns == mtime
    assert (out / "README.md").exists()


@pytest.mark.slow
def test_make_dataset_limit_run(tmp_path, capsys):
    out = tmp_path / "limited"
    args = [
        "make-dataset",
        "--out",
        str(out),
        "--limit",
        "3",
        "--shard-size",
        "2",
        "--resolution",
        "24",
        "--no-progress",
    ]
    assert main(args) == 0
    assert "dataset complete" in capsys.readouterr().out
    assert split_counts(out) == {
        "train": {"num_rows": 3, "rejected": 0},
        "validation": {"num_rows": 3, "rejected": 0},
    }
    os.remove(out / "README.md")
    assert main(args) == 0 and "0 shards made, 4 already complete" in capsys.readouterr().out


def test_official_release_imports_into_the_same_features(pipe, tmp_path):
    from synthforge_hf.data.official import import_official_release

    truth = write_official_release(pipe, tmp_path / "release", 3)
    assert (
        import_official_release(tmp_path / "release", tmp_path / "imported", shard_size=2, progress=False)
        == 3
    )
    ds = load_dataset(str(tmp_path / "imported"), split="train")
    assert ds.features["landmarks_2d"] == Array2D((68, 2), "float32") and ds.num_rows == 3
    for i, row in enumerate(ds):
        assert np.array_equal(np.asarray(row["segmentation"]), truth.segmentation[i])  # colours decoded
        np.testing.assert_allclose(row["landmarks_2d"], truth.landmarks_2d[i], atol=1e-4)
        for key in ("yaw", "pitch", "fov"):  # recovered from the 25-value camera
            assert row[key] == pytest.approx(float(truth.parameters[key][i]), abs=1e-4)
        assert row["seed"] == -1 and np.isnan(row["depth_scale"]) and np.isnan(row["landmarks_3d"]).all()
        assert np.asarray(row["depth"]).max() == 65535  # relative depth spread over 16 bits
        layout = np.asarray(row["landmarks_70"])
        assert np.array_equal(layout[:68], np.asarray(row["landmarks_2d"])) and np.isnan(layout[68:]).all()
        np.testing.assert_allclose(row["head_pose"], truth.head_pose[i], atol=1e-3)  # from camera and pose


def test_official_release_with_a_corrupt_image_is_named(pipe, tmp_path):
    from synthforge_hf.data.official import import_official_release
    from synthforge_hf.errors import MalformedAssetError

    write_official_release(pipe, tmp_path / "release", 1)
    (tmp_path / "release" / "images" / "00000.png").write_bytes(b"not a png")
    with pytest.raises(MalformedAssetError, match="sample 00000"):
        import_official_release(tmp_path / "release", tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "data" / "train-00000-of-00001.parquet").exists()


@pytest.mark.slow
def test_two_processes_share_the_shards(tmp_path):
    """`torchrun` (what `accelerate launch` starts) with 2 CPU processes: each makes its own shards."""
    out = tmp_path / "two"
    args = [
        "make-dataset",
        "--out",
        str(out),
        "--num-train",
        "12",
        "--num-validation",
        "4",
        "--shard-size",
        "3",
        "--resolution",
        str(RESOLUTION),
        "--no-progress",
    ]
    result = run_cli_in_processes(args)
    # Both processes write to one pipe, so their summaries may share a line: find them anywhere.
    made = sorted(
        re.findall(r"(process \d): \d+ samples written, \d+ rejected, (\d+) shards made", result.stdout)
    )
    assert made == [("process 0", "3"), ("process 1", "3")], result.stdout
    assert split_counts(out) == {
        "train": {"num_rows": 12, "rejected": 0},
        "validation": {"num_rows": 4, "rejected": 0},
    }
    train = sorted(
        i for p in (out / "data").glob("train-*.parquet") for i in pq.read_table(p)["index"].to_pylist()
    )
    assert train == list(range(12)) and (out / "README.md").exists()


def test_a_folder_generated_again_loads_its_new_rows(pipe, tmp_path):
    # `load_dataset(folder)` keys its Arrow cache on the folder's name and card; the card's file patterns
    # stay the same when the folder is made again, so without the shards' size in the card (and the named
    # shard files in training) the second load returned the first folder's rows.
    from synthforge_hf.data.loading import load_split, split_files

    folder = tmp_path / "again" / "data-folder"
    loaded = []
    for base_seed in (0, 1):  # made, deleted, and made again with other settings in the same place
        shutil.rmtree(folder, ignore_errors=True)
        generate_dataset(
            pipe,
            folder,
            {"train": 3},
            shard_size=3,
            resolution=RESOLUTION,
            base_seed=base_seed,
            progress=False,
        )
        write_dataset_card(folder)
        on_disk = pq.read_table(split_files(folder, "train")[0], columns=["seed", "landmarks_2d"]).to_pylist()
        for rows in (load_dataset(str(folder), split="train"), load_split(folder, "train")):
            assert (
                [r["seed"] for r in rows]
                == [r["seed"] for r in on_disk]
                == [sample_seed(base_seed, "train", i) for i in range(3)]
            )
            assert np.allclose(rows[0]["landmarks_2d"], on_disk[0]["landmarks_2d"])
        loaded.append(on_disk[0]["landmarks_2d"])
    assert not np.allclose(loaded[0], loaded[1])
    assert load_split(folder, "validation") is None
