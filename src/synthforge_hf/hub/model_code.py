"""The code an SB folder carries on the Hub, so that it loads with ``trust_remote_code=True`` where
synthforge-hf is not installed.

`save_pretrained` writes it into every folder it saves; folders kept in this repository (the Space's
reference model) hold only weights, configurations and the card, and get the code of the installed
package when they are pushed (`stage_model`), so what is published always matches the package.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from transformers.dynamic_module_utils import custom_object_save

from ..models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
from .push import MODEL_PATTERNS, files_to_upload


def write_model_code(folder: Path) -> list[str]:
    """Copy the package's model and image-processor modules (with the modules they import) into the SB
    folder ``folder``, whose config.json's ``auto_map`` names them; other models get none (LF models
    load through the installed package). Returns the files written."""
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != SynthForgeConfig.model_type:
        return []
    written: list[str] = []
    for code in (SynthForgeForFaceAnalysis, SynthForgeImageProcessor):
        written += custom_object_save(code, folder)
    return sorted(set(written))


def stage_model(folder: Path, staging: Path) -> Path:
    """A copy of the model folder's files as they are pushed: its weights, configurations and card, and
    the model code of the installed package (`write_model_code`)."""
    for relative in files_to_upload(folder, MODEL_PATTERNS):
        if not relative.endswith(".py"):
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / relative, staging / relative)
    write_model_code(staging)
    return staging
