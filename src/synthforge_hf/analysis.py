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
    """One face of a `PhotoResult`: where it is, how sure the detector was, and its landmarks.

    Args:
        box (`tuple[float, float, float, float]`):
            Its detector box (left, top, right, bottom) in photo pixels, in the landmark-box convention
            (the box of the face's 68 points), or the box the caller gave.
        score (`float`, *optional*):
            The detector's score; None for a box given by the caller.
        landmarks (`np.ndarray` of shape `(68, 2)`):
            Its 68 landmarks in photo pixels (iBUG order; pixel centres at i + 0.5).

    Example:

    ```python
    >>> import numpy as np
    >>> from synthforge_hf.analysis import FaceResult
    >>> face = FaceResult(box=(10.0, 5.0, 30.0, 25.0), score=None, landmarks=np.zeros((68, 2)))
    >>> face.box, face.score, face.landmarks.shape
    ((10.0, 5.0, 30.0, 25.0), None, (68, 2))

    ```
    """

    box: tuple[float, float, float, float]
    score: float | None
    landmarks: np.ndarray


@dataclass
class PhotoResult:
    """All faces of one photo, with photo-sized parsing and depth.

    What `PhotoAnalyser` returns. Where crops overlap, the higher-scoring face's maps win. `to_json`
    gives the record ``synthforge analyse`` writes (boxes, scores, 68 points per face, class pixel
    counts); `panels` and `picture` draw it.

    Args:
        faces (`list[FaceResult]`):
            The faces, best first.
        parsing (`np.ndarray` of shape `(H, W)`, uint8):
            Class ids of `synthforge_hf.constants.SEGMENTATION_CLASSES`, 0 outside faces.
        depth (`np.ndarray` of shape `(H, W)`, float32):
            Metres, 0 outside faces.

    Example:

    ```python
    >>> import numpy as np
    >>> from synthforge_hf.analysis import PhotoResult
    >>> parsing, depth = np.zeros((40, 60), np.uint8), np.zeros((40, 60), np.float32)
    >>> empty = PhotoResult(faces=[], parsing=parsing, depth=depth)  # a photo without faces
    >>> record = empty.to_json()
    >>> record["image_size"], record["faces"], record["class_pixels"]["background"]
    ([60, 40], [], 2400)
    >>> empty.picture(np.zeros((40, 60, 3), np.uint8)).shape  # landmarks | parsing | depth
    (40, 180, 3)

    ```
    """

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
    """An SB with its processor, which finds the faces (`SynthForgeImageProcessor.detect_faces`).

    Each face is cropped as the training data framed faces, the SB runs on the crops in batches, and its
    landmarks, parsing and depth are mapped back into the photo. Besides the photo and its photo-sized
    parsing and depth, memory follows the faces: each costs its crop and the window its crop covers.
    What ``synthforge analyse`` and the Space's Analyse tab use.

    Args:
        model (`SynthForgeForFaceAnalysis`):
            The SB; put in eval mode. Move it with ``analyser.model.to(device)``.
        processor (`SynthForgeImageProcessor`):
            Its image processor.
        batch_size (`int`, *optional*, defaults to 16):
            Faces the SB runs on at once.

    Example:

    ```python
    >>> import numpy as np
    >>> from synthforge_hf.analysis import PhotoAnalyser
    >>> from synthforge_hf.models.synthforge import (
    ...     SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
    ... )
    >>> model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
    >>> analyser = PhotoAnalyser(model, SynthForgeImageProcessor(size=32), batch_size=4)
    >>> result = analyser(np.zeros((48, 64, 3), np.uint8), boxes=[(16, 8, 48, 40)])
    >>> len(result.faces), result.faces[0].landmarks.shape, result.parsing.shape
    (1, (68, 2), (48, 64))

    ```
    """

    def __init__(
        self, model: SynthForgeForFaceAnalysis, processor: SynthForgeImageProcessor, batch_size: int = 16
    ):
        self.model = model.eval()
        self.processor = processor
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs) -> PhotoAnalyser:
        """The analyser of an SB folder or Hub id: its model and its image processor.

        Args:
            model_id (`str`):
                An SB folder (config.json, weights and preprocessor_config.json) or a Hub repo id.
            kwargs (*optional*):
                Passed to both `from_pretrained` calls (e.g. ``revision``).

        Returns:
            `PhotoAnalyser`: the analyser, on the CPU.

        Example:

        ```python
        >>> from synthforge_hf.analysis import PhotoAnalyser
        >>> from synthforge_hf.models.synthforge import (
        ...     SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
        ... )
        >>> SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).save_pretrained("sb")  # an SB folder
        >>> SynthForgeImageProcessor(size=32).save_pretrained("sb")
        ['sb/preprocessor_config.json']
        >>> analyser = PhotoAnalyser.from_pretrained("sb")  # or a Hub id
        >>> analyser.processor.size, analyser.model.training
        ({'height': 32, 'width': 32}, False)

        ```
        """
        return cls(
            SynthForgeForFaceAnalysis.from_pretrained(model_id, **kwargs),
            SynthForgeImageProcessor.from_pretrained(model_id, **kwargs),
        )

    @torch.no_grad()
    def __call__(self, photo: Image.Image | np.ndarray, boxes=None) -> PhotoResult:
        """Analyse every face of ``photo``: detected, or in the given boxes.

        A photo without faces gives an empty result; one of more than `MAX_PHOTO_PIXELS` pixels is
        refused (`ValueError`). Detection needs dlib (``pip install "synthforge-hf[detect]"``).

        Args:
            photo (`PIL.Image.Image` or `np.ndarray`):
                The photo: a PIL image (any mode; turned upright as its EXIF orientation says) or an
                (H, W), (H, W, 3) or (H, W, 4) array (see `synthforge_hf.io.images.as_rgb8`).
            boxes (`list[tuple[float, float, float, float]]`, *optional*):
                The faces' (left, top, right, bottom) boxes in the landmark-box convention; default:
                the faces the detector finds.

        Returns:
            `PhotoResult`: the faces (best first) with their landmarks in photo pixels, and photo-sized
            parsing and depth.

        Example:

        ```python
        >>> from PIL import Image
        >>> from synthforge_hf.analysis import PhotoAnalyser
        >>> from synthforge_hf.io.images import open_photo
        >>> from synthforge_hf.models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis
        >>> from synthforge_hf.models.synthforge import SynthForgeImageProcessor
        >>> model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
        >>> analyser = PhotoAnalyser(model, SynthForgeImageProcessor(size=32))
        >>> Image.new("RGB", (64, 48)).save("photo.jpg")
        >>> photo = open_photo("photo.jpg")
        >>> analyser(photo).faces  # the detector finds no face in a blank picture
        []
        >>> result = analyser(photo, boxes=[(16, 8, 48, 40)])
        >>> result.faces[0].score, result.faces[0].landmarks.shape, result.depth.shape, result.depth.dtype
        (None, (68, 2), (48, 64), dtype('float32'))

        ```
        """
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
            inputs = self.processor(rgb, boxes=[chunk], return_tensors="pt")
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
