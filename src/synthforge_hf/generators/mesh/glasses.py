"""Eyeglasses and sunglasses, ray-traced per pixel: two rounded-rectangle rims and a bridge in a plane in
front of the eyes, and two temples running back towards the ears, placed from the posed eye corners and
nose bridge (so they follow shape, expression and pose). The frames cover what is behind them (the
generator reports their depth, `GeneratorOutput.occluder_depth`, and the pipeline takes the covered
pixels and landmarks out of the head's labels); the lenses tint what is seen through them and leave the
labels as they are."""

from __future__ import annotations

import torch

from ...rendering.cameras import world_to_head
from .maths import hsv_to_rgb, rounded_box_distance, smoothstep

NUMBERS_PER_SAMPLE = 10
# iBUG points that place the glasses: outer and inner eye corners, the top of the nose bridge.
_RIGHT_OUTER, _RIGHT_INNER, _LEFT_INNER, _LEFT_OUTER, _NOSE_BRIDGE = 36, 39, 42, 45, 27


def wears_glasses(numbers: torch.Tensor) -> bool:
    """Whether a sample's ``numbers`` (NUMBERS_PER_SAMPLE,) give it glasses (about one face in three)."""
    return float(numbers[0]) < 0.35


def _ray_segment_hits(
    origin: torch.Tensor, rays: torch.Tensor, start: torch.Tensor, end: torch.Tensor, radius: float
) -> torch.Tensor:
    """Depth along each ray (N,) where it passes within ``radius`` of the segment start -> end (a thin
    bar), inf where it does not."""
    axis = end - start
    offset = origin - start
    a, b, c = (rays * rays).sum(-1), rays @ axis, axis @ axis
    d, e = rays @ offset, axis @ offset
    denominator = (a * c - b * b).clamp_min(1e-12)
    along_bar = ((a * e - b * d) / denominator).clamp(0, 1)
    along_ray = (b * along_bar - d) / a
    closest = origin + along_ray[:, None] * rays - (start + along_bar[:, None] * axis)
    hit = (closest.norm(dim=-1) < radius) & (along_ray > 0)
    return torch.where(hit, along_ray, torch.full_like(along_ray, torch.inf))


def render_glasses(
    landmarks_3d: torch.Tensor,
    head_rotation: torch.Tensor,
    camera_centre: torch.Tensor,
    rays: torch.Tensor,
    lights: list[tuple[torch.Tensor, torch.Tensor]],
    ambient: torch.Tensor,
    numbers: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One sample's glasses seen along each ray.

    Args:
        landmarks_3d: (68,3) the posed landmarks, head frame (metres).
        head_rotation: (3,3) the head's rotation (global and neck joints).
        camera_centre: (3,) the camera, and ``rays`` (N,3) its rays (unit optical-axis component), world
            frame.
        lights: (direction towards the light (3,), colour (3,)) per light, world frame.
        ambient: (3,) the ambient light's colour.
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers: whether the face wears glasses, the rims' width,
            height and roundness, the frame's thickness, colour and value, the lenses' tint and
            darkness (sunglasses), and the temples' height.

    Returns:
        The frame's depth (N,) along the optical axis in metres (inf where a ray misses it), its radiance
        (3,N) in linear RGB, the depth (N,) at which each ray crosses a lens (inf where none), and the
        lenses' transmittance (3,).
    """
    count = rays.shape[0]
    nothing = torch.full((count,), torch.inf)
    if not wears_glasses(numbers):
        return nothing, torch.zeros(3, count), nothing, torch.ones(3)
    points = landmarks_3d.float().cpu()
    rotation = head_rotation.float().cpu()
    across = torch.nn.functional.normalize(points[_LEFT_OUTER] - points[_RIGHT_OUTER], dim=0)
    up = torch.nn.functional.normalize(rotation[:, 1] - (rotation[:, 1] @ across) * across, dim=0)
    forward = torch.linalg.cross(across, up)  # out of the face
    eyes = (points[_RIGHT_OUTER] + points[_RIGHT_INNER] + points[_LEFT_INNER] + points[_LEFT_OUTER]) / 4
    eye_span = float((points[_LEFT_OUTER] - points[_RIGHT_OUTER]).norm())
    # The rims stand 12 mm in front of the eye corners, resting on the nose bridge.
    depth_in_front = max(0.012, float((points[_NOSE_BRIDGE] - eyes) @ forward) + 0.004)
    centre = eyes + forward * depth_in_front + up * 0.002
    half_width = eye_span * (0.24 + 0.06 * float(numbers[1]))
    half_height = half_width * (0.55 + 0.3 * float(numbers[2]))
    radius = min(half_width, half_height) * (0.2 + 0.8 * float(numbers[3]))
    thickness = 0.0012 + 0.003 * float(numbers[4])
    lens_offset = max(eye_span * 0.35, half_width + 0.004)  # from the middle to each lens's centre

    origin = world_to_head(camera_centre.float().cpu())
    rays = rays.float().cpu()
    # The plane of the rims.
    facing = rays @ forward
    facing = torch.where(facing.abs() < 1e-9, torch.full_like(facing, 1e-9), facing)
    distance = ((centre - origin) @ forward) / facing
    hits = origin + distance[:, None] * rays - centre
    x, y = hits @ across, hits @ up
    right = rounded_box_distance(x + lens_offset, y, (half_width, half_height), radius)
    left = rounded_box_distance(x - lens_offset, y, (half_width, half_height), radius)
    inside_either = torch.minimum(right, left)
    in_front = distance > 0
    rims = (inside_either.abs() < thickness / 2) & in_front
    gap = lens_offset - half_width
    bridge = (x.abs() < gap + thickness) & ((y - 0.35 * half_height).abs() < thickness / 2) & in_front
    frame_depth = torch.where(rims | bridge, distance, nothing)
    lens_depth = torch.where((inside_either < 0) & in_front, distance, nothing)

    # The temples: from each rim's outer edge back to above the ear.
    temple_height = half_height * (0.2 + 0.5 * float(numbers[9]))
    for side in (1.0, -1.0):
        start = centre + across * side * (lens_offset + half_width) + up * temple_height
        end = start + forward * -0.09 + across * side * 0.012 - up * 0.004
        frame_depth = torch.minimum(frame_depth, _ray_segment_hits(origin, rays, start, end, thickness * 0.6))

    hue, saturation, value = numbers[5:6], 0.1 + 0.5 * numbers[6:7], 0.02 + 0.5 * numbers[6:7] ** 2
    colour = hsv_to_rgb(hue, saturation, value)[0] ** 2.2
    normal = forward
    lit = ambient.float().cpu() * 0.6
    for direction, light in lights:
        lit = lit + (normal @ direction.float().cpu()).clamp_min(0) * light.float().cpu()
    sheen = smoothstep(0.0, 1.0, y / half_height + 0.5)[None] * 0.05  # a highlight along the top of the rims
    radiance = colour[:, None] * lit[:, None] + sheen
    radiance = radiance.expand(3, count).clone()

    sunglasses = float(numbers[8]) < 0.3
    darkness = 0.75 + 0.2 * float(numbers[8]) if sunglasses else 0.08 * float(numbers[8])
    tint = hsv_to_rgb(torch.tensor([float(numbers[7])]), torch.tensor([0.3]), torch.tensor([1.0]))[0] ** 2.2
    transmittance = (1 - darkness) * (0.7 + 0.3 * tint)
    return frame_depth, radiance, lens_depth, transmittance
