"""Stage I training on generated data: the loss falls, the landmarks beat the mean shape on a
held-out split, flips are respected, and a resumed run continues exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from datasets import load_dataset
from safetensors.torch import load_file

from synthforge_hf.cli import main
from synthforge_hf.constants import LANDMARK_FLIP_PERMUTATION
from synthforge_hf.data.torch_data import collate_rows
from synthforge_hf.evaluation.metrics import LAPA_CLASSES, nme
from synthforge_hf.models.synthforge import SynthForgeForFaceAnalysis
from synthforge_hf.models.synthforge.image_processing_synthforge import normalize_pixels
from synthforge_hf.training.common import batch_indices
from synthforge_hf.training.lf import LFTrainingArguments, train_lf
from synthforge_hf.training.sb import SBTrainingArguments, build_config, evaluate_sb, train_sb

from .processes import run_cli_in_processes

pytestmark = pytest.mark.slow  # the whole file: see CONTRIBUTING.md, "Tests"


@pytest.fixture(scope="module")
def faces(tmp_path_factory, torch_device):
    out = tmp_path_factory.mktemp("faces64")
    args = [
        "make-dataset",
        "--out",
        str(out),
        "--num-train",
        "192",
        "--num-validation",
        "32",
        "--resolution",
        "64",
        "--shard-size",
        "96",
        "--no-progress",
        "--device",
        torch_device,
    ]
    assert main(args) == 0
    return out


def test_batch_indices_are_a_function_of_seed_and_step():
    first = [batch_indices(10, 3, seed=7, step=step) for step in range(6)]
    assert len(set(sum(first[:3], []))) == 9  # no repeats within an epoch (3 batches of 3 from 10)
    assert first[3] != first[0]  # a new permutation for the next epoch
    assert batch_indices(10, 3, seed=7, step=4) == first[4]
    with pytest.raises(ValueError, match="fewer than one batch"):
        batch_indices(2, 3, seed=7, step=0)


def _mean_shape_nme(faces) -> float:
    """NME on the validation split of a model that always answers the training set's mean shape."""
    train = np.stack([np.asarray(r) for r in load_dataset(str(faces), split="train")["landmarks_2d"]])
    target = np.stack([np.asarray(r) for r in load_dataset(str(faces), split="validation")["landmarks_2d"]])
    return float(nme(np.broadcast_to(train.mean(0), target.shape), target).mean())


@pytest.fixture(scope="module")
def trained(faces, tmp_path_factory):
    """A tiny SB trained for 600 steps on the 192 generated training faces (64 px)."""
    output_dir = tmp_path_factory.mktemp("sb-trained")
    torch.manual_seed(0)
    metrics = train_sb(
        SBTrainingArguments(
            data=str(faces),
            output_dir=str(output_dir),
            max_steps=600,
            batch_size=8,
            learning_rate=1e-2,
            warmup_steps=10,
            log_steps=1000,
            eval_steps=1000,
            save_steps=1000,
            num_workers=1,
        )
    )
    return output_dir, metrics


def test_short_run_learns(faces, trained):
    output_dir, metrics = trained
    validation = load_dataset(str(faces), split="validation")
    untrained = evaluate_sb(SynthForgeForFaceAnalysis(build_config("tiny")), validation)
    history = json.loads((output_dir / "train_history.json").read_text())["history"]
    first, last = history[:10], history[-10:]
    assert sum(r["loss"] for r in last) < 0.6 * sum(r["loss"] for r in first)
    # Landmarks: the mean shape scores ~0.26 here (poses and framing vary), a model collapsed to the
    # centre or untrained far more; 60% of the mean shape's error needs landmarks that follow the face.
    # Measured after 600 steps: 0.124 on an AVX512 machine with lean up blocks (0.145 there with the wide
    # ones, 0.125 elsewhere); the mean shape there 0.258, so the bound is 0.155.
    mean_shape = _mean_shape_nme(faces)
    assert metrics["nme"] < 0.6 * mean_shape and 0.5 * mean_shape < untrained["nme"]
    assert metrics["miou"] > untrained["miou"] + 0.02
    assert metrics["depth_mae"] < 0.5 * untrained["depth_mae"]
    assert (output_dir / "model.safetensors").exists() and (output_dir / "preprocessor_config.json").exists()


def test_flipped_image_gives_flipped_landmarks(faces, trained, torch_device):
    """Mirror the validation faces: the trained model's points mirror too, with the 68-point left/right
    permutation (flips are among its augmentations)."""
    model = SynthForgeForFaceAnalysis.from_pretrained(trained[0]).eval().to(torch_device)
    rows = load_dataset(str(faces), split="validation")
    pixels = normalize_pixels(collate_rows([rows[i] for i in range(len(rows))])["pixel_values"])
    pixels = pixels.to(torch_device)
    with torch.no_grad():
        points = model(pixels).landmarks.cpu()
        mirrored = model(pixels.flip(-1)).landmarks.cpu()
    width = pixels.shape[-1]
    unflipped = mirrored[:, list(LANDMARK_FLIP_PERMUTATION)].clone()
    unflipped[..., 0] = width - unflipped[..., 0]
    assert nme(unflipped.numpy(), points.numpy()).mean() < 0.5 * _mean_shape_nme(faces)


def test_resumed_run_continues_identically(faces, tmp_path):
    common = dict(data=str(faces), max_steps=6, batch_size=4, save_steps=2, eval_steps=1000, log_steps=1000)
    train_sb(SBTrainingArguments(output_dir=str(tmp_path / "straight"), **common))
    interrupted = tmp_path / "interrupted"
    train_sb(SBTrainingArguments(output_dir=str(interrupted), **common))
    (interrupted / "model.safetensors").unlink()  # as if the run had died after the step-4 checkpoint
    assert sorted(p.name for p in (interrupted / "checkpoints").iterdir()) == [
        "step-00000002",
        "step-00000004",
    ]
    weights = interrupted / "checkpoints" / "step-00000004" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # ... while writing it: it falls back to step 2
    train_sb(SBTrainingArguments(output_dir=str(interrupted), num_workers=0, **common))
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    resumed = load_file(interrupted / "model.safetensors")
    for name, tensor in straight.items():
        assert torch.equal(resumed[name], tensor), name
    history = json.loads((interrupted / "train_history.json").read_text())["history"]
    assert [r["step"] for r in history] == [1, 2, 3, 4, 5, 6]  # each step once, across both segments
    assert all(0 <= r["time/data"] <= r["time/step"] for r in history)  # the data-loading share of a step
    with pytest.raises(ValueError, match="other arguments.*learning_rate"):
        train_sb(SBTrainingArguments(output_dir=str(interrupted), learning_rate=0.5, **common))


def _benchmark_folders(faces, root):
    """A 300W-format folder and a LaPa-format folder made from generated samples (truth known)."""
    import numpy as np
    from PIL import Image

    from synthforge_hf.constants import CLASS_ID

    rows = load_dataset(str(faces), split="validation")
    to_lapa = np.zeros(20, dtype=np.uint8)  # SynthForge ids -> LaPa ids (no hair class here)
    for name, lapa in (
        ("face", 1),
        ("forehead", 1),
        ("eye_region", 1),
        ("eye_region+forehead", 1),
        ("left_eyebrow", 2),
        ("right_eyebrow", 3),
        ("left_eye_region", 4),
        ("right_eye_region", 5),
        ("nose", 6),
        ("upper_lip", 7),
        ("inner_mouth", 8),
        ("lower_lip", 9),
    ):
        to_lapa[CLASS_ID[name]] = lapa
    for folder in ("afw", "helen/trainset", "lfpw/trainset", "helen/testset", "lfpw/testset", "ibug"):
        (root / "300W" / folder).mkdir(parents=True)
    for sub in ("images", "labels", "landmarks"):
        (root / "LaPa" / "train" / sub).mkdir(parents=True)
    for i, row in enumerate(rows):
        folder = "helen/trainset" if i < 24 else "helen/testset"
        row["image"].save(root / "300W" / folder / f"{i}.png")
        points = np.asarray(row["landmarks_2d"]) - 0.5 + 1.0  # our pixel centres at i + 0.5 -> iBUG 1-based
        body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
        (root / "300W" / folder / f"{i}.pts").write_text(f"version: 1\nn_points: 68\n{{\n{body}\n}}\n")
        row["image"].save(root / "LaPa" / "train" / "images" / f"{i}.jpg")
        Image.fromarray(to_lapa[np.asarray(row["segmentation"])]).save(
            root / "LaPa" / "train" / "labels" / f"{i}.png"
        )
        lapa_points = np.concatenate([points, points[:38]]) - 1.0  # 106 points with the 68 points' box
        (root / "LaPa" / "train" / "landmarks" / f"{i}.txt").write_text(
            "106\n" + "\n".join(f"{x:.3f} {y:.3f}" for x, y in lapa_points)
        )
    return root / "300W", root / "LaPa"


def test_label_finetuning_end_to_end(faces, tmp_path):
    sb_dir = tmp_path / "sb"
    train_sb(
        SBTrainingArguments(
            data=str(faces),
            output_dir=str(sb_dir),
            max_steps=20,
            batch_size=8,
            log_steps=1000,
            eval_steps=1000,
            save_steps=1000,
        )
    )
    face_300w, lapa = _benchmark_folders(faces, tmp_path)
    args = dict(
        backbone=str(sb_dir), max_steps=30, batch_size=8, learning_rate=3e-3, log_steps=1000, save_steps=1000
    )
    lf_300w = train_lf(
        LFTrainingArguments(benchmark="300w", data=str(face_300w), output_dir=str(tmp_path / "lf"), **args)
    )
    history = json.loads((lf_300w / "train_history.json").read_text())
    assert sum(r["loss"] for r in history[-5:]) < sum(r["loss"] for r in history[:5])
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(lf_300w),
                "--benchmark",
                "300w",
                "--data",
                str(face_300w),
                "--split",
                "common",
                "--out",
                str(tmp_path / "eval.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["samples"] == 8 and 0 < result["nme"] < 1 and 0 <= result["auc_0.08"] <= 1
    per_image = [row["nme"] for row in result["per_image"]]
    assert len(per_image) == 8 and np.mean(per_image) == pytest.approx(result["nme"])
    assert (tmp_path / "eval.ced.png").stat().st_size > 0
    lf_lapa = train_lf(
        LFTrainingArguments(
            benchmark="lapa",
            data=str(lapa),
            output_dir=str(tmp_path / "lf-lapa"),
            **{**args, "max_steps": 10},
        )
    )
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(lf_lapa),
                "--benchmark",
                "lapa",
                "--data",
                str(lapa),
                "--split",
                "train",
                "--out",
                str(tmp_path / "lapa.json"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "lapa.json").read_text())
    assert set(report["f1"]) == set(LAPA_CLASSES) and 0 <= report["mean_f1"] <= 1


def test_two_process_training(faces, tmp_path):
    """Data-parallel training over 2 CPU processes (gloo), as `accelerate launch` runs it."""
    run_cli_in_processes(
        [
            "train-sb",
            "--data",
            str(faces),
            "--output-dir",
            str(tmp_path),
            "--max-steps",
            "3",
            "--batch-size",
            "2",
            "--eval-steps",
            "1000",
            "--save-steps",
            "2",
            "--eval-samples",
            "4",
        ]
    )
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "checkpoints" / "step-00000002").exists()
    assert len(json.loads((tmp_path / "train_history.json").read_text())["history"]) == 3
