"""Rotations and linear blend skinning (batched, differentiable)."""

from __future__ import annotations

import torch


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis-angle vectors -> (..., 3, 3) rotation matrices."""
    angle = axis_angle.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    axis = axis_angle / angle
    x, y, z = axis.unbind(-1)
    zeros = torch.zeros_like(x)
    skew = torch.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], dim=-1).reshape(*axis.shape[:-1], 3, 3)
    sin = torch.sin(angle)[..., None]
    cos = torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + sin * skew + (1 - cos) * (skew @ skew)


def euler_to_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Rotation Rz(roll) @ Ry(yaw) @ Rx(pitch) from angles in radians, each of shape (...)."""
    zeros, ones = torch.zeros_like(pitch), torch.ones_like(pitch)
    cx, sx, cy, sy, cz, sz = pitch.cos(), pitch.sin(), yaw.cos(), yaw.sin(), roll.cos(), roll.sin()
    rx = torch.stack([ones, zeros, zeros, zeros, cx, -sx, zeros, sx, cx], -1).reshape(*pitch.shape, 3, 3)
    ry = torch.stack([cy, zeros, sy, zeros, ones, zeros, -sy, zeros, cy], -1).reshape(*pitch.shape, 3, 3)
    rz = torch.stack([cz, -sz, zeros, sz, cz, zeros, zeros, zeros, ones], -1).reshape(*pitch.shape, 3, 3)
    return rz @ ry @ rx


def linear_blend_skinning(
    vertices: torch.Tensor,
    rotations: torch.Tensor,
    joints: torch.Tensor,
    parents: list[int],
    weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose rest-pose ``vertices`` (B,V,3) with per-joint local ``rotations`` (B,J,3,3).

    ``joints`` (B,J,3) are rest-pose joint locations, ``parents[j]`` the parent of joint j (-1 for
    the root, which must be joint 0), ``weights`` (V,J) the skinning weights. Returns the posed
    vertices (B,V,3) and posed joint locations (B,J,3).
    """
    batch, num_joints = rotations.shape[:2]
    rel_joints = joints.clone()
    for j in range(1, num_joints):
        rel_joints[:, j] = joints[:, j] - joints[:, parents[j]]
    local = torch.zeros(batch, num_joints, 4, 4, dtype=vertices.dtype, device=vertices.device)
    local[:, :, :3, :3] = rotations
    local[:, :, :3, 3] = rel_joints
    local[:, :, 3, 3] = 1.0
    chain = [local[:, 0]]
    for j in range(1, num_joints):
        chain.append(chain[parents[j]] @ local[:, j])
    world = torch.stack(chain, dim=1)
    posed_joints = world[:, :, :3, 3]
    # Remove the rest-pose joint offset so each transform acts on rest-pose coordinates.
    offset = (world[:, :, :3, :3] @ joints[..., None])[..., 0]
    skin = world.clone()
    skin[:, :, :3, 3] = posed_joints - offset
    blended = torch.einsum("vj,bjmn->bvmn", weights, skin)
    posed = (blended[:, :, :3, :3] @ vertices[..., None])[..., 0] + blended[:, :, :3, 3]
    return posed, posed_joints


def head_rotation(pose: torch.Tensor) -> torch.Tensor:
    """(B,3,3) the head's rotation from its global and neck joints' axis-angle pose (B,15)."""
    rotations = axis_angle_to_matrix(pose.reshape(-1, 5, 3)[:, :2])
    return rotations[:, 0] @ rotations[:, 1]
