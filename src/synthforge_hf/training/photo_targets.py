"""Targets read from a user's own photos, for `TargetSampler`: no labels needed.

A model reads the 68 landmarks of every face in the photos, and again in each photo's mirror image; how
far the two readings disagree is its uncertainty on that face. Each face is matched to the control point
whose head, posed and projected, has the most similar landmark layout (after the best translation,
scale and in-plane rotation: a 2D Procrustes fit), so a target carries that face's head pose, expression
and jaw; the faces the model is least sure of weigh the most.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ..constants import LANDMARK_FLIP_PERMUTATION, NUM_LANDMARKS
from ..data.sampling import ControlSpace, Proposals
from ..evaluation.metrics import nme
from ..pipelines.synthforge.head_pose import annotated_points
from ..pipelines.synthforge.sampling import SampleParameters


@dataclass
class PhotoTargets:
    """The control points matched to photo faces (T, D), their weights (T,), the model's flip
    disagreement (NME) on each face, the Procrustes residual of each match (0: the same layout), and
    where each face is: its photo's position in the input (T,) and its detector box (T, 4)."""

    units: torch.Tensor
    weights: torch.Tensor
    disagreement: np.ndarray
    residual: np.ndarray
    photo_index: np.ndarray
    boxes: np.ndarray


@torch.no_grad()
def projected_landmarks(
    pipe, space: ControlSpace, proposals: Proposals, resolution: int = 256
) -> torch.Tensor:
    """The 68 landmarks (B, 68, 2) in pixels of the heads ``proposals`` pose, projected by their cameras
    (the pipeline's own posing and projection, without rendering an image)."""
    parameters = space.parameters(proposals.units)
    params = SampleParameters(seed=proposals.seeds, **parameters)
    cameras, head_output = pipe.pose(params, slice(None))
    points, _ = annotated_points(head_output)
    world = pipe.face_generator.head_to_world(points[:, :NUM_LANDMARKS])
    pixels, _ = cameras.project(world, resolution)
    return pixels.float().cpu()


def _normalised(points: np.ndarray) -> np.ndarray:
    """Landmark sets (N, 68, 2) as centred complex vectors of unit norm (N, 68)."""
    z = points[..., 0] + 1j * points[..., 1]
    z = z - z.mean(-1, keepdims=True)
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def procrustes_residuals(faces: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The squared residual (F, C) of the best similarity fit (translation, scale, rotation) of each
    face's landmarks (F, 68, 2) onto each candidate's (C, 68, 2), as a fraction of the face's spread: 0 for
    the same layout, 1 for unrelated ones."""
    x, y = _normalised(faces), _normalised(candidates)
    return np.clip(1.0 - np.abs(np.conj(x) @ y.T) ** 2, 0.0, 1.0)


def mirrored_landmarks(points: np.ndarray, width: int) -> np.ndarray:
    """Landmarks (..., 68, 2) read on a mirror image of ``width`` pixels, mapped back onto the image: x
    reflected and the left/right points exchanged."""
    back = points[..., list(LANDMARK_FLIP_PERMUTATION), :].copy()
    back[..., 0] = width - back[..., 0]
    return back


def photo_targets(
    analyser,
    photos: Iterable[np.ndarray],
    pipe,
    space: ControlSpace,
    bank_size: int = 4096,
    seed: int = 0,
) -> PhotoTargets:
    """Targets for `TargetSampler` from photos: one per detected face.

    Args:
        analyser (`PhotoAnalyser`): the model that reads the photos (e.g. the reference model).
        photos (`Iterable[np.ndarray]`): RGB photos (H, W, 3) uint8.
        pipe (`SynthForgePipeline`): the pipeline whose control space is searched.
        space (`ControlSpace`): its control space.
        bank_size (`int`): how many uniform control points the faces are matched among.
        seed (`int`): the seed of that bank (the "target-bank" split of `sample_seed`).

    Returns:
        `PhotoTargets`: the matched points, weighted by the model's disagreement with itself (floored at
        its median, so every face counts).
    """
    faces, disagreement, photo_index, boxes = [], [], [], []
    for index, photo in enumerate(photos):
        result = analyser(photo)
        if not result.faces:
            continue
        width = photo.shape[1]
        mirror_boxes = [
            (width - right, top, width - left, bottom)
            for left, top, right, bottom in (f.box for f in result.faces)
        ]
        mirrored = analyser(np.ascontiguousarray(photo[:, ::-1]), boxes=mirror_boxes)
        points = np.stack([f.landmarks for f in result.faces])
        back = mirrored_landmarks(np.stack([f.landmarks for f in mirrored.faces]), width)
        faces.append(points)
        disagreement.append(nme(back, points))
        photo_index += [index] * len(points)
        boxes += [f.box for f in result.faces]
    if not faces:
        raise ValueError("no face was found in the target photos")
    points, disagreement = np.concatenate(faces), np.concatenate(disagreement)
    bank = space.of_split(seed, "target-bank", 0, bank_size)
    candidates = torch.cat(
        [projected_landmarks(pipe, space, bank[start : start + 256]) for start in range(0, bank_size, 256)]
    ).numpy()
    residuals = procrustes_residuals(points, candidates)
    best = residuals.argmin(1)
    weights = np.maximum(disagreement, np.median(disagreement))
    return PhotoTargets(
        units=bank.units[torch.from_numpy(best)],
        weights=torch.from_numpy(weights).float(),
        disagreement=disagreement,
        residual=residuals[np.arange(len(best)), best],
        photo_index=np.array(photo_index),
        boxes=np.array(boxes, dtype=float),
    )
