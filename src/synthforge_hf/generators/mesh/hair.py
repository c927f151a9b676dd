"""Hair with volume: a shell over the skull, ray-traced per pixel, standing off the scalp by a sampled
thickness and ending at the head's own hairline (the edge of its scalp label, read direction by direction
from the skull's centre), so the head's outline is hair's, not a bald cap's. With styles, the shell takes
one of `HAIR_STYLES`: a fringe lowers the hairline over the forehead to the brows; long hair adds a curtain
that falls from the skull's widest line down past the jaw towards the shoulders, behind and beside the
face; hair tied back lies close to the skull and gathers in a bun at the back of the head; curls change
the strands to tight locks. It is drawn with strands running down from the crown and
a sheen across them; the pixels it covers become scalp in the labels (`GeneratorOutput.occluder_labels`)
with its depth, and landmarks behind it (brows under a fringe, ears, a turned jaw) are hidden."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ...constants import CLASS_ID
from ...head.model import ParametricHeadModel
from ...rendering.cameras import world_to_head
from .maths import ellipsoid_crossings, ellipsoid_hits
from .noise import MID, PORES, sample_noise

# Per sample: whether the hair has volume, its thickness on top, on the sides and back, the strands'
# phase; then, with styles, the style, the length of long hair (the size of a bun), the fringe's hem,
# whether it curls and how far the fringe comes down (how high a bun sits).
NUMBERS_PER_SAMPLE = 9
HAIR_STYLES = ("short", "fringe", "long", "long with fringe", "tied back")
_STYLE_SHARES = (0.25, 0.2, 0.2, 0.15, 0.2)  # of the heads with volume, in the order of HAIR_STYLES
_AZIMUTH_BINS = 48
# Long hair falls at azimuths beyond this (radians from the face's front): from the ears back.
_CURTAIN_AZIMUTH = 1.35


class Skull(NamedTuple):
    """The skull in the head's rest frame, from its scalp-labelled vertices (`scalp_outline`).

    Attributes:
        centre: (3,) the centre of their box, and ``half`` (3,) its half extents.
        hairline: (bins,) per azimuth bin around the vertical axis (x to z), the lowest elevation (radians,
            from the centre) of a scalp vertex.
        brow_height: the brows' median height above the centre (metres), about where a fringe ends.
        temple_azimuth: the forehead's half width in azimuth, where a fringe meets the hairline.
        fringe_depth: the front-to-back half axis a shell of the skull's width and height needs to pass in
            front of the forehead and brows (metres).
    """

    centre: torch.Tensor
    half: torch.Tensor
    hairline: torch.Tensor
    brow_height: float
    temple_azimuth: float
    fringe_depth: float


def has_hair_volume(hair_density: float, numbers: torch.Tensor) -> bool:
    """Whether a sample wears hair with volume: a full head of hair (not bald or thinning), and not one of
    the cropped cuts (one in five) that the painted scalp already shows."""
    return hair_density > 0.8 and float(numbers[0]) < 0.8


def hair_style(numbers: torch.Tensor) -> str:
    """The style (one of `HAIR_STYLES`) that a sample's hair numbers (NUMBERS_PER_SAMPLE,) pick."""
    bounds = torch.tensor(_STYLE_SHARES).cumsum(0)
    return HAIR_STYLES[min(int((float(numbers[4]) >= bounds).sum()), len(HAIR_STYLES) - 1)]


def scalp_outline(head: ParametricHeadModel) -> Skull | None:
    """The `Skull` of ``head``, or None for a head whose vertices do not label a scalp."""
    labels = head.vertex_labels.cpu()
    scalp = labels == CLASS_ID["scalp"]
    if not bool(scalp.any()):
        return None
    vertices = head.v_template.float().cpu()
    points = vertices[scalp]
    low, high = points.min(0).values, points.max(0).values
    centre, half = (low + high) / 2, (high - low) / 2
    azimuth, elevation, bins = _directions((points - centre) / half)
    hairline = torch.full((_AZIMUTH_BINS,), math.pi / 2).scatter_reduce(0, bins, elevation, "amin")

    brows = (labels == CLASS_ID["left_eyebrow"]) | (labels == CLASS_ID["right_eyebrow"])
    forehead = brows | (labels == CLASS_ID["forehead"]) | (labels == CLASS_ID["eye_region+forehead"])
    if not bool(brows.any()):
        return Skull(centre, half, hairline, float(-half[1]), 0.0, float(half[2]))
    relative = vertices[forehead] - centre
    front_azimuth, _, _ = _directions(relative / half)
    across = 1 - (relative[:, 0] / half[0]) ** 2 - (relative[:, 1] / half[1]) ** 2
    reach = relative[:, 2].abs() / across.clamp_min(0.05).sqrt()
    return Skull(
        centre,
        half,
        hairline,
        float((vertices[brows, 1] - centre[1]).median()),
        float(front_azimuth.abs().max()),
        max(float(half[2]), float(reach.max())),
    )


def _directions(relative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Azimuth around the vertical axis (x to z), elevation (radians) and azimuth bin of points (N,3)
    relative to the skull's centre, in units of its half extents."""
    azimuth = torch.atan2(relative[:, 0], relative[:, 2])
    elevation = torch.atan2(relative[:, 1], relative[:, [0, 2]].norm(dim=1))
    bins = ((azimuth + math.pi) / (2 * math.pi) * _AZIMUTH_BINS).long().clamp(0, _AZIMUTH_BINS - 1)
    return azimuth, elevation, bins


class _Hits(NamedTuple):
    """Where rays meet a hair surface (rest frame): ray parameter (N,), whether they do (N,), the points'
    outward normals (N,3), strand directions (N,3) and texture coordinates across and along the strands
    (N,) each."""

    distance: torch.Tensor
    hit: torch.Tensor
    normals: torch.Tensor
    along: torch.Tensor
    across_strands: torch.Tensor
    down_strands: torch.Tensor


def _shell_hits(
    skull: Skull,
    origin: torch.Tensor,
    rays: torch.Tensor,
    axes: torch.Tensor,
    centre: torch.Tensor,
    fringe: float | None,
    fringe_drop: float = 0.0,
) -> _Hits:
    """The shell over the skull (half axes ``axes`` about ``centre``), above the hairline; with a
    ``fringe`` (the hem's phase, or None) the hair over the forehead comes down ``fringe_drop`` metres
    below the brows' height (negative: above it)."""
    distance, hit, surface = ellipsoid_hits(origin - centre, rays, axes)
    azimuth, elevation, bins = _directions(surface * axes / skull.half)  # as the hairline was measured
    below_hairline = elevation <= skull.hairline[bins] + 0.02
    if fringe is not None:  # over the forehead the hair comes down to a ragged hem about the brows
        hem = skull.brow_height - fringe_drop + 0.004 * torch.sin(azimuth * 31 + 6 * fringe)
        over_forehead = azimuth.abs() < skull.temple_azimuth
        below_hairline &= ~(over_forehead & (surface[:, 1] * axes[1] > hem))
    hit = hit & ~below_hairline
    along = torch.stack(
        [-elevation.sin() * azimuth.sin(), elevation.cos(), -elevation.sin() * azimuth.cos()], -1
    )
    return _Hits(
        distance,
        hit,
        F.normalize(surface / axes, dim=-1),
        along,
        azimuth / (2 * math.pi),
        elevation / math.pi,
    )


def _curtain_hits(
    origin: torch.Tensor, rays: torch.Tensor, axes: torch.Tensor, centre: torch.Tensor, length: float
) -> _Hits:
    """Long hair: a vertical sheet on the elliptic cylinder of the shell's width and depth (``axes``,
    ``centre``), from its widest line down ``length`` metres, at azimuths from the ears back. A ray sees the
    sheet where it enters the cylinder or, from inside, where it leaves it (the hair behind the neck)."""
    tall = axes.clone()
    tall[1] = 100.0  # over the heights the sheet spans, an ellipsoid this tall is the cylinder
    relative = origin - centre
    entry, leave, crosses = ellipsoid_crossings(relative, rays, tall)
    sides = []
    for distance, facing in ((entry, 1.0), (leave, -1.0)):
        point = relative + distance[:, None] * rays
        azimuth = torch.atan2(point[:, 0] / axes[0], point[:, 2] / axes[2])
        on_sheet = crosses & (distance > 0) & (point[:, 1] < 0) & (point[:, 1] > -length)
        on_sheet &= azimuth.abs() > _CURTAIN_AZIMUTH
        outward = point * torch.tensor([1 / float(axes[0]) ** 2, 0.0, 1 / float(axes[2]) ** 2])
        sides.append((distance, on_sheet, facing * F.normalize(outward, dim=-1), azimuth, point[:, 1]))
    (near, near_hit, near_normals, near_azimuth, near_y), (far, far_hit, far_normals, far_azimuth, far_y) = (
        sides
    )
    far_side = ~near_hit
    return _Hits(
        torch.where(far_side, far, near),
        near_hit | far_hit,
        torch.where(far_side[:, None], far_normals, near_normals),
        torch.tensor([0.0, -1.0, 0.0]).expand(rays.shape[0], 3),
        torch.where(far_side, far_azimuth, near_azimuth) / (2 * math.pi),
        torch.where(far_side, far_y, near_y) / 0.3,
    )


def _bun_hits(
    origin: torch.Tensor,
    rays: torch.Tensor,
    axes: torch.Tensor,
    centre: torch.Tensor,
    size: float,
    height: float,
) -> _Hits:
    """Hair tied back: a bun of radius ``size`` (metres) on the back of the shell (``axes`` about
    ``centre``), ``height`` half-heights above its centre (negative: below), sunk into the shell by a
    third of its radius; its strands wrap around it, about the front-to-back axis."""
    lift = height * float(axes[1])
    depth_at_height = float(axes[2]) * math.sqrt(max(1 - height**2, 0.0))
    bun_centre = centre + torch.tensor([0.0, lift, -(depth_at_height + size / 3)])
    radii = torch.tensor([size, size, 0.8 * size])
    distance, hit, surface = ellipsoid_hits(origin - bun_centre, rays, radii)
    normals = F.normalize(surface / radii, dim=-1)
    around = torch.atan2(surface[:, 1], surface[:, 0])
    along = F.normalize(torch.stack([-surface[:, 1], surface[:, 0], torch.zeros_like(around)], -1), dim=-1)
    return _Hits(distance, hit, normals, along, around / (2 * math.pi), surface[:, 2])


class RestFrame(NamedTuple):
    """A camera's rays in the head's rest frame (metres), where the skull is measured: the camera's centre
    ``origin`` (3,), the ray directions ``rays`` (N,3), and the head's ``rotation`` (3,3) that takes rest
    directions to world ones."""

    origin: torch.Tensor
    rays: torch.Tensor
    rotation: torch.Tensor


def rest_frame(
    rest_neck: torch.Tensor,
    rotation: torch.Tensor,
    neck_joint: torch.Tensor,
    camera_centre: torch.Tensor,
    rays: torch.Tensor,
) -> RestFrame:
    """The `RestFrame` of a camera's ``rays`` (N,3; unit optical-axis component, world frame) from its
    ``camera_centre`` (3,), for a head turned by ``rotation`` (3,3; global and neck joints) about its posed
    ``neck_joint`` (3,; head frame, metres) whose rest-pose neck joint is ``rest_neck`` (3,)."""
    rotation = rotation.float().cpu()
    origin = rotation.T @ (world_to_head(camera_centre.float().cpu()) - neck_joint.float().cpu()) + rest_neck
    return RestFrame(origin, rays.float().cpu() @ rotation, rotation)


def render_hair_volume(
    skull: Skull,
    frame: RestFrame,
    rays: torch.Tensor,
    lights: list[tuple[torch.Tensor, torch.Tensor]],
    ambient: torch.Tensor,
    colour: torch.Tensor,
    shine: float,
    numbers: torch.Tensor,
    styled: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The hair seen along each ray: its depth (N,) in metres along the optical axis (inf where a ray
    misses it) and its radiance (3,N) in linear RGB.

    Args:
        skull: the head's skull and hairline (`scalp_outline`).
        frame: the rays in the head's rest frame (`rest_frame`), and ``rays`` (N,3) the same rays in the
            world frame.
        lights: (direction towards the light (3,), colour (3,)) per light, world frame.
        ambient: (3,) the ambient light's colour.
        colour: (3,) the hair's albedo, ``shine`` the strength of its sheen.
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers (see `NUMBERS_PER_SAMPLE`).
        styled: draw the style the numbers pick (`hair_style`); without, every head of hair is short.
    """
    count = rays.shape[0]
    depth = torch.full((count,), torch.inf)
    radiance = torch.zeros(3, count)
    style = hair_style(numbers) if styled else "short"
    top, sides = 0.006 + 0.022 * float(numbers[1]), 0.003 + 0.012 * float(numbers[2])
    if style == "tied back":  # pulled tight against the skull
        top, sides = top / 3, sides / 3
    axes = skull.half + torch.tensor([sides, top, sides])
    if "fringe" in style:
        axes[2] = max(float(axes[2]), skull.fringe_depth + sides)
    centre = skull.centre + torch.tensor([0.0, (top - sides) / 2, 0.0])
    origin, rest_rays, rotation = frame
    surfaces = [
        _shell_hits(
            skull,
            origin,
            rest_rays,
            axes,
            centre,
            float(numbers[6]) if "fringe" in style else None,
            0.010 * float(numbers[8]) - 0.006,
        )
    ]
    if style.startswith("long"):
        surfaces.append(_curtain_hits(origin, rest_rays, axes, centre, 0.08 + 0.22 * float(numbers[5])))
    if style == "tied back":
        size, height = 0.025 + 0.02 * float(numbers[5]), 0.7 * float(numbers[8]) - 0.2
        surfaces.append(_bun_hits(origin, rest_rays, axes, centre, size, height))
    distances = torch.stack([torch.where(s.hit, s.distance, torch.inf) for s in surfaces])
    nearest = distances.argmin(0)
    hit = distances.min(0).values < torch.inf
    if not bool(hit.any()):
        return depth, radiance

    def pick(field: str) -> torch.Tensor:
        values = torch.stack([getattr(s, field) for s in surfaces])
        chosen = values.gather(
            0, nearest.view(1, -1, *([1] * (values.dim() - 2))).expand(1, *values.shape[1:])
        )
        return chosen[0][hit]

    normals = F.normalize(pick("normals") @ rotation.T, dim=-1)
    along = F.normalize(pick("along") @ rotation.T, dim=-1)
    across_strands, down_strands = pick("across_strands"), pick("down_strands")
    if float(numbers[7]) < 0.25:  # curls: tight round locks instead of long strands
        texture_u, texture_v = across_strands * 40 + float(numbers[3]), down_strands * 30 + float(numbers[3])
    else:
        texture_u, texture_v = across_strands * 9 + float(numbers[3]), down_strands * 0.8 + float(numbers[3])
    strands = sample_noise([PORES, MID], texture_u, texture_v)
    texture = (1 + 0.5 * strands[0] + 0.25 * strands[1]).clamp_min(0.25)
    albedo = colour.float()[None] * texture[:, None]
    view = -F.normalize(rays.float().cpu()[hit], dim=-1)
    shaded = albedo * ambient.float()[None]
    for direction, light in lights:
        direction = direction.float().cpu()
        diffuse = (0.25 + 0.75 * (normals @ direction)).clamp_min(0)
        halfway = F.normalize(direction[None] + view, dim=-1)
        sheen = (1 - (along * halfway).sum(-1) ** 2).clamp_min(0) ** 40 * shine
        shaded = shaded + (albedo * diffuse[:, None] + sheen[:, None]) * light.float()[None]
    depth[hit] = distances.min(0).values[hit]
    radiance[:, hit] = shaded.T
    return depth, radiance
