"""Model cards: rendered from the template, valid metadata, model-index values from an evaluation run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from PIL import Image

from synthforge_hf.cli import main
from synthforge_hf.hub.model_card import render_model_card
from synthforge_hf.models.synthforge import (
    SynthForgeConfig,
    SynthForgeForFaceAnalysis,
    SynthForgeImageProcessor,
)


def _evaluated_sb(tmp_path):
    torch.manual_seed(0)
    SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).save_pretrained(tmp_path / "sb")
    SynthForgeImageProcessor(size=64).save_pretrained(tmp_path / "sb")
    rng = np.random.default_rng(0)
    for folder in ("helen/testset", "lfpw/testset"):
        (tmp_path / "300W" / folder).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
            tmp_path / "300W" / folder / "a.png"
        )
        points = "\n".join(f"{x} {y}" for x, y in rng.uniform(10, 50, (68, 2)))
        (tmp_path / "300W" / folder / "a.pts").write_text(f"version: 1\nn_points: 68\n{{\n{points}\n}}\n")
    eval_file = tmp_path / "eval-300w.json"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tmp_path / "sb"),
                "--benchmark",
                "300w",
                "--data",
                str(tmp_path / "300W"),
                "--split",
                "common",
                "--out",
                str(eval_file),
            ]
        )
        == 0
    )
    return tmp_path / "sb", eval_file


def test_sb_card_carries_the_evaluation_run(tmp_path):
    model_dir, eval_file = _evaluated_sb(tmp_path)
    card = render_model_card(
        model_dir, "me/synthforge-sb", dataset_repo="me/synthforge-faces", eval_runs=[eval_file]
    )
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    run = json.loads(eval_file.read_text())
    values = {r.metric_type: r.metric_value for r in loaded.data.eval_results}
    assert values == {"nme": round(run["nme"], 5), "auc": round(run["auc_0.08"], 5)}
    assert (
        loaded.data.eval_results[0].dataset_name == "300W"
        and loaded.data.eval_results[0].dataset_split == "common"
    )
    metadata = yaml.safe_load(loaded.content.split("---")[1])
    assert metadata["model-index"][0]["results"][0]["metrics"][0]["value"] == round(run["nme"], 5)
    assert metadata["datasets"] == ["me/synthforge-faces"] and metadata["library_name"] == "transformers"
    assert 'AutoModelForSemanticSegmentation.from_pretrained("me/synthforge-sb")' in loaded.text
    assert f"| 300W | common | NME (inter-ocular) | {round(run['nme'], 5)} |" in loaded.text


def test_card_without_evaluation_says_so(tmp_path):
    torch.manual_seed(0)
    SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).save_pretrained(tmp_path)
    card = render_model_card(tmp_path, "me/sb")
    assert card.data.eval_results is None and "Not evaluated yet" in card.text


@pytest.mark.slow
def test_model_card_command_in_a_fresh_process_for_sb_and_lf(tmp_path):
    """What a user runs: nothing registered beforehand, no trust_remote_code prompt."""
    import subprocess
    import sys

    from synthforge_hf.models.synthforge_lf import SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel

    torch.manual_seed(0)
    backbone = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
    backbone.save_pretrained(tmp_path / "sb")
    lf_config = SynthForgeLabelFinetuneConfig(
        backbone=str(tmp_path / "sb"),
        backbone_config=backbone.config.to_dict(),
        task="keypoints",
        num_outputs=68,
    )
    SynthForgeLabelFinetuneModel(lf_config, backbone=backbone).save_pretrained(tmp_path / "lf")
    for folder, words in (("sb", "graphics baseline"), ("lf", "label fine-tuning")):
        command = [sys.executable, "-m", "synthforge_hf.cli", "model-card", str(tmp_path / folder)]
        command += ["--repo-id", f"me/{folder}", "--training-data", "default-head"]
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert words in (tmp_path / folder / "README.md").read_text()


def test_licence_follows_the_training_data(tmp_path):
    """An SB trained on FLAME renders is not Apache-2.0: the card reads the dataset its training_args.json
    names; unknown data claim nothing permissive; an LF head carries its benchmark's terms and names its
    SB repo as base_model."""
    from synthforge_hf.models.synthforge_lf import SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel

    torch.manual_seed(0)
    sb = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
    sb.save_pretrained(tmp_path / "sb")
    assert render_model_card(tmp_path / "sb", "me/sb").data.license_name == "unknown-training-data"
    assert (
        render_model_card(tmp_path / "sb", "me/sb", training_data="default-head").data.license == "apache-2.0"
    )
    for head, generator, expected in (
        ("flame", "MeshFaceGenerator", ("other", "flame")),
        ("flame", "Next3DFaceGenerator", ("other", "flame-and-nvidia-source-code-license-nc")),
        ("default", "MeshFaceGenerator", ("apache-2.0", None)),
    ):
        data = tmp_path / f"data-{head}-{generator}"
        data.mkdir()
        (data / "generation.json").write_text(
            json.dumps({"pipeline": {"head": head, "generator": generator}})
        )
        (tmp_path / "sb" / "training_args.json").write_text(json.dumps({"data": str(data)}))
        card = render_model_card(tmp_path / "sb", "me/sb")
        assert (card.data.license, card.data.license_name) == expected, (head, generator)
        assert ("non-commercial" in card.text) == (expected[0] == "other")
    lf_config = SynthForgeLabelFinetuneConfig(backbone="me/sb", backbone_config=sb.config.to_dict())
    SynthForgeLabelFinetuneModel(lf_config, backbone=sb).save_pretrained(tmp_path / "lf")
    card = render_model_card(tmp_path / "lf", "me/lf-300w")
    assert (card.data.license, card.data.license_name, card.data.base_model) == (
        "other",
        "benchmark-labels",
        "me/sb",
    )
    lf_config.backbone = str(tmp_path / "sb")  # a local folder is no Hub base model
    SynthForgeLabelFinetuneModel(lf_config, backbone=sb).save_pretrained(tmp_path / "lf-local")
    assert render_model_card(tmp_path / "lf-local", "me/lf").data.base_model is None
