"""A folder in the official SynthForge generator's release layout (images/, seg/, depth/, annotations/),
written from the pipeline's own samples so that the truth is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from synthforge_hf.constants import SEGMENTATION_CLASSES, SEGMENTATION_COLORS


def write_official_release(pipe, folder: Path, count: int) -> object:
    """A folder in the official generator's layout, from our own samples (so the truth is known)."""
    out = pipe(seeds=list(range(count)), resolution=64, output_type="np")
    palette = np.array([SEGMENTATION_COLORS[name] for name in SEGMENTATION_CLASSES], dtype=np.uint8)
    for sub in ("images", "seg", "depth", "annotations"):
        (folder / sub).mkdir(parents=True)
    for i in range(count):
        name = f"{i:05d}"
        PILImage.fromarray(np.round(out.images[i] * 255).astype(np.uint8)).save(
            folder / "images" / f"{name}.png"
        )
        PILImage.fromarray(palette[out.segmentation[i]]).save(folder / "seg" / f"{name}.png")
        depth = out.depth[i]
        near, far = depth[depth > 0].min(), depth.max()
        normalised = np.where(depth > 0, (depth - near) / (far - near), 1.0)
        PILImage.fromarray(np.round(normalised * 255).astype(np.uint8)).save(folder / "depth" / f"{name}.png")
        pose = out.parameters["pose"][i]
        record = {
            "z": out.parameters["latents"][i].tolist(),
            "camera_params": out.parameters["camera"][i].tolist(),
            "flame_shape": out.parameters["shape"][i].tolist(),
            "flame_exp": out.parameters["expression"][i].tolist(),
            "flame_pose": np.concatenate([pose[:3], pose[6:9]]).tolist(),
            "2d_kps": out.landmarks_2d[i].tolist(),
            "fan_kps": out.landmarks_2d[i].tolist(),
            "mse": 0.5,
        }
        (folder / "annotations" / f"{name}.json").write_text(json.dumps(record))
    return out
