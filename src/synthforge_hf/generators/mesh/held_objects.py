"""Objects held in front of the face, drawn in image space from the posed iBUG points as the hands are
(`occluders`): a phone held to an ear, a cup raised to the mouth, or a microphone below it. Each is sized
by the face's width and turned with the face's in-plane axis, stands a few centimetres in front of the
face's nearest point, and is lit by the sample's lights; it covers what is behind it (landmarks behind it
are hidden) and shows as `object` in the part map."""

from __future__ import annotations

import math

import torch

from .maths import hsv_to_rgb, rounded_box_distance, smoothstep
from .occluders import held_in_front

OBJECT_KINDS = ("phone", "cup", "microphone")
_CHIN, _NOSE_BRIDGE, _LOWER_LIP, _UPPER_LIP = 8, 27, 57, 51
_EARS = (1, 15)  # the jaw's top points, by the ears (the subject's right, left)


def object_kind(numbers: torch.Tensor) -> str:
    """Which object a sample's occluder ``numbers`` (`occluders.NUMBERS_PER_SAMPLE`,) hold up: one of
    `OBJECT_KINDS`, in equal shares."""
    return OBJECT_KINDS[min(int(float(numbers[1]) * len(OBJECT_KINDS)), len(OBJECT_KINDS) - 1)]


class _Frame:
    """Pixel centres of an R*R image in a face's in-plane frame: ``width`` the jaw's span (iBUG 0 to 16)
    in pixels, ``up`` (2,) the unit image direction from the chin to the nose bridge turned by ``tilt``
    radians, ``side`` (2,) at a right angle to it."""

    def __init__(self, landmarks: torch.Tensor, resolution: int, tilt: float):
        self.landmarks = landmarks.float()
        self.width = float((self.landmarks[16] - self.landmarks[0]).norm())
        face_up = self.landmarks[_NOSE_BRIDGE] - self.landmarks[_CHIN]
        angle = math.atan2(float(face_up[1]), float(face_up[0])) + tilt
        self.up = torch.tensor([math.cos(angle), math.sin(angle)])
        self.side = torch.stack([-self.up[1], self.up[0]])
        coords = torch.arange(resolution, dtype=torch.float32) + 0.5
        y, x = torch.meshgrid(coords, coords, indexing="ij")
        self.x, self.y = x.reshape(-1), y.reshape(-1)

    def local(self, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each pixel's offset from ``centre`` (2,) across (along ``side``) and along ``up``, in face
        widths."""
        dx, dy = self.x - float(centre[0]), self.y - float(centre[1])
        across = (dx * float(self.side[0]) + dy * float(self.side[1])) / self.width
        along = (dx * float(self.up[0]) + dy * float(self.up[1])) / self.width
        return across, along


def _phone(frame: _Frame, numbers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A phone held to one ear: from above the ear down along the side of the face, its lower end leaning
    in towards the mouth; seen from the front, a narrow dark slab over the ear and the side of the jaw."""
    side = 0 if float(numbers[2]) < 0.5 else 1
    outwards = frame.side * (-1.0 if side == 0 else 1.0)  # iBUG 0 is on the image's left of an upright face
    lean = math.radians(5 + 15 * float(numbers[7]))
    down = -frame.up * math.cos(lean) - outwards * math.sin(lean)
    top = frame.landmarks[_EARS[side]] + (frame.up * 0.2 + outwards * 0.03) * frame.width
    centre = top + down * 0.4 * frame.width
    dx, dy = frame.x - float(centre[0]), frame.y - float(centre[1])
    along = (dx * float(down[0]) + dy * float(down[1])) / frame.width
    across = (dy * float(down[0]) - dx * float(down[1])) / frame.width
    half_across = 0.07 + 0.06 * float(numbers[6])  # the phone turned more or less towards the camera
    distance = rounded_box_distance(across, along, (half_across, 0.4), 0.05)
    case = hsv_to_rgb(numbers[4:5], 0.1 + 0.5 * numbers[5:6], 0.03 + 0.4 * numbers[5:6] ** 2)[0] ** 2.2
    sheen = 1 + 0.6 * smoothstep(0.6, 1.0, 1 - (across / half_across).abs())  # down its middle
    return distance, case[:, None] * sheen[None], 0.3 * torch.ones_like(distance)


def _cup(frame: _Frame, numbers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A cup raised to the mouth: its rim at the lips, its body down over the chin, a handle to one
    side; a glaze in one colour with a darker band at the rim."""
    mouth = (frame.landmarks[_UPPER_LIP] + frame.landmarks[_LOWER_LIP]) / 2
    half_width, half_height = 0.26 + 0.06 * float(numbers[6]), 0.32 + 0.06 * float(numbers[5])
    centre = mouth - frame.up * half_height * frame.width
    across, along = frame.local(centre)
    body = rounded_box_distance(across, along, (half_width, half_height), 0.04)
    handle_side = 1.0 if float(numbers[2]) < 0.5 else -1.0
    handle_across, handle_along = across - handle_side * (half_width + 0.02), along - 0.05
    ring = torch.hypot(handle_across, handle_along * 0.8)
    handle = (ring - 0.11).abs() - 0.03
    distance = torch.minimum(body, torch.maximum(handle, -handle_across * handle_side))
    glaze = hsv_to_rgb(numbers[4:5], 0.05 + 0.6 * numbers[7:8], 0.35 + 0.6 * numbers[3:4])[0] ** 2.2
    band = 1 - 0.35 * smoothstep(half_height - 0.05, half_height - 0.03, along) * (body < 0).float()
    roundness = (1 - (across / half_width).clamp(-1, 1) ** 2).sqrt()  # a cylinder facing the camera
    return distance, glaze[:, None] * band[None], torch.where(body < 0, roundness, torch.ones_like(roundness))


def _microphone(frame: _Frame, numbers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A hand-held microphone below the mouth: a round grille on a handle running down and away."""
    radius = 0.15 + 0.04 * float(numbers[6])
    head = (
        frame.landmarks[_LOWER_LIP]
        - frame.up * (radius * 0.7 + 0.12 * float(numbers[5])) * frame.width
        + frame.side * (float(numbers[2]) - 0.5) * 0.3 * frame.width
    )
    across, along = frame.local(head)
    ball = torch.hypot(across, along) - radius
    down = (-along - radius * 0.6).clamp(0, 0.8)
    handle = torch.hypot(across, (-along - radius * 0.6) - down) - (0.06 - 0.03 * down)  # tapering
    distance = torch.minimum(ball, handle)
    mesh = ((torch.sin(across * 120) > 0.7) | (torch.sin(along * 120) > 0.7)).float()
    grille = 0.1 * (1 - 0.5 * mesh)
    body = hsv_to_rgb(numbers[4:5], 0.05 + 0.3 * numbers[7:8], 0.02 + 0.15 * numbers[3:4])[0] ** 2.2
    albedo = torch.where((ball < 0)[None], grille.expand(3, -1), body[:, None].expand(3, grille.shape[0]))
    sphere = (1 - (torch.hypot(across, along) / radius).clamp(max=1) ** 2).sqrt()
    return distance, albedo, torch.where(ball < 0, sphere, torch.ones_like(sphere))


def object_distance(
    landmarks: torch.Tensor, resolution: int, numbers: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The held object of `object_kind`: its signed distance (R*R,) in face widths (negative inside),
    its albedo (3,R*R) and how squarely each pixel faces the camera (R*R,) in [0,1].

    Args:
        landmarks: (68,2) the posed iBUG points in pixels (x, y).
        resolution: the image side R.
        numbers: (`occluders.NUMBERS_PER_SAMPLE`,) uniform numbers: the kind (index 1), which side, the
            colour, the size and the tilt.
    """
    frame = _Frame(landmarks, resolution, tilt=(float(numbers[3]) - 0.5) * math.radians(30))
    shape = {"phone": _phone, "cup": _cup, "microphone": _microphone}[object_kind(numbers)]
    return shape(frame, numbers)


def render_held_object(
    landmarks: torch.Tensor,
    face_depth: torch.Tensor,
    rays: torch.Tensor,
    lights: list[tuple[torch.Tensor, torch.Tensor]],
    ambient: torch.Tensor,
    resolution: int,
    numbers: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An object held in front of the face: its depth (R*R,) in metres along the optical axis (inf where
    absent) and its radiance (3,R*R) in linear RGB.

    Args:
        landmarks: (68,2) the posed iBUG points in pixels; ``face_depth`` the head's depth in metres
            at its pixels (N,), whose nearest point the object stands in front of.
        rays: (R*R,3) the camera's rays, world frame; ``lights`` (direction towards the light (3,),
            colour (3,)) per light and ``ambient`` (3,) the ambient light's colour.
        numbers: (`occluders.NUMBERS_PER_SAMPLE`,) uniform numbers (see `object_distance`).
    """
    distance, albedo, facing_camera = object_distance(landmarks, resolution, numbers)
    covered = distance < 0
    depth, irradiance = held_in_front(covered, face_depth, rays, lights, ambient)
    radiance = torch.zeros(3, resolution * resolution)
    edge = smoothstep(0.0, 0.02, -distance[covered])  # darker at the outline
    shade = (0.5 + 0.5 * facing_camera[covered]) * (0.7 + 0.3 * edge)
    radiance[:, covered] = albedo[:, covered] * irradiance.T * shade[None]
    return depth, radiance
