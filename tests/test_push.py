"""The push path, through huggingface_hub's own `upload_folder` with the network calls stood in for
(tests/recording_hub.py: the Hub cannot be reached here and no self-hostable Hub-compatible server was
found in the package registries)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationDelete

from synthforge_hf.errors import FolderError
from synthforge_hf.hub.push import push_folder
from synthforge_hf.hub.space import space_requirements

from .recording_hub import RecordingHub


@pytest.fixture
def hub(monkeypatch) -> RecordingHub:
    monkeypatch.setattr("huggingface_hub.hf_api.is_xet_available", lambda: False)
    return RecordingHub()


def _folder(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# card\n")
    (root / "generation.json").write_text("{}")
    (root / "assets" / "samples.png").write_bytes(b"\x89PNG fake")
    for k in range(3):
        (root / "data" / f"train-0000{k}-of-00003.parquet").write_bytes(bytes([k]) * 1000)
    (root / "notes.txt").write_text("not part of the dataset")
    (root / "data" / "sub").mkdir()
    (root / "data" / "sub" / "nested.parquet").write_bytes(b"not matched by data/*.parquet")
    return root


def test_push_sends_the_matching_files_and_deletes_stale_ones(tmp_path, hub):
    folder = _folder(tmp_path / "ds")
    first = push_folder(folder, "me/faces", api=hub)
    assert first.files == sorted(
        ["README.md", "generation.json", "assets/samples.png"]
        + [f"data/train-0000{k}-of-00003.parquet" for k in range(3)]
    )
    assert sorted(hub.files) == first.files and hub.created == [("me/faces", "dataset", None)]
    assert hub.files["data/train-00001-of-00003.parquet"] == bytes([1]) * 1000
    assert first.commit_url == "https://hub.test/me/faces/commit/1"

    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# better card\n")
    (folder / "data" / "train-00002-of-00003.parquet").unlink()
    (folder / "data" / "train-00000-of-00002.parquet").write_bytes(b"new shard")
    push_folder(folder, "me/faces", api=hub)
    deleted = [op.path_in_repo for op in hub.commits[1] if isinstance(op, CommitOperationDelete)]
    assert deleted == ["data/train-00002-of-00003.parquet"]  # of an earlier sharding, gone locally
    assert "data/train-00000-of-00002.parquet" in hub.files and hub.files["README.md"].endswith(
        b"better card\n"
    )


def test_push_of_an_empty_folder_is_refused(tmp_path, hub):
    with pytest.raises(FileNotFoundError, match="nothing to upload"):
        push_folder(tmp_path, "me/faces", api=hub)


@pytest.mark.parametrize("link", ["README.md", "data/train-00001-of-00003.parquet", "assets", "data"])
def test_push_refuses_a_link_it_would_follow(tmp_path, hub, link):
    folder = _folder(tmp_path / "ds")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "train-00001-of-00003.parquet").write_bytes(b"outside the folder")
    (secret / "samples.png").write_bytes(b"outside the folder")
    target = folder / link
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    target.symlink_to(secret if link in ("assets", "data") else secret / "train-00001-of-00003.parquet")
    with pytest.raises(FolderError, match=f"{target} is a symbolic link"):
        push_folder(folder, "me/faces", api=hub)
    assert hub.commits == [] and hub.created == []  # refused before the Hub is called


def test_push_leaves_links_that_match_nothing_alone(tmp_path, hub):
    folder = _folder(tmp_path / "ds")
    (tmp_path / "secret.txt").write_text("outside")
    (folder / "notes-link.txt").symlink_to(tmp_path / "secret.txt")
    push_folder(folder, "me/faces", api=hub)
    assert b"outside" not in b"".join(hub.files.values()) and "notes-link.txt" not in hub.files


def _real_dataset(pipe, folder: Path) -> Path:
    from synthforge_hf.data.generate import generate_dataset
    from synthforge_hf.hub.dataset_card import write_dataset_card

    generate_dataset(pipe, folder, {"train": 2}, shard_size=1, resolution=16, progress=False)
    write_dataset_card(folder)
    return folder


def _models(tmp_path: Path) -> tuple[Path, Path]:
    import torch

    from synthforge_hf.models.synthforge import (
        SynthForgeConfig,
        SynthForgeForFaceAnalysis,
        SynthForgeImageProcessor,
    )
    from synthforge_hf.models.synthforge_lf import SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel

    torch.manual_seed(0)
    sb = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
    sb.save_pretrained(tmp_path / "sb")
    SynthForgeImageProcessor(size=64).save_pretrained(tmp_path / "sb")
    lf_config = SynthForgeLabelFinetuneConfig(
        backbone=str(tmp_path / "sb"), backbone_config=sb.config.to_dict()
    )
    SynthForgeLabelFinetuneModel(lf_config, backbone=sb).save_pretrained(tmp_path / "lf")
    return tmp_path / "sb", tmp_path / "lf"


def test_publish_everything_with_cards_and_backbone_reference(pipe, tmp_path, hub):
    from huggingface_hub import ModelCard, SpaceCard

    from synthforge_hf.hub.publish import Target, publish

    sb, lf = _models(tmp_path)
    dataset = _real_dataset(pipe, tmp_path / "ds")
    space = Path(__file__).resolve().parents[1] / "spaces_app"
    publish(
        dataset=Target(dataset, "me/faces"),
        models=[Target(sb, "me/sb"), Target(lf, "me/lf-300w")],
        space=Target(space, "me/synthforge-space"),
        api=hub,
    )
    assert set(hub.repos) == {"me/faces", "me/sb", "me/lf-300w", "me/synthforge-space"}
    assert ("me/synthforge-space", "space", None) in hub.created
    assert set(hub.repos["me/faces"]) == {
        "README.md",
        "generation.json",
        "assets/samples.png",
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    }  # no lock file, no digests folder
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= set(
        hub.repos["me/sb"]
    )
    assert json.loads(hub.repos["me/lf-300w"]["config.json"])["backbone"] == "me/sb"  # not a local path
    assert {"modeling_synthforge.py", "image_processing_synthforge.py", "crop_geometry.py"} <= set(
        hub.repos["me/sb"]
    )  # the package's model code, for trust_remote_code
    card = ModelCard(hub.repos["me/sb"]["README.md"].decode())
    assert card.data.datasets == ["me/faces"]
    space_files = set(hub.repos["me/synthforge-space"])
    assert {"README.md", "app.py", "requirements.txt", "packages.txt"} <= space_files
    example_files = {f"examples/{p.name}" for p in (space / "examples").iterdir()}  # and the example photos
    package_files = {f for f in space_files if f.startswith("synthforge_hf/")}  # the package, beside app.py
    assert {"synthforge_hf/__init__.py", "synthforge_hf/hub/templates/model_card.md"} <= package_files
    assert "examples/astronaut.jpg" in example_files
    assert "synthforge_hf/reference_model/model.safetensors" in package_files  # the default model goes along
    app_files = {"README.md", "app.py", "requirements.txt", "packages.txt"}
    assert example_files == space_files - package_files - app_files
    space_card = SpaceCard(hub.repos["me/synthforge-space"]["README.md"].decode())
    assert space_card.data.models == ["me/sb"] and space_card.data.datasets == ["me/faces"]
    assert hub.repos["me/synthforge-space"]["requirements.txt"].decode() == space_requirements()
    assert hub.repos["me/synthforge-space"]["packages.txt"].decode().split() == ["libusb-1.0-0"]
    with pytest.raises(ValueError, match="FOLDER:user/name"):
        Target.parse("just-a-folder")


def test_publish_checks_every_folder_before_writing_or_sending(pipe, tmp_path, hub):
    from synthforge_hf.hub.publish import Target, publish

    sb, _ = _models(tmp_path)
    dataset = _real_dataset(pipe, tmp_path / "ds")
    elsewhere = tmp_path / "elsewhere.md"
    elsewhere.write_text("mine")
    (sb / "README.md").symlink_to(elsewhere)
    with pytest.raises(FolderError, match="README.md is a symbolic link"):
        publish(dataset=Target(dataset, "me/faces"), models=[Target(sb, "me/sb")], api=hub)
    assert hub.commits == [] and elsewhere.read_text() == "mine"

    (sb / "README.md").unlink()
    (dataset / "data" / "train-00099-of-00100.parquet").write_bytes(b"stray")
    with pytest.raises(FolderError, match="train-00099-of-00100.parquet is not a shard"):
        publish(dataset=Target(dataset, "me/faces"), models=[Target(sb, "me/sb")], api=hub)
    assert hub.commits == [] and not (sb / "README.md").exists()


def test_publish_matches_evaluation_runs_by_folder_not_spelling(tmp_path, hub, monkeypatch):
    from huggingface_hub import ModelCard

    from synthforge_hf.hub.publish import Target, publish

    sb, _ = _models(tmp_path)
    run = tmp_path / "eval.json"
    run.write_text(json.dumps({"benchmark": "300w", "split": "common", "nme": 0.0712}))
    monkeypatch.chdir(tmp_path)
    publish(models=[Target(Path("sb"), "me/sb")], eval_runs={str(sb.resolve()): [run]}, api=hub)
    card = ModelCard(hub.repos["me/sb"]["README.md"].decode())
    assert [r.metric_value for r in card.data.eval_results] == [0.0712]
    with pytest.raises(ValueError, match="not one of the --model folders"):
        publish(models=[Target(Path("sb"), "me/sb")], eval_runs={"elsewhere": [run]}, api=hub)
