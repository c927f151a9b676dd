"""Pictures a person can check: colour-coded masks, landmark overlays, depth maps, contact sheets."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


SHEET_COLUMNS = ("image", "segmentation", "landmarks", "depth")


def sheet_header_height(size: int) -> int:
    """Pixels of the column-title strip of a contact sheet with ``size`` px tiles."""
    return max(12, size // 10)


def _font(height: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, int(height * 0.7)))


def _legend(width: int, row_height: int) -> Image.Image:
    """Every class's colour swatch and name, wrapped into rows ``width`` wide."""
    font, gap = _font(row_height), row_height // 3
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entries = [
        (name, row_height + gap + int(draw.textlength(name, font=font)) + 2 * gap)
        for name in SEGMENTATION_CLASSES
    ]
    rows, current, used = [], [], 0
    for name, span in entries:
        if current and used + span > width:
            rows.append(current)
            current, used = [], 0
        current.append((name, used))
        used += span
    rows.append(current)
    legend = Image.new("RGB", (width, len(rows) * row_height), (255, 255, 255))
    draw = ImageDraw.Draw(legend)
    for r, row in enumerate(rows):
        top = r * row_height
        for name, left in row:
            draw.rectangle(
                (left + 1, top + 1, left + row_height - 2, top + row_height - 2),
                fill=SEGMENTATION_COLORS[name],
                outline=(0, 0, 0),
            )
            draw.text(
                (left + row_height + gap, top + row_height // 2), name, fill=(0, 0, 0), font=font, anchor="lm"
            )
    return legend


def contact_sheet(
    images: list[Image.Image],
    segmentation: np.ndarray,
    landmarks_2d: np.ndarray,
    depth: np.ndarray,
    visibility: np.ndarray | None = None,
) -> Image.Image:
    """A header naming the columns, one row per sample (image | mask | landmarks | depth; sample
    ``r`` at ``(column * size, header + r * size)``, with ``header = sheet_header_height(size)``),
    then a legend of the class colours."""
    size = images[0].size[0]
    header = sheet_header_height(size)
    legend = _legend(len(SHEET_COLUMNS) * size, header)
    sheet = Image.new(
        "RGB", (len(SHEET_COLUMNS) * size, header + len(images) * size + legend.height), (255, 255, 255)
    )
    draw, font = ImageDraw.Draw(sheet), _font(header)
    for col, title in enumerate(SHEET_COLUMNS):
        draw.text((col * size + size // 2, header // 2), title, fill=(0, 0, 0), font=font, anchor="mm")
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
            sheet.paste(tile, (col * size, header + row * size))
    sheet.paste(legend, (0, header + len(images) * size))
    return sheet
