"""The Space as pushed: `spaces_app/` plus the synthforge_hf package itself, since no package index has it.

A Space installs ``requirements.txt`` with pip and runs ``python app.py``, which puts the app's folder
first on ``sys.path``. `stage_space` therefore copies the installed package's source (``*.py`` and its
package data) into ``synthforge_hf/`` beside ``app.py`` and writes a ``requirements.txt`` holding the
package's own dependencies and those of its ``space`` extra, read from the installed metadata, so the
pushed Space builds from PyPI alone. `space_requirements` is also what ``spaces_app/requirements.txt``
holds (a test keeps the two equal).
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

from huggingface_hub import SpaceCard
from packaging.requirements import Requirement

from ..io.safe_write import refuse_symlink
from .push import SPACE_PATTERNS, files_to_upload

DISTRIBUTION = "synthforge-hf"
SPACE_EXTRA = "space"
PACKAGE_FOLDER = "synthforge_hf"
PACKAGE_SUFFIXES = (".py", ".md", ".json", ".safetensors")  # modules, card templates, the reference model
# What the staged folder sends: the app's files and the package source.
STAGED_SPACE_PATTERNS = (*SPACE_PATTERNS, f"{PACKAGE_FOLDER}/**/*")
REQUIREMENTS_HEADER = (
    "# The Space's pip requirements: synthforge-hf's dependencies and its `space` extra. The package itself\n"
    "# is not on any index: `synthforge push --space` uploads its source beside app.py (synthforge_hf/).\n"
)


def space_requirements() -> str:
    """``requirements.txt`` for the Space: the installed synthforge-hf's requirements with no extra or
    the ``space`` extra, one per line, the extra markers dropped."""
    lines = []
    for text in metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is not None and not marker.evaluate({"extra": SPACE_EXTRA}):
            continue
        if marker is not None and "extra" in str(marker):
            requirement.marker = None
        line = str(requirement)
        if line not in lines:
            lines.append(line)
    return REQUIREMENTS_HEADER + "".join(f"{line}\n" for line in lines)


def package_source() -> Path:
    """The folder of the synthforge_hf package this process imported."""
    return Path(__file__).resolve().parents[1]


def stage_space(
    app_folder: str | Path, staging: str | Path, models: list[str] = (), datasets: list[str] = ()
) -> Path:
    """Copy the app's files (`SPACE_PATTERNS`) from ``app_folder`` into ``staging`` (a new or empty
    folder), add the package source as ``synthforge_hf/`` and write ``requirements.txt``. The README's
    metadata lists ``models`` and ``datasets`` (the Hub repos pushed with it) where they are given, so the
    Hub links the Space to them."""
    app_folder, staging = Path(app_folder), Path(staging)
    staging.mkdir(parents=True, exist_ok=True)
    if any(staging.iterdir()):
        raise FileExistsError(f"{staging} is not empty: the Space is staged into a fresh folder")
    for name in files_to_upload(app_folder, SPACE_PATTERNS):  # refuses symbolic links
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(app_folder / name, target)
    source = package_source()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.suffix in PACKAGE_SUFFIXES and "__pycache__" not in relative.parts and path.is_file():
            refuse_symlink(path)
            target = staging / PACKAGE_FOLDER / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    (staging / "requirements.txt").write_text(space_requirements())
    if models or datasets:
        card = SpaceCard.load(staging / "README.md")
        card.data.models = list(models) or card.data.models
        card.data.datasets = list(datasets) or card.data.datasets
        card.save(staging / "README.md")
    return staging
