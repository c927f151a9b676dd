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

    @classmethod
    def concatenate(cls, parts: list[Fragments]) -> Fragments:
        """The fragments of consecutive pieces of a batch as one."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            *(torch.cat([getattr(p, name) for p in parts]) for name in ("face_index", "barycentric", "depth"))
        )

    @property
    def foreground(self) -> torch.Tensor:
        return self.face_index >= 0

    def interpolate(self, values: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """Interpolate per-vertex ``values`` (B,V,C) or (V,C) over pixels -> (B,H,W,C); 0 on background."""
        batch = self.face_index.shape[0]
        if values.dim() == 2:
            values = values.expand(batch, -1, -1)
        foreground = self.foreground
        batch_ids = torch.arange(batch, device=values.device)[:, None, None].expand_as(foreground)[foreground]
        corners = faces[self.face_index[foreground]]  # (N,3)
        corner_values = values[batch_ids[:, None], corners]  # (N,3,C)
        weights = self.barycentric[foreground].to(values)
        out = values.new_zeros(*foreground.shape, values.shape[-1])
        out[foreground] = torch.einsum("nkc,nk->nc", corner_values, weights)
        return out
