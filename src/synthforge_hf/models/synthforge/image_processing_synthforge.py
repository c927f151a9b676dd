"""Image processor of the SynthForge models: a square crop of each input (the whole image padded to a
centred square, or each face box framed as the training data frame faces) resized, rescaled and
normalised, with the same transform applied to segmentation maps and landmarks given with the images;
and the inverse maps of landmarks, segmentation and depth back into the input image.

With ``do_detect_faces`` and no boxes, the faces are found first (`face_detection.FaceDetector`).

Self-contained (nothing from synthforge_hf): `save_pretrained` copies this file and `face_detection.py`
into model folders, which load with trust_remote_code=True where the package is not installed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

import numpy as np
import torch
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature, get_size_dict
from transformers.image_utils import ChannelDimension, PILImageResampling
from transformers.processing_utils import ImagesKwargs

from .crop_geometry import (
    crop_to_image_affine,
    face_crop_box,
    points_to_input,
    resample_crop,
    resample_labels,
    whole_image_crop,
)
from .face_detection import FaceDetector
from .image_inputs import (
    InputImage,
    channel_dimension,
    checked_boxes,
    checked_map,
    checked_points,
    image_list,
    per_image,
)
from .post_processing_synthforge import SynthForgePostProcessingMixin

IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
# How the reference model's training images frame faces (measured by `synthforge_hf.data.framing`).
DEFAULT_FRAMING = {"box_fraction": 0.5486, "offset": [0.0034, -0.1678]}
IGNORE_INDEX = 255  # the label of map pixels outside the image, as transformers' segmentation losses ignore


def normalize_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) in [0,1] -> the model's input normalisation (what `preprocess` does after resizing)."""
    mean = torch.tensor(IMAGE_MEAN, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    std = torch.tensor(IMAGE_STD, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    return (pixels - mean) / std


def _size_dict(size) -> dict[str, int]:
    try:
        size = get_size_dict(size)  # an int (older configs) -> a square
    except (TypeError, ValueError) as err:
        raise ValueError(f"size must be an int or {{'height': h, 'width': w}}, got {size!r}") from err
    values = [size.get("height"), size.get("width")]
    if set(size) != {"height", "width"} or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError(f"size must be an int or {{'height': h, 'width': w}} of positive ints, got {size!r}")
    return {"height": values[0], "width": values[1]}


def _framing_dict(framing) -> dict:
    try:
        fraction, offset = float(framing["box_fraction"]), [float(v) for v in framing["offset"]]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"framing must be {{'box_fraction': f, 'offset': [x, y]}}, got {framing!r}") from err
    if not (
        math.isfinite(fraction) and fraction > 0 and len(offset) == 2 and all(map(math.isfinite, offset))
    ):
        raise ValueError(f"framing needs box_fraction > 0 and a finite (x, y) offset, got {framing!r}")
    return {"box_fraction": fraction, "offset": offset}


@lru_cache(maxsize=4)
def _face_detector(upsample: int) -> FaceDetector:
    """One detector per upsampling, made on first use (dlib is needed only when faces are detected)."""
    return FaceDetector(upsample=upsample)


def _stacked(rows: dict[str, list]) -> dict[str, np.ndarray]:
    """The rows of each output stacked into one batch array, refusing rows of different shapes."""
    for name, advice in (("pixel_values", "use do_resize=True"), ("landmarks", "give N points per row")):
        shapes = {value.shape for value in rows.get(name, [])}
        if len(shapes) > 1:
            raise ValueError(f"{name} of different shapes {sorted(shapes)} cannot be batched: {advice}")
    return {name: np.stack(values) for name, values in rows.items()}


class SynthForgeImageProcessorKwargs(ImagesKwargs, total=False):
    """`ImagesKwargs`, the face framing used with ``boxes``, the label of map pixels outside the image and
    the face detection used without boxes."""

    framing: dict
    ignore_index: int
    do_detect_faces: bool
    detector_upsample: int


class SynthForgeImageProcessor(SynthForgePostProcessingMixin, BaseImageProcessor):
    """Prepares images for `SynthForgeForFaceAnalysis` and maps its outputs back.

    Without ``boxes``, an image (any size; RGB, grayscale or RGBA; PIL, or numpy / torch channels-first
    or channels-last) is padded with zeros to a centred square (``do_pad``; else stretched to ``size``);
    with ``boxes``, each face box gives a square crop framed as ``framing`` says (see `face_crop_box`);
    with ``do_detect_faces`` and no boxes, each face the detector finds does (an image without faces
    gives no rows). Off by default: transformers' pipelines expect one row per image.
    Each crop is resized to ``size`` with ``resample``, multiplied by ``rescale_factor`` and normalised
    with ``image_mean`` / ``image_std`` (each step switchable, as in transformers' processors). Every
    row of the batch comes with the (height, width) of its image (``original_sizes``), the index of its
    image (``image_indices``) and the 2x3 affine from model-input pixels to image pixels (``affines``;
    pixel centres at i + 0.5); without boxes also ``paddings`` (top, left). Segmentation maps and
    landmarks given with the images come back as ``labels`` and ``landmarks`` in the rows' model-input
    pixels. The ``post_process_*`` methods map predictions back into the image. As transformers'
    processors, calls return numpy arrays unless ``return_tensors="pt"`` asks for torch tensors.

    Args:
        do_resize (`bool`, *optional*, defaults to `True`):
            Resize each crop to ``size``; `False` keeps the crop's own size.
        size (`int` or `dict[str, int]`, *optional*, defaults to 256):
            The model-input size: an int (a square) or ``{"height": h, "width": w}``.
        resample (`PILImageResampling`, *optional*, defaults to `PILImageResampling.BILINEAR`):
            The PIL filter that resamples the crops (antialiased when shrinking).
        do_rescale (`bool`, *optional*, defaults to `True`):
            Multiply the pixel values by ``rescale_factor``.
        rescale_factor (`float`, *optional*, defaults to 1/255):
            The factor that brings 8-bit values to [0, 1] (16-bit images are brought to the 8-bit scale
            first, so they keep their tones).
        do_normalize (`bool`, *optional*, defaults to `True`):
            Normalise with ``image_mean`` and ``image_std``.
        image_mean (`tuple[float, ...]`, *optional*, defaults to `(0.5, 0.5, 0.5)`):
            The mean subtracted from each channel (1 or 3 values).
        image_std (`tuple[float, ...]`, *optional*, defaults to `(0.5, 0.5, 0.5)`):
            The std each channel is divided by (1 or 3 values, none 0).
        do_pad (`bool`, *optional*, defaults to `True`):
            Without boxes, pad the image with zeros to a centred square; `False` stretches it to ``size``.
        framing (`dict`, *optional*):
            How a face box is framed: ``{"box_fraction": f, "offset": [x, y]}``, the box's longer side
            as a fraction of the crop's side and the crop centre's offset from the box centre in box
            sides (see `face_crop_box`); defaults to how the reference model's training images frame
            faces (`DEFAULT_FRAMING`).
        ignore_index (`int`, *optional*, defaults to 255):
            The label of map pixels outside the image, which the SB's and LF's losses ignore
            (``semantic_loss_ignore_index``).
        do_detect_faces (`bool`, *optional*, defaults to `False`):
            Without boxes, find the faces with dlib's HOG detector (`detect_faces`) and give a row per
            face.
        detector_upsample (`int`, *optional*, defaults to 1):
            How many times the detector doubles the image first (finds smaller faces, slower).
        kwargs (*optional*):
            Passed to `transformers.BaseImageProcessor`.

    Example:

    ```python
    >>> import torch
    >>> from PIL import Image
    >>> from synthforge_hf.models.synthforge import (
    ...     SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
    ... )
    >>> model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
    >>> processor = SynthForgeImageProcessor(size=32)
    >>> photo = Image.new("RGB", (60, 40))
    >>> inputs = processor(photo, return_tensors="pt")  # padded to a centred 60 x 60 square
    >>> inputs["pixel_values"].shape, inputs["paddings"].tolist()
    (torch.Size([1, 3, 32, 32]), [[10, 0]])
    >>> with torch.no_grad():
    ...     outputs = model(inputs["pixel_values"])
    >>> processor.post_process_landmarks(outputs, inputs["original_sizes"])[0].shape  # photo pixels
    torch.Size([68, 2])
    >>> processor.post_process_semantic_segmentation(outputs, inputs["original_sizes"])[0].shape
    torch.Size([40, 60])
    >>> processor.save_pretrained("processor")
    ['...preprocessor_config.json']
    >>> SynthForgeImageProcessor.from_pretrained("processor").size
    {'height': 32, 'width': 32}

    ```
    """

    model_input_names = ["pixel_values"]
    valid_kwargs = SynthForgeImageProcessorKwargs

    def __init__(
        self,
        do_resize: bool = True,
        size: int | dict[str, int] | None = None,
        resample: int = PILImageResampling.BILINEAR,
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean=IMAGE_MEAN,
        image_std=IMAGE_STD,
        do_pad: bool = True,
        framing: dict | None = None,
        ignore_index: int = IGNORE_INDEX,
        do_detect_faces: bool = False,
        detector_upsample: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.do_resize = bool(do_resize)
        self.size = _size_dict(256 if size is None else size)
        self.resample = PILImageResampling(int(resample))
        self.do_rescale = bool(do_rescale)
        self.rescale_factor = float(rescale_factor)
        self.do_normalize = bool(do_normalize)
        self.image_mean = [float(v) for v in image_mean]
        self.image_std = [float(v) for v in image_std]
        self.do_pad = bool(do_pad)
        self.framing = _framing_dict(DEFAULT_FRAMING if framing is None else framing)
        self.ignore_index = _checked_ignore_index(ignore_index)
        self.do_detect_faces = bool(do_detect_faces)
        self.detector_upsample = int(detector_upsample)

    def _options(self, **overrides) -> dict:
        """The processor's settings with the non-None per-call ``overrides``, validated."""
        options = {name: getattr(self, name) for name in overrides}
        options.update({name: value for name, value in overrides.items() if value is not None})
        options["size"] = _size_dict(options["size"])
        options["framing"] = _framing_dict(options["framing"])
        options["resample"] = PILImageResampling(int(options["resample"]))
        options["ignore_index"] = _checked_ignore_index(options["ignore_index"])
        for name in ("image_mean", "image_std"):
            options[name] = np.asarray(options[name], dtype=np.float32).reshape(-1)
            if options[name].shape not in ((1,), (3,)):
                raise ValueError(f"{name} needs 1 or 3 values, got {options[name].tolist()}")
        if np.any(options["image_std"] == 0):
            raise ValueError("image_std must not contain zeros")
        return options

    def preprocess(
        self,
        images,
        boxes=None,
        segmentation_maps=None,
        landmarks=None,
        *,
        do_resize: bool | None = None,
        size: int | dict[str, int] | None = None,
        resample: int | None = None,
        do_rescale: bool | None = None,
        rescale_factor: float | None = None,
        do_normalize: bool | None = None,
        image_mean=None,
        image_std=None,
        do_pad: bool | None = None,
        framing: dict | None = None,
        ignore_index: int | None = None,
        do_detect_faces: bool | None = None,
        detector_upsample: int | None = None,
        input_data_format: str | ChannelDimension | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Model inputs of images: one row per image, or with ``boxes`` one row per face.

        ``segmentation_maps`` come back as ``labels``, each row's crop of its image's map (nearest;
        ``ignore_index`` outside the image), and ``landmarks`` in the rows' model-input pixels: the
        targets of fine-tuning on labelled photos. With ``do_detect_faces`` and no ``boxes`` the detected
        faces are the boxes (best first). The options after ``landmarks`` are keyword-only, and unknown
        keyword arguments are refused (`TypeError`). Calling the processor calls this.

        Args:
            images (`PIL.Image.Image`, `np.ndarray`, `torch.Tensor` or a list of them):
                The images: any size; RGB, grayscale or RGBA; channels-first or -last; a 4-D array or
                tensor is a batch.
            boxes (`list[list[tuple[float, float, float, float]]]`, *optional*):
                One list of (left, top, right, bottom) face boxes per image, in image pixels (the box of
                the face's 68 points, as `detect_faces` gives).
            segmentation_maps (`np.ndarray`, `torch.Tensor`, `PIL.Image.Image` or a list, *optional*):
                One (H,W) class-id map per image (a (B,H,W) array or tensor for a batch).
            landmarks (`np.ndarray` or a list, *optional*):
                Per image an (N,2) array of image pixels (centres at i + 0.5); with boxes one per face
                (a (B,N,2) array for a batch).
            do_resize, size, resample, do_rescale, rescale_factor, do_normalize, image_mean, image_std,
            do_pad, framing, ignore_index, do_detect_faces, detector_upsample (*optional*):
                Override the processor's settings of the same names (see the class docstring) for this
                call; None keeps the processor's.
            input_data_format (`str` or `ChannelDimension`, *optional*):
                Where numpy / torch images keep their channels: "channels_first" or "channels_last"
                (inferred when None).
            return_tensors (`str`, *optional*):
                "pt" for torch tensors; None (the default) for numpy arrays.

        Returns:
            `BatchFeature`: ``pixel_values`` (B,3,h,w) float32, ``original_sizes`` (B,2) (height, width)
            of each row's image, ``image_indices`` (B,) and ``affines`` (B,2,3) float64 from model-input
            pixels to image pixels; without boxes ``paddings`` (B,2) (top, left); rows made from boxes
            carry their ``boxes`` (B,4), detected ones their ``detection_scores`` (B,); with the targets
            ``labels`` (B,h,w) int64 and ``landmarks`` (B,N,2) float32. An image in which the detector
            finds no face gives no rows.

        Example:

        ```python
        >>> import numpy as np
        >>> from synthforge_hf.models.synthforge import SynthForgeImageProcessor
        >>> processor = SynthForgeImageProcessor(size=32)
        >>> image = np.zeros((40, 60, 3), np.uint8)
        >>> inputs = processor.preprocess(image, landmarks=np.array([[30.0, 20.0]]))
        >>> type(inputs["pixel_values"]).__name__, inputs["pixel_values"].shape, inputs["landmarks"]
        ('ndarray', (1, 3, 32, 32), array([[[16., 16.]]], dtype=float32))
        >>> labels = np.ones((40, 60), np.uint8)  # a class-id map
        >>> faces = processor(image, boxes=[[(10, 5, 30, 25), (35, 5, 55, 25)]], segmentation_maps=labels,
        ...                   return_tensors="pt")
        >>> faces["pixel_values"].shape, faces["labels"].shape, faces["image_indices"].tolist()
        (torch.Size([2, 3, 32, 32]), torch.Size([2, 32, 32]), [0, 0])
        >>> sorted(faces.keys())
        ['affines', 'boxes', 'image_indices', 'labels', 'original_sizes', 'pixel_values']

        ```
        """
        options = self._options(
            do_resize=do_resize,
            size=size,
            resample=resample,
            do_rescale=do_rescale,
            rescale_factor=rescale_factor,
            do_normalize=do_normalize,
            image_mean=image_mean,
            image_std=image_std,
            do_pad=do_pad,
            framing=framing,
            ignore_index=ignore_index,
            do_detect_faces=do_detect_faces,
            detector_upsample=detector_upsample,
        )
        channels = channel_dimension(input_data_format)
        images = image_list(images)
        count = len(images)
        detected = boxes is None and options["do_detect_faces"]
        scores = [None] * count
        if boxes is not None:
            face_boxes = checked_boxes(boxes, count)
        elif detected:
            found = self.detect_faces(
                images,
                rescale_factor=options["rescale_factor"],
                detector_upsample=options["detector_upsample"],
                input_data_format=channels,
            )
            face_boxes = [image_boxes for image_boxes, _ in found]
            scores = [image_scores for _, image_scores in found]
        else:
            face_boxes = [None] * count
        maps = [None] * count
        if segmentation_maps is not None:
            maps = per_image(segmentation_maps, count, "segmentation_maps")
        points = [None] * count if landmarks is None else per_image(landmarks, count, "landmarks")
        rows: dict[str, list] = defaultdict(list)
        for index, entries in enumerate(zip(images, face_boxes, maps, points, strict=True)):
            self._add_image_rows(rows, index, *entries, options, channels)
            if scores[index] is not None:
                rows["detection_scores"].extend(scores[index].astype(np.float32))
        data = _stacked(rows) if rows["pixel_values"] else _no_rows(options, detected)
        for name in ("original_sizes", "image_indices", "paddings"):
            if name in data:
                data[name] = data[name].astype(np.int64)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def detect_faces(
        self,
        images,
        *,
        rescale_factor: float | None = None,
        detector_upsample: int | None = None,
        input_data_format: str | ChannelDimension | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The faces dlib's HOG detector finds in each image, best first.

        The detector's boxes are mapped to the box of the face's 68 points (the landmark-box
        convention, see `face_detection.FaceDetector`), which is what ``boxes`` takes. Needs dlib
        (``pip install "synthforge-hf[detect]"``).

        Args:
            images (`PIL.Image.Image`, `np.ndarray`, `torch.Tensor` or a list of them):
                Any images `preprocess` reads.
            rescale_factor (`float`, *optional*):
                The rescaling of `preprocess`: float images, taken as already rescaled, are divided by it
                to get 8-bit values (default: the processor's ``rescale_factor``).
            detector_upsample (`int`, *optional*):
                How many times the detector doubles the image first (default: the processor's).
            input_data_format (`str` or `ChannelDimension`, *optional*):
                Where numpy / torch images keep their channels (inferred when None).

        Returns:
            `list[tuple[np.ndarray, np.ndarray]]`: per image, (N,4) float64 (left, top, right, bottom)
            boxes in image pixels and their (N,) scores.

        Example:

        ```python
        >>> import numpy as np
        >>> from synthforge_hf import SynthForgePipeline
        >>> from synthforge_hf.models.synthforge import SynthForgeImageProcessor
        >>> face = SynthForgePipeline.from_default_head()(seeds=[2], resolution=128).images[0]
        >>> processor = SynthForgeImageProcessor(size=64)
        >>> (boxes, scores), (nothing, _) = processor.detect_faces([face, np.zeros((64, 64, 3), np.uint8)])
        >>> boxes.shape, scores.shape, nothing.shape
        ((1, 4), (1,), (0, 4))
        >>> processor(face, boxes=[boxes])["pixel_values"].shape  # or do_detect_faces=True
        (1, 3, 64, 64)

        ```
        """
        factor = self.rescale_factor if rescale_factor is None else float(rescale_factor)
        upsample = self.detector_upsample if detector_upsample is None else int(detector_upsample)
        channels = channel_dimension(input_data_format)
        detector = _face_detector(upsample)
        found = []
        for image in image_list(images):
            faces = detector.detect(InputImage.read(image, channels).rgb8(factor))
            boxes = np.array([box for box, _ in faces], dtype=np.float64).reshape(-1, 4)
            found.append((boxes, np.array([score for _, score in faces], dtype=np.float64)))
        return found

    def _add_image_rows(
        self,
        rows: dict[str, list],
        index: int,
        image,
        boxes: np.ndarray | None,
        segmentation_map,
        landmarks,
        options: dict,
        channels: ChannelDimension | None,
    ) -> None:
        """Appends the rows of image ``index`` (one, or one per face box) to ``rows``."""
        rescale_factor = options["rescale_factor"] if options["do_rescale"] else None
        array = InputImage.read(image, channels, rescale_factor)
        height, width = array.shape[:2]
        if boxes is None:
            crop, padding = whole_image_crop(height, width, options["do_pad"])
            crops = [crop]
            rows["paddings"].append(padding)
        else:
            fraction, offset = options["framing"]["box_fraction"], options["framing"]["offset"]
            crops = [face_crop_box(box, fraction, offset) for box in boxes]
        labels = None if segmentation_map is None else checked_map(segmentation_map, (height, width), index)
        faces = None if boxes is None else len(boxes)
        points = None if landmarks is None else checked_points(landmarks, faces, index)
        for face, crop in enumerate(crops):
            output_size = _output_size(crop, options)
            affine = crop_to_image_affine(crop, output_size)
            rows["pixel_values"].append(self._crop_pixels(array, crop, output_size, options))
            rows["original_sizes"].append((height, width))
            rows["image_indices"].append(index)
            rows["affines"].append(affine)
            if boxes is not None:
                rows["boxes"].append(np.asarray(boxes[face], dtype=np.float32))
            if labels is not None:
                rows["labels"].append(resample_labels(labels, affine, output_size, options["ignore_index"]))
            if points is not None:
                rows["landmarks"].append(points_to_input(points[face], affine).astype(np.float32))

    @staticmethod
    def _crop_pixels(array: InputImage, crop, output_size: tuple[int, int], options: dict) -> np.ndarray:
        """(3,h,w) float32 model input of ``crop`` of the image ``array``."""
        pixels = resample_crop(array, crop, output_size, options["resample"])
        if options["do_normalize"]:
            pixels = (pixels - options["image_mean"]) / options["image_std"]
        return pixels.transpose(2, 0, 1).astype(np.float32)


def _no_rows(options: dict, detected: bool) -> dict[str, np.ndarray]:
    """The empty batch of images in which no face was found."""
    height, width = options["size"]["height"], options["size"]["width"]
    data = {
        "pixel_values": np.zeros((0, 3, height, width), np.float32),
        "original_sizes": np.zeros((0, 2), np.int64),
        "image_indices": np.zeros((0,), np.int64),
        "affines": np.zeros((0, 2, 3), np.float64),
        "boxes": np.zeros((0, 4), np.float32),
    }
    if detected:
        data["detection_scores"] = np.zeros((0,), np.float32)
    return data


def _output_size(crop, options: dict) -> tuple[int, int]:
    """The (height, width) a crop is resampled to: ``size``, or without ``do_resize`` the crop's own."""
    if options["do_resize"]:
        return options["size"]["height"], options["size"]["width"]
    return max(1, round(crop[3] - crop[1])), max(1, round(crop[2] - crop[0]))


def _checked_ignore_index(ignore_index) -> int:
    if not isinstance(ignore_index, (int, np.integer)) or isinstance(ignore_index, bool):
        raise ValueError(f"ignore_index must be an int class id, got {ignore_index!r}")
    return int(ignore_index)
