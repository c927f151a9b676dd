"""Eyeglasses and sunglasses (`MeshFaceGenerator(glasses=True)`): about one face in three wears them; the
frames sit on the eyes and cover what is behind them in the labels, the rest of the face is untouched, and
a face without glasses renders as it did."""

import math

import numpy as np
import torch
from scipy.ndimage import binary_dilation

from synthforge_hf.generators.mesh.glasses import _ray_segment_hits
from synthforge_hf.generators.mesh.maths import rounded_box_distance

from .parts import without_and_with

SEEDS = list(range(12))


def test_rounded_box_distance_by_hand():
    x = torch.tensor([0.0, 3.0, 0.0, 3.0, 3.5])
    y = torch.tensor([0.0, 0.0, 2.5, 2.0, 2.5])
    # a 6 x 4 box (half sizes 3, 2) with corners rounded by 1: centre 2 inside, the right edge, 0.5 above
    # the top edge, the rounded corner's gap (sqrt(2) - 1 outside), and beyond the corner circle
    expected = torch.tensor([-2.0, 0.0, 0.5, math.sqrt(2) - 1, math.hypot(1.5, 1.5) - 1])
    assert torch.allclose(rounded_box_distance(x, y, (3.0, 2.0), 1.0), expected, atol=1e-6)


def test_ray_segment_hits_by_hand():
    """A bar from (-1, 0, 5) to (1, 0, 5), radius 0.1, seen from the origin along +z: rays through x = 0.5
    and y = 0.05 hit it at depth 5; a ray 0.2 off misses; a ray past the bar's end misses."""
    origin = torch.zeros(3)
    rays = torch.tensor([[0.1, 0.0, 1.0], [0.0, 0.01, 1.0], [0.0, 0.04, 1.0], [0.3, 0.0, 1.0]])
    depth = _ray_segment_hits(
        origin, rays, torch.tensor([-1.0, 0.0, 5.0]), torch.tensor([1.0, 0.0, 5.0]), 0.1
    )
    assert torch.allclose(depth[:2], torch.tensor([5.0, 5.0]), atol=1e-3)
    assert torch.isinf(depth[2:]).all()


def test_glasses_sit_on_the_eyes_and_take_only_what_they_cover():
    bare, equipped = without_and_with("glasses", SEEDS, 96)
    changed = np.abs(equipped.images - bare.images).max(-1) > 1e-5
    wearing = changed.any(axis=(1, 2))
    assert 2 <= wearing.sum() <= 8  # about one face in three
    for k in range(len(SEEDS)):
        if not wearing[k]:
            assert np.array_equal(equipped.segmentation[k], bare.segmentation[k])
            continue
        eyes = equipped.landmarks_2d[k, 36:48]
        width = eyes[:, 0].max() - eyes[:, 0].min()
        rows, cols = np.nonzero(changed[k])
        # the glasses: around the eyes, from temple to temple, not down to the mouth
        assert eyes[:, 1].min() - 0.5 * width < np.median(rows) < eyes[:, 1].max() + 0.3 * width
        assert rows.max() < equipped.landmarks_2d[k, 51, 1]
        lost = equipped.segmentation[k] != bare.segmentation[k]
        assert (equipped.segmentation[k][lost] == 0).all()  # frames are not face
        assert lost.any() and (binary_dilation(changed[k], iterations=2) | ~lost).all()
    assert (equipped.landmark_visibility <= bare.landmark_visibility).all()
    assert np.array_equal(equipped.landmarks_2d, bare.landmarks_2d)
