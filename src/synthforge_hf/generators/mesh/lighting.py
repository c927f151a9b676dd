"""Lights and shading of one sample's face pixels, in linear RGB: a key, a fill and a rim light with
colour temperatures, a hemisphere ambient tinted by the background, screen-space ambient occlusion, the
key light's cast shadow, wrapped diffuse with a subsurface-like softening on skin, Blinn-Phong speculars
whose strength follows an oiliness map, wet eyes, and Kajiya-Kay highlights on hair."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...rendering.cameras import WORLD_UNITS_PER_METRE, Cameras
from .maths import dot, gaussian_blur, palette, smoothstep, unit
from .parameters import latent_fields

# Light colours from warm (tungsten) through neutral to cool (shade), unit luminance-ish.
LIGHT_COLOURS = (
    (1.00, 0.72, 0.48),
    (1.00, 0.88, 0.74),
    (1.00, 1.00, 1.00),
    (0.86, 0.93, 1.10),
    (0.74, 0.86, 1.18),
)
KEY, FILL, RIM = range(3)  # the lights, in the order `sample_lights` returns them

Light = tuple[torch.Tensor, torch.Tensor]  # direction towards the light (3,) or (B,3); colour (3,) or (B,3)


def light_direction(
    cam2world: torch.Tensor, azimuth: torch.Tensor, elevation: torch.Tensor, behind: bool = False
) -> torch.Tensor:
    """World directions (B,3) towards lights at ``azimuth`` and ``elevation`` (radians) about the
    camera's view axis: in front of the face, or ``behind`` it."""
    z = torch.cos(azimuth) * torch.cos(elevation) * (1 if behind else -1)
    in_camera = torch.stack([torch.sin(azimuth) * torch.cos(elevation), -torch.sin(elevation), z], -1)
    return F.normalize((cam2world @ in_camera[:, :, None])[:, :, 0], dim=-1)


def sample_lights(latents: torch.Tensor, cameras: Cameras, numbers: torch.Tensor) -> list[Light]:
    """Key, fill and rim lights from the latents (B,latent_dim) and random ``numbers`` (B,7 or more):
    direction towards the light (B,3) in world space and colour times intensity (B,3)."""
    field = latent_fields(latents)
    cam2world = cameras.cam2world[:, :3, :3].float().cpu()
    temperature = field["light_temperature"]
    key_colour = palette(LIGHT_COLOURS, temperature)
    fill_colour = palette(LIGHT_COLOURS, (1 - temperature + 0.4 * (numbers[:, 0] - 0.5)).clamp(0, 1))
    rim_colour = palette(LIGHT_COLOURS, numbers[:, 1])
    azimuth = (field["light_azimuth"] - 0.5) * 2.6
    elevation = (field["light_elevation"] - 0.3) * 1.4
    intensity = 0.7 + 0.7 * field["light_intensity"]
    fill = intensity * 0.35 * field["fill_light"]
    rim = intensity * 1.2 * smoothstep(0.4, 1.0, field["rim_light"])
    fill_azimuth = -azimuth * 0.6 - torch.sign(azimuth) * 0.5 * numbers[:, 2]
    rim_azimuth = torch.sign(numbers[:, 4] - 0.5) * (0.5 + 0.9 * numbers[:, 5])
    return [
        (light_direction(cam2world, azimuth, elevation), key_colour * intensity[:, None]),
        (light_direction(cam2world, fill_azimuth, (numbers[:, 3] - 0.4) * 0.8), fill_colour * fill[:, None]),
        (
            light_direction(cam2world, rim_azimuth, 0.2 + 0.5 * numbers[:, 6], True),
            rim_colour * rim[:, None],
        ),
    ]


def environment_light(background: torch.Tensor) -> torch.Tensor:
    """Colour (B,3) of the ambient light, from the background's (B,3,H,W) mean colour: a tint about 1."""
    environment = background.mean((2, 3))
    return 0.5 + 0.5 * (environment / environment.mean(1, keepdim=True).clamp_min(1e-3)).clamp(0, 3)


def diffuse_irradiance(
    normals: torch.Tensor, lights: list[Light], ambient: torch.Tensor, wrap: float = 0.0
) -> torch.Tensor:
    """Light (N,3) falling on matte surfaces with world ``normals`` (N,3) from one sample's ``lights``
    (direction (3,), colour (3,)) and its ``ambient`` colour (3,); ``wrap`` > 0 lets the light reach past
    the terminator, as on soft, bulky surfaces (cloth, knit)."""
    irradiance = ambient.float()[None].expand(normals.shape[0], 3).clone()
    for direction, colour in lights:
        irradiance += (wrap + (1 - wrap) * (normals @ direction.float())).clamp_min(0)[
            :, None
        ] * colour.float()[None]
    return irradiance


def ambient_occlusion(depth: torch.Tensor, pixels: torch.Tensor, pixel_depth: torch.Tensor) -> torch.Tensor:
    """Screen-space ambient occlusion at the ``pixels`` (N,) of one depth map (H,W), 0 on background,
    whose depths are ``pixel_depth`` (N,), made at a quarter of the resolution: pixels behind their
    surroundings (eye sockets, nostrils, the mouth, the neck under the chin) see less light."""
    mask = (depth > 0).float()
    small = F.avg_pool2d(torch.stack([depth * mask, mask])[None], 4, ceil_mode=True)
    small = gaussian_blur(small, 1.5 * depth.shape[-1] / 256)
    around = F.interpolate(small, size=depth.shape, mode="bilinear", align_corners=False)
    around = around.reshape(2, -1).index_select(1, pixels)
    around = around[0] / around[1].clamp_min(1e-4)
    cavity = ((pixel_depth - around) * (1 / (0.012 * WORLD_UNITS_PER_METRE))).clamp(0, 3)
    return 1 / (1 + 1.2 * cavity)


def cast_shadow(
    vertices: torch.Tensor,
    points: torch.Tensor,
    normals: torch.Tensor,
    light: torch.Tensor,
    size: int = 80,
) -> torch.Tensor:
    """Visibility (N,) in [0,1] of the light ``light`` (3,) (world direction towards it) at ``points``
    (N,3) with ``normals`` (3,N): a shadow map of the vertices (V,3) seen from the light (their highest
    point along it per cell, the gaps between vertices closed by a 3x3 maximum), compared with a bias
    that grows with the surface's slope to the light."""
    helper = torch.tensor([0.0, 1.0, 0.0]) if float(light[1].abs()) < 0.9 else torch.tensor([1.0, 0.0, 0.0])
    u = F.normalize(torch.linalg.cross(light, helper), dim=0)
    basis = torch.stack([u, torch.linalg.cross(light, u), light])
    local, target = vertices @ basis.T, points @ basis.T
    low = local[:, :2].min(0).values
    cell = float((local[:, :2].max(0).values - low).max()) / (size - 1)
    cells = ((local[:, :2] - low) / cell).round().long().clamp(0, size - 1)
    heights = torch.full((size * size,), -1e9).scatter_reduce(
        0, cells[:, 1] * size + cells[:, 0], local[:, 2], reduce="amax"
    )
    heights = F.max_pool2d(heights.view(1, 1, size, size), 3, stride=1, padding=1)
    cosine = dot(normals, light.view(3, 1)).abs().clamp(0.15, 1.0)  # normals may round over unit length
    height = target[:, 2] + 0.01 + 3.5 * cell * torch.sqrt(1 - cosine * cosine) / cosine
    # Four comparisons a cell apart, averaged: soft, less blocky shadow edges.
    jitter = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]) * 0.75
    grid = (((target[None, :, :2] - low) / cell + jitter[:, None]) / (size - 1)) * 2 - 1
    occluder = F.grid_sample(heights, grid[None], align_corners=True)[0, 0]
    return 1 - ((occluder - height) / (2 * cell)).clamp(0, 1).mean(0)


def shade(
    params: dict[str, torch.Tensor],
    lights: list[Light],
    albedo: torch.Tensor,
    weights: dict[str, torch.Tensor],
    normals: torch.Tensor,
    hair_tangents: torch.Tensor,
    view: torch.Tensor,
    occlusion: torch.Tensor,
    environment: torch.Tensor,
    key_visibility: torch.Tensor,
) -> torch.Tensor:
    """Linear radiance (3,N) of one sample's pixels, from their ``albedo`` (3,N), surface ``weights``
    (N,) (`appearance.paint_albedo`), unit ``normals``, ``hair_tangents`` and ``view`` directions (3,N),
    ``occlusion`` (N,), the ambient ``environment`` colour (3,) and the key light's visibility (N,)."""
    n_dot_v = dot(normals, view)
    normals = torch.where(n_dot_v < 0, -normals, normals)
    n_dot_v = n_dot_v.abs()
    sky = 0.6 + 0.4 * normals[1]  # world +y is up
    irradiance = (params["ambient"] * environment).view(3, 1) * (sky * occlusion)
    strength = params["specular"] * (0.4 + params["oiliness"] * weights["oil"])
    strength = strength * (weights["bare_skin"] + 1.3 * weights["lips"]) * (1 + 4 * (1 - n_dot_v) ** 5)
    hair_strength = params["hair_shine"] * weights["hair"]
    wrap = weights["skin"][None] * torch.tensor([0.3, 0.15, 0.1]).view(3, 1)  # red light scatters furthest
    direct_occlusion = occlusion.sqrt()
    eyes = (weights["eyes"] > 0).nonzero()[:, 0]
    hair = (weights["hair"] > 0).nonzero()[:, 0]
    if len(hair):
        hair_strength = hair_strength.index_select(0, hair)
        hair_tangents, hair_albedo = hair_tangents.index_select(1, hair), albedo.index_select(1, hair)
    specular = torch.zeros_like(albedo)
    for which, (direction, colour) in enumerate(lights):
        if not bool(colour.max() > 0):
            continue
        light, colour = direction.view(3, 1), colour.view(3, 1)
        n_dot_l = dot(normals, light)
        lit = ((n_dot_l + wrap) / (1 + wrap)).clamp_min(0)
        visible = direct_occlusion * key_visibility if which == KEY else direct_occlusion
        irradiance = irradiance + colour * (lit * visible)
        if which == FILL:  # the fill light is soft: no highlight
            continue
        half = unit(light + view)
        n_dot_h = dot(normals, half).clamp(0, 1)
        shine = strength * n_dot_h.pow(params["shininess"])
        if len(eyes):
            shine.index_copy_(0, eyes, 0.8 * n_dot_h.index_select(0, eyes).pow(300.0))
        facing = (n_dot_l > 0).float() * visible
        specular = specular + colour * (facing * shine)
        if len(hair):
            t_dot_h = dot(hair_tangents, half.index_select(1, hair))
            sin2 = (1 - t_dot_h**2).clamp(0, 1)
            kajiya = hair_strength * sin2.pow(16.0) * facing.index_select(0, hair)
            specular.index_add_(1, hair, colour * (kajiya * (0.5 + 4 * hair_albedo)))
    return albedo * irradiance + specular
