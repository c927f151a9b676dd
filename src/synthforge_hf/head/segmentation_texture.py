"""Decoding the official colour codes (the UV texture `flame_seg_tex`, and the colour-coded masks of
the official release) into class ids.

Each pixel takes the nearest palette colour in CIELAB (robust to JPEG ringing, where exact colour
matching fails). The palette is the 20 SynthForge colours (19 classes and background) plus colours
that are not classes: the texture's empty UV area, the base of the neck, and the white background of
the official mask renders. Like the official decoding, which labels background every pixel that
matches no class colour, those become background.
"""

from __future__ import annotations

import numpy as np
import torch

from ..constants import CLASS_ID, SEGMENTATION_CLASSES, SEGMENTATION_COLORS

# Colours in the official texture and masks that are not SynthForge classes: they decode to background.
NON_CLASS_COLORS = {
    "uv_background": (0xD0, 0x82, 0x3C),
    "neck_base": (0x00, 0xF8, 0xF0),
    "render_background": (0xFF, 0xFF, 0xFF),  # the official seg renders (PyTorch3D's default background)
}


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (...,3) in [0, 255] -> CIELAB (D65)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def decode_segmentation_texture(image: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Colour-coded texture or mask (H,W,3) uint8 -> class ids (H,W) uint8 (0 = background: the
    background colour and the non-class colours)."""
    if image.ndim != 3 or image.shape[-1] < 3:
        raise ValueError(f"expected an RGB image (H,W,3), got shape {image.shape}")
    names = list(SEGMENTATION_CLASSES) + list(NON_CLASS_COLORS)
    colours = [SEGMENTATION_COLORS.get(n) or NON_CLASS_COLORS[n] for n in names]
    ids = np.array([CLASS_ID.get(n, 0) for n in names], dtype=np.uint8)
    palette = srgb_to_lab(np.array(colours))
    flat = image[..., :3].reshape(-1, 3)
    out = np.empty(len(flat), dtype=np.uint8)
    # Decode each distinct colour once: textures have far fewer colours than texels.
    unique, inverse = np.unique(flat, axis=0, return_inverse=True)
    nearest = np.empty(len(unique), dtype=np.int64)
    for start in range(0, len(unique), chunk):
        lab = srgb_to_lab(unique[start : start + chunk])
        nearest[start : start + chunk] = np.argmin(((lab[:, None] - palette[None]) ** 2).sum(-1), axis=1)
    out[:] = ids[nearest][inverse.ravel()]
    return out.reshape(image.shape[:2])


def labels_at_uv(label_map: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Nearest-texel class ids at UV coordinates (...,2) (OBJ convention: v = 0 at the bottom row)."""
    height, width = label_map.shape
    col = (uv[..., 0] * width).floor().long().clamp(0, width - 1)
    row = ((1.0 - uv[..., 1]) * height).floor().long().clamp(0, height - 1)
    return label_map[row, col].long()
