"""The geometry between an image and the model's square inputs: which crop frames a face, the affine
from model-input pixels to image pixels, resampling a crop out of an image, and mapping the model's
maps back onto the part of the image a crop covers.

Pixel centres sit at i + 0.5 on both sides. Nothing here builds an array the size of the whole image:
a crop reads only its window of the image, and maps come back over the window their crop covers, so
memory follows the faces, not the photo.

Self-contained (nothing from synthforge_hf): `save_pretrained` copies it into model folders with the
image processor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from transformers.image_utils import PILImageResampling

WIDEST_FILTER = 3  # source pixels each side of a sample that a PIL filter reads (Lanczos), per unit of shrink
BAND_ELEMENTS = 1 << 22  # map values resampled at a time when mapping back (rows of the window per pass)


def face_crop_box(box, box_fraction: float, offset) -> np.ndarray:
    """The square crop ``(left, top, right, bottom)`` (float pixels) that frames the face ``box``
    ``(left, top, right, bottom)``: the box's longer side is ``box_fraction`` of the crop's side, and the
    crop's centre is the box's centre plus ``offset`` (x, y) in units of the box's longer side."""
    left, top, right, bottom = checked_box(box)
    size = max(right - left, bottom - top)
    centre = np.array([(left + right) / 2, (top + bottom) / 2]) + np.asarray(offset, dtype=np.float64) * size
    half = size / box_fraction / 2
    return np.concatenate([centre - half, centre + half])


def whole_image_crop(height: int, width: int, do_pad: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """The crop (left, top, right, bottom) of the whole image, padded to a centred square when
    ``do_pad``, and its (top, left) padding."""
    side_y, side_x = (max(height, width),) * 2 if do_pad else (height, width)
    top, left = (side_y - height) // 2, (side_x - width) // 2
    return np.array([-left, -top, side_x - left, side_y - top], dtype=np.float64), (top, left)


def crop_to_image_affine(crop, output_size: tuple[int, int]) -> np.ndarray:
    """The 2x3 affine from the pixels of ``crop`` resampled to ``output_size`` (height, width) to the
    image's pixels (pixel centres at i + 0.5 on both sides): ``points @ A[:, :2].T + A[:, 2]``."""
    left, top, right, bottom = (float(v) for v in crop)
    height, width = output_size
    return np.array([[(right - left) / width, 0.0, left], [0.0, (bottom - top) / height, top]])


def points_to_input(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(N,2) image pixels -> the model-input pixels of ``affine`` (its inverse; centres at i + 0.5)."""
    return (np.asarray(points, dtype=np.float64) - affine[:, 2]) @ np.linalg.inv(affine[:, :2]).T


def checked_box(box) -> tuple[float, float, float, float]:
    values = np.asarray(box, dtype=np.float64)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise ValueError(f"a face box is (left, top, right, bottom) in finite pixels, got {box!r}")
    left, top, right, bottom = (float(v) for v in values)
    if right <= left or bottom <= top:
        raise ValueError(f"degenerate face box {box!r}: it needs right > left and bottom > top")
    return left, top, right, bottom


def resample_crop(
    image, crop, output_size: tuple[int, int], resample=PILImageResampling.BILINEAR
) -> np.ndarray:
    """The ``crop`` ``(left, top, right, bottom)`` (float pixels; outside the image: zeros) of an image,
    resampled to ``output_size`` (height, width) by a PIL filter (antialiased when shrinking): (h,w,C)
    float32. ``image`` is an (H,W,C) array, or any object with such a ``shape`` whose
    ``region(rows, columns)`` gives the float32 values of that part of it.

    Only the crop and what the filter reaches around it are read, and never zeros beyond both the crop
    and the image, so the whole image padded to a square reads exactly the padded square."""
    height, width, channels = image.shape
    left, top, right, bottom = (float(v) for v in crop)
    out_height, out_width = output_size
    margin = math.ceil(WIDEST_FILTER * max((right - left) / out_width, (bottom - top) / out_height, 1.0)) + 1
    x0 = max(math.floor(left) - margin, min(math.floor(left), 0))
    y0 = max(math.floor(top) - margin, min(math.floor(top), 0))
    x1 = min(math.ceil(right) + margin, max(math.ceil(right), width))
    y1 = min(math.ceil(bottom) + margin, max(math.ceil(bottom), height))
    window = np.zeros((y1 - y0, x1 - x0, channels), dtype=np.float32)
    rows, columns = slice(max(y0, 0), min(y1, height)), slice(max(x0, 0), min(x1, width))
    read = getattr(image, "region", None) or (lambda r, c: image[r, c])
    window[rows.start - y0 : rows.stop - y0, columns.start - x0 : columns.stop - x0] = read(rows, columns)
    box = (left - x0, top - y0, right - x0, bottom - y0)
    resampled = [
        PIL.Image.fromarray(np.ascontiguousarray(window[..., c])).resize(
            (out_width, out_height), PIL.Image.Resampling(int(resample)), box=box
        )
        for c in range(channels)
    ]
    return np.stack([np.asarray(c) for c in resampled], axis=-1)


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


@dataclass
class ImageWindow:
    """A map over the part of an image that a crop covers: rows ``top:bottom`` and columns
    ``left:right`` of the image, ``values`` (bottom - top, right - left) and the ``covered`` mask of the
    pixels whose centres fall inside the crop (``values`` is 0 elsewhere)."""

    top: int
    left: int
    bottom: int
    right: int
    values: torch.Tensor
    covered: torch.Tensor

    def paste(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` (H,W) with this window's values written where it covers; returns ``image``."""
        region = image[self.top : self.bottom, self.left : self.right]
        region[self.covered] = self.values[self.covered].to(image.dtype)
        return image


def warp_to_window(
    maps: torch.Tensor,
    affine: torch.Tensor,
    image_size: tuple[int, int],
    reduce: Callable[[torch.Tensor], torch.Tensor],
) -> ImageWindow:
    """(C,h,w) maps on the model-input pixels -> ``reduce`` of them resampled (bilinear) at the centres
    of the image pixels the input covers, over the window of the image that holds them. ``reduce`` turns
    (C,rows,columns) into (rows,columns) (an argmax, a channel); it runs on bands of rows, so no more
    than `BAND_ELEMENTS` map values are resampled at a time, whatever the crop's size in the image."""
    height, width = image_size
    channels, h, w = maps.shape
    linear, shift = affine[:, :2], affine[:, 2]
    inverse = torch.linalg.inv(linear)
    corners = torch.tensor([[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]], dtype=torch.float64) @ linear.T + shift
    (x_low, y_low), (x_high, y_high) = corners.min(0).values.tolist(), corners.max(0).values.tolist()
    x0, x1 = (min(max(v, 0), width) for v in (math.floor(x_low), math.ceil(x_high)))
    y0, y1 = (min(max(v, 0), height) for v in (math.floor(y_low), math.ceil(y_high)))
    if x1 <= x0 or y1 <= y0:  # the crop lies outside the image
        empty = maps.new_zeros(0, 0)
        return ImageWindow(y0, x0, y0, x0, empty, empty.bool())
    band = max(1, BAND_ELEMENTS // (channels * (x1 - x0)))
    values, covered = [], []
    xs = torch.arange(x0, x1, dtype=torch.float64) + 0.5
    for start in range(y0, y1, band):
        ys = torch.arange(start, min(start + band, y1), dtype=torch.float64) + 0.5
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        uv = (torch.stack([grid_x, grid_y], dim=-1) - shift) @ inverse.T  # model-input pixels
        inside = (uv[..., 0] >= 0) & (uv[..., 0] <= w) & (uv[..., 1] >= 0) & (uv[..., 1] <= h)
        grid = torch.stack([2 * uv[..., 0] / w - 1, 2 * uv[..., 1] / h - 1], dim=-1).to(maps)
        sampled = F.grid_sample(
            maps[None], grid[None], mode="bilinear", padding_mode="border", align_corners=False
        )[0]
        inside = inside.to(maps.device)
        reduced = reduce(sampled)
        values.append(torch.where(inside, reduced, torch.zeros((), dtype=reduced.dtype, device=maps.device)))
        covered.append(inside)
    return ImageWindow(y0, x0, y1, x1, torch.cat(values), torch.cat(covered))
