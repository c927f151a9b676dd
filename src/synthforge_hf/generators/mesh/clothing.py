"""Shoulders and clothing below the neck: an ellipsoid torso hanging below the chin, ray-traced per pixel.
It wears a garment of a sampled colour and weave, with a round or V neckline that shows the skin, or a
closed collar, and is lit by the sample's lights. Where it is nearer than the head (the base of the neck)
it covers it: the generator reports its depth (`GeneratorOutput.occluder_depth`) and the pipeline takes
those pixels out of the head's labels (the label set has no class for clothes: they are background)."""

from __future__ import annotations

import math

import torch

from ...head.landmarks import barycentric_points
from ...head.lbs import axis_angle_to_matrix
from ...head.model import ParametricHeadModel
from ...rendering.cameras import world_to_head
from .maths import ellipsoid_hits, hsv_to_rgb, smoothstep
from .noise import MID, SPECKLE, sample_noise

NUMBERS_PER_SAMPLE = 10
_CHIN = 8  # iBUG index of the chin
# Where the chest and shoulders hang below the chin, in metres (the neck's base, the notch between the
# collarbones, is about 10 cm below the chin; shoulders are about 14 cm below it).
_NOTCH_BELOW_CHIN = 0.10
_NECK_HALF_WIDTH = 0.055


def torso_anchor(head: ParametricHeadModel) -> torch.Tensor:
    """Where the torso hangs in the head's rest frame (metres): below the chin by the neck's length, at
    the depth of the neck's axis."""
    rest = head.v_template.float().cpu()
    chin = barycentric_points(
        rest[None], head.faces.cpu(), head.landmark_face_idx.cpu(), head.landmark_bary.float().cpu()
    )[0, _CHIN]
    return torch.stack([torch.zeros(()), chin[1] - _NOTCH_BELOW_CHIN, chin[2] - 0.08])


def render_torso(
    notch: torch.Tensor,
    rest_root: torch.Tensor,
    global_pose: torch.Tensor,
    root_joint: torch.Tensor,
    camera_centre: torch.Tensor,
    rays: torch.Tensor,
    lights: list[tuple[torch.Tensor, torch.Tensor]],
    ambient: torch.Tensor,
    skin: torch.Tensor,
    numbers: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clothed torso seen along each ray: its depth (N,) in metres along the optical axis (inf where
    a ray misses it) and its radiance (3,N) in linear RGB (0 where it misses).

    Args:
        notch: (3,) where the torso hangs in the head's rest frame (`torso_anchor`), and ``rest_root``
            (3,) the root joint there (metres).
        global_pose: (3,) the head's global axis-angle rotation (the torso turns with it, not with the
            neck).
        root_joint: (3,) the posed root joint, head frame (metres).
        camera_centre: (3,) the camera, and ``rays`` (N,3) its rays (unit optical-axis component), world
            frame.
        lights: (direction towards the light (3,), colour (3,)) per light, world frame.
        ambient: (3,) the ambient light's colour.
        skin: (3,) the skin's albedo, seen in the neckline.
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers: the shoulders' width, the garment's hue,
            saturation and value, its weave's scale, stripes, the neckline's kind and depth, the chest's
            depth and the weave's phase.
    """
    count = rays.shape[0]
    depth = torch.full((count,), torch.inf)
    radiance = torch.zeros(3, count)
    half_axes = torch.tensor(
        [0.17 + 0.06 * float(numbers[0]), 0.12, 0.09 + 0.03 * float(numbers[8])]
    )  # shoulders 34-46 cm wide
    centre_rest = notch - torch.tensor([0.0, half_axes[1] - 0.04, 0.0])
    rotation = axis_angle_to_matrix(global_pose.float().cpu()[None])[0]
    centre = root_joint.float().cpu() + rotation @ (centre_rest - rest_root)

    # The rays in the torso's frame.
    origin = rotation.T @ (world_to_head(camera_centre.float().cpu()) - centre)
    distance, hit, surface = ellipsoid_hits(origin, rays.float().cpu() @ rotation, half_axes)
    if not bool(hit.any()):
        return depth, radiance
    surface = surface[hit]  # on the unit sphere
    normals = torch.nn.functional.normalize((surface / half_axes) @ rotation.T, dim=-1)
    local = surface * half_axes  # metres, torso frame: x across, y up, z out of the chest
    height = local[:, 1] - (notch[1] - centre_rest[1])  # above the notch between the collarbones

    hue, saturation, value = numbers[1:2], 0.05 + 0.6 * numbers[2:3] ** 1.5, 0.04 + 0.8 * numbers[3:4] ** 1.3
    garment = hsv_to_rgb(hue, saturation, value)[0] ** 2.2
    scale = 20 + 60 * float(numbers[4])
    weave = sample_noise([MID, SPECKLE], local[:, 0] * scale / 8 + float(numbers[9]), local[:, 1] * scale / 8)
    stripes = float(numbers[5] > 0.75) * (torch.sin(local[:, 1] * scale * math.pi / 2) > 0).float()
    albedo = garment[None] * (
        1 + 0.12 * weave[0, :, None] + 0.1 * weave[1, :, None] - 0.35 * stripes[:, None]
    )

    # The neckline: skin inside it, the garment's darker edge around it (none for a closed collar).
    kind, drop = float(numbers[6]), 0.01 + 0.10 * float(numbers[7])
    front = smoothstep(-0.02, 0.02, local[:, 2])
    if kind < 0.45:  # round
        opening = _NECK_HALF_WIDTH * 1.8 - torch.sqrt(
            local[:, 0] ** 2 + (height.clamp(max=0) * 1.5) ** 2 + 1e-8
        )
        opening = opening + drop * 0.3
    elif kind < 0.8:  # V
        opening = (height + drop) * 0.8 - local[:, 0].abs()
    else:  # closed collar
        opening = torch.full_like(height, -1.0)
    inside = smoothstep(-0.003, 0.003, opening) * front
    edge = smoothstep(-0.012, -0.004, opening) * (1 - inside) * front
    albedo = albedo * (1 - 0.3 * edge[:, None])
    albedo = albedo + inside[:, None] * (skin[None] - albedo)

    shaded = albedo * ambient[None]
    for direction, colour in lights:
        shaded = shaded + albedo * (normals @ direction.float().cpu()).clamp_min(0)[:, None] * colour[None]
    # The head shades the chest under the chin.
    shaded = shaded * (1 - 0.35 * smoothstep(-0.08, 0.03, height) * front)[:, None]
    depth[hit] = distance[hit]
    radiance[:, hit] = shaded.T
    return depth, radiance
