"""The camera's effect on one rendered image: exposure and white balance, vignetting, lens blur, a soft
highlight shoulder, gamma and sensor noise."""

from __future__ import annotations

import torch

from .maths import gaussian_blur
from .parameters import latent_value


def _highlight_shoulder(image: torch.Tensor) -> torch.Tensor:
    """Linear up to 0.8, then a parabola that reaches 1 with zero slope at 1.2 (negatives to 0)."""
    over = (image - 0.8).clamp(0, 0.4)
    return (image.clamp(max=0.8) + over - over * over * 1.25).clamp_min(0)


def photograph(image: torch.Tensor, latent: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
    """One linear image (3,H,W) through the camera -> gamma-encoded in [0,1], given the sample's latent
    vector (latent_dim,) and its random ``numbers`` (the first five: white balance gains, vignetting
    strength, noise seed)."""
    resolution = image.shape[-1]
    gains = (1 + 0.08 * (numbers[:3] - 0.5)) * 2.0 ** (1.0 * latent_value(latent, "exposure") - 0.4)
    coords = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution - 0.5
    vignette = 1 - (0.6 * float(numbers[3])) * (coords[None, :] ** 2 + coords[:, None] ** 2)
    image = image * (gains.view(3, 1, 1) * vignette)
    soft = gaussian_blur(image[None], 0.7 * resolution / 256)[0]
    image = torch.lerp(image, soft, 0.25 + 0.75 * latent_value(latent, "camera_blur") ** 1.5)
    image = _highlight_shoulder(image) ** (1 / 2.2)
    sigma = 0.002 + 0.012 * latent_value(latent, "sensor_noise") ** 2
    generator = torch.Generator().manual_seed(int(float(numbers[4]) * 2**31))
    noise = torch.randn(3, resolution, resolution, generator=generator)
    return (image + sigma * noise).clamp(0, 1)
