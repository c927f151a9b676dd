"""Label-consistent augmentations of training batches, in torch, seeded by a `torch.Generator`.

Geometric transforms move the image, the segmentation, the depth and the landmarks together:
a horizontal flip also swaps left/right landmark indices and left/right classes; an affine map
(rotation, scale, translation) warps maps with `grid_sample` and maps the landmarks exactly.
Photometric transforms (brightness/contrast, blur, noise, random erasing) touch only the image.
Written in torch rather than with an augmentation library because the flip needs the 68-point
and 19-class left/right permutations and because the whole batch is transformed at once on the
training device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..constants import LANDMARK_FLIP_PERMUTATION, SEGMENTATION_FLIP_PERMUTATION


def _uniform(shape, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def horizontal_flip(batch: dict[str, torch.Tensor], flip: torch.Tensor) -> dict[str, torch.Tensor]:
    """Flip the samples where ``flip`` (B,) is True. Landmarks are pixel coordinates with pixel
    centres at i + 0.5, so x -> W - x."""
    out = dict(batch)
    if not flip.any():
        return out
    width = batch["pixel_values"].shape[-1]
    out["pixel_values"] = torch.where(
        flip[:, None, None, None], batch["pixel_values"].flip(-1), batch["pixel_values"]
    )
    if "segmentation" in batch:
        swapped = torch.as_tensor(SEGMENTATION_FLIP_PERMUTATION, device=flip.device)[
            batch["segmentation"].flip(-1)
        ]
        out["segmentation"] = torch.where(flip[:, None, None], swapped, batch["segmentation"])
    if "depth" in batch:
        out["depth"] = torch.where(flip[:, None, None], batch["depth"].flip(-1), batch["depth"])
    if "landmarks_2d" in batch:
        points = batch["landmarks_2d"][:, list(LANDMARK_FLIP_PERMUTATION)].clone()
        points[..., 0] = width - points[..., 0]
        out["landmarks_2d"] = torch.where(flip[:, None, None], points, batch["landmarks_2d"])
    return out


def affine_matrices(angles: torch.Tensor, scales: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """(B,2,3) maps from output to input normalised coordinates (`F.affine_grid` convention): the
    content is rotated by ``angles``, magnified by ``scales`` and moved by ``shifts`` (normalised)."""
    cos, sin = angles.cos() / scales, angles.sin() / scales
    linear = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], 1)  # rotate by -angle
    offset = -(linear @ shifts[..., None])[..., 0]
    return torch.cat([linear, offset[..., None]], dim=-1)


def affine_warp(batch: dict[str, torch.Tensor], theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Warp every map by ``theta`` and move the landmarks to match."""
    out = dict(batch)
    height, width = batch["pixel_values"].shape[-2:]
    grid = F.affine_grid(theta, [theta.shape[0], 1, height, width], align_corners=False)
    out["pixel_values"] = F.grid_sample(batch["pixel_values"], grid, mode="bilinear", align_corners=False)
    if "segmentation" in batch:
        seg = F.grid_sample(batch["segmentation"][:, None].float(), grid, mode="nearest", align_corners=False)
        out["segmentation"] = seg[:, 0].round().long()
    if "depth" in batch:
        out["depth"] = F.grid_sample(batch["depth"][:, None], grid, mode="nearest", align_corners=False)[:, 0]
    if "landmarks_2d" in batch:
        size = torch.tensor([width, height], dtype=theta.dtype, device=theta.device)
        normalised = batch["landmarks_2d"] / size * 2 - 1  # input coordinates
        linear, offset = theta[:, :, :2], theta[:, :, 2]
        output = torch.linalg.solve(linear, (normalised - offset[:, None]).transpose(1, 2)).transpose(1, 2)
        out["landmarks_2d"] = (output + 1) / 2 * size
    return out


@dataclass
class FaceAugmentation:
    """Random augmentations with the given ranges (set a probability or range to 0 to disable)."""

    flip_probability: float = 0.5
    max_rotation_degrees: float = 20.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shift: float = 0.05
    brightness: float = 0.2
    contrast: float = 0.2
    noise_std: float = 0.02
    blur_probability: float = 0.2
    erase_probability: float = 0.2

    def __call__(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None):
        """``batch`` holds ``pixel_values`` (B,3,H,W) in [0,1] and optionally ``segmentation`` (B,H,W),
        ``depth`` (B,H,W) and ``landmarks_2d`` (B,K,2) pixels."""
        size = batch["pixel_values"].shape[0]
        device = batch["pixel_values"].device
        draw = lambda low, high: _uniform(size, low, high, generator).to(device)  # noqa: E731
        batch = horizontal_flip(batch, draw(0, 1) < self.flip_probability)
        angles = draw(-1, 1) * math.radians(self.max_rotation_degrees)
        scales = draw(*self.scale_range)
        shifts = torch.stack([draw(-1, 1), draw(-1, 1)], -1) * 2 * self.max_shift
        batch = affine_warp(batch, affine_matrices(angles, scales, shifts))
        pixels = batch["pixel_values"]
        mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
        contrast = 1 + draw(-1, 1)[:, None, None, None] * self.contrast
        brightness = draw(-1, 1)[:, None, None, None] * self.brightness
        pixels = (pixels - mean) * contrast + mean + brightness
        blur = (draw(0, 1) < self.blur_probability)[:, None, None, None]
        kernel = torch.tensor([1.0, 2.0, 1.0], device=device)
        kernel = (kernel[:, None] * kernel[None]) / 16
        blurred = F.conv2d(F.pad(pixels, (1, 1, 1, 1), mode="replicate"), kernel.expand(3, 1, 3, 3), groups=3)
        pixels = torch.where(blur, blurred, pixels)
        noise = torch.randn(pixels.shape, generator=generator).to(device) * self.noise_std
        pixels = pixels + noise
        erase = draw(0, 1) < self.erase_probability
        if erase.any():
            height, width = pixels.shape[-2:]
            cx, cy = draw(0, 1) * width, draw(0, 1) * height
            half_w, half_h = draw(0.05, 0.2) * width, draw(0.05, 0.2) * height
            xs = torch.arange(width, device=device)[None, None, :]
            ys = torch.arange(height, device=device)[None, :, None]
            box = ((xs - cx[:, None, None]).abs() < half_w[:, None, None]) & (
                (ys - cy[:, None, None]).abs() < half_h[:, None, None]
            )
            pixels = torch.where((box & erase[:, None, None])[:, None], torch.full_like(pixels, 0.5), pixels)
        batch["pixel_values"] = pixels.clamp(0, 1)
        return batch
