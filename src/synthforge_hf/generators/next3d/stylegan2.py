"""StyleGAN2 mapping and synthesis networks as Next3D uses them (its texture and tri-plane backbones).

Parameter and buffer names and shapes follow the official checkpoints (``mapping.fc{i}``,
``mapping.w_avg``, ``synthesis.b{res}.{const,conv0,conv1,torgb}.{affine,weight,bias,...}``), so a
converted state dict loads strictly. Layers use equalized learning rate: weights are stored at unit
variance and scaled at run time. Computation is in float32 (the official fp16 blocks are an
optimisation of the same function).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .ops import ACTIVATIONS, bias_act, make_filter, modulated_conv2d, upsample2d

RESAMPLE_FILTER = (1, 3, 3, 1)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalized learning rate and a fused bias + activation."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x @ (self.weight.to(x.dtype) * self.weight_gain).t()
        bias = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        return bias_act(x, bias, act=self.activation)


class MappingNetwork(nn.Module):
    """z (and camera c) -> w, broadcast to ``num_ws`` copies, with truncation towards ``w_avg``."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.998,
    ):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = (
            z_dim,
            c_dim,
            w_dim,
            num_ws,
            num_layers,
        )
        embed_features = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        layer_features = w_dim if layer_features is None else layer_features
        widths = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(
                self,
                f"fc{i}",
                FullyConnectedLayer(
                    widths[i], widths[i + 1], activation=activation, lr_multiplier=lr_multiplier
                ),
            )
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.num_ws is not None:
            x = x[:, None].repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = x.shape[1] if truncation_cutoff is None or self.num_ws is None else truncation_cutoff
            x = x.clone()
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally upsampling x2), noise, bias and leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp, self.padding = activation, conv_clamp, kernel_size // 2
        self.register_buffer("resample_filter", make_filter(RESAMPLE_FILTER))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "const",
        gain: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        noise = None
        if self.use_noise and noise_mode == "random":
            size = (x.shape[0], 1, self.resolution, self.resolution)
            noise = torch.randn(size, generator=generator).to(x) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        noise = None if noise is None else noise.to(x.dtype)
        x = modulated_conv2d(
            x,
            self.weight,
            self.affine(w),
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=self.up == 1,
        )
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        gain = ACTIVATIONS[self.activation][1] * gain
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to the output channels, without demodulation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        kernel_size: int = 1,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the 'skip' architecture: (const | upsampling conv0), conv1, torgb.

    ``use_fp16`` runs the block's convolutions in float16 on CUDA (the official fp16 blocks); the RGB
    skip path stays float32."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        **layer_kwargs,
    ):
        super().__init__()
        self.in_channels, self.use_fp16 = in_channels, use_fp16
        self.register_buffer("resample_filter", make_filter(RESAMPLE_FILTER))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp, **layer_kwargs
            )
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp, **layer_kwargs
        )
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, **layer_kwargs):
        w = iter(ws.unbind(dim=1))
        dtype = torch.float16 if self.use_fp16 and ws.device.type == "cuda" else torch.float32
        if self.in_channels == 0:
            x = self.const[None].repeat(ws.shape[0], 1, 1, 1).to(dtype)
        else:
            x = self.conv0(x.to(dtype), next(w), **layer_kwargs)
        x = self.conv1(x, next(w), **layer_kwargs)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w)).float()
        return x, y if img is None else img + y


class SynthesisNetwork(nn.Module):
    """Blocks ``b4`` ... ``b{img_resolution}``; channels ``min(channel_base // res, channel_max)``."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
        **block_kwargs,
    ):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.block_resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (int(math.log2(img_resolution)) + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim,
                res,
                img_channels,
                conv_clamp=conv_clamp,
                use_fp16=num_fp16_res > 0 and res >= fp16_resolution,
                **block_kwargs,
            )
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last block's torgb

    def forward(self, ws: torch.Tensor, **layer_kwargs) -> torch.Tensor:
        x = img = None
        index = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, index, block.num_conv + 1), **layer_kwargs)
            index += block.num_conv
        return img


class StyleGAN2Generator(nn.Module):
    """``mapping`` + ``synthesis``. ``mapping_ws`` lets the mapping emit more w's than this synthesis
    uses (Next3D's static tri-plane backbone maps 28 w's: 14 for itself, 14 for the texture network)."""

    synthesis_class = SynthesisNetwork

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_ws: int | None = None,
        mapping_kwargs: dict | None = None,
        **synthesis_kwargs,
    ):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.synthesis = self.synthesis_class(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim, c_dim, w_dim, num_ws=mapping_ws or self.num_ws, **(mapping_kwargs or {})
        )

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        **layer_kwargs,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws[:, : self.num_ws], **layer_kwargs)
