"""The typed `datasets.Features` of a SynthForge dataset and the encoding of pipeline outputs.

Depth is stored as a 16-bit PNG of ``round(depth / DEPTH_SCALE)`` (0 = background) with the scale in
each row's ``depth_scale``, so ``depth_metres = png * depth_scale`` (0.1 mm steps, up to 6.5 m).
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import numpy as np
from datasets import Array2D, Features, Image, List, Value
from PIL import Image as PILImage

from ..constants import NUM_LANDMARKS, PART_CLASSES, PART_COLORS, SEGMENTATION_CLASSES, SEGMENTATION_COLORS
from ..head.model import POSE_DIM

DEPTH_SCALE = 1e-4  # metres per unit of the 16-bit depth PNG
CAMERA_DIM = 25
# Fast lossless PNG: zlib level 1 with run-length matching (measured fastest and smallest of the
# zlib strategies on rendered faces).
PNG_COMPRESS_LEVEL = 1
PNG_COMPRESS_TYPE = zlib.Z_RLE


def dataset_features(
    num_shape: int,
    num_expression: int,
    latent_dim: int,
    quality_outputs: tuple[str, ...] = (),
    part_map: bool = False,
) -> Features:
    """Features of one sample; every sampling parameter is kept so a sample can be regenerated.
    ``landmarks_70`` is FaceSynthetics' 70-point layout (the 68 iBUG points, then the pupils of the
    subject's right and left eyes; NaN where the head has no labelled eyeballs or the source does not
    record them), ``head_pose`` the head's yaw, pitch and roll in degrees as the camera sees it.
    ``quality_outputs`` are the image backend's per-sample quality scalars (Next3D's alignment residuals
    in metres), one float column each. With ``part_map`` a ``parts`` mask follows the depth: the
    `constants.PART_CLASSES` id of what the mesh renderer drew in front of the head at each pixel."""
    f32 = Value("float32")
    quality = {name: f32 for name in quality_outputs}
    parts = {"parts": Image()} if part_map else {}
    return Features(
        {
            "image": Image(),  # first: what the Hub's viewer shows first
            "segmentation": Image(),
            "depth": Image(),
            **parts,
            "landmarks_2d": Array2D((NUM_LANDMARKS, 2), "float32"),
            "landmark_visibility": List(Value("bool"), length=NUM_LANDMARKS),
            "landmarks_3d": Array2D((NUM_LANDMARKS, 3), "float32"),
            "landmarks_70": Array2D((NUM_LANDMARKS + 2, 2), "float32"),
            "landmark_visibility_70": List(Value("bool"), length=NUM_LANDMARKS + 2),
            "head_pose": List(f32, length=3),
            "index": Value("int64"),
            "seed": Value("int64"),
            "depth_scale": f32,
            "shape": List(f32, length=num_shape),
            "expression": List(f32, length=num_expression),
            "pose": List(f32, length=POSE_DIM),
            "latents": List(f32, length=latent_dim),
            "yaw": f32,
            "pitch": f32,
            "fov": f32,
            "camera": List(f32, length=CAMERA_DIM),
            **quality,
        }
    )


def png_bytes(array: np.ndarray) -> bytes:
    """Lossless PNG of an (H,W,3) uint8, (H,W) uint8 or (H,W) uint16 array."""
    if array.dtype == np.uint16:
        image = PILImage.fromarray(array.astype("<u2"))  # mode I;16
    else:
        image = PILImage.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, compress_type=PNG_COMPRESS_TYPE)
    return buffer.getvalue()


# The official colour of each class id, as a PNG palette: masks stay class ids, viewers show colours.
SEGMENTATION_PALETTE = [channel for name in SEGMENTATION_CLASSES for channel in SEGMENTATION_COLORS[name]]
PART_PALETTE = [channel for name in PART_CLASSES for channel in PART_COLORS[name]]


def mask_png_bytes(class_ids: np.ndarray, palette: list[int] = SEGMENTATION_PALETTE) -> bytes:
    """Lossless palette PNG of an (H,W) array of class ids: each pixel's value is its id (``np.asarray``
    of the decoded image gives the ids back), shown in the colours of ``palette`` (RGB per class; the
    official segmentation colours unless told)."""
    num_classes = len(palette) // 3
    if class_ids.ndim != 2 or class_ids.min(initial=0) < 0 or class_ids.max(initial=0) >= num_classes:
        raise ValueError(f"a mask is (H, W) class ids in [0, {num_classes - 1}]")
    image = PILImage.fromarray(class_ids.astype(np.uint8))
    image.putpalette(palette)  # mode L -> P, values unchanged
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, compress_type=PNG_COMPRESS_TYPE)
    return buffer.getvalue()


def encode_depth(depth_metres: np.ndarray) -> np.ndarray:
    """Metres (H,W) -> uint16 units of DEPTH_SCALE; raises if a depth does not fit."""
    units = np.round(depth_metres / DEPTH_SCALE)
    if units.max(initial=0) > np.iinfo(np.uint16).max or units.min(initial=0) < 0:
        raise ValueError(f"depth outside [0, {np.iinfo(np.uint16).max * DEPTH_SCALE:.2f}] m cannot be stored")
    return units.astype(np.uint16)


def decode_depth(depth_image: PILImage.Image | np.ndarray, depth_scale: float) -> np.ndarray:
    """The stored depth image -> metres (H,W) float32, 0 on background."""
    return np.asarray(depth_image, dtype=np.float32) * np.float32(depth_scale)


def _stored_mask(class_ids: np.ndarray, palette: list[int]) -> dict:
    """An `Image` feature's value for a mask of class ids (`mask_png_bytes`)."""
    return {"bytes": mask_png_bytes(class_ids, palette), "path": None}


def encode_rows(
    out: Any,
    indices: list[int],
    keep: np.ndarray,
    quality_outputs: tuple[str, ...] = (),
    part_map: bool = False,
) -> list[dict]:
    """Rows (already PNG-encoded, ready for `Features.encode_example`) of a pipeline output with
    ``output_type="np"``, for the samples where ``keep`` is True; with ``part_map`` they hold the
    backend's ``parts`` map."""
    params = out.parameters
    rows = []
    for i in np.flatnonzero(keep):
        image = np.round(np.asarray(out.images[i]) * 255).astype(np.uint8)
        parts = {"parts": _stored_mask(out.generator_outputs["parts"][i], PART_PALETTE)} if part_map else {}
        rows.append(
            {
                "index": int(indices[i]),
                "seed": int(params["seed"][i]),
                "image": {"bytes": png_bytes(image), "path": None},
                "segmentation": _stored_mask(out.segmentation[i], SEGMENTATION_PALETTE),
                "depth": {"bytes": png_bytes(encode_depth(out.depth[i])), "path": None},
                **parts,
                "depth_scale": DEPTH_SCALE,
                "landmarks_2d": out.landmarks_2d[i].astype(np.float32),
                "landmarks_3d": out.landmarks_3d[i].astype(np.float32),
                "landmark_visibility": out.landmark_visibility[i].astype(bool).tolist(),
                "landmarks_70": np.concatenate([out.landmarks_2d[i], out.pupils_2d[i]]).astype(np.float32),
                "landmark_visibility_70": np.concatenate(
                    [out.landmark_visibility[i], out.pupil_visibility[i]]
                )
                .astype(bool)
                .tolist(),
                "head_pose": np.asarray(out.head_pose[i], dtype=np.float32).tolist(),
                **{
                    key: np.asarray(params[key][i], dtype=np.float32).tolist()
                    for key in ("shape", "expression", "pose", "latents", "camera")
                },
                **{key: float(params[key][i]) for key in ("yaw", "pitch", "fov")},
                **{key: float(out.generator_outputs[key][i]) for key in quality_outputs},
            }
        )
    return rows
