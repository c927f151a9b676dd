"""Scene-like backdrops behind the head, in linear RGB: a room (a wall with windows, doors and shelves
over a floor that recedes to a horizon) or a street or park outdoors (sky with clouds, buildings with
rows of windows, trees, the ground), each laid out by its own random numbers (`scene_numbers`);
`background` blurs them by its depth of field as it does the abstract backdrop, and `light_the_scene`
lights the face as the scene would."""

from __future__ import annotations

from typing import NamedTuple

import torch

from .lighting import LIGHT_COLOURS, Light, light_direction
from .maths import hsv_to_rgb, palette, smoothstep
from .noise import LOW, MID, SPECKLE, sample_noise
from .parameters import latent_fields, seeded_uniforms

NUMBERS_PER_SAMPLE = 32
_WINDOWS = 3  # openings (windows, doors) on a room's wall, buildings along a street
_INDOORS, _CLOUDS = 31, 2  # the numbers that choose a room or outdoors, and how cloudy the sky is
CLEAR_SKY = 0.55  # outdoors, a sky whose clouds' number is below this is clear: the sun shines


def scene_numbers(latents: torch.Tensor) -> torch.Tensor:
    """Each sample's scene numbers (B,NUMBERS_PER_SAMPLE), from its latents (B,latent_dim)."""
    return seeded_uniforms((latent_fields(latents)["background_seed"] + 0.5) % 1.0, NUMBERS_PER_SAMPLE)


def is_indoors(numbers: torch.Tensor) -> torch.Tensor:
    """(B,) True where the scene is a room (half of them), False outdoors."""
    return numbers[:, _INDOORS] < 0.5


class Opening(NamedTuple):
    """One of a room's openings on its wall (each field (B,), image units, y down): its centre and width,
    whether it is a window (else a door), its top and bottom, and whether it is there at all."""

    centre: torch.Tensor
    width: torch.Tensor
    is_window: torch.Tensor
    top: torch.Tensor
    bottom: torch.Tensor
    shown: torch.Tensor


def _room_horizon(numbers: torch.Tensor) -> torch.Tensor:
    """(B,) the height (image units, y down) where a room's floor meets its wall."""
    return 0.05 + 0.4 * numbers[:, 6]


def openings(numbers: torch.Tensor) -> list[Opening]:
    """The `_WINDOWS` openings of each sample's room, from its numbers (B,NUMBERS_PER_SAMPLE)."""
    horizon = _room_horizon(numbers)
    found = []
    for k in range(_WINDOWS):
        n = numbers[:, 9 + 4 * k : 13 + 4 * k]
        is_window = n[:, 2] < 0.5
        found.append(
            Opening(
                centre=n[:, 0] * 1.2 - 0.6,
                width=0.08 + 0.2 * n[:, 1],
                is_window=is_window,
                top=torch.where(is_window, -0.45 + 0.2 * n[:, 3], -0.35 + 0.2 * n[:, 3]),
                bottom=torch.where(is_window, horizon - 0.1 - 0.1 * n[:, 3], horizon),
                shown=n[:, 3] < 0.8,
            )
        )
    return found


def _box(
    xx: torch.Tensor, yy: torch.Tensor, left, right, top, bottom, softness: float = 0.004
) -> torch.Tensor:
    """Coverage (B,S,S) of axis-aligned boxes (each bound (B,), image units, y down), soft at the edges."""
    inside_x = smoothstep(-softness, softness, xx - left[:, None, None]) * smoothstep(
        softness, -softness, xx - right[:, None, None]
    )
    inside_y = smoothstep(-softness, softness, yy - top[:, None, None]) * smoothstep(
        softness, -softness, yy - bottom[:, None, None]
    )
    return inside_x * inside_y


def _over(image: torch.Tensor, alpha: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """``image`` (B,3,S,S) with ``colour`` (B,3) or (B,3,S,S) laid over it with coverage ``alpha`` (B,S,S)."""
    if colour.dim() == 2:
        colour = colour[:, :, None, None]
    return image + alpha[:, None] * (colour - image)


def _room(numbers: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A wall in a muted colour over a floor below the horizon, with windows (bright, with bars), doors
    and shelves (dark) on the wall and floorboards running to a vanishing point."""
    wall = hsv_to_rgb(numbers[:, 0], 0.05 + 0.3 * numbers[:, 1], 0.35 + 0.6 * numbers[:, 2]) ** 2.2
    floor = (
        hsv_to_rgb(0.05 + 0.08 * numbers[:, 3], 0.3 + 0.4 * numbers[:, 4], 0.15 + 0.5 * numbers[:, 5]) ** 2.2
    )
    horizon = _room_horizon(numbers)[:, None, None]
    image = (
        wall[:, :, None, None] * (1 + 0.08 * noise[:, None, 0]) * (1 - 0.25 * (yy - horizon).abs()[:, None])
    )
    below = smoothstep(-0.004, 0.004, yy - horizon)
    vanishing_x = (numbers[:, 7] - 0.5)[:, None, None]
    boards = torch.sin(
        (xx - vanishing_x) / (yy - horizon).clamp_min(0.02) * (6 + 10 * numbers[:, 8, None, None])
    )
    image = _over(image, below, floor[:, :, None, None] * (1 + 0.15 * boards + 0.1 * noise[:, 1])[:, None])
    for k, (centre, width, is_window, top, bottom, shown) in enumerate(openings(numbers)):
        n = numbers[:, 9 + 4 * k : 13 + 4 * k]
        opening = _box(xx, yy, centre - width / 2, centre + width / 2, top, bottom)
        light = torch.stack([0.9 + 0.1 * n[:, 1], 0.95 * torch.ones_like(n[:, 1]), 1.0 + 0.1 * n[:, 0]], -1)
        door = wall * (0.3 + 0.4 * n[:, 1, None])
        colour = torch.where(is_window[:, None], light * (1.2 + 1.5 * n[:, 3, None]), door)
        bars = ((xx - centre[:, None, None]).abs() < 0.008) | (
            (yy - (top + bottom)[:, None, None] / 2).abs() < 0.008
        )
        fill = colour[:, :, None, None] * (1 - 0.8 * (bars & is_window[:, None, None]).float()[:, None])
        fill = fill * (1 + 0.15 * noise[:, None, 2])  # what is seen through a window, a door's grain
        image = _over(image, opening * shown[:, None, None], fill)
    shelf_height = (-0.3 + 0.3 * numbers[:, 25])[:, None, None]
    shelf = ((yy - shelf_height).abs() < 0.012).float() * (xx.abs() > 0.15 + 0.2 * numbers[:, 26, None, None])
    return _over(image, shelf * (numbers[:, 27, None, None] < 0.5), wall * 0.4)


def _outdoors(numbers: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Sky (blue to hazy at the horizon, with clouds) over the ground, with buildings rising from the
    horizon (rows of windows) and trees (dark green, leafy masses) in front of them."""
    horizon = (-0.1 + 0.4 * numbers[:, 0])[:, None, None]
    height_above = (horizon - yy).clamp_min(0)
    zenith = torch.stack(
        [0.25 + 0.2 * numbers[:, 1], 0.45 + 0.15 * numbers[:, 1], 0.9 * torch.ones_like(numbers[:, 1])], -1
    )
    haze = torch.tensor([0.85, 0.88, 0.9]).expand_as(zenith)
    sky_mix = (height_above * 2).clamp(0, 1)[:, None]
    image = haze[:, :, None, None] * (1 - sky_mix) + zenith[:, :, None, None] * sky_mix
    clouds = smoothstep(0.2 - 0.5 * numbers[:, _CLOUDS, None, None], 0.9, noise[:, 0]) * (yy < horizon)
    image = _over(image, clouds * 0.8, torch.full_like(zenith, 0.95))
    ground = (
        hsv_to_rgb(0.08 + 0.25 * numbers[:, 3], 0.2 + 0.4 * numbers[:, 4], 0.2 + 0.4 * numbers[:, 5]) ** 2.2
    )
    image = _over(
        image,
        smoothstep(-0.004, 0.004, yy - horizon),
        ground[:, :, None, None] * (1 + 0.2 * noise[:, None, 1]),
    )
    for k in range(_WINDOWS):
        n = numbers[:, 6 + 4 * k : 10 + 4 * k]
        centre, width, height = n[:, 0] * 1.4 - 0.7, 0.15 + 0.35 * n[:, 1], 0.1 + 0.5 * n[:, 2]
        top = horizon[:, 0, 0] - height
        building = _box(xx, yy, centre - width / 2, centre + width / 2, top, horizon[:, 0, 0]) * (
            n[:, 3, None, None] < 0.7
        )
        facade = hsv_to_rgb(0.05 + 0.1 * n[:, 3], 0.1 + 0.3 * n[:, 1], 0.3 + 0.5 * n[:, 2]) ** 2.2
        rows = torch.sin((yy - top[:, None, None]) * (40 + 40 * n[:, 1, None, None])) > 0.3
        columns = torch.sin((xx - centre[:, None, None]) * (40 + 40 * n[:, 2, None, None])) > 0.2
        panes = (rows & columns).float()[:, None]
        fill = facade[:, :, None, None] * (1 - 0.6 * panes) + panes * zenith[:, :, None, None] * 0.4
        image = _over(image, building, fill)
    trees = smoothstep(
        0.0,
        0.25,
        0.7 * noise[:, 0]
        + 0.3 * noise[:, 1]
        + numbers[:, 20, None, None]
        - 0.6
        + 0.8 * (yy - horizon).clamp(-0.3, 0.3),
    )
    leaves = (
        hsv_to_rgb(0.2 + 0.12 * numbers[:, 21], 0.4 + 0.4 * numbers[:, 22], 0.15 + 0.3 * numbers[:, 23])
        ** 2.2
    )
    leafy = leaves[:, :, None, None] * (0.6 + 0.8 * (noise[:, None, 2] * 0.5 + 0.5))  # leaves
    return _over(image, trees * (numbers[:, 24, None, None] < 0.75), leafy)


def render_scene(numbers: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
    """Scene backdrops (B,3,S,S) in linear RGB, over the image grid ``xx``, ``yy`` (B,S,S; image units in
    [-0.5, 0.5], y down), from each sample's uniform numbers (B,NUMBERS_PER_SAMPLE): half are rooms, half
    outdoors."""
    noise = sample_noise(
        [LOW, MID, SPECKLE],
        xx * (0.25 + 0.5 * numbers[:, 28, None, None]) + numbers[:, 29, None, None],
        yy * (0.25 + 0.5 * numbers[:, 28, None, None]) + numbers[:, 30, None, None],
    ).transpose(0, 1)
    indoors = is_indoors(numbers)[:, None, None, None]
    return torch.where(indoors, _room(numbers, xx, yy, noise), _outdoors(numbers, xx, yy, noise)).clamp_min(0)


def light_the_scene(
    lights: list[Light],
    ambient: torch.Tensor,
    numbers: torch.Tensor,
    latents: torch.Tensor,
    cam2world: torch.Tensor,
) -> tuple[list[Light], torch.Tensor]:
    """Each sample's key, fill and rim ``lights`` (`lighting.sample_lights`, in that order) made those of
    its scene (``numbers``, B,NUMBERS_PER_SAMPLE), and a factor (B,) on its ambient light. Outdoors under a
    clear sky the key is the sun: high, strong and near white, with a weak fill, so shadows are hard and the
    blue sky lights them. Under clouds there is no direct light to speak of: the key and rim dim and the
    ambient grows. Indoors the key is warm lamp light from above, and daylight from the first window on
    the wall behind the head rims the head from that side. Then the camera meters the face, as its
    automatic exposure would: the light falling on it from the front (key, fill and ambient) is scaled
    back to what it was, so a scene changes how the face is lit, not how bright it is.

    Args:
        lights: the sample's lights, direction (B,3) and colour times intensity (B,3) each.
        ambient: (B,) the strength of each sample's ambient light.
        numbers: the scenes' numbers (`scene_numbers`).
        latents: the samples' latents (B,latent_dim), whose light fields place the key light.
        cam2world: the cameras' rotations (B,3,3).

    Returns:
        `tuple[list[Light], torch.Tensor]`: the lights and the ambient factor.
    """
    field = latent_fields(latents)
    indoors = is_indoors(numbers)
    sunny = ~indoors & (numbers[:, _CLOUDS] < CLEAR_SKY)
    overcast = ~indoors & ~sunny
    (key, key_colour), (fill, fill_colour), (rim, rim_colour) = lights
    metered = key_colour.mean(1) + fill_colour.mean(1) + ambient  # what the camera keeps
    azimuth = (field["light_azimuth"] - 0.5) * 2.6
    sun = light_direction(cam2world, azimuth, 0.45 + 0.6 * field["light_elevation"])
    sun_colour = palette(LIGHT_COLOURS, 0.35 + 0.2 * field["light_temperature"])
    sun_colour = sun_colour * (1.8 + 0.8 * field["light_intensity"])[:, None]
    lamp = light_direction(cam2world, azimuth, 0.5 + 0.4 * field["light_elevation"])
    key_strength = key_colour.mean(1, keepdim=True)
    lamp_colour = palette(LIGHT_COLOURS, 0.3 * field["light_temperature"]) * key_strength
    window = _first_window(numbers)
    low = torch.full_like(window, 0.3)
    daylight = light_direction(cam2world, torch.sign(window) * (0.6 + 0.8 * window.abs()), low, behind=True)
    daylight_colour = palette(LIGHT_COLOURS, torch.full_like(window, 0.75)) * 1.4
    has_window = indoors & (window != 0)
    key = torch.where(sunny[:, None], sun, torch.where(indoors[:, None], lamp, key))
    key_colour = torch.where(
        sunny[:, None], sun_colour, torch.where(indoors[:, None], lamp_colour, 0.35 * key_colour)
    )
    fill_colour = fill_colour * torch.where(sunny, 0.4, 1.0)[:, None]
    rim = torch.where(has_window[:, None], daylight, rim)
    rim_colour = torch.where(
        has_window[:, None], daylight_colour, rim_colour * torch.where(overcast, 0.5, 1.0)[:, None]
    )
    factor = torch.where(sunny, 1.3, torch.where(overcast, 1.8, 1.0))
    exposure = (metered / (key_colour.mean(1) + fill_colour.mean(1) + factor * ambient))[:, None]
    lit = [(key, key_colour * exposure), (fill, fill_colour * exposure), (rim, rim_colour * exposure)]
    return lit, factor * exposure[:, 0]


def _first_window(numbers: torch.Tensor) -> torch.Tensor:
    """(B,) the image x of the first window shown on each room's wall (0 where it has none)."""
    centre = torch.zeros(numbers.shape[0])
    for opening in reversed(openings(numbers)):
        centre = torch.where(opening.is_window & opening.shown, opening.centre, centre)
    return centre
