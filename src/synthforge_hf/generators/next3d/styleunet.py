"""StyleUNet of Next3D (its mouth network and its neural-blending network).

A StyleGAN2 synthesis network whose blocks from ``2 * final_size`` up are fed by an encoder of the
condition image: encoder features at ``final_size`` ... ``num_cond_res / 2`` are fused (3x3 conv) into
the block inputs. Blocks and fusion layers that the forward pass does not reach are still built, as in
the official networks, so their state dicts match.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .ops import ACTIVATIONS, bias_act, conv2d_resample, make_filter, upfirdn2d
from .stylegan2 import RESAMPLE_FILTER, StyleGAN2Generator, SynthesisNetwork


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2) -> torch.Tensor:
    """Filtered downsampling that keeps the image aligned (output size = input size / down)."""
    fh, fw = f.shape
    pad = [(fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=pad)


class Conv2dLayer(nn.Module):
    """Convolution with equalized learning rate, optional filtered up/down-sampling, bias and activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", make_filter(RESAMPLE_FILTER))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        x = conv2d_resample(
            x,
            (self.weight * self.weight_gain).to(x.dtype),
            f=self.resample_filter,
            up=self.up,
            down=self.down,
            padding=self.padding,
            flip_weight=self.up == 1,
        )
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return bias_act(
            x, bias, act=self.activation, gain=ACTIVATIONS[self.activation][1] * gain, clamp=clamp
        )


class EncoderResBlock(nn.Module):
    """(downsampled) condition image -> fromrgb (+ previous features) -> conv1 -> conv2 (half size)."""

    def __init__(self, img_channels: int, in_channels: int, out_channels: int, downsample: bool = True):
        super().__init__()
        self.fromrgb = Conv2dLayer(img_channels, in_channels, 1, bias=False)
        self.conv1 = Conv2dLayer(in_channels, in_channels, 3, activation="lrelu")
        self.conv2 = Conv2dLayer(in_channels, out_channels, 3, down=2, activation="lrelu")
        self.register_buffer("resample_filter", make_filter(RESAMPLE_FILTER))
        self.downsample = downsample

    def forward(self, image: torch.Tensor, skip: torch.Tensor | None = None):
        if self.downsample:
            image = downsample2d(image, self.resample_filter)
        features = self.fromrgb(image)
        if skip is not None:
            features = features + skip
        return image, self.conv2(self.conv1(features))


class StyleUNetSynthesis(SynthesisNetwork):
    """`SynthesisNetwork` plus the condition ``encoder`` and ``fusion`` layers."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        cond_channels: int = 3,
        in_size: int = 64,
        final_size: int = 4,
        num_cond_res: int = 64,
        channel_base: int = 32768,
        channel_max: int = 512,
        **block_kwargs,
    ):
        super().__init__(
            w_dim,
            img_resolution,
            img_channels,
            channel_base=channel_base,
            channel_max=channel_max,
            **block_kwargs,
        )
        self.final_size, self.num_cond_res = final_size, num_cond_res
        channels = lambda res: min(channel_base // res, channel_max)  # noqa: E731
        encoder_res = [2**i for i in range(int(math.log2(in_size)), int(math.log2(final_size)) - 1, -1)]
        self.encoder = nn.ModuleList(
            EncoderResBlock(cond_channels, channels(res), channels(res // 2), downsample=res < in_size)
            for res in encoder_res[:-1]
        )
        self.fusion = nn.ModuleList(
            Conv2dLayer(channels(res) * (2 if res > final_size else 1), channels(res), 3)
            for res in reversed(encoder_res)
        )

    def forward(self, condition: torch.Tensor, ws: torch.Tensor, **layer_kwargs) -> torch.Tensor:
        features = []
        skip = None
        for block in self.encoder:
            condition, skip = block(condition, skip)
            features.append(skip)
        features.reverse()  # from final_size up
        first = self.block_resolutions.index(2 * self.final_size)
        index = sum(getattr(self, f"b{res}").num_conv for res in self.block_resolutions[:first])
        x = img = None
        for step, res in enumerate(self.block_resolutions[first:]):
            if self.final_size * 2**step < self.num_cond_res:
                x = self.fusion[step](features[step] if step == 0 else torch.cat([x, features[step]], dim=1))
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, index, block.num_conv + 1), **layer_kwargs)
            index += block.num_conv
        return img


class StyleUNetGenerator(StyleGAN2Generator):
    """``mapping`` + `StyleUNetSynthesis` (``synthesis``), which also takes the condition image."""

    synthesis_class = StyleUNetSynthesis

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        condition: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        **layer_kwargs,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(condition, ws[:, : self.num_ws], **layer_kwargs)
