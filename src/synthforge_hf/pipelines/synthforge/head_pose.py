"""Where the head looks, as the camera sees it: the yaw that picks FLAME's jaw contour, the head's yaw,
pitch and roll in degrees, and the pupils annotated after the 68 landmarks."""

from __future__ import annotations

import math

import torch

from ...constants import NUM_LANDMARKS
from ...head.lbs import head_rotation
from ...rendering.cameras import DEFAULT_CAMERA_PIVOT, Cameras


def relative_face_yaw(pose: torch.Tensor, cameras: Cameras) -> torch.Tensor:
    """Yaw of the face relative to the camera (radians, > 0: face turned to the subject's left)."""
    facing = head_rotation(pose)[:, :, 2]
    face_azimuth = torch.atan2(facing[:, 0], facing[:, 2])
    offset = cameras.centers.to(pose) - torch.tensor(
        DEFAULT_CAMERA_PIVOT, dtype=pose.dtype, device=pose.device
    )
    camera_azimuth = torch.atan2(offset[:, 0], offset[:, 2])
    return torch.remainder(face_azimuth - camera_azimuth + math.pi, 2 * math.pi) - math.pi


def annotated_points(head_output) -> tuple[torch.Tensor, bool]:
    """The head-frame points (B,68 or 70,3) the annotator projects: the 68 landmarks, then the pupils when
    the head labels its eyeballs; and whether it does."""
    known = bool(torch.isfinite(head_output.pupils_3d).all())
    if not known:
        return head_output.landmarks_3d, False
    return torch.cat([head_output.landmarks_3d, head_output.pupils_3d], dim=1), True


def pupils_of(annotations, known: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The pupils' pixels (B,2,2) and visibility (B,2), annotated after the 68 landmarks (NaN and False
    for a head without labelled eyeballs)."""
    if known:
        return annotations.landmarks_2d[:, NUM_LANDMARKS:], annotations.landmark_visibility[:, NUM_LANDMARKS:]
    batch = annotations.landmarks_2d.shape[0]
    nan = torch.full((batch, 2, 2), float("nan"), dtype=annotations.landmarks_2d.dtype)
    return nan, torch.zeros(batch, 2, dtype=torch.bool)
