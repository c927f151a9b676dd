"""Hair with volume: a shell over the skull, ray-traced per pixel, standing off the scalp by a sampled
thickness and ending at the head's own hairline (the edge of its scalp label, read direction by direction
from the skull's centre), so the head's outline is hair's, not a bald cap's. It is drawn with strands
running down from the crown and a sheen across them; the pixels it covers become scalp in the labels
(`GeneratorOutput.occluder_labels`) with its depth, and landmarks behind it (ears, a turned jaw) are
hidden."""

from __future__ import annotations

import math

import torch

from ...constants import CLASS_ID
from ...head.model import ParametricHeadModel
from ...rendering.cameras import world_to_head
from .maths import ellipsoid_hits
from .noise import MID, PORES, sample_noise

NUMBERS_PER_SAMPLE = 4
_AZIMUTH_BINS = 48


def has_hair_volume(hair_density: float, numbers: torch.Tensor) -> bool:
    """Whether a sample wears hair with volume: a full head of hair (not bald or thinning), and not one of
    the cropped cuts (one in five) that the painted scalp already shows."""
    return hair_density > 0.8 and float(numbers[0]) < 0.8


def scalp_outline(head: ParametricHeadModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The skull in the head's rest frame, from its scalp-labelled vertices: the centre (3,) and half
    extents (3,) of their box, and the hairline: per azimuth bin around the vertical axis (x to z), the
    lowest elevation (radians, from the centre) of a scalp vertex. None for a head whose vertices do not
    label a scalp."""
    scalp = head.vertex_labels.cpu() == CLASS_ID["scalp"]
    if not bool(scalp.any()):
        return None
    points = head.v_template.float().cpu()[scalp]
    low, high = points.min(0).values, points.max(0).values
    centre, half = (low + high) / 2, (high - low) / 2
    azimuth, elevation, bins = _directions((points - centre) / half)
    hairline = torch.full((_AZIMUTH_BINS,), math.pi / 2).scatter_reduce(0, bins, elevation, "amin")
    return centre, half, hairline


def _directions(relative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Azimuth around the vertical axis (x to z), elevation (radians) and azimuth bin of points (N,3)
    relative to the skull's centre, in units of its half extents."""
    azimuth = torch.atan2(relative[:, 0], relative[:, 2])
    elevation = torch.atan2(relative[:, 1], relative[:, [0, 2]].norm(dim=1))
    bins = ((azimuth + math.pi) / (2 * math.pi) * _AZIMUTH_BINS).long().clamp(0, _AZIMUTH_BINS - 1)
    return azimuth, elevation, bins


def render_hair_volume(
    outline: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    rest_neck: torch.Tensor,
    rotation: torch.Tensor,
    neck_joint: torch.Tensor,
    camera_centre: torch.Tensor,
    rays: torch.Tensor,
    lights: list[tuple[torch.Tensor, torch.Tensor]],
    ambient: torch.Tensor,
    colour: torch.Tensor,
    shine: float,
    numbers: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The hair shell seen along each ray: its depth (N,) in metres along the optical axis (inf where a
    ray misses it) and its radiance (3,N) in linear RGB.

    Args:
        outline: the head's skull and hairline (`scalp_outline`), and ``rest_neck`` (3,) its neck joint in
            the rest frame (metres).
        rotation: (3,3) the head's rotation (global and neck joints), and ``neck_joint`` (3,) the posed
            neck joint it turns about, head frame (metres).
        camera_centre: (3,) the camera, and ``rays`` (N,3) its rays (unit optical-axis component), world
            frame.
        lights: (direction towards the light (3,), colour (3,)) per light, world frame.
        ambient: (3,) the ambient light's colour.
        colour: (3,) the hair's albedo, ``shine`` the strength of its sheen.
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers: whether the hair has volume, its thickness on top,
            its thickness on the sides and back, and its strands' phase.
    """
    count = rays.shape[0]
    depth = torch.full((count,), torch.inf)
    radiance = torch.zeros(3, count)
    centre, half, hairline = outline
    top, sides = 0.006 + 0.022 * float(numbers[1]), 0.003 + 0.012 * float(numbers[2])
    axes = half + torch.tensor([sides, top, sides])
    centre = centre + torch.tensor([0.0, (top - sides) / 2, 0.0])
    rotation = rotation.float().cpu()

    # The rays in the rest frame, from the shell's centre.
    origin = rotation.T @ (world_to_head(camera_centre.float().cpu()) - neck_joint.float().cpu()) + rest_neck
    distance, hit, surface = ellipsoid_hits(origin - centre, rays.float().cpu() @ rotation, axes)
    azimuth, elevation, bins = _directions(surface * axes / half)  # as the hairline was measured
    hit &= elevation > hairline[bins] + 0.02
    if not bool(hit.any()):
        return depth, radiance

    surface, azimuth, elevation = surface[hit], azimuth[hit], elevation[hit]
    normals = torch.nn.functional.normalize((surface / axes) @ rotation.T, dim=-1)
    # Strands run down from the crown: fine along the azimuth, long along the elevation.
    strands = sample_noise(
        [PORES, MID],
        azimuth / (2 * math.pi) * 9 + float(numbers[3]),
        elevation / math.pi * 0.8 + float(numbers[3]),
    )
    texture = (1 + 0.5 * strands[0] + 0.25 * strands[1]).clamp_min(0.25)
    albedo = colour.float()[None] * texture[:, None]
    along = torch.nn.functional.normalize(
        torch.stack([-elevation.sin() * azimuth.sin(), elevation.cos(), -elevation.sin() * azimuth.cos()], -1)
        @ rotation.T,
        dim=-1,
    )
    view = -torch.nn.functional.normalize(rays.float().cpu()[hit], dim=-1)
    shaded = albedo * ambient.float()[None]
    for direction, light in lights:
        direction = direction.float().cpu()
        diffuse = (0.25 + 0.75 * (normals @ direction)).clamp_min(0)
        halfway = torch.nn.functional.normalize(direction[None] + view, dim=-1)
        sheen = (1 - (along * halfway).sum(-1) ** 2).clamp_min(0) ** 40 * shine
        shaded = shaded + (albedo * diffuse[:, None] + sheen[:, None]) * light.float()[None]
    depth[hit] = distance[hit]
    radiance[:, hit] = shaded.T
    return depth, radiance
