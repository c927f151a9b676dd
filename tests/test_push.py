"""The push path, against an in-memory stand-in for the Hub API.

The Hub cannot be reached here and no self-hostable Hub-compatible server was found in the package
registries, so `HfApi` is replaced by `InMemoryHub`, which keeps the calls' signatures and returns
huggingface_hub's own `RepoFile` records (git blob ids, LFS sha256). What is tested: which files are
uploaded, kept and deleted, and that the commit carries the local bytes. Not tested: the HTTP
transfer itself (huggingface_hub's own code).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.hf_api import RepoFile

from synthforge_hf.hub.push import git_blob_id, push_folder


class InMemoryHub:
    """Repos as dicts of path -> bytes; the methods of HfApi that the push path calls."""

    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: list[list] = []
        self.created: list[tuple] = []

    @property
    def files(self) -> dict[str, bytes]:  # the only repo, in single-repo tests
        (files,) = self.repos.values()
        return files

    def create_repo(self, repo_id, repo_type=None, private=None, exist_ok=False, space_sdk=None):
        self.created.append((repo_id, repo_type, private))
        self.repos.setdefault(repo_id, {})

    def list_repo_tree(self, repo_id, recursive=False, repo_type=None, revision=None):
        for path, data in self.repos[repo_id].items():
            oid = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
            record = {"path": path, "size": len(data), "oid": oid}
            if path.endswith((".parquet", ".png", ".safetensors")):
                record["lfs"] = {
                    "size": len(data),
                    "oid": hashlib.sha256(data).hexdigest(),
                    "pointerSize": 130,
                }
            yield RepoFile(**record)

    def create_commit(self, repo_id, operations, commit_message, repo_type=None, revision=None):
        operations = list(operations)
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                self.repos[repo_id][op.path_in_repo] = Path(op.path_or_fileobj).read_bytes()
            elif isinstance(op, CommitOperationDelete):
                del self.repos[repo_id][op.path_in_repo]
        self.commits.append(operations)


def _folder(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# card\n")
    (root / "generation.json").write_text("{}")
    (root / "assets" / "samples.png").write_bytes(b"\x89PNG fake")
    for k in range(3):
        (root / "data" / f"train-0000{k}-of-00003.parquet").write_bytes(bytes([k]) * 1000)
    (root / "notes.txt").write_text("not part of the dataset")
    return root


def test_git_blob_id_matches_git(tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    assert git_blob_id(path) == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of "hello\n"


def test_push_uploads_only_what_changed(tmp_path):
    folder, hub = _folder(tmp_path / "ds"), InMemoryHub()
    first = push_folder(folder, "me/faces", api=hub)
    assert sorted(first.uploaded) == sorted(
        ["README.md", "generation.json", "assets/samples.png"]
        + [f"data/train-0000{k}-of-00003.parquet" for k in range(3)]
    )
    assert "notes.txt" not in hub.files and hub.created == [("me/faces", "dataset", None)]
    assert hub.files["data/train-00001-of-00003.parquet"] == bytes([1]) * 1000

    again = push_folder(folder, "me/faces", api=hub)
    assert again.uploaded == [] and again.deleted == [] and len(hub.commits) == 1  # nothing sent

    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# better card\n")
    (folder / "data" / "train-00002-of-00003.parquet").unlink()
    (folder / "data" / "train-00000-of-00002.parquet").write_bytes(b"new shard")
    third = push_folder(folder, "me/faces", api=hub)
    assert sorted(third.uploaded) == ["README.md", "data/train-00000-of-00002.parquet"]
    assert third.deleted == ["data/train-00002-of-00003.parquet"]
    assert hub.files["README.md"].endswith(b"better card\n") and len(hub.commits) == 2


def test_push_of_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to upload"):
        push_folder(tmp_path, "me/faces", api=InMemoryHub())


def test_publish_everything_with_cards_and_backbone_reference(tmp_path):
    import json

    import torch
    from huggingface_hub import ModelCard

    from synthforge_hf.hub.publish import Target, publish
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
    space = Path(__file__).resolve().parents[1] / "spaces_app"
    hub = InMemoryHub()
    publish(
        dataset=Target(_folder(tmp_path / "ds"), "me/faces"),
        models=[Target(tmp_path / "sb", "me/sb"), Target(tmp_path / "lf", "me/lf-300w")],
        space=Target(space, "me/synthforge-space"),
        api=hub,
    )
    assert set(hub.repos) == {"me/faces", "me/sb", "me/lf-300w", "me/synthforge-space"}
    assert ("me/synthforge-space", "space", None) in hub.created
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= set(
        hub.repos["me/sb"]
    )
    assert json.loads(hub.repos["me/lf-300w"]["config.json"])["backbone"] == "me/sb"  # not a local path
    card = ModelCard(hub.repos["me/sb"]["README.md"].decode())
    assert card.data.datasets == ["me/faces"]
    assert set(hub.repos["me/synthforge-space"]) == {"README.md", "app.py", "requirements.txt"}
    with pytest.raises(ValueError, match="FOLDER:user/name"):
        Target.parse("just-a-folder")
