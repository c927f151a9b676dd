"""`synthforge push`: the dataset, the SB, the LF models and the Space, each to its own Hub repo."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi

from .model_card import render_model_card
from .push import DATASET_PATTERNS, MODEL_PATTERNS, SPACE_PATTERNS, PushResult, push_folder


@dataclass
class Target:
    folder: Path
    repo_id: str

    @classmethod
    def parse(cls, text: str) -> Target:
        """``FOLDER:user/name``."""
        folder, sep, repo_id = text.rpartition(":")
        if not sep or "/" not in repo_id or not folder:
            raise ValueError(f"expected FOLDER:user/name, got {text!r}")
        return cls(Path(folder), repo_id)


def publish(
    dataset: Target | None = None,
    models: list[Target] = (),
    space: Target | None = None,
    eval_runs: dict[str, list[Path]] | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload with synthforge-hf",
    api: HfApi | None = None,
) -> dict[str, PushResult]:
    """Push each part to its repo. Model cards are rendered first (linking the dataset repo, with
    `model-index` results from ``eval_runs[model_folder]``), and an LF model whose backbone is one of
    the pushed models is made to refer to that model's repo instead of a local folder."""
    api = api or HfApi()
    results: dict[str, PushResult] = {}
    common = dict(private=private, revision=revision, commit_message=commit_message, api=api)
    if dataset is not None:
        results[dataset.repo_id] = push_folder(
            dataset.folder, dataset.repo_id, "dataset", DATASET_PATTERNS, **common
        )
    repo_of = {str(t.folder.resolve()): t.repo_id for t in models}
    for target in models:
        _point_backbone_at_repo(target.folder, repo_of)
        card = render_model_card(
            target.folder,
            target.repo_id,
            dataset.repo_id if dataset else None,
            (eval_runs or {}).get(str(target.folder), []),
        )
        card.save(target.folder / "README.md")
        results[target.repo_id] = push_folder(
            target.folder, target.repo_id, "model", MODEL_PATTERNS, **common
        )
    if space is not None:
        results[space.repo_id] = push_folder(space.folder, space.repo_id, "space", SPACE_PATTERNS, **common)
    return results


def _point_backbone_at_repo(folder: Path, repo_of: dict[str, str]) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    backbone = config.get("backbone")
    if config.get("model_type") == "synthforge-lf" and backbone and str(Path(backbone).resolve()) in repo_of:
        config["backbone"] = repo_of[str(Path(backbone).resolve())]
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
