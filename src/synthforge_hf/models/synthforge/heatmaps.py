"""Keypoint heatmaps of the SB: the training targets (unit-peak Gaussians at the landmarks) and the
decoding of predicted maps back into sub-pixel keypoints.

Self-contained (nothing from synthforge_hf): `save_pretrained` copies it into model folders.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def decode_heatmaps(
    heatmaps: torch.Tensor, stride: int, modulation_sigma: float | None = None
) -> torch.Tensor:
    """(B,K,h,w) heatmaps -> (B,K,2) keypoints in input pixels (cell j is centred at (j + 0.5) * stride).

    The keypoint head regresses unit-peak Gaussians (`gaussian_heatmaps`) under an MSE loss, so each
    point is decoded as the maximum of that Gaussian: the arg-max cell, refined by one Newton step on
    the log-heatmap with 3x3 finite differences (as in Zhang et al., "Distribution-Aware Coordinate
    Representation for Human Pose Estimation", 2020). The log of a Gaussian is quadratic, so on the
    target family the step is exact (to float rounding) wherever the peak is not in a border cell;
    the arg-max alone is off by up to half a cell, and a softmax expectation over a unit-peak map is
    pulled to the map's centre. Steps stay within the arg-max cell (|offset| <= 0.5 cell) and are
    skipped where the log-heatmap is not locally concave.

    With ``modulation_sigma`` (the SB passes its training ``heatmap_sigma``), predicted maps are first
    smoothed as that paper's "distribution modulation" does (`modulate_heatmaps`), which makes a noisy
    prediction Gaussian-like again before the step. Blurring moves peaks near the border (zeros
    outside), so points whose arg-max cell lies within two ``modulation_sigma`` of the border are decoded
    from the map as predicted.
    """
    maps = heatmaps.float()
    points, row, column = _refined_maxima(maps)
    if modulation_sigma:
        margin = math.ceil(2 * modulation_sigma)  # cells; closer to the border the blur moves the peak
        height, width = maps.shape[-2:]
        interior = (row >= margin) & (row < height - margin) & (column >= margin) & (column < width - margin)
        modulated, _, _ = _refined_maxima(modulate_heatmaps(maps, modulation_sigma))
        points = torch.where(interior[..., None], modulated, points)
    return (points * stride).to(heatmaps.dtype)


def modulate_heatmaps(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each (h,w) map blurred by a Gaussian of std ``sigma`` cells (zeros outside the map) and scaled
    back to its own maximum (DARK's distribution modulation)."""
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, device=heatmaps.device, dtype=heatmaps.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    batch, points, height, width = heatmaps.shape
    maps = heatmaps.reshape(batch * points, 1, height, width)
    peaks = maps.amax(dim=(2, 3), keepdim=True)
    blurred = F.conv2d(F.pad(maps, (radius,) * 4), kernel.view(1, 1, 1, -1))
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1))
    blurred = blurred * (peaks / blurred.amax(dim=(2, 3), keepdim=True).clamp(min=1e-12))
    return blurred.reshape(batch, points, height, width)


def _refined_maxima(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B,K,2) sub-cell maxima of float (B,K,h,w) maps in cell units (cell centres at j + 0.5), with the
    (B,K) row and column of each arg-max cell."""
    height, width = maps.shape[-2:]
    index = maps.flatten(2).argmax(-1)
    row, column = index // width, index % width
    logs = F.pad(maps.clamp(min=1e-10).log(), (1, 1, 1, 1), mode="replicate")
    flat_logs = logs.flatten(2)

    def at(dy: int, dx: int) -> torch.Tensor:
        return flat_logs.gather(-1, ((row + 1 + dy) * (width + 2) + column + 1 + dx)[..., None])[..., 0]

    centre = at(0, 0)
    gx, gy = (at(0, 1) - at(0, -1)) / 2, (at(1, 0) - at(-1, 0)) / 2
    hxx = at(0, 1) - 2 * centre + at(0, -1)
    hyy = at(1, 0) - 2 * centre + at(-1, 0)
    hxy = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / 4
    determinant = hxx * hyy - hxy**2
    concave = (hxx < 0) & (determinant > 1e-12)
    safe = torch.where(concave, determinant, torch.ones_like(determinant))
    step_x = -(hyy * gx - hxy * gy) / safe
    step_y = -(hxx * gy - hxy * gx) / safe
    step_x = torch.where(concave, step_x, torch.zeros_like(step_x)).clamp(-0.5, 0.5)
    step_y = torch.where(concave, step_y, torch.zeros_like(step_y)).clamp(-0.5, 0.5)
    x = column.to(maps.dtype) + 0.5 + step_x
    y = row.to(maps.dtype) + 0.5 + step_y
    return torch.stack([x, y], dim=-1), row, column


def gaussian_heatmaps(
    landmarks: torch.Tensor, size: tuple[int, int], stride: int, sigma: float
) -> torch.Tensor:
    """Target heatmaps (B,K,h,w): a Gaussian of std ``sigma`` cells at each landmark (input pixels)."""
    height, width = size
    xs = (torch.arange(width, device=landmarks.device, dtype=landmarks.dtype) + 0.5) * stride
    ys = (torch.arange(height, device=landmarks.device, dtype=landmarks.dtype) + 0.5) * stride
    dx = (xs[None, None, None, :] - landmarks[..., 0, None, None]) / stride
    dy = (ys[None, None, :, None] - landmarks[..., 1, None, None]) / stride
    return torch.exp(-(dx**2 + dy**2) / (2 * sigma**2))
