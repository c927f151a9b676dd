"""Faces in real photos: dlib's HOG face detector, its boxes given in the landmark-box convention.

`FaceDetector.detect` returns boxes that stand for the box of the face's 68 points
(`synthforge_hf.data.framing.landmark_box`), so `crop_box(box, framing)` frames a detected face as the
generated training data frame faces. dlib's own box is mapped by `DLIB_HOG_CONVERSION`, an affine
fitted on generated faces by ``benchmarks/face_detection.py`` (which also says why this detector).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..io.images import as_rgb8
from .box_conversion import BoxConversion

INSTALL_HINT = 'pip install "synthforge-hf[detect]" (or pip install dlib-bin)'
# Fitted by benchmarks/face_detection.py on the 131 of 200 generated faces (256 px) that dlib found.
DLIB_HOG_CONVERSION = BoxConversion(scale=(0.835, 0.923), offset=(0.013, 0.100))


def dlib_boxes(rects) -> np.ndarray:
    """dlib rectangles (inclusive pixel bounds) as (N, 4) boxes with pixel centres at i + 0.5."""
    boxes = [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects]
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


class FaceDetector:
    """dlib's HOG frontal face detector (its weights are part of dlib), run on the photo upsampled
    ``upsample`` times (each doubles the side: 1 finds faces down to about 40 px, 0 only from about
    80 px) and keeping detections that score above ``threshold`` (dlib's own scale, 0 by default)."""

    def __init__(
        self, upsample: int = 1, threshold: float = 0.0, conversion: BoxConversion = DLIB_HOG_CONVERSION
    ):
        try:
            import dlib
        except ImportError as err:
            raise ImportError(f"FaceDetector needs dlib, which is not installed: {INSTALL_HINT}") from err
        if isinstance(upsample, bool) or not isinstance(upsample, int) or not 0 <= upsample <= 4:
            raise ValueError(f"upsample must be an integer from 0 to 4, got {upsample!r}")
        self.upsample, self.threshold, self.conversion = upsample, float(threshold), conversion
        self._detector = dlib.get_frontal_face_detector()

    def detect_dlib_boxes(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dlib's own boxes (N, 4) on an (H, W, 3) uint8 RGB array (pixel centres at i + 0.5) and their
        scores (N,), in dlib's order."""
        rects, scores, _ = self._detector.run(rgb, self.upsample, self.threshold)
        return dlib_boxes(rects), np.asarray(scores, dtype=np.float64)

    def detect(
        self, image: Image.Image | np.ndarray
    ) -> list[tuple[tuple[float, float, float, float], float]]:
        """Faces of a PIL image or an (H, W) / (H, W, 1|3|4) uint8, uint16 or [0, 1] float array, best
        score first: ``((left, top, right, bottom), score)`` in photo pixels, each box the face's
        landmark-box equivalent."""
        boxes, scores = self.detect_dlib_boxes(as_rgb8(image))
        order = np.argsort(-scores, kind="stable")
        converted = self.conversion(boxes[order])
        return [
            (tuple(float(v) for v in box), float(scores[i])) for box, i in zip(converted, order, strict=True)
        ]
