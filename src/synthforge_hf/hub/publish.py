"""`synthforge push`: the dataset, the SB, the LF models and the Space, each to its own Hub repo."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi

from ..data.generate import verified_shards
from ..io.safe_write import atomic_write_bytes, refuse_symlink
from .model_card import render_model_card
from .model_code import stage_model
from .push import (
    DATASET_PATTERNS,
    MODEL_PATTERNS,
    SPACE_PATTERNS,
    PushResult,
    files_to_upload,
    push_folder,
)
from .space import STAGED_SPACE_PATTERNS, stage_space


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
    _check_folders(dataset, models, space)
    runs_of = _runs_by_model(models, eval_runs or {})
    api = api or HfApi()
    results: dict[str, PushResult] = {}
    common = dict(private=private, revision=revision, commit_message=commit_message, api=api)
    if dataset is not None:
        results[dataset.repo_id] = push_folder(  # its shards were verified by _check_folders
            dataset.folder, dataset.repo_id, "dataset", DATASET_PATTERNS, **common
        )
    repo_of = {str(t.folder.resolve()): t.repo_id for t in models}
    for target in models:
        _point_backbone_at_repo(target.folder, repo_of)
        card = render_model_card(
            target.folder,
            target.repo_id,
            dataset.repo_id if dataset else None,
            runs_of.get(target.folder.resolve(), []),
        )
        atomic_write_bytes(target.folder / "README.md", str(card).encode())
        with tempfile.TemporaryDirectory(prefix="synthforge-model-") as staging:
            stage_model(target.folder, Path(staging))
            results[target.repo_id] = push_folder(staging, target.repo_id, "model", MODEL_PATTERNS, **common)
    if space is not None:
        with tempfile.TemporaryDirectory(prefix="synthforge-space-") as staging:
            sb_models = [t.repo_id for t in models if _model_type(t.folder) == "synthforge"]
            stage_space(space.folder, staging, sb_models, [dataset.repo_id] if dataset else [])
            results[space.repo_id] = push_folder(
                staging, space.repo_id, "space", STAGED_SPACE_PATTERNS, **common
            )
    return results


def _runs_by_model(models: list[Target], eval_runs: dict[str, list[Path]]) -> dict[Path, list[Path]]:
    """The evaluation runs of each model folder, matched by resolved path (``runs/sb`` and
    ``/abs/runs/sb`` are one folder); a run for a folder that is not pushed is refused."""
    folders = {target.folder.resolve() for target in models}
    runs: dict[Path, list[Path]] = {}
    for folder, paths in eval_runs.items():
        resolved = Path(folder).resolve()
        if resolved not in folders:
            raise ValueError(f"--eval names {folder}, which is not one of the --model folders being pushed")
        runs.setdefault(resolved, []).extend(paths)
    return runs


def _check_folders(dataset: Target | None, models: list[Target], space: Target | None) -> None:
    """Refuse a bad folder (stray or damaged shards, symbolic links) before anything is written or sent."""
    if dataset is not None:
        verified_shards(dataset.folder)
        files_to_upload(dataset.folder, DATASET_PATTERNS)
    for target in models:
        refuse_symlink(target.folder / "README.md")  # written here before the push
        files_to_upload(target.folder, MODEL_PATTERNS)
    if space is not None:
        files_to_upload(space.folder, SPACE_PATTERNS)


def _model_type(folder: Path) -> str | None:
    return json.loads((folder / "config.json").read_text()).get("model_type")


def _point_backbone_at_repo(folder: Path, repo_of: dict[str, str]) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    backbone = config.get("backbone")
    if config.get("model_type") == "synthforge-lf" and backbone and str(Path(backbone).resolve()) in repo_of:
        config["backbone"] = repo_of[str(Path(backbone).resolve())]
        atomic_write_bytes(path, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


def push_dataset(folder: Path, repo_id: str, **kwargs) -> PushResult:
    """Push a make-dataset folder, once its ``data/`` holds only whole shards of its plan (a stray or a
    damaged file would be uploaded and loaded as part of the dataset)."""
    verified_shards(folder)
    return push_folder(folder, repo_id, "dataset", DATASET_PATTERNS, **kwargs)
