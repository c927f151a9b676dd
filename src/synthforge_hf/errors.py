"""Errors with messages that tell the user what to fix."""

from __future__ import annotations

from pathlib import Path


class AssetError(RuntimeError):
    """A user-supplied asset file is missing or not in the expected format."""


class MissingAssetError(AssetError, FileNotFoundError):
    """A required asset file does not exist."""

    def __init__(self, path: str | Path, what: str, where: str):
        self.path = Path(path)
        super().__init__(f"{what} not found at '{self.path}'. {where}")


class MalformedAssetError(AssetError, ValueError):
    """An asset file exists but its contents are not what the loader expects."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        super().__init__(f"'{self.path}': {problem}")


def require_file(path: str | Path, what: str, where: str) -> Path:
    """Return ``path`` as a Path, or raise MissingAssetError naming what to download and where."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingAssetError(path, what, where)
    return path


class FolderError(ValueError):
    """A dataset, card or upload folder that cannot be used as it is; the message names the file."""
