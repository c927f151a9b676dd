"""Hands and face masks (`MeshFaceGenerator(occluders=True)`): drawn where their outlines say, taken out
of the head's labels where they cover it, hiding the landmarks behind them; faces without them render as
they did."""

import numpy as np
import torch

from synthforge_hf.generators.mesh.occluders import (
    NUMBERS_PER_SAMPLE,
    hand_distance,
    mask_region,
    occluder_kind,
)

from .parts import without_and_with


def _face(width: float = 40.0, chin=(50.0, 70.0)) -> torch.Tensor:
    """68 points with the jaw's ends ``width`` apart and the chin (iBUG 8) at ``chin``; the rest at the
    chin."""
    points = torch.tensor([chin] * 68)
    points[0] = torch.tensor([chin[0] - width / 2, chin[1] - 30])
    points[16] = torch.tensor([chin[0] + width / 2, chin[1] - 30])
    return points


def test_about_one_face_in_six_gets_a_hand_and_one_in_ten_a_mask():
    numbers = torch.rand(6000, NUMBERS_PER_SAMPLE, generator=torch.Generator().manual_seed(0))
    kinds = [occluder_kind(row) for row in numbers]
    assert abs(kinds.count("hand") / 6000 - 0.26 * 0.62) < 0.015
    assert abs(kinds.count("mask") / 6000 - 0.26 * 0.38) < 0.015


def test_a_hand_raised_to_the_chin_covers_it_with_its_palm_below_and_fingers_above():
    numbers = torch.full((NUMBERS_PER_SAMPLE,), 0.5)
    numbers[2] = 0.0  # the chin
    numbers[4] = 0.0  # palm centre 0.15 face widths (6 px) below the chin
    inside = (hand_distance(_face(), 100, numbers) < 0).reshape(100, 100)
    rows, columns = np.nonzero(inside.numpy())
    assert inside[76, 50] and inside[70, 50]  # the palm centre (50, 76) and the chin
    assert not inside[20, 50] and not inside[76, 10]
    # Upright: fingers reach about 0.2 + 0.4 face widths above the palm centre, the palm 0.22 below.
    assert 76 - 0.7 * 40 < rows.min() < 76 - 0.45 * 40 and abs(rows.max() - (76 + 0.22 * 40)) <= 2
    assert abs(columns.mean() - 50) < 4  # the thumb, on one side, pulls it a little


def test_a_mask_runs_from_the_nose_bridge_over_the_chin():
    points = torch.zeros(68, 2)
    jaw_x = torch.linspace(20, 80, 17)
    points[:17, 0] = jaw_x
    points[:17, 1] = 40 + 40 * torch.sin(torch.linspace(0, torch.pi, 17))  # jaw from y 40 down to 80
    points[28] = torch.tensor([50.0, 45.0])  # the nose bridge
    region = mask_region(points, 100).reshape(100, 100)
    assert region[60, 50] and region[75, 50]  # the nose and mouth area, the chin
    assert not region[35, 50] and not region[90, 50] and not region[60, 10]


def test_occluders_hide_what_they_cover_and_leave_other_faces_alone():
    seeds = list(range(24))
    bare, covered = without_and_with("occluders", seeds, 96)
    changed = np.abs(covered.images - bare.images).max(-1) > 1e-5
    relabelled = covered.segmentation != bare.segmentation
    assert (covered.segmentation[relabelled] == 0).all()
    with_part = changed.any(axis=(1, 2))
    assert 2 <= with_part.sum() <= 12
    np.testing.assert_allclose(covered.images[~with_part], bare.images[~with_part], atol=1e-5)
    assert (covered.landmark_visibility <= bare.landmark_visibility).all()
    hidden = (bare.landmark_visibility & ~covered.landmark_visibility).any(1)
    np.testing.assert_array_equal(hidden, with_part)  # each hand or mask hides some landmarks
    np.testing.assert_array_equal(relabelled.any(axis=(1, 2)), with_part)
