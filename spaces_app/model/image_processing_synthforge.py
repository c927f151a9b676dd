"""Image processor of the SynthForge models: a square crop of each input (the whole image padded to a
centred square, or each face box framed as the training data frame faces) resized, rescaled and
normalised; and the inverse maps of landmarks, segmentation and depth back into the input image.

Self-contained (nothing from synthforge_hf): `save_pretrained` copies this file into model folders,
which load with trust_remote_code=True where the package is not installed.
"""

from __future__ import annotations

import math

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature, get_size_dict
from transformers.image_utils import PILImageResampling
from transformers.processing_utils import ImagesKwargs

IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
# How the reference model's training images frame faces (spaces_app/model/figures.json, rounded).
DEFAULT_FRAMING = {"box_fraction": 0.5486, "offset": [0.0034, -0.1678]}
WIDEST_FILTER = 3  # source pixels each side of a sample that a PIL filter reads (Lanczos), per unit of shrink


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


def _to_rgb_array(image, do_rescale: bool, rescale_factor: float) -> np.ndarray:
    """(H,W,3) float32; integer images (PIL, uint8) are multiplied by ``rescale_factor`` when
    ``do_rescale``, float images are taken as already rescaled."""
    array = np.asarray(image.convert("RGB") if isinstance(image, PIL.Image.Image) else image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"expected an (H,W), (H,W,3) or (H,W,4) image, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"empty image of shape {array.shape}")
    integer = np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_
    array = array[..., :3].astype(np.float32)
    return array * np.float32(rescale_factor) if do_rescale and integer else array


class SynthForgeImageProcessorKwargs(ImagesKwargs, total=False):
    """`ImagesKwargs` and the face framing used with ``boxes``."""

    framing: dict


class SynthForgeImageProcessor(BaseImageProcessor):
    """Prepares images for `SynthForgeForFaceAnalysis` and maps its outputs back.

    Without ``boxes``, an image (any size; RGB, grayscale or RGBA) is padded with zeros to a centred
    square; with ``boxes``, each face box gives a square crop framed as ``framing`` says (see
    `face_crop_box`). Each square is resized to ``size`` with ``resample``, multiplied by
    ``rescale_factor`` and normalised with ``image_mean`` / ``image_std`` (each step switchable, as in
    transformers' processors). Every row of the batch comes with the (height, width) of its image
    (``original_sizes``), the index of its image (``image_indices``) and the 2x3 affine from model-input
    pixels to image pixels (``affines``; pixel centres at i + 0.5); without boxes also ``paddings``
    (top, left). The ``post_process_*`` methods take these to map predictions back into the image.
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
        framing: dict | None = None,
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
        self.framing = _framing_dict(DEFAULT_FRAMING if framing is None else framing)

    def _options(self, **overrides) -> dict:
        """The processor's settings with the non-None per-call ``overrides``, validated."""
        options = {name: getattr(self, name) for name in overrides}
        options.update({name: value for name, value in overrides.items() if value is not None})
        options["size"] = _size_dict(options["size"])
        options["framing"] = _framing_dict(options["framing"])
        options["resample"] = PILImageResampling(int(options["resample"]))
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
        do_resize: bool | None = None,
        size: int | dict[str, int] | None = None,
        resample: int | None = None,
        do_rescale: bool | None = None,
        rescale_factor: float | None = None,
        do_normalize: bool | None = None,
        image_mean=None,
        image_std=None,
        framing: dict | None = None,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        """One row per image, or with ``boxes`` (one list of (left, top, right, bottom) face boxes per
        image) one row per face. Other arguments override the processor's settings for this call."""
        options = self._options(
            do_resize=do_resize,
            size=size,
            resample=resample,
            do_rescale=do_rescale,
            rescale_factor=rescale_factor,
            do_normalize=do_normalize,
            image_mean=image_mean,
            image_std=image_std,
            framing=framing,
        )
        images = list(images) if isinstance(images, (list, tuple)) else [images]
        face_boxes = None if boxes is None else _checked_boxes(boxes, len(images))
        rows: dict[str, list] = {"pixel_values": [], "original_sizes": [], "image_indices": [], "affines": []}
        paddings = []
        for index, image in enumerate(images):
            array = _to_rgb_array(image, options["do_rescale"], options["rescale_factor"])
            height, width = array.shape[:2]
            if face_boxes is None:
                side = max(height, width)
                top, left = (side - height) // 2, (side - width) // 2
                paddings.append((top, left))
                crops = [np.array([-left, -top, side - left, side - top], dtype=np.float64)]
            else:
                fraction, offset = options["framing"]["box_fraction"], options["framing"]["offset"]
                crops = [face_crop_box(box, fraction, offset) for box in face_boxes[index]]
            for crop in crops:
                if options["do_resize"]:
                    output_size = (options["size"]["height"], options["size"]["width"])
                else:
                    output_size = (max(1, round(crop[3] - crop[1])), max(1, round(crop[2] - crop[0])))
                pixels = resample_crop(array, crop, output_size, options["resample"])
                if options["do_normalize"]:
                    pixels = (pixels - options["image_mean"]) / options["image_std"]
                rows["pixel_values"].append(pixels.transpose(2, 0, 1).astype(np.float32))
                rows["original_sizes"].append((height, width))
                rows["image_indices"].append(index)
                rows["affines"].append(crop_to_image_affine(crop, output_size))
        shapes = {p.shape for p in rows["pixel_values"]}
        if len(shapes) > 1:
            raise ValueError(
                f"crops of different sizes {sorted(shapes)} cannot be batched: use do_resize=True"
            )
        data = {name: np.stack(values) for name, values in rows.items()}
        data["original_sizes"] = data["original_sizes"].astype(np.int64)
        data["image_indices"] = data["image_indices"].astype(np.int64)
        if face_boxes is None:
            data["paddings"] = np.array(paddings, dtype=np.int64)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _to_image_affines(self, count, target_sizes, paddings, affines, input_size) -> torch.Tensor | None:
        """(count,2,3) float64 affines from model-input pixels (``input_size`` (height, width)) to image
        pixels: ``affines`` as given, else from ``target_sizes`` and ``paddings`` (default: the centred
        padding `preprocess` gives an image of that size); None when neither is given."""
        if affines is not None:
            affines = torch.as_tensor(np.asarray(affines, dtype=np.float64))
            if affines.shape != (count, 2, 3):
                raise ValueError(f"affines must have shape ({count}, 2, 3), got {tuple(affines.shape)}")
            return affines
        if target_sizes is None:
            return None
        sizes = _checked_sizes(target_sizes, count)
        side = sizes.max(dim=1).values
        if paddings is None:
            pads = (side[:, None] - sizes) // 2
        else:
            pads = torch.as_tensor(np.asarray(paddings, dtype=np.int64))
            if pads.shape != (count, 2):
                raise ValueError(f"paddings must have shape ({count}, 2), got {tuple(pads.shape)}")
        result = torch.zeros(count, 2, 3, dtype=torch.float64)
        result[:, 0, 0] = side / input_size[1]
        result[:, 1, 1] = side / input_size[0]
        result[:, :, 2] = -pads.flip(-1).double()
        return result

    def post_process_landmarks(
        self, outputs, target_sizes=None, paddings=None, affines=None
    ) -> list[torch.Tensor]:
        """Landmarks (K,2) of each row in image pixels (centres at i + 0.5): through ``affines`` from
        `preprocess`, or through the padding of images of ``target_sizes`` (height, width) (``paddings``
        or the centred default; model inputs of the processor's ``size``); unmapped if neither is given."""
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
        or through the padding (``paddings`` or the centred default, as transformers' image-segmentation
        pipeline needs); at the model's resolution when ``target_sizes`` is None."""
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
