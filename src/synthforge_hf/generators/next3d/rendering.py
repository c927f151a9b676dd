"""Tri-plane sampling, the OSG decoder and Mip-NeRF compositing of EG3D / Next3D.

The plane axes, the coordinate scaling by ``2 / box_warp``, the decoder's layout (``net.0`` 32->64,
Softplus, ``net.2`` 64->33) and its sigmoid colour range are those of the official models, so their
weights apply unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .stylegan2 import FullyConnectedLayer

# Rows are the axes of each plane; points are projected by p @ inverse(axes) and keep two coordinates:
# plane 0 -> (x, y), plane 1 -> (x, z), plane 2 -> (z, y). (EG3D meant (z, x) for the third plane; the
# released EG3D and Next3D models were trained with (z, y), so that is what their weights need.)
PLANE_AXES = torch.tensor(
    [
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
        [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
    ]
)


def project_onto_planes(coordinates: torch.Tensor, axes: torch.Tensor = PLANE_AXES) -> torch.Tensor:
    """(N,M,3) points -> (N*planes, M, 2) in-plane coordinates."""
    batch, points, _ = coordinates.shape
    planes = axes.shape[0]
    inverse = torch.linalg.inv(axes.to(coordinates)).expand(batch, -1, -1, -1).reshape(batch * planes, 3, 3)
    repeated = coordinates[:, None].expand(-1, planes, -1, -1).reshape(batch * planes, points, 3)
    return torch.bmm(repeated, inverse)[..., :2]


def sample_from_planes(
    plane_features: torch.Tensor, coordinates: torch.Tensor, box_warp: float, axes: torch.Tensor = PLANE_AXES
) -> torch.Tensor:
    """Bilinear features (N, planes, M, C) of (N,M,3) points from (N, planes, C, H, W) tri-planes; the
    cube of side ``box_warp`` around the origin spans each plane."""
    batch, planes, channels, height, width = plane_features.shape
    points = coordinates.shape[1]
    grid = project_onto_planes(coordinates * (2.0 / box_warp), axes)[:, None]
    sampled = F.grid_sample(
        plane_features.reshape(batch * planes, channels, height, width),
        grid.float(),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    return sampled.permute(0, 3, 2, 1).reshape(batch, planes, points, channels)


class OSGDecoder(nn.Module):
    """Mean of the three plane features -> density (raw) and 32 features whose first 3 are RGB."""

    def __init__(
        self, n_features: int = 32, output_dim: int = 32, hidden_dim: int = 64, lr_multiplier: float = 1.0
    ):
        super().__init__()
        self.net = nn.Sequential(
            FullyConnectedLayer(n_features, hidden_dim, lr_multiplier=lr_multiplier),
            nn.Softplus(),
            FullyConnectedLayer(hidden_dim, 1 + output_dim, lr_multiplier=lr_multiplier),
        )

    def forward(self, sampled_features: torch.Tensor) -> dict[str, torch.Tensor]:
        x = sampled_features.mean(dim=1)
        batch, points, channels = x.shape
        x = self.net(x.reshape(batch * points, channels)).reshape(batch, points, -1)
        return {"rgb": torch.sigmoid(x[..., 1:]) * (1 + 2 * 0.001) - 0.001, "sigma": x[..., :1]}


def mip_composite(
    colors: torch.Tensor,
    densities: torch.Tensor,
    depths: torch.Tensor,
    white_back: bool = False,
    depth_bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Volume rendering over samples (N, rays, S, ·): interval midpoints, density softplus(sigma - 1),
    alpha compositing. Returns colour scaled to [-1, 1] (N, rays, C), the expected depth clamped to the
    sampled range (``depth_bounds``, default: these samples' min and max) (N, rays, 1), and the weights
    (N, rays, S-1, 1)."""
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    colors_mid = (colors[:, :, :-1] + colors[:, :, 1:]) / 2
    densities_mid = F.softplus((densities[:, :, :-1] + densities[:, :, 1:]) / 2 - 1)
    depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
    alpha = 1 - torch.exp(-densities_mid * deltas)
    transmittance = torch.cumprod(
        torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], dim=-2), dim=-2
    )
    weights = alpha * transmittance[:, :, :-1]
    rgb = (weights * colors_mid).sum(dim=-2)
    total = weights.sum(dim=2)
    depth = torch.nan_to_num((weights * depths_mid).sum(dim=-2) / total, float("inf"))
    low, high = depth_bounds if depth_bounds is not None else (depths.min(), depths.max())
    depth = depth.clamp(low, high)
    if white_back:
        rgb = rgb + 1 - total
    return rgb * 2 - 1, depth, weights


Generators = torch.Generator | list[torch.Generator] | None


def uniform(
    shape: tuple[int, ...], generator: Generators, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """U(0,1) numbers of ``shape``; with a list of generators, row ``i`` of the first dimension is drawn
    from generator ``i`` alone (so a sample's randomness does not depend on its batch)."""
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise ValueError(f"got {len(generator)} generators for a batch of {shape[0]}")
        values = torch.stack([torch.rand(shape[1:], generator=g, device=g.device) for g in generator])
    else:
        values = torch.rand(shape, generator=generator, device=generator.device if generator else device)
    return values.to(device)


def stratified_depths(
    batch: int,
    rays: int,
    start: float,
    end: float,
    samples: int,
    generator: Generators = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(N, rays, S, 1) depths: S evenly spaced starts in [start, end], each jittered within its step."""
    base = (
        torch.linspace(start, end, samples, device=device).reshape(1, 1, samples, 1).repeat(batch, rays, 1, 1)
    )
    return base + uniform(tuple(base.shape), generator, device) * (end - start) / (samples - 1)


def sample_pdf(
    bins: torch.Tensor,
    weights: torch.Tensor,
    samples: int,
    u: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Inverse-CDF samples (R, samples) from the piecewise-constant density ``weights`` (R, B) on the
    ``bins`` edges (R, B+1), at the quantiles ``u`` (R, samples) (evenly spaced when None)."""
    rays, count = weights.shape
    pdf = (weights + eps) / (weights + eps).sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), pdf.cumsum(dim=-1)], dim=-1)
    if u is None:
        u = torch.linspace(0, 1, samples, device=bins.device).expand(rays, samples)
    u = u.to(bins).contiguous()
    index = torch.searchsorted(cdf, u, right=True)
    pair = torch.stack([(index - 1).clamp_min(0), index.clamp_max(count)], dim=-1).reshape(rays, 2 * samples)
    cdf_pair = cdf.gather(1, pair).reshape(rays, samples, 2)
    bin_pair = bins.gather(1, pair).reshape(rays, samples, 2)
    span = cdf_pair[..., 1] - cdf_pair[..., 0]
    span = torch.where(span < eps, torch.ones_like(span), span)
    return bin_pair[..., 0] + (u - cdf_pair[..., 0]) / span * (bin_pair[..., 1] - bin_pair[..., 0])


def importance_depths(depths: torch.Tensor, weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(N, rays, samples, 1) extra depths at the quantiles ``u`` (N, rays, samples) of where the coarse
    pass put its weight (smoothed by a max then mean filter over neighbouring intervals, plus 0.01)."""
    batch, rays, coarse, _ = depths.shape
    samples = u.shape[-1]
    with torch.no_grad():
        z = depths.reshape(batch * rays, coarse)
        w = weights.reshape(batch * rays, 1, -1).float()
        w = F.avg_pool1d(F.max_pool1d(w, 2, 1, padding=1), 2, 1)[:, 0] + 0.01
        mids = 0.5 * (z[:, :-1] + z[:, 1:])
        return sample_pdf(mids, w[:, 1:-1], samples, u.reshape(batch * rays, samples)).reshape(
            batch, rays, samples, 1
        )


class VolumeRendering(NamedTuple):
    """Features (N, R, C) in [-1, 1], depth along the rays (N, R, 1), weight sums (N, R, 1), and the
    coarse pass's sample points (N, R*S, 3) with their raw densities (N, R*S, 1)."""

    features: torch.Tensor
    depth: torch.Tensor
    weight_sum: torch.Tensor
    coarse_points: torch.Tensor
    coarse_sigma: torch.Tensor


def render_triplanes(
    planes: torch.Tensor,
    decoder: OSGDecoder,
    origins: torch.Tensor,
    directions: torch.Tensor,
    ray_start: float,
    ray_end: float,
    depth_resolution: int,
    depth_resolution_importance: int,
    box_warp: float,
    generator: Generators = None,
    white_back: bool = False,
    chunk_size: int | None = None,
) -> VolumeRendering:
    """Two-pass (stratified + importance) volume rendering of tri-planes (N, 3, C, H, W) along rays
    (N, R, 3), ``chunk_size`` rays of each image at a time (all at once when None). The random numbers
    are drawn for all rays first, in the official order, so chunking does not change the result."""
    batch, rays, _ = origins.shape
    depths = stratified_depths(batch, rays, ray_start, ray_end, depth_resolution, generator, origins.device)
    quantiles = None
    if depth_resolution_importance > 0:
        quantiles = uniform((batch, rays, depth_resolution_importance), generator, origins.device)
    bounds = (depths.min(), depths.max())  # the importance samples lie inside the coarse range
    chunk_size = chunk_size or rays
    parts = [
        _render_rays(
            planes,
            decoder,
            origins[:, start : start + chunk_size],
            directions[:, start : start + chunk_size],
            depths[:, start : start + chunk_size],
            None if quantiles is None else quantiles[:, start : start + chunk_size],
            box_warp,
            white_back,
            bounds,
        )
        for start in range(0, rays, chunk_size)
    ]
    return VolumeRendering(
        *(torch.cat([part[i] for part in parts], dim=1) for i in range(len(VolumeRendering._fields)))
    )


def _render_rays(
    planes: torch.Tensor,
    decoder: OSGDecoder,
    origins: torch.Tensor,
    directions: torch.Tensor,
    depths: torch.Tensor,
    quantiles: torch.Tensor | None,
    box_warp: float,
    white_back: bool,
    bounds: tuple[torch.Tensor, torch.Tensor],
) -> VolumeRendering:
    batch, rays, _ = origins.shape

    def evaluate(depths: torch.Tensor):
        count = depths.shape[2]
        points = (origins[:, :, None] + depths * directions[:, :, None]).reshape(batch, -1, 3)
        out = decoder(sample_from_planes(planes, points, box_warp))
        colors = out["rgb"].reshape(batch, rays, count, -1)
        return points, colors, out["sigma"].reshape(batch, rays, count, 1)

    coarse_points, colors, densities = evaluate(depths)
    coarse_sigma = densities.reshape(batch, -1, 1)
    if quantiles is not None:
        _, _, weights = mip_composite(colors, densities, depths)
        fine = importance_depths(depths, weights, quantiles)
        _, fine_colors, fine_densities = evaluate(fine)
        depths, order = torch.cat([depths, fine], dim=2).sort(dim=2)
        colors = torch.cat([colors, fine_colors], dim=2).gather(2, order.expand(-1, -1, -1, colors.shape[-1]))
        densities = torch.cat([densities, fine_densities], dim=2).gather(2, order)
    rgb, depth, weights = mip_composite(colors, densities, depths, white_back=white_back, depth_bounds=bounds)
    return VolumeRendering(rgb, depth, weights.sum(dim=2), coarse_points, coarse_sigma)
