"""Which faces of a mesh are turned towards a view."""

from __future__ import annotations

import torch


def front_facing(vertices: torch.Tensor, faces: torch.Tensor, origins: torch.Tensor) -> torch.Tensor:
    """Faces (B,F) of meshes (B,V,3) whose outward normal points towards the cameras at ``origins`` (B,3)."""
    corners = vertices[:, faces]  # (B,F,3,3)
    normals = torch.linalg.cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0])
    return (normals * (origins[:, None] - corners[:, :, 0])).sum(-1) > 0


def facing_view(projected: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Faces (B,F) with a positive signed area in the (x, y) of ``projected`` (B,V,>=2)."""
    corners = projected[:, faces, :2]
    edge1, edge2 = corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0]
    return edge1[..., 0] * edge2[..., 1] - edge1[..., 1] * edge2[..., 0] > 0
