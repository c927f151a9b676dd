"""Scene backdrops (`MeshFaceGenerator(scenes=True)`): rooms and outdoor scenes laid out by their numbers,
behind the head only: labels, landmarks and depth are those of the abstract backdrop."""

import numpy as np
import torch

from synthforge_hf.generators.mesh.maths import hsv_to_rgb
from synthforge_hf.generators.mesh.scenes import NUMBERS_PER_SAMPLE, _box, render_scene

from .parts import without_and_with

SIZE = 64


def _grid(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    coords = (torch.arange(SIZE, dtype=torch.float32) + 0.5) / SIZE - 0.5
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    return xx[None].expand(batch, -1, -1), yy[None].expand(batch, -1, -1)


def test_a_box_covers_its_inside_only():
    xx, yy = _grid(1)
    bound = torch.tensor
    cover = _box(xx, yy, bound([-0.25]), bound([0.25]), bound([0.0]), bound([0.25]))[0]
    assert cover[40, 32] == 1 and cover[20, 32] == 0 and cover[40, 5] == 0
    assert abs(float(cover.sum()) - 0.5 * 0.25 * SIZE * SIZE) < SIZE  # its area, to a row of pixels


def test_a_bare_room_is_its_wall_above_the_horizon_and_its_floor_below():
    numbers = torch.full((1, NUMBERS_PER_SAMPLE), 0.5)
    numbers[0, 31] = 0.0  # indoors
    numbers[0, 9:21] = 0.9  # every opening absent (their fourth number >= 0.8)
    numbers[0, 27] = 0.9  # no shelf
    numbers[0, 6] = 0.5  # horizon at y = 0.25: row 48 of 64
    image = render_scene(numbers, *_grid(1))[0]
    wall = hsv_to_rgb(torch.tensor(0.5), torch.tensor(0.2), torch.tensor(0.65)) ** 2.2
    floor = hsv_to_rgb(torch.tensor(0.09), torch.tensor(0.5), torch.tensor(0.4)) ** 2.2
    above, below = image[:, 36:44].mean((1, 2)), image[:, 54:].mean((1, 2))
    np.testing.assert_allclose(above, wall, rtol=0.15)
    np.testing.assert_allclose(below, floor, rtol=0.2)


def test_outdoors_the_sky_is_blue_above_the_ground():
    numbers = torch.full((1, NUMBERS_PER_SAMPLE), 0.5)
    numbers[0, 31] = 1.0  # outdoors
    numbers[0, 2] = 0.0  # few clouds
    numbers[0, 6:18] = 0.9  # no buildings (their fourth number >= 0.7)
    numbers[0, 24] = 0.9  # no trees
    image = render_scene(numbers, *_grid(1))[0]
    sky, ground = image[:, :4].mean((1, 2)), image[:, -4:].mean((1, 2))
    assert sky[2] > 1.5 * sky[0] and ground[0] > ground[2]


def test_scenes_change_the_background_and_never_the_labels():
    seeds = list(range(6))
    abstract, scene = without_and_with("scenes", seeds, 64, yaw=None, pitch=None)
    for field in ("segmentation", "depth", "landmarks_2d", "landmarks_3d", "landmark_visibility"):
        np.testing.assert_array_equal(getattr(abstract, field), getattr(scene, field))
    background = abstract.segmentation == 0
    changed = np.abs(scene.images - abstract.images).max(-1) > 0.02
    assert changed[background].mean() > 0.8
    again = without_and_with("scenes", seeds, 64, yaw=None, pitch=None)[1]
    np.testing.assert_array_equal(again.images, scene.images)  # a pure function of the seed
