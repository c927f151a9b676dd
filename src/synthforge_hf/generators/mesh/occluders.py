"""Hands and face masks in front of the face, drawn in image space from the posed iBUG points: a hand
(palm, four fingers and a thumb) raised to the chin, a jaw or the mouth, a few centimetres in front of
the face's nearest point, in the sample's skin tone under its lights; or a cloth face mask from the nose
bridge over the chin, lying on the face, lit as the skin under it was. Both cover what is behind them
(the generator reports their depth; landmarks behind them are hidden). `occluder_kind` also picks the
faces that hold up an object instead (`held_objects`)."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from .lighting import diffuse_irradiance
from .maths import hsv_to_rgb, smoothstep

NUMBERS_PER_SAMPLE = 8
_HAND_ANCHORS = ((8,), (4,), (12,), (48, 54))  # iBUG points a hand is raised to: chin, a jaw side, mouth
_MASK_TOP = (1, 28, 15)  # from ear to ear over the nose bridge
_JAW = tuple(range(15, 0, -1))
_FACE_WIDTH = (0, 16)
_HELD_FRONT = 0.03  # metres in front of the face's nearest point: hands and held objects
_MASK_FRONT = 0.004  # metres in front of the skin


def occluder_kind(numbers: torch.Tensor) -> str | None:
    """What a sample's ``numbers`` (NUMBERS_PER_SAMPLE,) put in front of its face: "hand" (about one face in
    six), "mask" (one in ten), "object" (one in twelve: `held_objects`) or None."""
    if float(numbers[0]) >= 0.26:
        return "object" if float(numbers[0]) < 0.34 else None
    return "hand" if float(numbers[1]) < 0.62 else "mask"


def _face_width(landmarks: torch.Tensor) -> float:
    """Pixels between the jaw's ends (iBUG 0 and 16) of landmarks (68,2): the scale hands are drawn at."""
    return float((landmarks[_FACE_WIDTH[1]] - landmarks[_FACE_WIDTH[0]]).float().norm())


def _capsule_distance(x: torch.Tensor, y: torch.Tensor, start, end, radius: float) -> torch.Tensor:
    """Signed distance (pixels) from pixel centres (x, y) to a capsule from ``start`` to ``end`` (2,)."""
    ax, ay = end[0] - start[0], end[1] - start[1]
    along = (((x - start[0]) * ax + (y - start[1]) * ay) / max(ax * ax + ay * ay, 1e-6)).clamp(0, 1)
    return torch.hypot(x - start[0] - along * ax, y - start[1] - along * ay) - radius


def held_in_front(
    covered: torch.Tensor,
    face_depth: torch.Tensor,
    rays: torch.Tensor,
    lights: list[tuple[torch.Tensor, torch.Tensor]],
    ambient: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Something held up over the ``covered`` pixels (R*R,) bool of an image, a hand or an object, standing a
    few centimetres in front of the face's nearest point (``face_depth``: the head's depth in metres at
    its pixels (N,)) and facing the camera along its ``rays`` (R*R,3): its depth (R*R,) in metres along the
    optical axis (inf where absent) and the light (M,3) falling on its M covered pixels from the
    ``lights`` (direction towards the light (3,), colour (3,)) and the ``ambient`` colour (3,)."""
    depth = torch.full(covered.shape, torch.inf)
    if not bool(covered.any()):
        return depth, torch.zeros(0, 3)
    depth[covered] = float(face_depth.min()) - _HELD_FRONT
    facing = -torch.nn.functional.normalize(rays[covered].float(), dim=-1)
    return depth, diffuse_irradiance(facing, lights, ambient)


def hand_distance(landmarks: torch.Tensor, resolution: int, numbers: torch.Tensor) -> torch.Tensor:
    """Signed distance (R*R,) in pixels to a hand (negative inside), raised to one of `_HAND_ANCHORS`
    with its fingers up along the face, its size from the face's width.

    Args:
        landmarks: (68,2) the posed iBUG points in pixels (x, y).
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers: the anchor, the hand's tilt, its reach over the
            anchor and the spread of the fingers (from index 2 on).
    """
    anchors = _HAND_ANCHORS[min(int(float(numbers[2]) * len(_HAND_ANCHORS)), len(_HAND_ANCHORS) - 1)]
    anchor = landmarks[list(anchors)].float().mean(0)
    width = _face_width(landmarks)
    tilt = (float(numbers[3]) - 0.5) * math.radians(120)
    up = torch.tensor([math.sin(tilt), -math.cos(tilt)])  # image y points down
    side = torch.tensor([-up[1], up[0]])
    palm_centre = anchor - up * width * (0.15 + 0.25 * float(numbers[4]))
    coords = torch.arange(resolution, dtype=torch.float32) + 0.5
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    dx, dy = x - palm_centre[0], y - palm_centre[1]
    across, along = dx * side[0] + dy * side[1], dx * up[0] + dy * up[1]
    half_width, half_height = 0.2 * width, 0.22 * width
    distance = (torch.hypot(across / half_width, along / half_height) - 1) * min(half_width, half_height)
    spread = 0.1 + 0.2 * float(numbers[5])
    for finger, length in zip(range(4), (0.34, 0.4, 0.38, 0.3), strict=True):
        offset = (finger - 1.5) / 1.5
        base = palm_centre + side * offset * half_width * 0.8 + up * half_height * 0.8
        direction = up + side * offset * spread
        tip = base + direction / direction.norm() * length * width
        distance = torch.minimum(distance, _capsule_distance(x, y, base, tip, 0.055 * width))
    thumb_base = palm_centre - side * half_width * 0.9
    thumb_tip = thumb_base + (up - side) / math.sqrt(2) * 0.25 * width
    distance = torch.minimum(distance, _capsule_distance(x, y, thumb_base, thumb_tip, 0.06 * width))
    return distance.reshape(-1)


def render_hand(
    landmarks: torch.Tensor,
    face_depth: torch.Tensor,
    rays: torch.Tensor,
    lights: list[tuple[torch.Tensor, torch.Tensor]],
    ambient: torch.Tensor,
    skin: torch.Tensor,
    resolution: int,
    numbers: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A hand in front of the face: its depth (R*R,) in metres along the optical axis (inf where absent)
    and its radiance (3,R*R) in linear RGB.

    Args:
        landmarks: (68,2) the posed iBUG points in pixels; ``face_depth`` the head's depth in metres
            at its pixels (N,), whose nearest point the hand stands in front of.
        rays: (R*R,3) the camera's rays, world frame; ``lights`` (direction towards the light (3,),
            colour (3,)) per light and ``ambient`` (3,) the ambient light's colour.
        skin: (3,) the sample's skin albedo, which the hand shares.
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers (see `hand_distance`).
    """
    distance = hand_distance(landmarks, resolution, numbers)
    covered = distance < 0
    depth, irradiance = held_in_front(covered, face_depth, rays, lights, ambient)
    radiance = torch.zeros(3, resolution * resolution)
    rounded = smoothstep(0.0, 0.05 * _face_width(landmarks), -distance[covered])  # darker at the outline
    radiance[:, covered] = (skin.float()[None] * irradiance * (0.55 + 0.45 * rounded)[:, None]).T
    return depth, radiance


def mask_region(landmarks: torch.Tensor, resolution: int) -> torch.Tensor:
    """Pixels (R*R,) bool inside a face mask's outline: from ear to ear over the nose bridge (iBUG 1, 28,
    15) and down along the jaw, a little outside it."""
    centre = landmarks[list(_JAW)].float().mean(0)
    jaw = landmarks[list(_JAW)].float()
    jaw = jaw + (jaw - centre) * 0.04
    outline = torch.cat([landmarks[list(_MASK_TOP)].float(), jaw])
    canvas = Image.new("1", (resolution, resolution), 0)
    ImageDraw.Draw(canvas).polygon([tuple(point) for point in outline.tolist()], fill=1)
    return torch.from_numpy(np.asarray(canvas, dtype=bool).copy()).reshape(-1)


def render_face_mask(
    pixels: torch.Tensor,
    pixel_depth: torch.Tensor,
    radiance: torch.Tensor,
    albedo: torch.Tensor,
    landmarks: torch.Tensor,
    resolution: int,
    numbers: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A cloth face mask lying on the face: its depth (R*R,) in metres (inf where absent) and radiance
    (3,R*R), lit as the skin under it was (the skin's radiance over its albedo, times the cloth's).

    Args:
        pixels: (N,) the head's pixels (flat indices), ``pixel_depth`` (N,) their depth in metres,
            ``radiance`` and ``albedo`` (3,N) the shaded skin and its albedo there.
        landmarks: (68,2) the posed iBUG points in pixels.
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers: the cloth's colour (index 2 on).
    """
    on_face = mask_region(landmarks, resolution).index_select(0, pixels)
    depth = torch.full((resolution * resolution,), torch.inf)
    image = torch.zeros(3, resolution * resolution)
    if not bool(on_face.any()):
        return depth, image
    hue, saturation = torch.tensor(float(numbers[2])), torch.tensor(0.05 + 0.5 * float(numbers[3]) ** 2)
    value = torch.tensor(0.05 + 0.8 * float(numbers[4]))
    cloth = hsv_to_rgb(hue, saturation, value) ** 2.2
    rows = torch.div(pixels[on_face], resolution, rounding_mode="floor").float() / resolution
    pleats = 1 - 0.12 * (torch.sin(rows * (50 + 30 * float(numbers[5]))) > 0.6).float()
    lighting = radiance[:, on_face] / albedo[:, on_face].clamp_min(0.02)
    depth[pixels[on_face]] = pixel_depth[on_face] - _MASK_FRONT
    image[:, pixels[on_face]] = cloth[:, None] * pleats[None] * lighting.clamp(0, 4)
    return depth, image
