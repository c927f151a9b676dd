"""Hats, ray-traced per pixel in the head's rest frame: a knitted beanie (a shell over the skull and its
hair, ribbed, with a folded cuff) or a cap (a smooth crown with a flat brim out over the brows). The hat
sits on the skull measured from the scalp (`hair.Skull`), its edge a few centimetres above the brows in
front and lower at the back, so it follows shape and pose. It covers what is behind it (the generator
reports its depth; landmarks behind it are hidden)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .hair import RestFrame, Skull
from .lighting import diffuse_irradiance
from .maths import ellipsoid_hits, hsv_to_rgb

NUMBERS_PER_SAMPLE = 6
HAT_KINDS = ("beanie", "cap")
_CROWN_MARGIN = {"beanie": (0.025, 0.04, 0.025), "cap": (0.022, 0.03, 0.022)}  # metres over the skull
_BRIM_REACH = 0.075  # metres a cap's brim stands out in front of the forehead


def hat_kind(numbers: torch.Tensor) -> str | None:
    """The hat a sample's ``numbers`` (NUMBERS_PER_SAMPLE,) give it (about one face in seven), or None."""
    if float(numbers[0]) >= 0.14:
        return None
    return HAT_KINDS[0] if float(numbers[1]) < 0.5 else HAT_KINDS[1]


def _edge_height(skull: Skull, azimuth: torch.Tensor, lift: float) -> torch.Tensor:
    """The hat's lower edge (metres above the skull's centre) around the head: ``lift`` above the brows in
    front, 4 cm lower at the back."""
    return skull.brow_height + lift - 0.04 * (1 - torch.cos(azimuth)) / 2


def _brim_hits(
    skull: Skull, frame: RestFrame, height: float, crown: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the rays cross a cap's brim: a flat half-ellipse at ``height`` above the skull's centre,
    from the crown's front (half axes ``crown`` (3,)) out to `_BRIM_REACH` beyond the forehead. The ray
    parameter (N,) and whether they do (N,)."""
    origin, rays, _ = frame
    relative = origin - skull.centre
    along = (height - relative[1]) / torch.where(
        rays[:, 1].abs() > 1e-6, rays[:, 1], torch.full_like(rays[:, 1], 1e-6)
    )
    point = relative + along[:, None] * rays
    x, z = point[:, 0] / crown[0], point[:, 2]
    front = skull.fringe_depth + _BRIM_REACH
    inside = (x**2 + (z / front) ** 2 < 1) & (z > 0)
    outside_crown = x**2 + (z / crown[2]) ** 2 > 1 - (height / crown[1]) ** 2  # the crown's section there
    return along, inside & outside_crown & (along > 0)


def render_hat(
    skull: Skull,
    frame: RestFrame,
    rays: torch.Tensor,
    lights: list[tuple[torch.Tensor, torch.Tensor]],
    ambient: torch.Tensor,
    kind: str,
    numbers: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A hat seen along each ray: its depth (N,) in metres along the optical axis (inf where a ray misses
    it) and its radiance (3,N) in linear RGB.

    Args:
        skull: the head's skull (`hair.scalp_outline`); ``frame`` the rays in the head's rest frame
            (`hair.rest_frame`) and ``rays`` (N,3) the same rays in the world frame.
        lights: (direction towards the light (3,), colour (3,)) per light, world frame; ``ambient`` (3,)
            the ambient light's colour.
        kind: one of `HAT_KINDS`.
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers: whether there is a hat and its kind, how far above
            the brows its edge sits, its colour (hue, saturation, value).
    """
    count = rays.shape[0]
    depth = torch.full((count,), torch.inf)
    radiance = torch.zeros(3, count)
    origin, rest_rays, rotation = frame
    crown = skull.half + torch.tensor(_CROWN_MARGIN[kind])
    crown[2] = max(float(crown[2]), skull.fringe_depth + 0.01)
    distance, hit, surface = ellipsoid_hits(origin - skull.centre, rest_rays, crown)
    point = surface * crown
    azimuth = torch.atan2(point[:, 0], point[:, 2])
    lift = 0.02 + 0.02 * float(numbers[2])
    hit &= point[:, 1] > _edge_height(skull, azimuth, lift)
    normals = F.normalize(surface / crown, dim=-1)
    if kind == "cap":
        height = skull.brow_height + lift
        brim_distance, on_brim = _brim_hits(skull, frame, height, crown)
        brim_nearer = on_brim & (~hit | (brim_distance < distance))
        distance = torch.where(brim_nearer, brim_distance, distance)
        up = torch.tensor([0.0, 1.0, 0.0]).expand(count, 3) * -torch.sign(rest_rays[:, 1:2])
        normals = torch.where(brim_nearer[:, None], up, normals)
        hit |= on_brim
    if not bool(hit.any()):
        return depth, radiance
    colour = (
        hsv_to_rgb(
            torch.tensor(float(numbers[3])),
            torch.tensor(0.1 + 0.6 * float(numbers[4])),
            torch.tensor(0.1 + 0.8 * float(numbers[5])),
        )
        ** 2.2
    )
    texture = torch.ones(count)
    if kind == "beanie":
        ribs = 1 + 0.15 * torch.sin(azimuth * 70)
        cuff = (point[:, 1] < _edge_height(skull, azimuth, lift) + 0.025).float()
        texture = ribs * (1 - 0.15 * cuff)
    irradiance = diffuse_irradiance(normals[hit] @ rotation.T, lights, ambient, wrap=0.2)
    depth[hit] = distance[hit]
    radiance[:, hit] = (colour[None] * texture[hit, None] * irradiance).T
    return depth, radiance
