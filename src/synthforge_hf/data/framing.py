"""How the generated training images frame a face, and crops of real photos framed the same way.

A model trained on generated images has only seen faces framed as the generator frames them. The
framing is measured from a generated set as the median size of the 68-point box relative to the image
and the median offset of the image centre from the box centre (in box sizes); a real face's box is
then expanded into the square crop that puts it where the training data put faces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from ..io.images import as_rgb8
from ..models.synthforge.crop_geometry import crop_to_image_affine, face_crop_box, resample_crop


@dataclass(frozen=True)
class Framing:
    """``box_fraction``: the landmark box's longer side over the image side; ``offset``: (x, y) of the
    image centre minus the box centre, in units of the box's longer side."""

    box_fraction: float
    offset: tuple[float, float]

    def to_dict(self) -> dict:
        return asdict(self)


def landmark_box(points: np.ndarray) -> np.ndarray:
    """(..., 68, 2) points -> (..., 4) boxes ``(left, top, right, bottom)``."""
    points = np.asarray(points, dtype=np.float64)
    return np.concatenate([points.min(axis=-2), points.max(axis=-2)], axis=-1)


def measure_framing(landmarks: np.ndarray, image_size: int) -> Framing:
    """The median framing of (N, 68, 2) landmarks in square images of ``image_size`` pixels."""
    boxes = landmark_box(landmarks)
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    if len(sizes) == 0 or np.any(sizes <= 0):
        raise ValueError("framing needs at least one face with a non-degenerate landmark box")
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    offsets = (image_size / 2 - centres) / sizes[:, None]
    median = np.median(offsets, axis=0)
    return Framing(float(np.median(sizes) / image_size), (float(median[0]), float(median[1])))


def crop_box(box: np.ndarray, framing: Framing) -> np.ndarray:
    """The square crop ``(left, top, right, bottom)`` (float pixels) that frames the face ``box`` as
    ``framing`` says (the image processor's `face_crop_box`)."""
    return face_crop_box(box, framing.box_fraction, framing.offset)


def crop_face(image: Image.Image, crop: np.ndarray, size: int) -> tuple[Image.Image, np.ndarray]:
    """Resample the square ``crop`` of ``image`` (outside the photo: black) to ``size`` pixels, bilinear
    and antialiased as the image processor crops faces.

    Returns the crop and the 2x3 affine map from crop pixels to photo pixels (pixel centres at
    i + 0.5 on both sides), so ``points @ A[:, :2].T + A[:, 2]`` takes predictions back to the photo.
    """
    pixels = resample_crop(as_rgb8(image).astype(np.float32), crop, (size, size))
    resized = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    return resized, crop_to_image_affine(crop, (size, size))
