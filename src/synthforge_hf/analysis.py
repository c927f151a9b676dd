"""Every face in a photo: detect it, crop it as the training data framed faces, run the SB, map back.

    analyser = PhotoAnalyser.from_pretrained()              # the reference model, or an SB folder / Hub id
    photo = open_photo("group.jpg")                   # upright RGB, refused before decoding if huge
    result = analyser(photo)                          # result.faces[i].landmarks: (68, 2) photo pixels
    Image.fromarray(result.picture(photo)).save("group-analysis.png")

Memory follows the faces, not the photo: besides the photo and its photo-sized parsing and depth, each
face costs its crop and the window of the photo its crop covers.

Used by `synthforge analyse` and the Space's Analyse tab.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .constants import REFERENCE_MODEL, SEGMENTATION_CLASSES
from .io.images import MAX_PHOTO_PIXELS, as_rgb8
from .models.synthforge import SynthForgeForFaceAnalysis, SynthForgeImageProcessor
from .models.synthforge.face_detection import FaceDetector
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
                    "landmarks_68": np.round(face.landmarks.astype(np.float64), 2).tolist(),
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
        detector (`FaceDetector`, *optional*):
            The face detector, e.g. ``FaceDetector(model="cnn")`` for faces turned further than the
            processor's (dlib's HOG detector, at the processor's ``detector_upsample``) finds.

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
        self,
        model: SynthForgeForFaceAnalysis,
        processor: SynthForgeImageProcessor,
        batch_size: int = 16,
        detector: FaceDetector | None = None,
    ):
        self.model = model.eval()
        self.processor = processor
        self.batch_size = batch_size
        self.detector = detector

    @classmethod
    def from_pretrained(cls, model_id: str | Path = REFERENCE_MODEL, **kwargs) -> PhotoAnalyser:
        """The analyser of an SB folder or Hub id: its model and its image processor.

        Args:
            model_id (`str` or `Path`, *optional*, defaults to the reference model):
                An SB folder (config.json, weights and preprocessor_config.json) or a Hub repo id; the
                reference model shipped with the package (`synthforge_hf.constants.REFERENCE_MODEL`)
                when not given.
            kwargs (*optional*):
                Passed to both `from_pretrained` calls (e.g. ``revision``), except ``batch_size`` and
                ``detector``, which are the analyser's.

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
        own = {name: kwargs.pop(name) for name in ("batch_size", "detector") if name in kwargs}
        return cls(
            SynthForgeForFaceAnalysis.from_pretrained(model_id, **kwargs),
            SynthForgeImageProcessor.from_pretrained(model_id, **kwargs),
            **own,
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
        item = self._prepare(None, as_rgb8(photo), boxes)
        if item.error is not None:
            raise item.error
        for start in range(0, len(item.crops), self.batch_size):
            self._run([(item, *crop) for crop in item.crops[start : start + self.batch_size]])
        return item.result()

    @torch.no_grad()
    def analyse_photos(
        self, photos: Iterable[tuple[Any, np.ndarray | Exception]], with_maps: bool = True
    ) -> Iterator[tuple[Any, PhotoResult | Exception]]:
        """Analyse a stream of photos, their faces batched across photos, and yield the results in order.

        Each photo is read when its turn comes, its faces detected and cropped; the SB runs whenever
        ``batch_size`` faces wait, so a run over many photos with few faces each keeps the SB's batches
        full. Only the photos whose faces are still waiting are held in memory.

        Args:
            photos (`Iterable[tuple[Any, np.ndarray | Exception]]`):
                ``(key, photo)`` pairs: the photo as an (H, W, 3) uint8 RGB array, or the exception its
                reading raised (passed through as its result).
            with_maps (`bool`, *optional*, defaults to `True`):
                Whether to map each face's parsing and depth back into its photo; without, the
                results' maps stay zero (never written, so they take no memory) and only the faces are
                computed.

        Returns:
            `Iterator[tuple[Any, PhotoResult | Exception]]`: ``(key, result)`` per photo, in order.

        Example:

        ```python
        >>> import numpy as np
        >>> from synthforge_hf.analysis import PhotoAnalyser
        >>> from synthforge_hf.models.synthforge import (
        ...     SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
        ... )
        >>> model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
        >>> analyser = PhotoAnalyser(model, SynthForgeImageProcessor(size=32))
        >>> photos = [("a.jpg", np.zeros((48, 64, 3), np.uint8)), ("b.jpg", ValueError("b.jpg: unreadable"))]
        >>> [(key, type(result).__name__) for key, result in analyser.analyse_photos(photos)]
        [('a.jpg', 'PhotoResult'), ('b.jpg', 'ValueError')]

        ```
        """
        waiting: deque[_Photo] = deque()
        crops: list[tuple[_Photo, int, torch.Tensor, np.ndarray]] = []
        for key, photo in photos:
            if isinstance(photo, Exception):
                item = _Photo(key, photo)
            else:
                item = self._prepare(key, as_rgb8(photo), with_maps=with_maps)
            waiting.append(item)
            crops += [(item, *crop) for crop in item.crops]
            item.crops = []
            while len(crops) >= self.batch_size:
                self._run(crops[: self.batch_size])
                crops = crops[self.batch_size :]
            while waiting and waiting[0].done:
                yield waiting[0].key, waiting.popleft().result()
        for start in range(0, len(crops), self.batch_size):
            self._run(crops[start : start + self.batch_size])
        while waiting:
            yield waiting[0].key, waiting.popleft().result()

    def _prepare(self, key: Any, rgb: np.ndarray, boxes=None, with_maps: bool = True) -> _Photo:
        """A photo's faces (detected unless ``boxes`` are given) and their model inputs (``crops``)."""
        height, width = rgb.shape[:2]
        if height * width > MAX_PHOTO_PIXELS:
            message = f"the photo has {width}x{height} pixels, more than the {MAX_PHOTO_PIXELS:,} allowed"
            return _Photo(key, ValueError(message))
        if boxes is None and self.detector is not None:
            found = self.detector.detect(rgb)  # best first, as the processor's detection
            boxes, scores = [box for box, _ in found], [score for _, score in found]
        elif boxes is None:
            ((found, found_scores),) = self.processor.detect_faces(rgb)
            boxes, scores = [tuple(map(float, b)) for b in found], [float(s) for s in found_scores]
        else:
            boxes, scores = [tuple(map(float, b)) for b in boxes], [None] * len(boxes)
        item = _Photo(key, None, boxes=boxes, scores=scores, size=(height, width), with_maps=with_maps)
        if boxes:
            inputs = self.processor(rgb, boxes=[boxes], return_tensors="pt")
            affines = np.asarray(inputs["affines"])
            item.crops = [
                (index, inputs["pixel_values"][index], affines[index]) for index in range(len(boxes))
            ]
        return item

    def _run(self, crops: list) -> None:
        """The SB on a batch of crops from any photos; each photo takes its faces' results."""
        device = next(self.model.parameters()).device
        out = self.model(torch.stack([pixels for _, _, pixels, _ in crops]).to(device))
        affines = np.stack([affine for *_, affine in crops])
        points = self.processor.post_process_landmarks(out, affines=affines)
        windows = [None] * len(crops)
        with_maps = [item.with_maps for item, *_ in crops]
        if any(with_maps):
            sizes = np.array([item.size for item, *_ in crops])
            windows = self.processor.post_process_face_windows(out, sizes, affines)
        for (item, index, _, _), face_points, window in zip(crops, points, windows, strict=True):
            item.add(index, face_points.cpu().numpy(), window)


@dataclass
class _Photo:
    """A photo on its way through `PhotoAnalyser`: its faces, their crops waiting for the SB (``(index,
    pixels, affine)``), and what comes back for each; or the error that stopped it."""

    key: Any
    error: Exception | None
    boxes: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    size: tuple[int, int] = (0, 0)
    with_maps: bool = True
    crops: list = field(default_factory=list)
    landmarks: dict = field(default_factory=dict)
    windows: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.error is not None or len(self.landmarks) == len(self.boxes)

    def add(self, index: int, points: np.ndarray, window: dict | None) -> None:
        self.landmarks[index] = points
        if self.with_maps:
            self.windows[index] = window

    def result(self) -> PhotoResult | Exception:
        """The faces, best first, with the photo's parsing and depth pasted from their windows (a better
        face keeps the pixels it labelled; empty, untouched maps without ``with_maps``)."""
        if self.error is not None:
            return self.error
        parsing = np.zeros(self.size, dtype=np.uint8)
        depth = np.zeros(self.size, dtype=np.float32)
        for index in sorted(self.windows):
            window = self.windows[index]
            top, left, bottom, right = window["window"]
            labels = window["segmentation"].cpu().numpy().astype(np.uint8)
            take = (parsing[top:bottom, left:right] == 0) & (labels > 0)
            parsing[top:bottom, left:right][take] = labels[take]
            depth[top:bottom, left:right][take] = window["predicted_depth"].cpu().numpy()[take]
        faces = [
            FaceResult(box, score, self.landmarks[k])
            for k, (box, score) in enumerate(zip(self.boxes, self.scores, strict=True))
        ]
        return PhotoResult(faces, parsing, depth)
