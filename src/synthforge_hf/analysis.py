"""Every face in a photo: detect it, crop it as the training data framed faces, run the SB, map back.

    analyser = PhotoAnalyser.from_pretrained("spaces_app/model")
    photo = open_photo("group.jpg")                   # upright RGB, refused before decoding if huge
    result = analyser(photo)                          # result.faces[i].landmarks: (68, 2) photo pixels
    Image.fromarray(result.picture(photo)).save("group-analysis.png")

Memory follows the faces, not the photo: besides the photo and its photo-sized parsing and depth, each
face costs its crop and the window of the photo its crop covers.

Used by `synthforge analyse` and the Space's Analyse tab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .constants import SEGMENTATION_CLASSES
from .io.images import MAX_PHOTO_PIXELS, as_rgb8
from .models.synthforge import SynthForgeForFaceAnalysis, SynthForgeImageProcessor
from .visualization import colorize_depth, colorize_segmentation, draw_landmarks


@dataclass
class FaceResult:
    """One face: its detector box (left, top, right, bottom; landmark-box convention), the detector's
    score (None for a box given by the caller) and its 68 landmarks in photo pixels."""

    box: tuple[float, float, float, float]
    score: float | None
    landmarks: np.ndarray


@dataclass
class PhotoResult:
    """All faces of one photo, with photo-sized parsing (class ids, 0 outside faces) and depth (metres,
    0 outside faces); where crops overlap, the higher-scoring face's maps win."""

    faces: list[FaceResult]
    parsing: np.ndarray
    depth: np.ndarray

    def to_json(self) -> dict:
        height, width = self.parsing.shape
        return {
            "image_size": [width, height],
            "faces": [
                {
                    "box": [round(v, 2) for v in face.box],
                    "score": None if face.score is None else round(face.score, 4),
                    "landmarks_68": np.round(face.landmarks, 2).tolist(),
                }
                for face in self.faces
            ],
            "class_pixels": {
                name: int((self.parsing == i).sum()) for i, name in enumerate(SEGMENTATION_CLASSES)
            },
        }

    def panels(self, photo: Image.Image | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Landmarks on the photo, coloured parsing and depth: three (H, W, 3) uint8 pictures."""
        overlay = Image.fromarray(as_rgb8(photo))
        radius = max(1.5, max(overlay.size) / 250)
        for face in self.faces:
            overlay = draw_landmarks(overlay, face.landmarks, radius=radius)
        return np.asarray(overlay), colorize_segmentation(self.parsing), colorize_depth(self.depth)

    def picture(self, photo: Image.Image | np.ndarray) -> np.ndarray:
        """The three `panels` side by side: (H, 3W, 3) uint8."""
        return np.concatenate(self.panels(photo), axis=1)


def whole_image_box(height: int, width: int, framing: dict) -> tuple[float, float, float, float]:
    """The face box that ``framing`` crops to the image's centred square: how to analyse an image that
    is already a face crop (framed like the training data) when the detector finds no face in it."""
    size = max(height, width) * framing["box_fraction"]
    centre_x = width / 2 - framing["offset"][0] * size
    centre_y = height / 2 - framing["offset"][1] * size
    return (centre_x - size / 2, centre_y - size / 2, centre_x + size / 2, centre_y + size / 2)


class PhotoAnalyser:
    """An SB with its processor, which finds the faces (`SynthForgeImageProcessor.detect_faces`)."""

    def __init__(
        self, model: SynthForgeForFaceAnalysis, processor: SynthForgeImageProcessor, batch_size: int = 16
    ):
        self.model = model.eval()
        self.processor = processor
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs) -> PhotoAnalyser:
        return cls(
            SynthForgeForFaceAnalysis.from_pretrained(model_id, **kwargs),
            SynthForgeImageProcessor.from_pretrained(model_id, **kwargs),
        )

    @torch.no_grad()
    def __call__(self, photo: Image.Image | np.ndarray, boxes=None) -> PhotoResult:
        """Analyse every face of ``photo`` (detected, or the given (left, top, right, bottom) boxes in
        the landmark-box convention); a photo without faces gives an empty result."""
        rgb = as_rgb8(photo)
        height, width = rgb.shape[:2]
        if height * width > MAX_PHOTO_PIXELS:
            raise ValueError(
                f"the photo has {width}x{height} pixels, more than the {MAX_PHOTO_PIXELS:,} allowed"
            )
        if boxes is None:
            ((boxes, found_scores),) = self.processor.detect_faces(rgb)
            scores = [float(score) for score in found_scores]
        else:
            scores = [None] * len(boxes)
        boxes = [tuple(float(v) for v in box) for box in boxes]
        parsing = np.zeros((height, width), dtype=np.uint8)
        depth = np.zeros((height, width), dtype=np.float32)
        faces = []
        device = next(self.model.parameters()).device
        for start in range(0, len(boxes), self.batch_size):
            chunk = boxes[start : start + self.batch_size]
            inputs = self.processor(rgb, boxes=[chunk])
            out = self.model(inputs["pixel_values"].to(device))
            sizes, affines = inputs["original_sizes"], inputs["affines"]
            points = self.processor.post_process_landmarks(out, affines=affines)
            windows = self.processor.post_process_face_windows(out, sizes, affines)
            for k, (box, window) in enumerate(zip(chunk, windows, strict=True)):
                top, left, bottom, right = window["window"]
                labels = window["segmentation"].cpu().numpy().astype(np.uint8)
                free = (
                    parsing[top:bottom, left:right] == 0
                )  # faces come best first: keep what a better face labelled
                take = free & (labels > 0)
                parsing[top:bottom, left:right][take] = labels[take]
                depth[top:bottom, left:right][take] = window["predicted_depth"].cpu().numpy()[take]
                faces.append(FaceResult(box, scores[start + k], points[k].cpu().numpy()))
        return PhotoResult(faces, parsing, depth)
