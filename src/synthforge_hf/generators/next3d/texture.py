"""Rasterizing Next3D's neural texture onto orthographic views of the FLAME mesh.

Next3D projects the posed FLAME mesh orthographically (after ``p' = (p * [1, -1, 1]) @ R``, shifted by
``orth_shift`` and scaled by ``orth_scale``) onto tri-plane-aligned views, keeps the nearest triangle
facing the view, and samples the neural texture at each pixel's interpolated UV. Coordinates here are
``grid_sample`` coordinates of the plane (x to the right, y down, pixel centres at ``(2 i + 1) / R - 1``).

The rasterization is `rendering`'s, with its backend choice (`get_rasterizer`): PyTorch3D as the official
code (on GPU), the PyTorch z-buffer (on CPU) or Open3D ray casting with parallel rays give the same
fragments, keeping the faces the official settings keep (``cull_backfaces`` with the faces in ``[0, 2, 1]``
order), which are the faces turned towards the view (`facing_view`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F

from ...rendering.fragments import Fragments
from ...rendering.rasterizer import get_rasterizer

# Rz @ Ry @ Rx Euler angles in degrees: front, the two sides, top (Next3D's rasterization views).
FRONT_VIEW = (0.0, 0.0, 0.0)
ORTHOGRAPHIC_VIEWS = (FRONT_VIEW, (0.0, 90.0, 0.0), (0.0, -90.0, 0.0), (90.0, 0.0, 0.0))
MOUTH_LANDMARKS = slice(48, 60)
MOUTH_BOX_SCALE = 1.2


def euler_to_matrix(angles_degrees: tuple[float, float, float]) -> torch.Tensor:
    """``Rz @ Ry @ Rx`` for (x, y, z) angles in degrees (right-handed)."""
    x, y, z = (math.radians(a) for a in angles_degrees)
    rx = torch.tensor([[1, 0, 0], [0, math.cos(x), -math.sin(x)], [0, math.sin(x), math.cos(x)]])
    ry = torch.tensor([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = torch.tensor([[math.cos(z), -math.sin(z), 0], [math.sin(z), math.cos(z), 0], [0, 0, 1]])
    return (rz @ ry @ rx).float()


def orthographic_view(
    points: torch.Tensor,
    view: tuple[float, float, float],
    orth_shift: torch.Tensor,
    orth_scale: float,
) -> torch.Tensor:
    """(B,N,3) head-frame points -> (B,N,3): plane grid coordinates (x, y) and a depth that is smaller
    nearer the view."""
    flip = torch.tensor([1.0, -1.0, 1.0], dtype=points.dtype, device=points.device)
    rotation = euler_to_matrix(view).to(points)
    q = ((points * flip) @ rotation + orth_shift.to(points)) * orth_scale
    return torch.stack([q[..., 0], -q[..., 1], -q[..., 2]], dim=-1)


def rasterize_orthographic(
    projected: torch.Tensor, faces: torch.Tensor, resolution: int, backend: str = "auto"
) -> Fragments:
    """Fragments of the view-facing triangles of `orthographic_view` points (B,V,3) on the plane's grid."""
    return get_rasterizer(backend, projected.device).rasterize_orthographic(projected, faces, resolution)


def fill_enclosed_holes(alpha: torch.Tensor) -> torch.Tensor:
    """Next3D's ``fill_mouth``: a flood fill from the top-left pixel through the pixels that are not
    opaque (alpha * 255 <= 254, 4-connected) keeps their alpha; every other pixel becomes 1 (the mouth
    and eye holes, and the nearly opaque pixels, which the official arithmetic rounds up)."""
    open_pixels = (alpha[:, 0] * 255.0 <= 254.0).cpu().numpy()
    outside = np.zeros_like(open_pixels)
    for b, pixels in enumerate(open_pixels):
        if pixels[0, 0]:
            labels, _ = scipy.ndimage.label(pixels)
            outside[b] = labels == labels[0, 0]
    reached = torch.from_numpy(outside).to(alpha.device)[:, None]
    return torch.where(reached, alpha, torch.ones_like(alpha))


def mouth_boxes(landmarks_grid: torch.Tensor, resolution: int) -> list[tuple[int, int, int, int]]:
    """Square crops (top, bottom, left, right) around the outer lip landmarks, 1.2x their larger extent,
    in plane pixels, with the official integer arithmetic."""
    half = np.float32(resolution / 2)
    points = landmarks_grid.detach().cpu().float().numpy() * half + half  # float32, as the official code
    outer = points[:, MOUTH_LANDMARKS]
    centre = (outer[:, 0] + outer[:, 6]) * 0.5
    extent = np.maximum(np.ptp(outer[..., 0], axis=1), np.ptp(outer[..., 1], axis=1))
    size = (extent * MOUTH_BOX_SCALE).astype(int) // 2
    return [
        (int(cy - s), int(cy + s), int(cx - s), int(cx + s)) for (cx, cy), s in zip(centre, size, strict=True)
    ]


def sample_texture_views(
    vertices: torch.Tensor,
    landmarks: torch.Tensor,
    texture: torch.Tensor,
    uv_face_mask: torch.Tensor,
    faces: torch.Tensor,
    face_uvcoords: torch.Tensor,
    views: tuple[tuple[float, float, float], ...],
    orth_shift: torch.Tensor,
    orth_scale: float,
    backend: str = "auto",
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For each view: the texture seen there (B,C,R,R), its alpha (B,1,R,R) (visible x UV face mask,
    enclosed holes filled) and the landmarks in grid coordinates (B,68,2).

    ``texture`` (B,C,R,R) is the neural texture in UV space, ``face_uvcoords`` (F,3,3) the corner UVs of
    each face as Next3D stores them (``(2u - 1, 1 - 2v, 1)``)."""
    batch, _, resolution, _ = texture.shape
    geometry = vertices.detach()
    out = []
    for view in views:
        projected = orthographic_view(geometry, view, orth_shift, orth_scale)
        fragments = rasterize_orthographic(projected, faces, resolution, backend)
        grid = fragments.interpolate(face_uvcoords.reshape(-1, 3)[:, :2].to(geometry), _corner_ids(faces))
        visible = fragments.foreground[:, None].to(texture.dtype)
        mask = F.grid_sample(
            uv_face_mask.expand(batch, -1, -1, -1).to(texture), grid.to(texture), align_corners=False
        )
        alpha = fill_enclosed_holes(mask * visible)
        image = F.grid_sample(texture, grid.to(texture), align_corners=False)
        lmk = orthographic_view(landmarks.detach(), view, orth_shift, orth_scale)[..., :2]
        out.append((image, alpha, lmk))
    return out


def _corner_ids(faces: torch.Tensor) -> torch.Tensor:
    """Faces indexing their own corners in a flattened (F*3, ...) per-corner table."""
    return torch.arange(faces.shape[0] * 3, device=faces.device).reshape(-1, 3)


def dense_grid_triangles(height: int, width: int, margin_x: int = 2, margin_y: int = 5) -> torch.Tensor:
    """Next3D's ``dense_faces`` buffer: two triangles per grid cell inside the margins, column-major,
    corners in its [0, 2, 1] order."""
    xs = torch.arange(margin_x, width - 1 - margin_x)
    ys = torch.arange(margin_y, height - 1 - margin_y)
    x, y = (t.reshape(-1) for t in torch.meshgrid(xs, ys, indexing="ij"))
    first = torch.stack([y * width + x, (y + 1) * width + x, y * width + x + 1], dim=-1)
    second = torch.stack([y * width + x + 1, (y + 1) * width + x, (y + 1) * width + x + 1], dim=-1)
    return torch.stack([first, second], dim=1).reshape(-1, 3)
