"""A detector's face boxes as landmark boxes: the fixed affine (scale, and centre offset relative to the
box size) that maps a detector's box onto the box of the face's 68 labelled points."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class BoxConversion:
    """``scale``: landmark-box (width, height) over detector-box (width, height); ``offset``: landmark-box
    centre minus detector-box centre, in detector-box (widths, heights)."""

    scale: tuple[float, float]
    offset: tuple[float, float]

    def __call__(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) detector boxes ``(left, top, right, bottom)`` -> (N, 4) landmark-box equivalents."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        size = boxes[:, 2:] - boxes[:, :2]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + np.asarray(self.offset) * size
        half = np.asarray(self.scale) * size / 2
        return np.concatenate([centre - half, centre + half], axis=1)

    @classmethod
    def fit(cls, detected: np.ndarray, landmark_boxes: np.ndarray) -> BoxConversion:
        """The median scale and offset over pairs of (N, 4) detector boxes and the faces' landmark boxes."""
        detected = np.asarray(detected, dtype=np.float64).reshape(-1, 4)
        target = np.asarray(landmark_boxes, dtype=np.float64).reshape(-1, 4)
        if len(detected) == 0 or len(detected) != len(target):
            raise ValueError(f"fit needs matching pairs of boxes, got {len(detected)} and {len(target)}")
        size = detected[:, 2:] - detected[:, :2]
        scale = np.median((target[:, 2:] - target[:, :2]) / size, axis=0)
        offset = np.median(
            ((target[:, :2] + target[:, 2:]) - (detected[:, :2] + detected[:, 2:])) / 2 / size, axis=0
        )
        return cls((float(scale[0]), float(scale[1])), (float(offset[0]), float(offset[1])))

    def to_dict(self) -> dict:
        return asdict(self)
