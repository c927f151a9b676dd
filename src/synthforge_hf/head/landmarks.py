"""Landmarks embedded in a mesh by face index and barycentric coordinates."""

from __future__ import annotations

import math

import numpy as np
import torch

# The FLAME dynamic contour table has one row per whole degree of the angle -yaw: rows 0..39 for
# angles 0..39, rows 40..78 for angles -1..-39 (RingNet's `flame_dynamic_embedding.npy` layout).
DYNAMIC_CONTOUR_MAX_DEGREES = 39


def barycentric_points(
    vertices: torch.Tensor, faces: torch.Tensor, face_idx: torch.Tensor, bary: torch.Tensor
) -> torch.Tensor:
    """Points on a batched mesh. vertices (B,V,3), faces (F,3), face_idx (B,L) or (L,), bary
    (B,L,3) or (L,3) -> (B,L,3)."""
    batch = vertices.shape[0]
    if face_idx.dim() == 1:
        face_idx = face_idx.expand(batch, -1)
    if bary.dim() == 2:
        bary = bary.expand(batch, -1, -1)
    corner_ids = faces[face_idx]  # (B,L,3)
    corners = torch.gather(vertices, 1, corner_ids.reshape(batch, -1, 1).expand(-1, -1, 3)).reshape(
        batch, -1, 3, 3
    )
    return (corners * bary[..., None]).sum(dim=2)


def dynamic_contour_rows(yaw_radians: torch.Tensor) -> torch.Tensor:
    """Row of the dynamic contour table for a head yaw relative to the viewer (radians, > 0 when the
    face turns towards the subject's left). As in FLAME_PyTorch, the row is chosen by the angle
    ``-yaw`` in whole degrees, clamped to +-39: angle a >= 0 -> row a, a < 0 -> row 39 - a."""
    degrees = torch.round(-yaw_radians * 180.0 / math.pi).clamp(
        -DYNAMIC_CONTOUR_MAX_DEGREES, DYNAMIC_CONTOUR_MAX_DEGREES
    )
    rows = torch.where(degrees < 0, DYNAMIC_CONTOUR_MAX_DEGREES - degrees, degrees)
    return rows.long()


def landmarks_at_vertices(faces: np.ndarray, vertex_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks placed exactly on vertices, as (face index, one-hot barycentrics) per vertex."""
    face_idx, bary = [], []
    for vid in vertex_ids:
        hits = np.argwhere(faces == vid)
        if not len(hits):
            raise ValueError(f"landmark vertex {vid} is on no face")
        face, corner = hits[0]
        weights = np.zeros(3)
        weights[corner] = 1.0
        face_idx.append(face)
        bary.append(weights)
    return np.asarray(face_idx, dtype=np.int64), np.asarray(bary)
