"""Reading the images, boxes, maps and landmarks that the image processor is given.

An image is read as it is given (a PIL image upright as its EXIF orientation says, as a photo viewer
shows it; numpy arrays and torch tensors channels-first or -last), without a float copy of the whole
image: `InputImage.region` converts only the part a crop reads.

Self-contained (nothing from synthforge_hf): `save_pretrained` copies it into model folders with the
image processor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
from transformers.image_utils import ChannelDimension, infer_channel_dimension_format

SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")  # PIL modes of 16-bit greyscale files
EXIF_ORIENTATION = 0x0112  # the EXIF tag of how a camera held the picture; 1 = upright


def upright(image: PIL.Image.Image) -> PIL.Image.Image:
    """``image`` turned and flipped as its EXIF orientation says (phones store photos sideways with a
    tag); the image itself when it has no such tag."""
    if image.getexif().get(EXIF_ORIENTATION, 1) == 1:
        return image
    return PIL.ImageOps.exif_transpose(image)


def as_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def is_batch_array(value) -> bool:
    return isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 4


def image_list(images) -> list:
    """A list, tuple or (N,C,H,W) / (N,H,W,C) array or tensor -> its images; anything else is one image."""
    return list(images) if isinstance(images, (list, tuple)) or is_batch_array(images) else [images]


def per_image(values, count: int, name: str) -> list:
    """One entry per image of ``values`` (a list, or an array whose first axis is the image; a lone
    (H,W) map or (N,2) array is the one image's entry)."""
    single = isinstance(values, PIL.Image.Image) or (
        isinstance(values, (np.ndarray, torch.Tensor)) and values.ndim == 2
    )
    entries = [values] if single else list(values)
    if len(entries) != count:
        raise ValueError(f"{name} needs one entry per image: {len(entries)} for {count}")
    return entries


def channel_dimension(input_data_format) -> ChannelDimension | None:
    if input_data_format is None:
        return None
    try:
        return ChannelDimension(input_data_format)
    except ValueError as err:
        raise ValueError(
            f"input_data_format must be 'channels_first', 'channels_last' or None, got {input_data_format!r}"
        ) from err


def channels_last(array: np.ndarray, input_data_format: ChannelDimension | None) -> np.ndarray:
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


@dataclass
class InputImage:
    """An image as given: (H,W,C) values (C = 1, 3 or 4; the array given, not a copy, where it can be),
    whether they are 16-bit (brought to the 8-bit scale, divided by 257: 65535 -> 255, where PIL's own
    conversion would clip them to white), whether they are integers, and the factor integer values are
    multiplied by (``do_rescale``; None: none; float values are taken as already rescaled)."""

    values: np.ndarray
    sixteen_bit: bool
    integer: bool
    rescale_factor: float | None = None

    @classmethod
    def read(
        cls, image, input_data_format: ChannelDimension | None = None, rescale_factor: float | None = None
    ) -> InputImage:
        """A PIL image (upright, see `upright`; any mode) or a numpy array / torch tensor."""
        if isinstance(image, PIL.Image.Image):
            image = upright(image)
            sixteen_bit = image.mode in SIXTEEN_BIT_MODES
            values = np.asarray(image)[..., None] if sixteen_bit else np.asarray(image.convert("RGB"))
        else:
            values = channels_last(as_numpy(image), input_data_format)
            sixteen_bit = values.dtype == np.uint16
        if values.shape[-1] not in (1, 3, 4):
            raise ValueError(f"expected a grayscale, RGB or RGBA image, got shape {values.shape}")
        if values.shape[0] == 0 or values.shape[1] == 0:
            raise ValueError(f"empty image of shape {values.shape}")
        integer = np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_
        return cls(values, sixteen_bit, integer, rescale_factor)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, 3): the RGB image it reads as."""
        return (*self.values.shape[:2], 3)

    def region(self, rows: slice, columns: slice) -> np.ndarray:
        """(h,w,3) float32 RGB of the given rows and columns, rescaled (what `resample_crop` reads)."""
        part = self.values[rows, columns]
        if part.shape[-1] == 1:
            part = np.repeat(part, 3, axis=-1)
        part = part[..., :3].astype(np.float32)
        if self.sixteen_bit:
            part /= np.float32(257)
        if self.rescale_factor is not None and self.integer:
            part = part * np.float32(self.rescale_factor)
        return part

    def rgb8(self, rescale_factor: float) -> np.ndarray:
        """(H,W,3) uint8 of the image as `preprocess` reads it (float images were rescaled by
        ``rescale_factor``): what the face detector sees. 8-bit RGB is the values themselves."""
        if self.values.dtype == np.uint8 and self.values.shape[-1] == 3:
            return np.ascontiguousarray(self.values)
        rgb = replace(self, rescale_factor=None).region(slice(None), slice(None))
        rgb = rgb if self.integer else rgb / np.float32(rescale_factor)
        return np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def checked_boxes(boxes, count: int) -> list[np.ndarray]:
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


def checked_map(entry, image_size: tuple[int, int], index: int) -> np.ndarray:
    """One image's segmentation map (PIL, numpy or torch) as (H,W) int64 class ids."""
    labels = np.asarray(upright(entry)) if isinstance(entry, PIL.Image.Image) else as_numpy(entry)
    if labels.shape != image_size:
        raise ValueError(
            f"segmentation_maps[{index}] must be an (H,W) map of its image's size {image_size}, "
            f"got shape {labels.shape}"
        )
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise ValueError(f"segmentation_maps[{index}] must hold integer class ids, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def checked_points(entry, faces: int | None, index: int) -> np.ndarray:
    """One image's landmarks as (rows, N, 2) float64: an (N,2) array, or with ``faces`` boxes one (N,2)
    array per box (an (N,2) array alone when there is one box)."""
    expected = "an (N,2) point array" if faces is None else f"{faces} (N,2) point arrays, one per face box"
    try:
        points = np.asarray(as_numpy(entry), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"landmarks[{index}] must be {expected}") from err
    points = points[None] if points.ndim == 2 else points
    if points.ndim != 3 or points.shape[0] != (faces or 1) or points.shape[2] != 2:
        raise ValueError(f"landmarks[{index}] must be {expected}, got shape {points.shape}")
    return points
