"""Small tensor helpers shared by the mesh renderer's stages: smooth steps, Gaussian bumps, packed
3-vectors, colour palettes and conversions, and a separable Gaussian blur."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Colour = tuple[float, float, float]


def palette(colours: tuple[Colour, ...], position: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation along a palette; ``position`` (B,) in [0,1] -> (B,3)."""
    table = torch.tensor(colours, dtype=torch.float32, device=position.device)
    scaled = position.clamp(0, 1) * (len(colours) - 1)
    below = scaled.floor().long().clamp(max=len(colours) - 2)
    fraction = (scaled - below)[:, None]
    return table[below] * (1 - fraction) + table[below + 1] * fraction


def hsv_to_rgb(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Colours (...,3) from hue, saturation and value (...), all in [0,1]."""
    sectors = torch.stack([(5 + hue * 6) % 6, (3 + hue * 6) % 6, (1 + hue * 6) % 6], dim=-1)
    return value[..., None] - value[..., None] * saturation[..., None] * (
        torch.minimum(sectors, 4 - sectors).clamp(0, 1)
    )


def smoothstep(edge0: float | torch.Tensor, edge1: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1`` (either order)."""
    t = ((x - edge0) / (edge1 - edge0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def rounded_box_distance(
    x: torch.Tensor, y: torch.Tensor, half: tuple[float, float], radius: float
) -> torch.Tensor:
    """Signed distance from points (x, y) to a box about the origin of half sizes ``half`` with corners
    rounded by ``radius``, in their units: negative inside."""
    qx, qy = x.abs() - (half[0] - radius), y.abs() - (half[1] - radius)
    outside = torch.sqrt(qx.clamp_min(0) ** 2 + qy.clamp_min(0) ** 2)
    return outside + torch.minimum(torch.maximum(qx, qy), torch.zeros_like(qx)) - radius


def gaussian_bump(
    x: torch.Tensor, y: torch.Tensor, centre_x: float, centre_y: float, width_x: float, width_y: float
) -> torch.Tensor:
    """An axis-aligned Gaussian bump of height 1 at (``centre_x``, ``centre_y``)."""
    return torch.exp(-(((x - centre_x) / width_x) ** 2 + ((y - centre_y) / width_y) ** 2))


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot product of packed vectors (3,N) (b may be (3,1)) -> (N,)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def unit(vectors: torch.Tensor) -> torch.Tensor:
    """Normalise packed vectors (3,N)."""
    return vectors * torch.rsqrt(dot(vectors, vectors).clamp_min(1e-12))


def column(colour: torch.Tensor) -> torch.Tensor:
    """A colour (3,) as a column (3,1) that broadcasts over packed pixels (3,N)."""
    return colour.view(3, 1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B,C,H,W), borders replicated: weighted sums of shifted views (much
    cheaper than a grouped convolution for these few taps)."""
    radius = max(1, math.ceil(2.5 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / max(sigma, 1e-3)) ** 2)
    kernel = (kernel / kernel.sum()).tolist()
    height, width = images.shape[-2:]
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    rows = padded[..., 0:width] * kernel[0]
    for tap in range(1, len(kernel)):
        rows.add_(padded[..., tap : tap + width], alpha=kernel[tap])
    out = rows[..., 0:height, :] * kernel[0]
    for tap in range(1, len(kernel)):
        out.add_(rows[..., tap : tap + height, :], alpha=kernel[tap])
    return out


def ellipsoid_crossings(
    origin: torch.Tensor, directions: torch.Tensor, axes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where the lines from ``origin`` (3,) along ``directions`` (N,3), both in the frame of an
    axis-aligned ellipsoid centred at 0 with half axes ``axes`` (3,), cross its surface: the ray
    parameters where they enter (N,) and leave it (N,), and whether they cross it at all (N,)."""
    origin_unit, directions_unit = origin / axes, directions / axes
    a = (directions_unit * directions_unit).sum(-1)
    b = 2 * directions_unit @ origin_unit
    discriminant = b * b - 4 * a * (float(origin_unit @ origin_unit) - 1)
    root = discriminant.clamp_min(0).sqrt()
    return (-b - root) / (2 * a), (-b + root) / (2 * a), discriminant > 0


def ellipsoid_hits(
    origin: torch.Tensor, directions: torch.Tensor, axes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where rays from ``origin`` (3,) along ``directions`` (N,3), both in the frame of an axis-aligned
    ellipsoid centred at 0 with half axes ``axes`` (3,), first enter it: the ray parameter (N,), whether
    they do ahead of the origin (N,), and the entry points scaled to the unit sphere (N,3; meaningless
    where they miss)."""
    distance, _, crosses = ellipsoid_crossings(origin, directions, axes)
    return distance, crosses & (distance > 0), origin / axes + distance[:, None] * (directions / axes)
