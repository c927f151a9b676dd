"""Next3D's (EG3D's) `SuperresolutionHybrid8XDC`: 64 px raw image + features -> 512 px image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .stylegan2 import SynthesisBlock

INPUT_RESOLUTION = 128


class SuperresolutionHybrid8XDC(nn.Module):
    """Two StyleGAN2 synthesis blocks (``block0`` 32->256 ch at 256 px, ``block1`` 256->128 ch at 512 px)
    styled by the last w. With ``sr_num_fp16_res > 0`` the official blocks ran in fp16 with their
    convolutions clamped to +-256; the clamp is kept here (in fp32) so outputs match."""

    def __init__(
        self,
        channels: int = 32,
        img_resolution: int = 512,
        sr_num_fp16_res: int = 0,
        sr_antialias: bool = True,
        w_dim: int = 512,
        **layer_kwargs,
    ):
        super().__init__()
        if img_resolution != 512:
            raise ValueError("SuperresolutionHybrid8XDC produces 512 px images")
        self.sr_antialias = sr_antialias
        clamp = 256.0 if sr_num_fp16_res > 0 else None
        self.block0 = SynthesisBlock(channels, 256, w_dim, 256, 3, conv_clamp=clamp, **layer_kwargs)
        self.block1 = SynthesisBlock(256, 128, w_dim, 512, 3, conv_clamp=clamp, **layer_kwargs)

    def forward(self, rgb: torch.Tensor, x: torch.Tensor, ws: torch.Tensor, **layer_kwargs) -> torch.Tensor:
        ws = ws[:, -1:].repeat(1, 3, 1)
        if x.shape[-1] != INPUT_RESOLUTION:
            size = (INPUT_RESOLUTION, INPUT_RESOLUTION)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=self.sr_antialias)
            rgb = F.interpolate(
                rgb, size=size, mode="bilinear", align_corners=False, antialias=self.sr_antialias
            )
        x, rgb = self.block0(x, rgb, ws, **layer_kwargs)
        _, rgb = self.block1(x, rgb, ws, **layer_kwargs)
        return rgb
