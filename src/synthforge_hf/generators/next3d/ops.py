"""Pure-PyTorch forms of the StyleGAN2 / EG3D custom ops (no CUDA extension to build).

- `bias_act`: bias, activation, gain and clamp.
- `upfirdn2d`: upsample by zero insertion, pad, FIR-filter (true convolution), downsample.
- `conv2d_resample`: convolution with filtered up/down-sampling, in its reference form (filter the
  upsampled input, then convolve; convolve, then filter and downsample).
- `modulated_conv2d`: style modulation and weight demodulation as one grouped convolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)
# name -> (function, default gain): the gains keep activations' variance (He et al.).
ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "relu": (F.relu, SQRT2),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), SQRT2),
    "sigmoid": (torch.sigmoid, 1.0),
    "softplus": (F.softplus, 1.0),
}


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """``clamp(act(x + b) * gain)``, with ``b`` broadcast along ``dim`` and the activation's default
    gain when ``gain`` is None."""
    function, default_gain = ACTIVATIONS[act]
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)
    x = function(x)
    gain = default_gain if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def make_filter(taps: Sequence[float] | torch.Tensor | None, normalize: bool = True) -> torch.Tensor:
    """A 2-D FIR filter from 1-D taps (their outer product), summing to 1 when ``normalize``."""
    if taps is None:
        taps = [1.0]
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = f[:, None] * f[None, :]
    return f / f.sum() if normalize else f


def _padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1) from an int, an (x, y) pair or four values."""
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample (zeros between samples), pad (negative = crop), convolve with ``f``, downsample.

    ``x`` is (N,C,H,W); ``f`` is a 2-D filter (or None for no filtering). The output is
    ``(H * up + y0 + y1 - fh) // down + 1`` rows high (and likewise wide).
    """
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    batch, channels, height, width = x.shape
    x0, x1, y0, y1 = _padding(padding)
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    f = (f * gain).to(x.dtype)
    if not flip_filter:
        f = f.flip([0, 1])  # F.conv2d correlates: flipping makes it a true convolution
    x = F.conv2d(x, f[None, None].expand(channels, 1, *f.shape), groups=channels)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(
    x: torch.Tensor, f: torch.Tensor, up: int = 2, padding: int = 0, gain: float = 1.0
) -> torch.Tensor:
    """Filtered upsampling that keeps the image aligned (output size = input size * up)."""
    fh, fw = f.shape
    pad = [
        padding + (fw + up - 1) // 2,
        padding + (fw - up) // 2,
        padding + (fh + up - 1) // 2,
        padding + (fh - up) // 2,
    ]
    return upfirdn2d(x, f, up=up, padding=pad, gain=gain * up * up)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
    flip_weight: bool = True,
) -> torch.Tensor:
    """2-D convolution with optional filtered up- or down-sampling (``f`` low-pass filter).

    ``flip_weight=True`` correlates like `F.conv2d`; False convolves (flips the kernel)."""
    x0, x1, y0, y1 = _padding(padding)
    if not flip_weight:
        w = w.flip([2, 3])
    if up > 1:
        fh, fw = f.shape
        x0, x1 = x0 + (fw + up - 1) // 2, x1 + (fw - up) // 2
        y0, y1 = y0 + (fh + up - 1) // 2, y1 + (fh - up) // 2
        x = upfirdn2d(x, f, up=up, padding=[x0, x1, y0, y1], gain=up * up)
        return F.conv2d(x, w.to(x.dtype), groups=groups)
    if down > 1:
        fh, fw = f.shape
        x0, x1 = x0 + (fw - down + 1) // 2, x1 + (fw - down) // 2
        y0, y1 = y0 + (fh - down + 1) // 2, y1 + (fh - down) // 2
        x = upfirdn2d(x, f, padding=[x0, x1, y0, y1])
        return F.conv2d(x, w.to(x.dtype), groups=groups, stride=down)
    if x0 == x1 and y0 == y1 and x0 >= 0 and y0 >= 0:
        return F.conv2d(x, w.to(x.dtype), padding=(y0, x0), groups=groups)
    x = upfirdn2d(x, None, padding=[x0, x1, y0, y1])
    return F.conv2d(x, w.to(x.dtype), groups=groups)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
) -> torch.Tensor:
    """Per-sample weights ``weight * styles`` (demodulated to unit norm per output channel), applied as
    one grouped convolution over the batch."""
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    w = weight[None] * styles.reshape(batch, 1, in_channels, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch, out_channels, 1, 1, 1)
    x = x.reshape(1, batch * in_channels, *x.shape[2:])
    x = conv2d_resample(
        x,
        w.reshape(batch * out_channels, in_channels, kh, kw),
        f=resample_filter,
        up=up,
        padding=padding,
        groups=batch,
        flip_weight=flip_weight,
    )
    x = x.reshape(batch, out_channels, *x.shape[2:])
    return x + noise if noise is not None else x
