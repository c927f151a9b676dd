"""Uploading a folder (a dataset's shards and card, a model) to the Hub, sending only what changed.

The remote file list (`HfApi.list_repo_tree`) gives each file's git blob id, and the sha256 of files
stored with LFS; a local file is uploaded when neither matches, and remote files of the managed
folders that no longer exist locally (e.g. shards of an earlier, differently sharded run) are
deleted, all in one commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile

DATASET_PATTERNS = ("README.md", "generation.json", "assets/*", "data/*.parquet")
MODEL_PATTERNS = ("README.md", "config.json", "*.safetensors", "preprocessor_config.json", "*.py")
SPACE_PATTERNS = ("README.md", "app.py", "requirements.txt")
CHUNK = 1 << 20


def git_blob_id(path: Path) -> str:
    """The git object id of a file's contents (``git hash-object``)."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def is_unchanged(local: Path, remote: RepoFile) -> bool:
    if remote.size != local.stat().st_size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == sha256_of(local)
    return remote.blob_id == git_blob_id(local)


@dataclass
class PushResult:
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    commit_url: str | None = None


def push_folder(
    folder: str | Path,
    repo_id: str,
    repo_type: str = "dataset",
    patterns: tuple[str, ...] = DATASET_PATTERNS,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload with synthforge-hf",
    token: str | None = None,
    api: HfApi | None = None,
) -> PushResult:
    """Make ``repo_id`` hold the files of ``folder`` matching ``patterns``; upload only changed files."""
    folder = Path(folder)
    api = api or HfApi(token=token)
    local = {
        p.relative_to(folder).as_posix(): p
        for pattern in patterns
        for p in sorted(folder.glob(pattern))
        if p.is_file()
    }
    if not local:
        raise FileNotFoundError(f"nothing to upload in {folder} (looked for {', '.join(patterns)})")
    extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra)
    try:
        remote = {
            f.path: f
            for f in api.list_repo_tree(repo_id, recursive=True, repo_type=repo_type, revision=revision)
            if isinstance(f, RepoFile)
        }
    except (RepositoryNotFoundError, RevisionNotFoundError):
        remote = {}
    result = PushResult()
    operations: list = []
    for path_in_repo, path in local.items():
        if path_in_repo in remote and is_unchanged(path, remote[path_in_repo]):
            result.unchanged.append(path_in_repo)
        else:
            operations.append(CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=str(path)))
            result.uploaded.append(path_in_repo)
    managed = tuple(p.split("*")[0] for p in patterns if "/" in p)
    for path_in_repo in remote:
        if path_in_repo not in local and path_in_repo.startswith(managed):
            operations.append(CommitOperationDelete(path_in_repo=path_in_repo))
            result.deleted.append(path_in_repo)
    if operations:
        info = api.create_commit(
            repo_id, operations, commit_message=commit_message, repo_type=repo_type, revision=revision
        )
        result.commit_url = getattr(info, "commit_url", None)
    return result
