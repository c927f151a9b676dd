"""The cluttered background behind the head, in linear RGB: a two-colour gradient, multi-scale colour
noise and random soft shapes (rectangles, ellipses, stripes), blurred by a random depth of field,
plus a fine texture at full resolution."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .maths import gaussian_blur, hsv_to_rgb, smoothstep
from .noise import LOW, MID, SPECKLE, sample_noise
from .parameters import latent_fields, seeded_uniforms
from .scenes import render_scene, scene_numbers

_NUM_SHAPES = 10  # background shapes drawn per sample (each present with a probability)
_NUMBERS_PER_SHAPE = 10
_FIRST_SHAPE_NUMBER = 8  # the per-sample random numbers before these are the backdrop's


def _backdrop(
    field: dict[str, torch.Tensor],
    numbers: torch.Tensor,
    xx: torch.Tensor,
    yy: torch.Tensor,
    saturation: torch.Tensor,
    value: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A gradient between two colours, bent by low-frequency noise, times a colour texture: the image
    (B,3,S,S) and the texture (B,1,S,S) the shapes reuse."""
    colour_a = hsv_to_rgb(field["background_hue_a"], saturation, value) ** 2.2
    colour_b = hsv_to_rgb(field["background_hue_b"], saturation, value * (0.4 + 0.6 * numbers[:, 1])) ** 2.2
    angle = field["background_angle"] * 2 * math.pi
    along = xx * angle.cos()[:, None, None] + yy * angle.sin()[:, None, None] + 0.5
    noise = sample_noise(
        [LOW, MID, SPECKLE], xx * 0.7 + numbers[:, 2, None, None], yy * 0.7 + numbers[:, 3, None, None]
    ).transpose(0, 1)
    along = (along[:, None] + 0.25 * noise[:, :1]).clamp(0, 1)
    image = colour_a[:, :, None, None] * (1 - along) + colour_b[:, :, None, None] * along
    texture = 1 + 0.2 * noise[:, 1:2] + 0.12 * noise[:, 2:3] * numbers[:, 4, None, None, None]
    return image * texture, texture


def _shape_frame(
    shape: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A shape's own axes: the grid's coordinates (B,S,S) along and across the shape (rotated about its
    centre), and its half width and half height (B,1,1)."""
    centre_x, centre_y = shape[:, 1] * 1.4 - 0.7, shape[:, 2] * 1.4 - 0.7
    half_width, half_height = 0.03 + 0.4 * shape[:, 3] ** 2, 0.03 + 0.4 * shape[:, 4] ** 2
    theta = (shape[:, 5] - 0.5) * math.pi * (shape[:, 6] < 0.5).float()
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    dx, dy = xx - centre_x[:, None, None], yy - centre_y[:, None, None]
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    return along, across, half_width[:, None, None], half_height[:, None, None]


def _draw_shape(
    image: torch.Tensor,
    shape: torch.Tensor,
    index: int,
    field: dict[str, torch.Tensor],
    grid: tuple[torch.Tensor, torch.Tensor],
    saturation: torch.Tensor,
    value: torch.Tensor,
    texture: torch.Tensor,
) -> torch.Tensor:
    """``image`` (B,3,S,S) with the ``index``-th soft shape over it, from its random numbers ``shape``
    (B,10): present with a probability that grows with the clutter, a box or an ellipse (some rotated),
    sometimes striped, its colour's hue alternating with ``index``."""
    present = (shape[:, 0] < field["background_clutter"] * 1.2).float()
    along, across, half_width, half_height = _shape_frame(shape, *grid)
    box = torch.maximum(along.abs() - half_width, across.abs() - half_height)
    ellipse = (torch.sqrt((along / half_width) ** 2 + (across / half_height) ** 2) - 1) * torch.minimum(
        half_width, half_height
    )
    is_box = (shape[:, 6] < 0.6).float()[:, None, None]
    distance = box * is_box + ellipse * (1 - is_box)
    softness = (0.004 + 0.03 * shape[:, 7] ** 2)[:, None, None]
    alpha = (0.5 - distance / softness).clamp(0, 1) * (present * (0.5 + 0.5 * shape[:, 8]))[:, None, None]
    hue = (field["background_hue_a"] + (shape[:, 9] - 0.5) * 0.4 + (index % 2) * 0.5) % 1.0
    brightness = (0.08 + 0.9 * shape[:, 7]) * (0.5 + value)
    colour = hsv_to_rgb(hue, saturation * (0.5 + shape[:, 8]), brightness) ** 2.2
    stripes = (shape[:, 9] > 0.8).float()[:, None, None]
    pattern = 1 - 0.5 * stripes * (torch.sin(along * (20 + 60 * shape[:, 3, None, None])) > 0).float()
    fill = colour[:, :, None, None] * pattern[:, None] * texture
    return image + alpha[:, None] * (fill - image)


def _fine_grain(numbers: torch.Tensor, resolution: int, blur: torch.Tensor) -> torch.Tensor:
    """A fine texture (fabric, paper, foliage...) at full resolution (B,R,R), weaker when out of
    focus."""
    full = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    scale = (0.5 + 1.5 * numbers[:, 6])[:, None, None]
    fine = sample_noise(
        [MID, SPECKLE],
        (full[None, None, :] * scale + numbers[:, 7, None, None]).expand(-1, resolution, -1),
        (full[None, :, None] * scale + numbers[:, 5, None, None]).expand(-1, -1, resolution),
    )
    amount = ((0.05 + 0.15 * numbers[:, 4]) * (1 - 0.6 * blur))[:, None, None]
    return 1 + amount * (0.6 * fine[0] + 0.4 * fine[1])


def render_background(latents: torch.Tensor, resolution: int, scenes: bool = False) -> torch.Tensor:
    """Cluttered background (B,3,R,R) in linear RGB: a gradient, colour noise, random soft shapes and
    a random blur (two in five are in focus), made at a quarter of the resolution, plus a fine
    texture at full resolution. With ``scenes``, a room or an outdoor scene (`scenes.render_scene`)
    takes the place of the gradient and shapes."""
    batch = latents.shape[0]
    size = max(16, resolution // 4)
    field = latent_fields(latents)
    numbers = seeded_uniforms(
        field["background_seed"], _FIRST_SHAPE_NUMBER + _NUM_SHAPES * _NUMBERS_PER_SHAPE
    )
    saturation = 0.1 + 0.4 * numbers[:, 0]
    value = 0.12 + 0.75 * field["background_value"]
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    yy, xx = yy[None].expand(batch, -1, -1), xx[None].expand(batch, -1, -1)
    if scenes:
        image = render_scene(scene_numbers(latents), xx, yy)
    else:
        image, texture = _backdrop(field, numbers, xx, yy, saturation, value)
        for index in range(_NUM_SHAPES):
            first = _FIRST_SHAPE_NUMBER + _NUMBERS_PER_SHAPE * index
            shape = numbers[:, first : first + _NUMBERS_PER_SHAPE]
            image = _draw_shape(image, shape, index, field, (xx, yy), saturation, value, texture)

    blur = smoothstep(0.4, 1.0, field["background_blur"])
    soft = gaussian_blur(image, 0.4 + 2.6 * size / 64)
    image = image + blur[:, None, None, None] * (soft - image)
    image = F.interpolate(image, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return image * _fine_grain(numbers, resolution, blur)[:, None]
