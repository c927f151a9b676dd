"""Next3D's (EG3D's) `SuperresolutionHybrid8XDC`: 64 px raw image + features -> 512 px image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .stylegan2 import SynthesisBlock

OFFICIAL_BLOCK_CHANNELS = (256, 128)


class SuperresolutionHybrid8XDC(nn.Module):
    """Two StyleGAN2 synthesis blocks (``block0`` 32->256 ch at half the output size, ``block1`` 256->128 ch
    at the output size) styled by the last w, fed by the input resized to a quarter of the output.

    The official network makes 512 px with ``block_channels=(256, 128)``; other sizes and widths are for
    small test configurations. With ``sr_num_fp16_res > 0`` the official blocks ran in fp16 with their
    convolutions clamped to +-256: the clamp is always kept, and fp16 is used on CUDA."""

    def __init__(
        self,
        channels: int = 32,
        img_resolution: int = 512,
        sr_num_fp16_res: int = 0,
        sr_antialias: bool = True,
        w_dim: int = 512,
        block_channels: tuple[int, int] = OFFICIAL_BLOCK_CHANNELS,
        **layer_kwargs,
    ):
        super().__init__()
        if img_resolution < 16 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 16, got {img_resolution}")
        self.sr_antialias = sr_antialias
        self.input_resolution = img_resolution // 4
        use_fp16 = sr_num_fp16_res > 0
        clamp = 256.0 if use_fp16 else None
        first, second = block_channels
        self.block0 = SynthesisBlock(
            channels,
            first,
            w_dim,
            img_resolution // 2,
            3,
            conv_clamp=clamp,
            use_fp16=use_fp16,
            **layer_kwargs,
        )
        self.block1 = SynthesisBlock(
            first, second, w_dim, img_resolution, 3, conv_clamp=clamp, use_fp16=use_fp16, **layer_kwargs
        )

    def forward(self, rgb: torch.Tensor, x: torch.Tensor, ws: torch.Tensor, **layer_kwargs) -> torch.Tensor:
        ws = ws[:, -1:].repeat(1, 3, 1)
        if x.shape[-1] != self.input_resolution:
            size = (self.input_resolution, self.input_resolution)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=self.sr_antialias)
            rgb = F.interpolate(
                rgb, size=size, mode="bilinear", align_corners=False, antialias=self.sr_antialias
            )
        x, rgb = self.block0(x, rgb, ws, **layer_kwargs)
        _, rgb = self.block1(x, rgb, ws, **layer_kwargs)
        return rgb
