"""Draws docs/assets/overview.png, the README's picture: generated faces of the embedded head with their
labels (image, segmentation, landmarks, depth side by side, as `synthforge generate` shows them), and the
reference model on the public-domain example photo (spaces_app/examples/astronaut.jpg); and
docs/assets/appearance.jpg: the same seeds with today's appearance above, with every optional appearance
part below (`APPEARANCE_PARTS`).

    .venv/bin/python docs/make_figures.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from synthforge_hf import MeshFaceGenerator, SynthForgePipeline
from synthforge_hf.analysis import PhotoAnalyser
from synthforge_hf.constants import REFERENCE_MODEL
from synthforge_hf.generators.mesh import APPEARANCE_PARTS
from synthforge_hf.io.images import open_photo
from synthforge_hf.visualization import colorize_depth, colorize_segmentation, draw_landmarks

ROOT = Path(__file__).resolve().parents[1]
SIZE = 192  # pixels of a generated face in the picture
SEEDS = (3, 11, 20)
APPEARANCE_SEEDS = tuple(range(8))



def generated_rows() -> Image.Image:
    """One row per seed: image | segmentation | landmarks | depth."""
    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    out = pipe(seeds=list(SEEDS), resolution=SIZE, output_type="pil")
    rows = []
    for k, image in enumerate(out.images):
        panels = [
            np.asarray(image),
            colorize_segmentation(out.segmentation[k]),
            np.asarray(draw_landmarks(image, out.landmarks_2d[k], out.landmark_visibility[k], radius=2)),
            colorize_depth(out.depth[k]),
        ]
        rows.append(np.concatenate(panels, axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))


def analysed_photo(width: int) -> Image.Image:
    """The reference model's landmarks, parsing and depth on the example photo, scaled to ``width``."""
    photo = open_photo(ROOT / "spaces_app" / "examples" / "astronaut.jpg")
    with torch.no_grad():
        picture = Image.fromarray(PhotoAnalyser.from_pretrained(REFERENCE_MODEL)(photo).picture(photo))
    return picture.resize((width, round(picture.height * width / picture.width)), Image.Resampling.LANCZOS)


def appearance_comparison() -> Image.Image:
    """Faces of `APPEARANCE_SEEDS`: today's appearance above, the same faces with the optional parts below."""
    rows = []
    for parts in ({}, dict.fromkeys(APPEARANCE_PARTS, True)):
        pipe = SynthForgePipeline.from_assets("default", MeshFaceGenerator(**parts))
        pipe.set_progress_bar_config(disable=True)
        out = pipe(seeds=list(APPEARANCE_SEEDS), resolution=160, output_type="np")
        rows.append(np.concatenate(list(out.images), axis=1))
    return Image.fromarray(np.round(np.concatenate(rows, axis=0) * 255).astype(np.uint8))


def main() -> None:
    top = generated_rows()
    bottom = analysed_photo(top.width)
    canvas = Image.new("RGB", (top.width, top.height + bottom.height), "white")
    canvas.paste(top, (0, 0))
    canvas.paste(bottom, (0, top.height))
    path = ROOT / "docs" / "assets" / "overview.png"
    canvas.save(path, optimize=True)
    print(f"wrote {path}")
    path = ROOT / "docs" / "assets" / "appearance.jpg"
    appearance_comparison().save(path, quality=90)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
