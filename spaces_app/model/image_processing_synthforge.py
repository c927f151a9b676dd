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
import PIL.Image
import torch
import torch.nn.functional as F
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature, get_size_dict
from transformers.image_utils import ChannelDimension, PILImageResampling, infer_channel_dimension_format
from transformers.processing_utils import ImagesKwargs

from .face_detection import SIXTEEN_BIT_MODES, FaceDetector

IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
# How the reference model's training images frame faces (spaces_app/model/figures.json, rounded).
DEFAULT_FRAMING = {"box_fraction": 0.5486, "offset": [0.0034, -0.1678]}
WIDEST_FILTER = 3  # source pixels each side of a sample that a PIL filter reads (Lanczos), per unit of shrink
IGNORE_INDEX = 255  # the label of map pixels outside the image, as transformers' segmentation losses ignore


def normalize_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) in [0,1] -> the model's input normalisation (what `preprocess` does after resizing)."""
    mean = torch.tensor(IMAGE_MEAN, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    std = torch.tensor(IMAGE_STD, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    return (pixels - mean) / std


def face_crop_box(box, box_fraction: float, offset) -> np.ndarray:
    """The square crop ``(left, top, right, bottom)`` (float pixels) that frames the face ``box``
    ``(left, top, right, bottom)``: the box's longer side is ``box_fraction`` of the crop's side, and the
    crop's centre is the box's centre plus ``offset`` (x, y) in units of the box's longer side."""
    left, top, right, bottom = _checked_box(box)
    size = max(right - left, bottom - top)
    centre = np.array([(left + right) / 2, (top + bottom) / 2]) + np.asarray(offset, dtype=np.float64) * size
    half = size / box_fraction / 2
    return np.concatenate([centre - half, centre + half])


def crop_to_image_affine(crop, output_size: tuple[int, int]) -> np.ndarray:
    """The 2x3 affine from the pixels of ``crop`` resampled to ``output_size`` (height, width) to the
    image's pixels (pixel centres at i + 0.5 on both sides): ``points @ A[:, :2].T + A[:, 2]``."""
    left, top, right, bottom = (float(v) for v in crop)
    height, width = output_size
    return np.array([[(right - left) / width, 0.0, left], [0.0, (bottom - top) / height, top]])


def resample_crop(
    image: np.ndarray, crop, output_size: tuple[int, int], resample=PILImageResampling.BILINEAR
) -> np.ndarray:
    """The ``crop`` ``(left, top, right, bottom)`` (float pixels; outside the image: zeros) of an (H,W,C)
    float image, resampled to ``output_size`` (height, width) by a PIL filter (antialiased when shrinking).

    Only the crop and what the filter reaches around it are read, and never zeros beyond both the crop
    and the image, so the whole image padded to a square reads exactly the padded square."""
    height, width = image.shape[:2]
    left, top, right, bottom = (float(v) for v in crop)
    out_height, out_width = output_size
    margin = math.ceil(WIDEST_FILTER * max((right - left) / out_width, (bottom - top) / out_height, 1.0)) + 1
    x0 = max(math.floor(left) - margin, min(math.floor(left), 0))
    y0 = max(math.floor(top) - margin, min(math.floor(top), 0))
    x1 = min(math.ceil(right) + margin, max(math.ceil(right), width))
    y1 = min(math.ceil(bottom) + margin, max(math.ceil(bottom), height))
    window = np.zeros((y1 - y0, x1 - x0, image.shape[2]), dtype=np.float32)
    inner = (slice(max(y0, 0), min(y1, height)), slice(max(x0, 0), min(x1, width)))
    window[inner[0].start - y0 : inner[0].stop - y0, inner[1].start - x0 : inner[1].stop - x0] = image[inner]
    box = (left - x0, top - y0, right - x0, bottom - y0)
    channels = [
        PIL.Image.fromarray(np.ascontiguousarray(window[..., c])).resize(
            (out_width, out_height), PIL.Image.Resampling(int(resample)), box=box
        )
        for c in range(window.shape[2])
    ]
    return np.stack([np.asarray(c) for c in channels], axis=-1)


def resample_labels(
    labels: np.ndarray, affine: np.ndarray, output_size: tuple[int, int], fill: int
) -> np.ndarray:
    """The (H,W) class-id map ``labels`` of an image sampled at the pixel centres of a model input of
    ``output_size`` (height, width) whose axis-aligned 2x3 ``affine`` maps it to the image (nearest: the
    image pixel each centre falls in); ``fill`` where a centre falls outside the image."""
    columns = np.floor((np.arange(output_size[1]) + 0.5) * affine[0, 0] + affine[0, 2]).astype(np.int64)
    rows = np.floor((np.arange(output_size[0]) + 0.5) * affine[1, 1] + affine[1, 2]).astype(np.int64)
    inside_columns = (columns >= 0) & (columns < labels.shape[1])
    inside_rows = (rows >= 0) & (rows < labels.shape[0])
    result = np.full(output_size, fill, dtype=np.int64)
    result[np.ix_(inside_rows, inside_columns)] = labels[np.ix_(rows[inside_rows], columns[inside_columns])]
    return result


def points_to_input(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(N,2) image pixels -> the model-input pixels of ``affine`` (its inverse; centres at i + 0.5)."""
    return (np.asarray(points, dtype=np.float64) - affine[:, 2]) @ np.linalg.inv(affine[:, :2]).T


def _checked_box(box) -> tuple[float, float, float, float]:
    values = np.asarray(box, dtype=np.float64)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise ValueError(f"a face box is (left, top, right, bottom) in finite pixels, got {box!r}")
    left, top, right, bottom = (float(v) for v in values)
    if right <= left or bottom <= top:
        raise ValueError(f"degenerate face box {box!r}: it needs right > left and bottom > top")
    return left, top, right, bottom


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


def _checked_boxes(boxes, count: int) -> list[np.ndarray]:
    if len(boxes) != count:
        raise ValueError(f"boxes needs one entry (a list of face boxes) per image: {len(boxes)} for {count}")
    checked = []
    for index, entry in enumerate(boxes):
        try:
            array = np.asarray(entry, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"boxes[{index}] is not a list of (left, top, right, bottom) boxes") from err
        array = array[None] if array.ndim == 1 else array
        if array.ndim != 2 or array.shape[1] != 4 or len(array) == 0:
            raise ValueError(
                f"boxes[{index}] must be one or more (left, top, right, bottom) boxes; shape {array.shape}"
            )
        checked.append(array)
    return checked


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _is_batch_array(value) -> bool:
    return isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 4


def _image_list(images) -> list:
    """A list, tuple or (N,C,H,W) / (N,H,W,C) array or tensor -> its images; anything else is one image."""
    return list(images) if isinstance(images, (list, tuple)) or _is_batch_array(images) else [images]


def _per_image(values, count: int, name: str) -> list:
    """One entry per image of ``values`` (a list, or an array whose first axis is the image; a lone
    (H,W) map or (N,2) array is the one image's entry)."""
    single = isinstance(values, PIL.Image.Image) or (
        isinstance(values, (np.ndarray, torch.Tensor)) and values.ndim == 2
    )
    entries = [values] if single else list(values)
    if len(entries) != count:
        raise ValueError(f"{name} needs one entry per image: {len(entries)} for {count}")
    return entries


def _channel_dimension(input_data_format) -> ChannelDimension | None:
    if input_data_format is None:
        return None
    try:
        return ChannelDimension(input_data_format)
    except ValueError as err:
        raise ValueError(
            f"input_data_format must be 'channels_first', 'channels_last' or None, got {input_data_format!r}"
        ) from err


def _channels_last(array: np.ndarray, input_data_format: ChannelDimension | None) -> np.ndarray:
    """(H,W), (C,H,W) or (H,W,C) -> (H,W,C): channels where ``input_data_format`` says, else inferred
    as transformers does (1 or 3 channels, first when both ends could be; 4 last: RGBA)."""
    if array.ndim == 2:
        return array[..., None]
    if array.ndim != 3:
        raise ValueError(f"expected an (H,W), (C,H,W) or (H,W,C) image, got shape {array.shape}")
    if input_data_format is None:
        try:
            input_data_format = infer_channel_dimension_format(array)
        except ValueError:
            input_data_format = ChannelDimension.LAST if array.shape[-1] == 4 else None
    if input_data_format is None:
        raise ValueError(f"cannot tell the channels of an image of shape {array.shape}: 1, 3 or 4 expected")
    return np.moveaxis(array, 0, -1) if input_data_format == ChannelDimension.FIRST else array


def _to_rgb_array(
    image, do_rescale: bool, rescale_factor: float, input_data_format: ChannelDimension | None = None
) -> np.ndarray:
    """(H,W,3) float32 of a PIL image or a numpy array / torch tensor (see `_rgb_values`); integer
    images are multiplied by ``rescale_factor`` when ``do_rescale``, float images are taken as already
    rescaled."""
    array, integer = _rgb_values(image, input_data_format)
    return array * np.float32(rescale_factor) if do_rescale and integer else array


def _to_rgb8(image, rescale_factor: float, input_data_format: ChannelDimension | None = None) -> np.ndarray:
    """(H,W,3) uint8 of an image as `preprocess` reads it (float images were rescaled by
    ``rescale_factor``): what the face detector sees."""
    array, integer = _rgb_values(image, input_data_format)
    array = array if integer else array / np.float32(rescale_factor)
    return np.ascontiguousarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


def _rgb_values(image, input_data_format: ChannelDimension | None) -> tuple[np.ndarray, bool]:
    """(H,W,3) float32 values of a PIL image or a numpy array / torch tensor (see `_channels_last`), and
    whether they came from integers. 16-bit images (PIL modes I and I;16, uint16 arrays) are brought to
    the 8-bit scale (divided by 257: 65535 -> 255), where PIL's own conversion would clip them to white."""
    if isinstance(image, PIL.Image.Image):
        sixteen_bit = image.mode in SIXTEEN_BIT_MODES
        array = np.asarray(image)[..., None] if sixteen_bit else np.asarray(image.convert("RGB"))
    else:
        array = _channels_last(_numpy(image), input_data_format)
        sixteen_bit = array.dtype == np.uint16
    if array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected a grayscale, RGB or RGBA image, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"empty image of shape {array.shape}")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    integer = np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_
    array = array[..., :3].astype(np.float32)
    if sixteen_bit:
        array /= np.float32(257)
    return array, integer


def _checked_map(entry, image_size: tuple[int, int], index: int) -> np.ndarray:
    """One image's segmentation map (PIL, numpy or torch) as (H,W) int64 class ids."""
    labels = np.asarray(entry) if isinstance(entry, PIL.Image.Image) else _numpy(entry)
    if labels.shape != image_size:
        raise ValueError(
            f"segmentation_maps[{index}] must be an (H,W) map of its image's size {image_size}, "
            f"got shape {labels.shape}"
        )
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise ValueError(f"segmentation_maps[{index}] must hold integer class ids, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def _checked_points(entry, faces: int | None, index: int) -> np.ndarray:
    """One image's landmarks as (rows, N, 2) float64: an (N,2) array, or with ``faces`` boxes one (N,2)
    array per box (an (N,2) array alone when there is one box)."""
    expected = "an (N,2) point array" if faces is None else f"{faces} (N,2) point arrays, one per face box"
    try:
        points = np.asarray(_numpy(entry), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"landmarks[{index}] must be {expected}") from err
    points = points[None] if points.ndim == 2 else points
    if points.ndim != 3 or points.shape[0] != (faces or 1) or points.shape[2] != 2:
        raise ValueError(f"landmarks[{index}] must be {expected}, got shape {points.shape}")
    return points


def _whole_image_crop(height: int, width: int, do_pad: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """The crop (left, top, right, bottom) of the whole image, padded to a centred square when
    ``do_pad``, and its (top, left) padding."""
    side_y, side_x = (max(height, width),) * 2 if do_pad else (height, width)
    top, left = (side_y - height) // 2, (side_x - width) // 2
    return np.array([-left, -top, side_x - left, side_y - top], dtype=np.float64), (top, left)


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


class SynthForgeImageProcessor(BaseImageProcessor):
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
    pixels. The ``post_process_*`` methods map predictions back into the image.
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
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        """One row per image, or with ``boxes`` (one list of (left, top, right, bottom) face boxes per
        image) one row per face. ``segmentation_maps`` (one (H,W) class-id map per image) come back as
        ``labels`` (B,H,W), each row's crop of its image's map (nearest; ``ignore_index`` outside the
        image); ``landmarks`` (per image an (N,2) array of image pixels, centres at i + 0.5; with boxes
        one per face) as ``landmarks`` (B,N,2) in the rows' model-input pixels. With ``do_detect_faces``
        and no ``boxes`` the detected faces are the boxes (best first) and ``detection_scores`` (B,) come
        with them; rows made from boxes carry their ``boxes`` (B,4). ``input_data_format`` says where
        numpy / torch images keep their channels (inferred when None). Other arguments override the
        processor's settings for this call."""
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
        channels = _channel_dimension(input_data_format)
        images = _image_list(images)
        count = len(images)
        detected = boxes is None and options["do_detect_faces"]
        scores = [None] * count
        if boxes is not None:
            face_boxes = _checked_boxes(boxes, count)
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
            maps = _per_image(segmentation_maps, count, "segmentation_maps")
        points = [None] * count if landmarks is None else _per_image(landmarks, count, "landmarks")
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
        """Per image (any image `preprocess` reads), the faces dlib's HOG detector finds, best first:
        (N,4) (left, top, right, bottom) boxes in image pixels (landmark-box convention, what ``boxes``
        takes) and their (N,) scores. Needs dlib (``pip install "synthforge-hf[detect]"``)."""
        factor = self.rescale_factor if rescale_factor is None else float(rescale_factor)
        upsample = self.detector_upsample if detector_upsample is None else int(detector_upsample)
        channels = _channel_dimension(input_data_format)
        detector = _face_detector(upsample)
        found = []
        for image in _image_list(images):
            faces = detector.detect(_to_rgb8(image, factor, channels))
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
        array = _to_rgb_array(image, options["do_rescale"], options["rescale_factor"], channels)
        height, width = array.shape[:2]
        if boxes is None:
            crop, padding = _whole_image_crop(height, width, options["do_pad"])
            crops = [crop]
            rows["paddings"].append(padding)
        else:
            fraction, offset = options["framing"]["box_fraction"], options["framing"]["offset"]
            crops = [face_crop_box(box, fraction, offset) for box in boxes]
        labels = None if segmentation_map is None else _checked_map(segmentation_map, (height, width), index)
        faces = None if boxes is None else len(boxes)
        points = None if landmarks is None else _checked_points(landmarks, faces, index)
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
    def _crop_pixels(array: np.ndarray, crop, output_size: tuple[int, int], options: dict) -> np.ndarray:
        """(3,h,w) float32 model input of ``crop`` of the (H,W,3) image ``array``."""
        pixels = resample_crop(array, crop, output_size, options["resample"])
        if options["do_normalize"]:
            pixels = (pixels - options["image_mean"]) / options["image_std"]
        return pixels.transpose(2, 0, 1).astype(np.float32)

    def _to_image_affines(self, count, target_sizes, paddings, affines, input_size) -> torch.Tensor | None:
        """(count,2,3) float64 affines from model-input pixels (``input_size`` (height, width)) to image
        pixels: ``affines`` as given, else from ``target_sizes`` and ``paddings`` (default: the centred
        padding `preprocess` gives an image of that size, or with the processor's ``do_pad`` False the
        whole image stretched); None when neither is given."""
        if affines is not None:
            affines = torch.as_tensor(np.asarray(affines, dtype=np.float64))
            if affines.shape != (count, 2, 3):
                raise ValueError(f"affines must have shape ({count}, 2, 3), got {tuple(affines.shape)}")
            return affines
        if target_sizes is None:
            return None
        sizes = _checked_sizes(target_sizes, count)
        extent = sizes.max(dim=1, keepdim=True).values.expand(-1, 2) if self.do_pad else sizes
        if paddings is None:
            pads = (extent - sizes) // 2
        else:
            pads = torch.as_tensor(np.asarray(paddings, dtype=np.int64))
            if pads.shape != (count, 2):
                raise ValueError(f"paddings must have shape ({count}, 2), got {tuple(pads.shape)}")
        result = torch.zeros(count, 2, 3, dtype=torch.float64)
        result[:, 0, 0] = extent[:, 1] / input_size[1]
        result[:, 1, 1] = extent[:, 0] / input_size[0]
        result[:, :, 2] = -pads.flip(-1).double()
        return result

    def post_process_landmarks(
        self, outputs, target_sizes=None, paddings=None, affines=None
    ) -> list[torch.Tensor]:
        """Landmarks (K,2) of each row in image pixels (centres at i + 0.5): through ``affines`` from
        `preprocess`, or through the padding of images of ``target_sizes`` (height, width) (``paddings``
        or the centred default; the stretch when the processor's ``do_pad`` is False; model inputs of the
        processor's ``size``); unmapped if neither is given."""
        points = outputs.landmarks
        input_size = (self.size["height"], self.size["width"])
        transforms = self._to_image_affines(len(points), target_sizes, paddings, affines, input_size)
        if transforms is None:
            return list(points)
        return [
            (p.double() @ a[:, :2].T.to(p.device) + a[:, 2].to(p.device)).to(p.dtype)
            for p, a in zip(points, transforms, strict=True)
        ]

    def _maps_to_images(
        self, maps, target_sizes, paddings, affines
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(C,h,w) maps covering the model inputs -> (C,H,W) maps of each row's image and the mask of the
        pixels they cover; the maps themselves (all covered) when neither sizes nor affines are given."""
        if target_sizes is None:
            if affines is not None:
                raise ValueError(
                    "mapping through affines needs target_sizes: the (height, width) of each image"
                )
            return [(m, torch.ones(m.shape[-2:], dtype=torch.bool, device=m.device)) for m in maps]
        sizes = _checked_sizes(target_sizes, len(maps)).tolist()
        transforms = self._to_image_affines(len(maps), target_sizes, paddings, affines, maps.shape[-2:])
        return [_warp_to_image(m, a, s) for m, a, s in zip(maps, transforms, sizes, strict=True)]

    def post_process_semantic_segmentation(
        self, outputs, target_sizes=None, paddings=None, affines=None
    ) -> list[torch.Tensor]:
        """Class-id maps (H,W), one per row, from the logits resampled before the argmax: in the image of
        ``target_sizes`` (height, width) through ``affines`` (class 0, background, outside a face's crop)
        or through the padding (``paddings`` or the centred default, or the stretch when ``do_pad`` is
        False, as transformers' image-segmentation pipeline needs); at the model's resolution when
        ``target_sizes`` is None."""
        maps = self._maps_to_images(outputs.logits, target_sizes, paddings, affines)
        return [torch.where(inside, logits.argmax(dim=0), 0) for logits, inside in maps]

    def post_process_depth_estimation(
        self, outputs, target_sizes=None, paddings=None, affines=None
    ) -> list[dict[str, torch.Tensor]]:
        """``{"predicted_depth": (H,W)}`` per row from ``outputs.depth``, mapped as in
        `post_process_semantic_segmentation` (0, no depth, outside a face's crop); the dicts of
        transformers' depth-estimation pipeline."""
        maps = self._maps_to_images(outputs.depth[:, None], target_sizes, paddings, affines)
        return [{"predicted_depth": depth[0] * inside} for depth, inside in maps]


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


def _checked_sizes(target_sizes, count: int) -> torch.Tensor:
    sizes = torch.as_tensor(np.asarray(target_sizes, dtype=np.int64))
    if sizes.shape != (count, 2) or bool((sizes <= 0).any()):
        raise ValueError(f"target_sizes must be {count} positive (height, width) pairs, got {target_sizes!r}")
    return sizes


def _warp_to_image(maps: torch.Tensor, affine: torch.Tensor, image_size) -> tuple[torch.Tensor, torch.Tensor]:
    """(C,h,w) maps on the model-input pixels -> (C,H,W) on the image's pixels (bilinear; zeros where the
    input does not reach) and the (H,W) mask of the pixels whose centres the input covers."""
    height, width = image_size
    channels, h, w = maps.shape
    linear, shift = affine[:, :2], affine[:, 2]
    corners = torch.tensor([[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]], dtype=torch.float64) @ linear.T + shift
    (x_low, y_low), (x_high, y_high) = corners.min(0).values.tolist(), corners.max(0).values.tolist()
    x0, x1 = (min(max(v, 0), width) for v in (math.floor(x_low), math.ceil(x_high)))
    y0, y1 = (min(max(v, 0), height) for v in (math.floor(y_low), math.ceil(y_high)))
    image = maps.new_zeros(channels, height, width)
    inside = torch.zeros(height, width, dtype=torch.bool, device=maps.device)
    if x1 <= x0 or y1 <= y0:
        return image, inside
    ys, xs = torch.meshgrid(
        torch.arange(y0, y1, dtype=torch.float64) + 0.5,
        torch.arange(x0, x1, dtype=torch.float64) + 0.5,
        indexing="ij",
    )
    uv = (torch.stack([xs, ys], dim=-1) - shift) @ torch.linalg.inv(linear).T  # model-input pixels
    covered = (uv[..., 0] >= 0) & (uv[..., 0] <= w) & (uv[..., 1] >= 0) & (uv[..., 1] <= h)
    grid = torch.stack([2 * uv[..., 0] / w - 1, 2 * uv[..., 1] / h - 1], dim=-1).to(maps)
    sampled = F.grid_sample(
        maps[None], grid[None], mode="bilinear", padding_mode="border", align_corners=False
    )[0]
    covered = covered.to(maps.device)
    image[:, y0:y1, x0:x1] = sampled * covered
    inside[y0:y1, x0:x1] = covered
    return image, inside
