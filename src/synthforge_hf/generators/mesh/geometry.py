"""Surface geometry the mesh renderer paints and shades with: vertex normals, the rotation from the
rest pose to the posed head, interpolation of per-vertex values at the pixels, and the rest-pose maps
(smooth class weights, regional skin maps, the beard zone, skin and hair texture coordinates)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...constants import CLASS_ID
from ...head.model import ParametricHeadModel
from .maths import gaussian_bump, smoothstep
from .noise import SKIN_PERIOD

# Head-frame layout shared by every head (they are aligned on the eye corners; metres, y up, +z front).
_CRANIUM_CENTRE = (0.0, 0.015, -0.02)
_CROWN_TILT = 0.35  # the hair's crown axis leans backwards from +y by this angle (radians)

# Channels of the per-vertex maps computed once per head from its rest pose (`rest_pose_maps`).
REST_MAPS = (
    "x",
    "y",
    "lips",
    "brow",
    "scalp",
    "cheeks",
    "nose",
    "under_eye",
    "oil",
    "beard_zone",
    "skin_u",
    "hair_across",
    "hair_along",
)


@dataclass
class SamplePixels:
    """One sample's foreground pixels, packed: ``index`` the sample's index in the scene, ``pixels``
    (N,) flat indices into its (H,W) ``label_image``, their ``labels`` (N,), ``depth`` (N,) and view
    ``rays`` (N,3)."""

    index: int
    pixels: torch.Tensor
    label_image: torch.Tensor
    labels: torch.Tensor
    depth: torch.Tensor
    rays: torch.Tensor


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted vertex normals (B,V,3)."""
    corners = vertices.index_select(1, faces.reshape(-1)).view(vertices.shape[0], -1, 3, 3)  # (B,F,3,3)
    face_normals = torch.linalg.cross(
        corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0]
    )
    normals = torch.zeros_like(vertices)
    for corner in range(3):
        normals.index_add_(1, faces[:, corner], face_normals)
    return F.normalize(normals, dim=-1)


def rotation_rest_to_world(rest: torch.Tensor, posed: torch.Tensor) -> torch.Tensor:
    """Rotations (B,3,3) that best map rest-pose vertices (V,3) onto posed ones (B,V,3) (Kabsch)."""
    rest_centred = rest - rest.mean(0)
    posed_centred = posed - posed.mean(1, keepdim=True)
    covariance = torch.einsum("vi,bvj->bij", rest_centred, posed_centred)
    u, _, vt = torch.linalg.svd(covariance)
    reflection = torch.sign(torch.linalg.det(vt.transpose(1, 2) @ u.transpose(1, 2)))
    fix = torch.diag_embed(
        torch.stack([torch.ones_like(reflection), torch.ones_like(reflection), reflection], -1)
    )
    return vt.transpose(1, 2) @ fix @ u.transpose(1, 2)


def interpolate(values: torch.Tensor, corners: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Rows (M,C) of ``values`` at pixels whose triangles have the rows ``corners`` (3,N), blended by
    ``weights`` (3,N) -> (C,N)."""
    columns = values.T.contiguous()
    out = columns.index_select(1, corners[0]).mul_(weights[0])
    out.addcmul_(columns.index_select(1, corners[1]), weights[1])
    out.addcmul_(columns.index_select(1, corners[2]), weights[2])
    return out


def _beard_zone(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Where a beard grows: the lower face below a line from the sideburns to the mouth corners, and a
    moustache; none on the back of the head."""
    across = x.abs()
    cheek_line = -0.028 + (across - 0.028).clamp_min(0) * 1.3
    lower = smoothstep(cheek_line + 0.006, cheek_line - 0.006, y) * smoothstep(-0.115, -0.09, y)
    moustache = smoothstep(0.03, 0.02, across) * smoothstep(-0.036, -0.03, y) * smoothstep(-0.006, -0.012, y)
    return torch.maximum(lower, moustache) * smoothstep(-0.045, -0.02, z)


def _hair_frame(rest: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hair strands run along meridians from a crown on the top of the head: each vertex's cosine of
    the angle from the crown axis, its angle around that axis, and the strand direction (V,3)."""
    centre = torch.tensor(_CRANIUM_CENTRE)
    axis = torch.tensor([0.0, math.cos(_CROWN_TILT), -math.sin(_CROWN_TILT)])
    front = torch.tensor([0.0, math.sin(_CROWN_TILT), math.cos(_CROWN_TILT)])
    outwards = F.normalize(rest - centre, dim=-1)
    cos_polar = (outwards @ axis).clamp(-1, 1)
    around = torch.atan2(outwards[:, 0], outwards @ front)
    strand = F.normalize(cos_polar[:, None] * outwards - axis, dim=-1)
    return cos_polar, around, strand


def rest_pose_maps(head: ParametricHeadModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-vertex maps (V,len(REST_MAPS)) and the hair's strand direction (V,3), both in the rest pose:
    smooth class weights (interpolated over a triangle they paint without the label's pixel steps),
    regional skin maps, the beard zone, and the texture coordinates of skin and hair."""
    rest = head.v_template.float().cpu()
    labels = head.vertex_labels.cpu()
    x, y, z = rest.unbind(-1)
    across = x.abs()

    def class_weight(*names: str) -> torch.Tensor:
        return sum((labels == CLASS_ID[name]).float() for name in names)

    cheeks = gaussian_bump(across, y, 0.045, -0.006, 0.02, 0.018)
    nose = gaussian_bump(x, y, 0.0, 0.002, 0.011, 0.013)
    chin = gaussian_bump(x, y, 0.0, -0.072, 0.02, 0.014)
    forehead = smoothstep(0.045, 0.07, y) * smoothstep(0.055, 0.03, across)
    cos_polar, around, strand = _hair_frame(rest)
    maps = {
        "x": x,
        "y": y,
        "lips": class_weight("upper_lip", "lower_lip"),
        "brow": class_weight("left_eyebrow", "right_eyebrow"),
        "scalp": class_weight("scalp"),
        "cheeks": cheeks,
        "nose": nose,
        "under_eye": gaussian_bump(across, y, 0.030, 0.0125, 0.013, 0.005)
        + 0.6 * gaussian_bump(across, y, 0.031, 0.024, 0.02, 0.013),
        "oil": 0.45 + forehead + nose + 0.6 * chin,
        "beard_zone": _beard_zone(x, y, z),
        "skin_u": 0.09 * torch.atan2(x, z - _CRANIUM_CENTRE[2]) / SKIN_PERIOD,
        "hair_across": around / (2 * math.pi) * 3.0,
        "hair_along": torch.arccos(cos_polar) / math.pi * 0.6,
    }
    return torch.stack([maps[name] for name in REST_MAPS], -1).contiguous(), strand
