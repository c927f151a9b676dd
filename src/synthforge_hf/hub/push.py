"""Uploading a folder (a dataset's shards and card, a model, the Space) to the Hub with `upload_folder`.

What is sent: the regular files of the folder that match the patterns, matched as `Path.glob` matches
(``data/*.parquet`` does not reach into ``data/sub/``), each named exactly in ``allow_patterns``, so
`HfApi.upload_folder` reads those files and nothing else. huggingface_hub leaves out of the commit the
files that the Hub already holds unchanged. Remote files under the folders the patterns manage
(``data/``, ``assets/``) that are not sent, e.g. shards of an earlier, differently sharded run, are
deleted in the same commit (``delete_patterns``).

Symbolic links: a link among the matched files, or a linked folder on the way to them (``assets`` ->
elsewhere), is refused with an error naming it, since the upload would send whatever the link points
to, possibly outside the folder. Links that match no pattern are left alone: they are not sent.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi

from ..errors import FolderError

DATASET_PATTERNS = ("README.md", "generation.json", "assets/*", "data/*.parquet")
MODEL_PATTERNS = ("README.md", "config.json", "*.safetensors", "preprocessor_config.json", "*.py")
# The Space's app, its pip and Debian requirements (open3d needs libusb) and its example photos.
SPACE_PATTERNS = ("README.md", "app.py", "requirements.txt", "packages.txt", "examples/*")
WILDCARDS = "*?["


@dataclass
class PushResult:
    files: list[str] = field(default_factory=list)  # offered to the Hub; it skips those it already has
    commit_url: str | None = None


def _refuse_link(folder: Path, relative: Path) -> None:
    current = folder
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise FolderError(
                f"{current} is a symbolic link: the upload would send what it points to; replace it with "
                f"a real file or folder inside {folder}, or remove it"
            )


def files_to_upload(folder: Path, patterns: tuple[str, ...]) -> list[str]:
    """The paths (relative, POSIX) of the regular files of ``folder`` matching ``patterns``.
    Raises `FolderError` for a symbolic link among them or on the way to them."""
    found = set()
    for pattern in patterns:
        literal = []
        for part in Path(pattern).parts[:-1]:  # folders named outright: a link there is refused too
            if any(c in part for c in WILDCARDS):
                break
            literal.append(part)
        if literal:
            _refuse_link(folder, Path(*literal))
        for path in folder.glob(pattern):
            relative = path.relative_to(folder)
            _refuse_link(folder, relative)
            if path.is_file():
                found.add(relative.as_posix())
    return sorted(found)


def managed_folders(patterns: tuple[str, ...]) -> list[str]:
    """``delete_patterns`` for the folders of ``patterns``: ``assets/*`` -> ``assets/*``."""
    return sorted({f"{pattern.split('/')[0]}/*" for pattern in patterns if "/" in pattern})


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
    """Make ``repo_id`` hold the files of ``folder`` matching ``patterns`` (one `upload_folder` call)."""
    folder = Path(folder)
    files = files_to_upload(folder, patterns)
    if not files:
        raise FileNotFoundError(f"nothing to upload in {folder} (looked for {', '.join(patterns)})")
    api = api or HfApi(token=token)
    extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type=repo_type,
        revision=revision,
        commit_message=commit_message,
        allow_patterns=[glob.escape(name) for name in files],
        delete_patterns=managed_folders(patterns) or None,
    )
    return PushResult(files=files, commit_url=getattr(info, "commit_url", None))
