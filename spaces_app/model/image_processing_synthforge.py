"""Image processor of the SynthForge models: pad to square, resize, normalise; and the inverse
mapping of landmarks, masks and depth back to the original image."""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)


def normalize_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) in [0,1] -> the model's input normalisation (what `preprocess` does after resizing)."""
    mean = torch.tensor(IMAGE_MEAN, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    std = torch.tensor(IMAGE_STD, dtype=pixels.dtype, device=pixels.device)[:, None, None]
    return (pixels - mean) / std


class SynthForgeImageProcessor(BaseImageProcessor):
    """Prepares face images for `SynthForgeForFaceAnalysis` and maps its outputs back.

    An image (any size; RGB, grayscale or RGBA) is padded to a centred square with zeros, resized to
    ``size`` and normalised. ``original_sizes`` and ``paddings`` are returned so that `post_process`
    can undo both.
    """

    model_input_names = ["pixel_values"]

    def __init__(self, size: int = 256, image_mean=IMAGE_MEAN, image_std=IMAGE_STD, **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)

    def _to_rgb_array(self, image) -> np.ndarray:
        if isinstance(image, PIL.Image.Image):
            return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        array = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=-1)
        if array.ndim != 3 or array.shape[-1] not in (3, 4):
            raise ValueError(f"expected an (H,W), (H,W,3) or (H,W,4) image, got shape {array.shape}")
        array = array[..., :3]
        return array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)

    def preprocess(self, images, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        if not isinstance(images, (list, tuple)):
            images = [images]
        pixels, sizes, paddings = [], [], []
        for image in images:
            array = self._to_rgb_array(image)
            height, width = array.shape[:2]
            if height == 0 or width == 0:
                raise ValueError("empty image")
            side = max(height, width)
            top, left = (side - height) // 2, (side - width) // 2
            square = torch.zeros(3, side, side)
            square[:, top : top + height, left : left + width] = torch.from_numpy(array).permute(2, 0, 1)
            resized = F.interpolate(
                square[None],
                size=(self.size, self.size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0]
            mean = torch.tensor(self.image_mean)[:, None, None]
            std = torch.tensor(self.image_std)[:, None, None]
            pixels.append((resized.clamp(0, 1) - mean) / std)
            sizes.append((height, width))
            paddings.append((top, left))
        data = {
            "pixel_values": torch.stack(pixels),
            "original_sizes": torch.tensor(sizes),
            "paddings": torch.tensor(paddings),
        }
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _scale(self, original_size) -> float:
        return max(int(original_size[0]), int(original_size[1])) / self.size

    def post_process_landmarks(self, outputs, original_sizes, paddings) -> list[torch.Tensor]:
        """Landmarks (K,2) in original-image pixels, one tensor per image."""
        result = []
        for points, size, pad in zip(outputs.landmarks, original_sizes, paddings, strict=True):
            scale = self._scale(size)
            offset = torch.tensor([float(pad[1]), float(pad[0])], device=points.device)
            result.append(points * scale - offset)
        return result

    def _crop_back(self, maps: torch.Tensor, size, pad, mode: str) -> torch.Tensor:
        side = max(int(size[0]), int(size[1]))
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        full = F.interpolate(maps[None], size=(side, side), mode=mode, **kwargs)[0]
        top, left = int(pad[0]), int(pad[1])
        return full[:, top : top + int(size[0]), left : left + int(size[1])]

    def post_process_semantic_segmentation(self, outputs, original_sizes, paddings) -> list[torch.Tensor]:
        """Class-id maps (H,W) at original size, from logits resized before the argmax."""
        return [
            self._crop_back(logits, size, pad, "bilinear").argmax(dim=0)
            for logits, size, pad in zip(outputs.logits, original_sizes, paddings, strict=True)
        ]

    def post_process_depth(self, outputs, original_sizes, paddings) -> list[torch.Tensor]:
        """Depth maps (H,W) at original size."""
        return [
            self._crop_back(depth[None], size, pad, "bilinear")[0]
            for depth, size, pad in zip(outputs.depth, original_sizes, paddings, strict=True)
        ]
