"""`pipeline("face-analysis")`: every face of a photo, as transformers' pipelines give results.

    import synthforge_hf                                   # registers the task (see `registration`)
    from transformers import pipeline

    analyse = pipeline("face-analysis", model=str(synthforge_hf.REFERENCE_MODEL))  # or an SB folder / Hub id
    faces = analyse("group.jpg")                           # one dict per face, best detection first
    faces[0]["box"], faces[0]["landmarks"].shape           # {"xmin": ...}, (68, 2) photo pixels

Each face is found by the image processor's detector, cropped as the training data framed faces, run
through the SB in batches of ``batch_size`` faces (across photos too), and mapped back into the photo.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import PIL.Image
import torch
from transformers import AutoModelForSemanticSegmentation
from transformers.pipelines.base import ChunkPipeline

from .io.images import as_rgb8, open_photo
from .models.synthforge.face_detection import FaceDetector

TASK = "face-analysis"


def _rgb(image) -> np.ndarray:
    """A photo file's path, a PIL image or an array as upright (H, W, 3) uint8 RGB."""
    if isinstance(image, str):
        return open_photo(image)
    return as_rgb8(image)


class FaceAnalysisPipeline(ChunkPipeline):
    """Face analysis with a SynthForge SB (`SynthForgeForFaceAnalysis` and its image processor).

    Called with an image (a path, a PIL image or an (H, W, 3) array) or a list of them, it returns per
    image a list of faces, best detection first, each a dict:

    - ``box``: ``{"xmin", "ymin", "xmax", "ymax"}`` in photo pixels (the box of the face's 68 points the
      detector's box stands for), and ``score``: the detector's score;
    - ``landmarks``: (68, 2) float32 photo pixels (iBUG order, pixel centres at i + 0.5);
    - ``mask``: a PIL image of the photo's size holding class ids (`config.id2label`; 0, background,
      outside the face's crop);
    - ``depth``: (H, W) float32 metres over the photo (0 outside the face's crop).

    Example:

    ```python
    >>> import synthforge_hf  # registers "face-analysis"
    >>> from transformers import pipeline
    >>> analyse = pipeline("face-analysis", model=str(synthforge_hf.REFERENCE_MODEL))  # doctest: +SKIP
    >>> analyse(["a.jpg", "b.jpg"], batch_size=8)  # doctest: +SKIP
    ```
    """

    # Only the image processor: probing for the other components would make transformers ask, on a
    # terminal, whether to run the folder's code.
    _load_processor = False
    _load_image_processor = True
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, detector: str | None = None, **kwargs):
        return ({} if detector is None else {"detector": detector}), {}, {}

    def preprocess(self, image, detector: str | None = None):
        """``detector="cnn"``: dlib's CNN detector (`FaceDetector`), which finds faces turned far away;
        else the image processor's (dlib's HOG detector)."""
        rgb = _rgb(image)
        if detector is None:
            ((boxes, scores),) = self.image_processor.detect_faces(rgb)
        else:
            found = FaceDetector(model=detector).detect(rgb)
            boxes, scores = [box for box, _ in found], [score for _, score in found]
        size = torch.tensor([rgb.shape[:2]])
        if len(boxes) == 0:  # one placeholder row, so the photo still comes out (with no face)
            inputs = self.image_processor(rgb, return_tensors="pt")
            yield {**self._row(inputs, size, np.zeros(4), 0.0, found=False), "is_last": True}
            return
        for index, (box, score) in enumerate(zip(boxes, scores, strict=True)):
            inputs = self.image_processor(rgb, boxes=[[box]], return_tensors="pt")
            yield {**self._row(inputs, size, box, score, found=True), "is_last": index == len(boxes) - 1}

    def _row(self, inputs, size: torch.Tensor, box, score: float, found: bool) -> dict:
        return {
            "pixel_values": inputs["pixel_values"].to(self.dtype),
            "affines": torch.as_tensor(np.asarray(inputs["affines"]), dtype=torch.float64),
            "original_sizes": size,
            "boxes": torch.as_tensor(np.asarray(box, dtype=np.float64)[None]),
            "scores": torch.tensor([score], dtype=torch.float64),
            "found": torch.tensor([found]),
        }

    def _forward(self, model_inputs):
        extras = {
            key: model_inputs.pop(key) for key in ("affines", "original_sizes", "boxes", "scores", "found")
        }
        is_last = model_inputs.pop("is_last")
        outputs = self.model(pixel_values=model_inputs["pixel_values"])
        return {
            "is_last": is_last,
            **extras,
            "landmarks": outputs.landmarks,
            "logits": outputs.logits,
            "depth": outputs.depth,
        }

    def postprocess(self, model_outputs):
        faces = []
        for row in model_outputs:
            if not bool(row["found"].reshape(-1)[0]):
                continue
            outputs = SimpleNamespace(landmarks=row["landmarks"], logits=row["logits"], depth=row["depth"])
            affines, sizes = row["affines"], row["original_sizes"]
            landmarks = self.image_processor.post_process_landmarks(outputs, affines=affines)[0]
            (window,) = self.image_processor.post_process_face_windows(outputs, sizes, affines)
            height, width = sizes.reshape(-1).tolist()
            mask = np.zeros((height, width), dtype=np.uint8)
            depth = np.zeros((height, width), dtype=np.float32)
            top, left, bottom, right = window["window"]
            mask[top:bottom, left:right] = window["segmentation"].cpu().numpy()
            depth[top:bottom, left:right] = window["predicted_depth"].float().cpu().numpy()
            xmin, ymin, xmax, ymax = row["boxes"].reshape(-1).tolist()
            faces.append(
                {
                    "score": float(row["scores"].reshape(-1)[0]),
                    "box": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
                    "landmarks": landmarks.float().cpu().numpy(),
                    "mask": PIL.Image.fromarray(mask, "L"),
                    "depth": depth,
                }
            )
        return faces


def register() -> None:
    """Register `TASK` with transformers' pipelines (idempotent)."""
    from transformers.pipelines import PIPELINE_REGISTRY

    import synthforge_hf.models.synthforge  # noqa: F401  (the SB's Auto classes, which the task loads)

    if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(
            TASK, pipeline_class=FaceAnalysisPipeline, pt_model=AutoModelForSemanticSegmentation, type="image"
        )
