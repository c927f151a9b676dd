"""Face-detection metrics: box overlap and greedy matching of detections to labelled faces."""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of (N, 4) and (M, 4) boxes ``(left, top, right, bottom)`` -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_faces(detected: np.ndarray, labelled: np.ndarray, threshold: float = 0.4) -> tuple[np.ndarray, int]:
    """Match ``detected`` boxes (best score first) to ``labelled`` boxes of one photo, greedily: each
    detection in turn takes the unmatched labelled face it overlaps most, if their IoU exceeds
    ``threshold``.

    Returns a boolean mask over the labelled faces (found or not) and the number of false detections
    (those that matched no face, duplicates included)."""
    iou = box_iou(detected, labelled)
    found = np.zeros(iou.shape[1], dtype=bool)
    false = 0
    for row in iou:
        row = np.where(found, -1.0, row)
        best = int(np.argmax(row)) if row.size else -1
        if best >= 0 and row[best] > threshold:
            found[best] = True
        else:
            false += 1
    return found, false
