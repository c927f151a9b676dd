"""Scene backdrops (`MeshFaceGenerator(scenes=True)`): rooms and outdoor scenes laid out by their numbers,
behind the head only: labels, landmarks and depth are those of the abstract backdrop; the face is lit
as its scene would light it (the sun, clouds, lamps and a window)."""

import numpy as np
import pytest
import torch

from synthforge_hf.generators.mesh.lighting import LIGHT_COLOURS
from synthforge_hf.generators.mesh.maths import hsv_to_rgb, palette
from synthforge_hf.generators.mesh.parameters import LATENT_FIELDS
from synthforge_hf.generators.mesh.scenes import (
    CLEAR_SKY,
    NUMBERS_PER_SAMPLE,
    _box,
    light_the_scene,
    render_scene,
)

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


AMBIENT = 0.2


def _scene_lights(numbers: torch.Tensor):
    """`light_the_scene` for one sample with mid-range latents and an ambient strength of 0.2, seen by a
    camera whose axes are the world's (so light directions read in OpenCV camera axes: x right, y down,
    z away from the camera)."""
    latents = torch.full((1, len(LATENT_FIELDS)), 0.5)
    original = [
        (torch.tensor([[0.0, 0.0, -1.0]]), torch.tensor([[1.0, 0.9, 0.8]])),  # key from the camera
        (torch.tensor([[-1.0, 0.0, 0.0]]), torch.tensor([[0.3, 0.3, 0.3]])),  # fill
        (torch.tensor([[0.0, -1.0, 1.0]]) / 2**0.5, torch.tensor([[0.6, 0.6, 0.6]])),  # rim
    ]
    lights, factor = light_the_scene(original, torch.tensor([AMBIENT]), numbers, latents, torch.eye(3)[None])
    return original, lights, float(factor[0])


def _metered(key_colour: torch.Tensor, fill_colour: torch.Tensor, ambient: float) -> float:
    """The light on the face from the front that the camera keeps: key, fill and ambient."""
    return float(key_colour.mean() + fill_colour.mean()) + ambient


METERED = 0.9 + 0.3 + AMBIENT  # of the original lights


def _outdoors(clouds: float) -> torch.Tensor:
    numbers = torch.full((1, NUMBERS_PER_SAMPLE), 0.5)
    numbers[0, 31], numbers[0, 2] = 1.0, clouds
    return numbers


def test_under_a_clear_sky_the_sun_is_a_strong_high_key_light_with_a_weak_fill():
    original, (sun, fill, rim), factor = _scene_lights(_outdoors(CLEAR_SKY - 0.1))
    # Mid-range latents: the sun at 0.45 + 0.6 * 0.5 rad above the view axis, in line with the camera
    # (azimuth 0), 1.8 + 0.8 * 0.5 strong, in the palette's colour at 0.45; the fill at 0.4, the ambient
    # at 1.3; then all of them scaled so that the metered light is the original's.
    elevation = 0.45 + 0.3
    expected = torch.tensor([[0.0, -np.sin(elevation), -np.cos(elevation)]], dtype=torch.float32)
    torch.testing.assert_close(sun[0], expected)
    sun_colour = palette(LIGHT_COLOURS, torch.tensor([0.45])) * 2.2
    exposure = METERED / _metered(sun_colour, 0.4 * original[1][1], 1.3 * AMBIENT)
    torch.testing.assert_close(sun[1], sun_colour * exposure)
    torch.testing.assert_close(fill[1], 0.4 * original[1][1] * exposure)
    torch.testing.assert_close(rim[1], original[2][1] * exposure)
    assert factor == pytest.approx(1.3 * exposure)
    assert _metered(sun[1], fill[1], factor * AMBIENT) == pytest.approx(METERED)
    # harder light: more of it from the sun, against the ambient and the fill
    assert float(sun[1].mean()) / (factor * AMBIENT) > 1.5 * 0.9 / AMBIENT
    assert float(fill[1].mean() / sun[1].mean()) < 0.2 * 0.3 / 0.9


def test_under_clouds_the_direct_light_dims_and_the_ambient_grows():
    original, (key, fill, rim), factor = _scene_lights(_outdoors(CLEAR_SKY + 0.1))
    exposure = METERED / _metered(0.35 * original[0][1], original[1][1], 1.8 * AMBIENT)
    torch.testing.assert_close(key[0], original[0][0])
    torch.testing.assert_close(key[1], 0.35 * original[0][1] * exposure)
    torch.testing.assert_close(rim[1], 0.5 * original[2][1] * exposure)
    torch.testing.assert_close(fill[1], original[1][1] * exposure)
    assert factor == pytest.approx(1.8 * exposure)
    assert float(key[1].mean()) / (factor * AMBIENT) < 0.25 * 0.9 / AMBIENT  # soft, mostly ambient


def _room(window_number: float | None) -> torch.Tensor:
    """A room whose first opening is a window at image x ``window_number * 1.2 - 0.6`` (none: no window)."""
    numbers = torch.full((1, NUMBERS_PER_SAMPLE), 0.5)
    numbers[0, 31] = 0.0
    numbers[0, 9:21] = 0.9  # every opening absent...
    if window_number is not None:  # ...but the first: a window (third number < 0.5), shown (fourth < 0.8)
        numbers[0, 9:13] = torch.tensor([window_number, 0.5, 0.2, 0.5])
    return numbers


def test_indoors_a_window_rims_the_head_from_its_side_and_a_lamp_is_the_key():
    original, (lamp, fill, rim), factor = _scene_lights(_room(0.9))  # a window right of the head
    # warm (the palette at 0.3 of the key's temperature), as strong as the key it replaces
    lamp_colour = palette(LIGHT_COLOURS, torch.tensor([0.15])) * original[0][1].mean()
    exposure = METERED / _metered(lamp_colour, original[1][1], AMBIENT)
    torch.testing.assert_close(lamp[1], lamp_colour * exposure)
    assert lamp[0][0, 1] < -np.sin(0.6) and lamp[1][0, 0] > lamp[1][0, 2]  # from above, warm
    assert rim[0][0, 0] > 0.5 and rim[0][0, 2] > 0 and rim[0][0, 1] < 0  # right, behind, a little above
    torch.testing.assert_close(rim[1], palette(LIGHT_COLOURS, torch.tensor([0.75])) * 1.4 * exposure)
    _, (_, _, left_rim), _ = _scene_lights(_room(0.1))
    assert left_rim[0][0, 0] < -0.5 and left_rim[0][0, 2] > 0
    torch.testing.assert_close(fill[1], original[1][1] * exposure)
    assert factor == pytest.approx(exposure)
    _, (_, _, no_window_rim), _ = _scene_lights(_room(None))
    torch.testing.assert_close(no_window_rim[1], original[2][1] * exposure)
