"""What a rasterizer returns for each pixel."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Fragments:
    """Per-pixel rasterization of a batch of meshes, one triangle per pixel.

    ``face_index`` (B,H,W) long, -1 where no triangle covers the pixel; ``barycentric`` (B,H,W,3)
    perspective-correct weights of the face's three corners; ``depth`` (B,H,W) camera-space z in world
    units, 0 on background.
    """

    face_index: torch.Tensor
    barycentric: torch.Tensor
    depth: torch.Tensor

    @property
    def foreground(self) -> torch.Tensor:
        return self.face_index >= 0

    def interpolate(self, values: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """Interpolate per-vertex ``values`` (B,V,C) or (V,C) over pixels -> (B,H,W,C); 0 on background."""
        batch = self.face_index.shape[0]
        if values.dim() == 2:
            values = values.expand(batch, -1, -1)
        face_ids = self.face_index.clamp_min(0)
        corners = faces[face_ids]  # (B,H,W,3)
        gathered = torch.gather(
            values, 1, corners.reshape(batch, -1, 1).expand(-1, -1, values.shape[-1])
        ).reshape(*corners.shape, values.shape[-1])
        out = (gathered * self.barycentric[..., None].to(values)).sum(dim=-2)
        return out * self.foreground[..., None]
