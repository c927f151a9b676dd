"""Faces in real photos: dlib's HOG face detector, its boxes given in the landmark-box convention.

`FaceDetector.detect` returns boxes that stand for the box of the face's 68 points (the box the image
processor's ``framing`` is measured on), so a detected face is cropped as the generated training data
frame faces. dlib's own box is mapped by `DLIB_HOG_CONVERSION`, an affine fitted on generated faces by
``benchmarks/face_detection.py`` (which also says why this detector). The image processor detects with
it (``do_detect_faces``); like the processor, this file uses nothing from synthforge_hf, so that it
travels with model folders that load with trust_remote_code=True.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import PIL.Image

from .image_inputs import InputImage

INSTALL_HINT = 'pip install "synthforge-hf[detect]" (or pip install dlib-bin)'
MAX_DETECTION_PIXELS = 4_000_000  # larger photos are searched at a scale that brings them to this size


@dataclass(frozen=True)
class BoxConversion:
    """A detector's face boxes as landmark boxes: ``scale``, landmark-box (width, height) over
    detector-box (width, height); ``offset``, landmark-box centre minus detector-box centre, in
    detector-box (widths, heights)."""

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


# Fitted by benchmarks/face_detection.py on the generated calibration faces each detector found.
DLIB_HOG_CONVERSION = BoxConversion(scale=(0.835, 0.923), offset=(0.013, 0.100))
DLIB_CNN_CONVERSION = BoxConversion(scale=(0.903, 0.919), offset=(0.046, 0.160))
CNN_INSTALL_HINT = "pip install face-recognition-models (it holds dlib's CNN face detector's weights)"
# Per model: its box conversion and the largest photo it searches at full size (the CNN takes seconds
# a megapixel on a CPU).
MODELS = {"hog": (DLIB_HOG_CONVERSION, MAX_DETECTION_PIXELS), "cnn": (DLIB_CNN_CONVERSION, 1_000_000)}


def dlib_boxes(rects) -> np.ndarray:
    """dlib rectangles (inclusive pixel bounds) as (N, 4) boxes with pixel centres at i + 0.5."""
    boxes = [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects]
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def _rgb8(image: PIL.Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image (upright, 16-bit greyscale scaled by 1/257, as the image processor reads it) or an
    (H, W, 3) uint8 RGB array, as a contiguous (H, W, 3) uint8 array."""
    if isinstance(image, PIL.Image.Image):
        return InputImage.read(image).rgb8(rescale_factor=1.0)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(
            f"the detector takes a PIL image or an (H, W, 3) uint8 RGB array, got shape {array.shape} "
            "(the image processor's detect_faces takes any image it reads)"
        )
    if array.dtype != np.uint8:
        raise ValueError(f"the detector takes uint8 RGB arrays, got dtype {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"the image is empty (shape {array.shape})")
    return np.ascontiguousarray(array)


class FaceDetector:
    """A dlib face detector: ``model="hog"`` (the default), dlib's HOG frontal detector, fast, whose
    weights are part of dlib; or ``model="cnn"``, dlib's CNN (MMOD) detector, made for every pose, which
    finds faces turned far from the camera, seconds a photo on a CPU (its weights come with the
    ``face-recognition-models`` package). Run on the photo upsampled ``upsample`` times (each doubles
    the side: 1 finds faces down to about 40 px, 0 only from about 80 px), keeping detections that score
    above ``threshold`` (dlib's own scale, 0 by default). A photo of more than ``max_pixels`` pixels
    (default: the model's) is searched at the scale that brings it to that many (faces found from
    proportionally larger sizes), so time and memory stay bounded on big photos. Which detector finds
    what, how fast: ``benchmarks/face_detection.py``."""

    def __init__(
        self,
        upsample: int = 1,
        threshold: float = 0.0,
        conversion: BoxConversion | None = None,
        max_pixels: int | None = None,
        model: str = "hog",
    ):
        try:
            import dlib
        except ImportError as err:
            raise ImportError(f"FaceDetector needs dlib, which is not installed: {INSTALL_HINT}") from err
        if model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
        default_conversion, default_pixels = MODELS[model]
        max_pixels = default_pixels if max_pixels is None else max_pixels
        if isinstance(upsample, bool) or not isinstance(upsample, int) or not 0 <= upsample <= 4:
            raise ValueError(f"upsample must be an integer from 0 to 4, got {upsample!r}")
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
        self.upsample, self.threshold = upsample, float(threshold)
        self.conversion = default_conversion if conversion is None else conversion
        self.max_pixels, self.model = max_pixels, model
        if model == "hog":
            self._detector = dlib.get_frontal_face_detector()
        else:
            try:
                import face_recognition_models
            except ImportError as err:
                raise ImportError(f"FaceDetector(model='cnn') needs its weights: {CNN_INSTALL_HINT}") from err
            weights = face_recognition_models.cnn_face_detector_model_location()
            self._detector = dlib.cnn_face_detection_model_v1(weights)

    def _run(self, rgb: np.ndarray) -> tuple[list, list]:
        """dlib's rectangles and scores on an (H, W, 3) contiguous uint8 array, above the threshold."""
        if self.model == "hog":
            rects, scores, _ = self._detector.run(rgb, self.upsample, self.threshold)
            return list(rects), list(scores)
        found = [d for d in self._detector(rgb, self.upsample) if d.confidence > self.threshold]
        return [d.rect for d in found], [d.confidence for d in found]

    def detect_dlib_boxes(self, image: PIL.Image.Image | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dlib's own boxes (N, 4) on a PIL image or an (H, W, 3) uint8 RGB array (pixel centres at
        i + 0.5) and their scores (N,), in dlib's order. Arrays are made contiguous first: dlib reads a
        strided view (such as a pipeline's channels-last images) as if it were not, and finds noise."""
        rgb = _rgb8(image)
        height, width = rgb.shape[:2]
        if height * width > self.max_pixels:
            scale = math.sqrt(self.max_pixels / (height * width))
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            rgb = np.asarray(PIL.Image.fromarray(rgb).resize(size, PIL.Image.Resampling.BILINEAR))
        rects, scores = self._run(rgb)
        stretch = np.array([width, height] * 2, dtype=np.float64) / np.array(rgb.shape[1::-1] * 2)
        return dlib_boxes(rects) * stretch, np.asarray(scores, dtype=np.float64)

    def detect(
        self, image: PIL.Image.Image | np.ndarray
    ) -> list[tuple[tuple[float, float, float, float], float]]:
        """Faces of a PIL image or an (H, W, 3) uint8 RGB array, best score first:
        ``((left, top, right, bottom), score)`` in photo pixels, each box the face's landmark-box
        equivalent."""
        boxes, scores = self.detect_dlib_boxes(image)
        order = np.argsort(-scores, kind="stable")
        converted = self.conversion(boxes[order])
        return [
            (tuple(float(v) for v in box), float(scores[i])) for box, i in zip(converted, order, strict=True)
        ]
