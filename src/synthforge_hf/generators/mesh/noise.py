"""The fixed bank of band-limited periodic noises that every procedural texture of the mesh renderer
(skin, hair, irises, background) samples."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

SKIN_PERIOD = 0.16  # metres covered by one period of the noise bank on the skin
_BANK_SIZE = 256
# Noise bank channels: (low, high) spatial frequency in cycles per period.
_BANDS = ((48.0, 128.0), (24.0, 80.0), (6.0, 20.0), (1.5, 5.0))
PORES, SPECKLE, MID, LOW = range(4)  # the channels, from the finest band to the coarsest
# Each sample shifts its textures by its own random offsets (periods); which offsets each texture reads.
SKIN_OFFSETS, HAIR_OFFSETS, BROW_OFFSETS, IRIS_OFFSET = (0, 1), (2, 3), (4, 5), 6


@functools.lru_cache(maxsize=1)
def noise_bank() -> torch.Tensor:
    """Fixed periodic band-limited noises (1,4,N+1,N+1), zero mean and unit variance, one band per
    channel (`_BANDS`); the last row and column repeat the first so bilinear lookups wrap seamlessly."""
    generator = torch.Generator().manual_seed(2021)
    size = _BANK_SIZE
    white = torch.randn(len(_BANDS), size, size, generator=generator, dtype=torch.float64)
    frequency_y = torch.fft.fftfreq(size, d=1 / size).abs()[:, None]
    frequency_x = torch.fft.rfftfreq(size, d=1 / size)[None]
    frequency = torch.sqrt(frequency_x**2 + frequency_y**2)
    filters = torch.stack(
        [
            (1 - torch.exp(-((frequency / low) ** 2))) * torch.exp(-((frequency / high) ** 2))
            for low, high in _BANDS
        ]
    )
    noise = torch.fft.irfft2(torch.fft.rfft2(white) * filters, s=(size, size))
    noise = (noise - noise.mean((1, 2), keepdim=True)) / noise.std(dim=(1, 2), keepdim=True)
    noise = torch.cat([noise, noise[:, :1]], 1)
    noise = torch.cat([noise, noise[:, :, :1]], 2)
    return noise.float()[None].contiguous()


@functools.lru_cache(maxsize=16)
def _bank_channels(channels: tuple[int, ...]) -> torch.Tensor:
    """The noise bank's ``channels`` (1,C,N+1,N+1)."""
    return noise_bank()[:, list(channels)].contiguous()


def sample_noise(channels: list[int], u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Sample noise-bank ``channels`` at periodic texture coordinates u, v (any shape, 1 = one period)
    -> (len(channels), *u.shape)."""
    bank = _bank_channels(tuple(channels))
    grid = torch.stack([(u - u.floor()).reshape(-1), (v - v.floor()).reshape(-1)], dim=-1) * 2 - 1
    out = F.grid_sample(bank, grid[None, None], mode="bilinear", padding_mode="border", align_corners=True)
    return out[0, :, 0].reshape(len(channels), *u.shape)
