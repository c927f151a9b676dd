"""Pictures a person can check: colour-coded masks, landmark overlays, depth maps, contact sheets."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .constants import LANDMARK_GROUPS, SEGMENTATION_CLASSES, SEGMENTATION_COLORS

_PALETTE = np.array([SEGMENTATION_COLORS[name] for name in SEGMENTATION_CLASSES], dtype=np.uint8)
_GROUP_COLOURS = {
    "jaw": (255, 255, 255),
    "right_eyebrow": (255, 160, 0),
    "left_eyebrow": (255, 160, 0),
    "nose_bridge": (0, 200, 255),
    "nose_lower": (0, 200, 255),
    "right_eye": (0, 255, 0),
    "left_eye": (0, 255, 0),
    "outer_lip": (255, 0, 80),
    "inner_lip": (255, 120, 180),
}


def colorize_segmentation(segmentation: np.ndarray) -> np.ndarray:
    """Class ids (H,W) -> the official colour coding (H,W,3) uint8."""
    if segmentation.min() < 0 or segmentation.max() >= len(_PALETTE):
        raise ValueError(f"class ids must lie in [0, {len(_PALETTE) - 1}]")
    return _PALETTE[segmentation]


def colorize_depth(depth: np.ndarray) -> np.ndarray:
    """Depth (H,W) -> grey image (H,W,3), near = bright, background black, min-max over the foreground."""
    foreground = depth > 0
    out = np.zeros(depth.shape, dtype=np.float32)
    if foreground.any():
        near, far = depth[foreground].min(), depth[foreground].max()
        out[foreground] = 1.0 - 0.8 * (depth[foreground] - near) / max(far - near, 1e-8)
    return np.repeat((out * 255).astype(np.uint8)[..., None], 3, axis=-1)


def draw_landmarks(
    image: Image.Image, landmarks: np.ndarray, visibility: np.ndarray | None = None, radius: float = 1.5
) -> Image.Image:
    """Landmarks (68,2) drawn on a copy of ``image``: filled if visible, hollow if hidden."""
    canvas = image.convert("RGB").copy()
    draw = ImageDraw.Draw(canvas)
    for group, indices in LANDMARK_GROUPS.items():
        colour = _GROUP_COLOURS[group]
        for i in indices:
            x, y = landmarks[i]
            box = (x - radius, y - radius, x + radius, y + radius)
            if visibility is None or visibility[i]:
                draw.ellipse(box, fill=colour)
            else:
                draw.ellipse(box, outline=colour)
    return canvas


def contact_sheet(
    images: list[Image.Image],
    segmentation: np.ndarray,
    landmarks_2d: np.ndarray,
    depth: np.ndarray,
    visibility: np.ndarray | None = None,
) -> Image.Image:
    """One row per sample: image | mask | landmarks | depth."""
    size = images[0].size[0]
    sheet = Image.new("RGB", (4 * size, len(images) * size))
    for row, image in enumerate(images):
        tiles = [
            image.convert("RGB"),
            Image.fromarray(colorize_segmentation(segmentation[row])),
            draw_landmarks(
                image,
                landmarks_2d[row],
                None if visibility is None else visibility[row],
                radius=max(1.0, size / 160),
            ),
            Image.fromarray(colorize_depth(depth[row])),
        ]
        for col, tile in enumerate(tiles):
            sheet.paste(tile, (col * size, row * size))
    return sheet
