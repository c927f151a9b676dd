"""Make-up and age (`MeshFaceGenerator(skin_detail=True)`): lipstick on the lips, lines where the forehead's
rest-pose height says, nothing off the skin, labels unchanged."""

import colorsys

import numpy as np
import torch
from scipy.ndimage import binary_dilation

from synthforge_hf.constants import CLASS_ID
from synthforge_hf.generators.mesh.skin_detail import (
    _FOREHEAD_Y,
    _WRINKLE_SPACING,
    NUMBERS_PER_SAMPLE,
    makeup_and_age,
)

from .parts import without_and_with


def _pixels(ys: list[float], bare_skin: list[float], lips: list[float]):
    count = len(ys)
    maps = {"x": torch.zeros(count), "y": torch.tensor(ys), "cheeks": torch.zeros(count)}
    weights = {"bare_skin": torch.tensor(bare_skin), "lips": torch.tensor(lips)}
    return torch.full((3, count), 0.5), weights, maps


def test_lipstick_goes_on_the_lips_only():
    numbers = torch.zeros(NUMBERS_PER_SAMPLE)  # make-up, the reddest lipstick at its lightest amount
    numbers[3] = 1.0  # bright
    albedo, weights, maps = _pixels([-0.035, 0.2], [0.0, 0.0], [1.0, 0.0])
    out = makeup_and_age(albedo, weights, maps, numbers)
    lipstick = np.array(colorsys.hsv_to_rgb(0.95, 0.5, 0.8)) ** 2.2  # hue 0.95, saturation 0.5, value 0.8
    np.testing.assert_allclose(out[:, 0], 0.5 + 0.4 * (lipstick - 0.5), rtol=1e-5)  # 40% of the way
    assert out[0, 0] > out[1, 0] and out[0, 0] > out[2, 0]  # red
    torch.testing.assert_close(out[:, 1], albedo[:, 1])  # neither skin nor lips: unchanged


def test_forehead_lines_fall_at_their_spacing_on_older_faces():
    on_line = _FOREHEAD_Y[0] + 2 * _WRINKLE_SPACING
    between = on_line + _WRINKLE_SPACING / 2
    albedo, weights, maps = _pixels([on_line, between, on_line], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0])
    old, young = torch.ones(NUMBERS_PER_SAMPLE), torch.ones(NUMBERS_PER_SAMPLE)
    young[7] = 0.3  # below the age at which lines start
    aged = makeup_and_age(albedo, weights, maps, old)
    assert float(aged[0, 0]) < 0.5 * (1 - 0.2)  # darker by most of the line's 25%
    torch.testing.assert_close(aged[:, 1:], albedo[:, 1:])  # between lines, and off the skin
    torch.testing.assert_close(makeup_and_age(albedo, weights, maps, young), albedo)


def test_skin_detail_changes_skin_and_lips_and_never_the_labels():
    seeds = list(range(12))
    bare, detailed = without_and_with("skin_detail", seeds, 96, yaw=None, pitch=None)
    for field in ("segmentation", "depth", "landmarks_2d", "landmark_visibility"):
        np.testing.assert_array_equal(getattr(bare, field), getattr(detailed, field))
    changed = np.abs(detailed.images - bare.images).max(-1) > 1e-5
    assert changed.any(axis=(1, 2)).sum() >= 4
    # Away from the skin (beyond the few pixels the camera's blur spreads it): background and eyeballs.
    skin = ~np.isin(bare.segmentation, [0, CLASS_ID["right_eyeball"], CLASS_ID["left_eyeball"]])
    near_skin = np.stack([binary_dilation(mask, iterations=3) for mask in skin])
    assert not changed[~near_skin].any()
