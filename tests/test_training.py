"""Stage I training on generated data: the loss falls, the model beats an untrained one on a
held-out split, and a resumed run continues exactly."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import load_dataset
from safetensors.torch import load_file

from synthforge_hf.cli import main
from synthforge_hf.models.synthforge import SynthForgeForFaceAnalysis
from synthforge_hf.training.common import index_batches
from synthforge_hf.training.sb import SBTrainingArguments, build_config, evaluate_sb, train_sb


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
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
    ]
    assert main(args) == 0
    return out


def test_index_batches_are_a_function_of_seed_and_step():
    run = index_batches(10, 3, seed=7)
    first = [next(run) for _ in range(6)]
    assert sorted(sum(first[:3], [])) == sorted(set(sum(first[:3], [])))  # no repeats within an epoch
    resumed = index_batches(10, 3, seed=7, start_step=4)
    assert [next(resumed) for _ in range(2)] == first[4:6]


def test_short_run_learns(faces, tmp_path):
    torch.manual_seed(0)
    validation = load_dataset(str(faces), split="validation")
    untrained = evaluate_sb(SynthForgeForFaceAnalysis(build_config("tiny")), validation)
    metrics = train_sb(
        SBTrainingArguments(
            data=str(faces),
            output_dir=str(tmp_path),
            max_steps=200,
            batch_size=8,
            learning_rate=1e-2,
            warmup_steps=10,
            log_steps=1000,
            eval_steps=1000,
            save_steps=1000,
        )
    )
    history = json.loads((tmp_path / "train_history.json").read_text())["history"]
    first, last = history[:10], history[-10:]
    assert sum(r["loss"] for r in last) < 0.6 * sum(r["loss"] for r in first)
    assert metrics["nme"] < untrained["nme"]
    assert metrics["miou"] > untrained["miou"] + 0.02
    assert metrics["depth_mae"] < 0.5 * untrained["depth_mae"]
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "preprocessor_config.json").exists()


def test_resumed_run_continues_identically(faces, tmp_path):
    common = dict(data=str(faces), max_steps=6, batch_size=4, save_steps=3, eval_steps=1000, log_steps=1000)
    train_sb(SBTrainingArguments(output_dir=str(tmp_path / "straight"), **common))
    interrupted = tmp_path / "interrupted"
    train_sb(SBTrainingArguments(output_dir=str(interrupted), **common))
    (interrupted / "model.safetensors").unlink()  # as if the run had died after the step-3 checkpoint
    assert [p.name for p in (interrupted / "checkpoints").iterdir()] == ["step-00000003"]
    train_sb(SBTrainingArguments(output_dir=str(interrupted), **common))  # resumes at step 3
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    resumed = load_file(interrupted / "model.safetensors")
    for name, tensor in straight.items():
        assert torch.equal(resumed[name], tensor), name
