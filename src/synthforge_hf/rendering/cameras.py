"""EG3D / Next3D camera conventions.

Cameras are OpenCV-style (x right, y down, +z forward) ``cam2world`` matrices in a y-up world, with
intrinsics normalised by the image size (principal point 0.5). The 25-value conditioning vector ``c``
used by EG3D and Next3D is the flattened cam2world (16) followed by the flattened intrinsics (9).
Rays pass through pixel centres ``(i + 0.5) / resolution``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Next3D defaults (rendering_kwargs): the camera orbits this pivot at this radius.
DEFAULT_CAMERA_PIVOT = (0.0, 0.0, 0.2)
DEFAULT_CAMERA_RADIUS = 2.7
# FLAME (metres, head frame) -> Next3D world: p' = (p + ORTH_SHIFT) * ORTH_SCALE / 2, then z += sqrt(2) / 10.
ORTH_SHIFT = (0.0, -0.01, -0.01)
ORTH_SCALE = 5.0
WORLD_Z_OFFSET = math.sqrt(2.0) / 10.0
WORLD_UNITS_PER_METRE = ORTH_SCALE / 2.0


def fov_to_intrinsics(fov_degrees: torch.Tensor | float) -> torch.Tensor:
    """Normalised intrinsics (..., 3, 3) for EG3D's FOV convention f = 1 / (tan(fov/2) * 1.414)."""
    fov = torch.as_tensor(fov_degrees, dtype=torch.float32)
    focal = 1.0 / (torch.tan(fov * math.pi / 360.0) * 1.414)
    intrinsics = torch.zeros(*fov.shape, 3, 3, dtype=torch.float32)
    intrinsics[..., 0, 0] = focal
    intrinsics[..., 1, 1] = focal
    intrinsics[..., 0, 2] = 0.5
    intrinsics[..., 1, 2] = 0.5
    intrinsics[..., 2, 2] = 1.0
    return intrinsics


def look_at_cam2world(origin: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """OpenCV cam2world (B,4,4) for cameras at ``origin`` (B,3) looking at ``target`` (B,3), world y up."""
    forward = torch.nn.functional.normalize(target - origin, dim=-1)
    world_up = torch.tensor([0.0, 1.0, 0.0], dtype=origin.dtype, device=origin.device).expand_as(forward)
    right = -torch.nn.functional.normalize(torch.linalg.cross(world_up, forward), dim=-1)
    down = torch.nn.functional.normalize(torch.linalg.cross(forward, right), dim=-1)
    cam2world = torch.eye(4, dtype=origin.dtype, device=origin.device).repeat(origin.shape[0], 1, 1)
    cam2world[:, :3, :3] = torch.stack([right, down, forward], dim=-1)
    cam2world[:, :3, 3] = origin
    return cam2world


def orbit_cam2world(
    yaw: torch.Tensor,
    pitch: torch.Tensor,
    radius: float = DEFAULT_CAMERA_RADIUS,
    pivot: tuple[float, float, float] = DEFAULT_CAMERA_PIVOT,
) -> torch.Tensor:
    """EG3D's LookAtPoseSampler with offsets: horizontal = pi/2 + yaw, vertical = pi/2 + pitch.

    ``yaw`` > 0 moves the camera towards +x (the subject's left); ``pitch`` > 0 moves it down. As in
    EG3D the polar angle is ``arccos(1 - 2 * vertical / pi)``, so pitch is not the elevation in radians.
    """
    yaw = torch.as_tensor(yaw, dtype=torch.float32).reshape(-1)
    pitch = torch.as_tensor(pitch, dtype=torch.float32).reshape(-1)
    theta = math.pi / 2 + yaw
    vertical = (math.pi / 2 + pitch).clamp(1e-5, math.pi - 1e-5)
    phi = torch.arccos(1 - 2 * vertical / math.pi)
    target = torch.tensor(pivot, dtype=torch.float32).expand(yaw.shape[0], 3)
    origin = target + radius * torch.stack(
        [
            torch.sin(phi) * torch.cos(math.pi - theta),
            torch.cos(phi),
            torch.sin(phi) * torch.sin(math.pi - theta),
        ],
        dim=-1,
    )
    return look_at_cam2world(origin, target)


def orbit_angles(
    cam2world: torch.Tensor, pivot: tuple[float, float, float] = DEFAULT_CAMERA_PIVOT
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (yaw, pitch) of `orbit_cam2world` that puts a camera at ``cam2world[..., :3, 3]``."""
    offset = cam2world[..., :3, 3] - torch.tensor(pivot, dtype=cam2world.dtype, device=cam2world.device)
    cos_phi = (offset[..., 1] / offset.norm(dim=-1)).clamp(-1.0, 1.0)
    pitch = (1 - cos_phi) / 2 * math.pi - math.pi / 2
    yaw = math.pi / 2 - torch.atan2(offset[..., 2], offset[..., 0])
    return yaw, pitch


def intrinsics_to_fov(intrinsics: torch.Tensor) -> torch.Tensor:
    """Inverse of `fov_to_intrinsics`: FOV in degrees from normalised intrinsics (..., 3, 3)."""
    return torch.atan(1.0 / (intrinsics[..., 0, 0] * 1.414)) * 360.0 / math.pi


def head_pose_degrees(head_rotation: torch.Tensor, cam2world: torch.Tensor) -> torch.Tensor:
    """(B,3) yaw, pitch and roll of the head as the camera sees it, in degrees; (0, 0, 0) for a face
    looking straight into the camera, upright.

    ``head_rotation`` (B,3,3) turns the head frame (x to the subject's left, y up, z out of the face)
    into the world (the head frame's axes are the world's when unrotated); ``cam2world`` (B,4,4) is
    OpenCV's. In the camera's frame seen as x right, y up, z towards the viewer, the head's rotation is
    decomposed as ``Ry(yaw) @ Rx(-pitch) @ Rz(roll)``: yaw > 0, the face turned to the subject's left (the
    image's right); pitch > 0, the face turned up; roll > 0, the face turned counter-clockwise in the
    image."""
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=head_rotation.dtype, device=head_rotation.device))
    relative = flip @ cam2world[:, :3, :3].to(head_rotation).transpose(1, 2) @ head_rotation
    yaw = torch.atan2(relative[:, 0, 2], relative[:, 2, 2])
    pitch = torch.asin(relative[:, 1, 2].clamp(-1, 1))
    roll = torch.atan2(relative[:, 1, 0], relative[:, 1, 1])
    return torch.rad2deg(torch.stack([yaw, pitch, roll], dim=-1))


def head_to_world(points: torch.Tensor) -> torch.Tensor:
    """Map head-frame points (metres) to the Next3D world frame (before any per-model correction)."""
    shift = torch.tensor(ORTH_SHIFT, dtype=points.dtype, device=points.device)
    world = (points + shift) * (ORTH_SCALE / 2.0)
    return world + torch.tensor([0.0, 0.0, WORLD_Z_OFFSET], dtype=points.dtype, device=points.device)


def world_to_head(points: torch.Tensor) -> torch.Tensor:
    """`head_to_world` undone: Next3D world points (..., 3) -> head-frame metres."""
    offset = torch.tensor([0.0, 0.0, WORLD_Z_OFFSET], dtype=points.dtype, device=points.device)
    shift = torch.tensor(ORTH_SHIFT, dtype=points.dtype, device=points.device)
    return (points - offset) / (ORTH_SCALE / 2.0) - shift


@dataclass(frozen=True)
class Cameras:
    """A batch of pinhole cameras: ``cam2world`` (B,4,4) OpenCV, ``intrinsics`` (B,3,3) normalised.

    Immutable: ray directions are cached per resolution.
    """

    cam2world: torch.Tensor
    intrinsics: torch.Tensor

    def __post_init__(self):
        if self.cam2world.shape[-2:] != (4, 4) or self.intrinsics.shape[-2:] != (3, 3):
            raise ValueError("cam2world must be (B,4,4) and intrinsics (B,3,3)")
        if self.cam2world.shape[0] != self.intrinsics.shape[0]:
            raise ValueError("cam2world and intrinsics must have the same batch size")

    @classmethod
    def orbit(
        cls,
        yaw: torch.Tensor,
        pitch: torch.Tensor,
        fov_degrees: torch.Tensor,
        radius: float = DEFAULT_CAMERA_RADIUS,
        pivot: tuple[float, float, float] = DEFAULT_CAMERA_PIVOT,
    ) -> Cameras:
        """Cameras on the EG3D orbit (`orbit_cam2world`) with the FOV convention of `fov_to_intrinsics`."""
        cam2world = orbit_cam2world(yaw, pitch, radius, pivot)
        fov = torch.as_tensor(fov_degrees, dtype=torch.float32).reshape(-1).expand(cam2world.shape[0])
        return cls(cam2world, fov_to_intrinsics(fov))

    @classmethod
    def from_conditioning(cls, c: torch.Tensor) -> Cameras:
        """From EG3D's 25-value camera vectors (B,25)."""
        if c.dim() != 2 or c.shape[1] < 25:
            raise ValueError(f"camera vectors must have shape (B, 25), got {tuple(c.shape)}")
        return cls(c[:, :16].reshape(-1, 4, 4), c[:, 16:25].reshape(-1, 3, 3))

    @property
    def conditioning(self) -> torch.Tensor:
        """EG3D's 25-value camera vectors (B,25)."""
        return torch.cat([self.cam2world.reshape(-1, 16), self.intrinsics.reshape(-1, 9)], dim=1)

    def __len__(self) -> int:
        return self.cam2world.shape[0]

    def __getitem__(self, rows: slice) -> Cameras:
        """The cameras ``rows`` of the batch."""
        return Cameras(self.cam2world[rows], self.intrinsics[rows])

    def to(self, device: torch.device | str) -> Cameras:
        if self.cam2world.device == torch.device(device):
            return self
        return Cameras(self.cam2world.to(device), self.intrinsics.to(device))

    @property
    def world2cam(self) -> torch.Tensor:
        return torch.linalg.inv(self.cam2world)

    @property
    def centers(self) -> torch.Tensor:
        return self.cam2world[:, :3, 3]

    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """World points (B,N,3) -> camera coordinates (B,N,3); z is the depth along the optical axis."""
        w2c = self.world2cam.to(points)
        return points @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]

    def project(self, points: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
        """World points (B,N,3) -> pixel coordinates (B,N,2) (x right, y down) and depth (B,N)."""
        cam = self.world_to_camera(points)
        depth = cam[..., 2]
        normalised = cam[..., :2] / depth[..., None].clamp_min(1e-8)
        k = self.intrinsics.to(points)
        pixels = torch.stack(
            [
                normalised[..., 0] * k[:, None, 0, 0] + k[:, None, 0, 2],
                normalised[..., 1] * k[:, None, 1, 1] + k[:, None, 1, 2],
            ],
            dim=-1,
        )
        return pixels * resolution, depth

    def ray_directions(self, resolution: int) -> torch.Tensor:
        """World-space ray directions (B,R,R,3) through pixel centres, scaled so camera z = 1 (cached)."""
        cached = self.__dict__.setdefault("_rays", {})
        if resolution not in cached:
            cached[resolution] = self._ray_directions(resolution)
        return cached[resolution]

    def _ray_directions(self, resolution: int) -> torch.Tensor:
        device = self.intrinsics.device
        centres = (torch.arange(resolution, dtype=torch.float32, device=device) + 0.5) / resolution
        v, u = torch.meshgrid(centres, centres, indexing="ij")
        k = self.intrinsics.float()
        x = (u[None] - k[:, None, None, 0, 2]) / k[:, None, None, 0, 0]
        y = (v[None] - k[:, None, None, 1, 2]) / k[:, None, None, 1, 1]
        dirs_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)
        return dirs_cam @ self.cam2world[:, None, :3, :3].float().transpose(-1, -2)
