"""Make-up and age on the skin's albedo, drawn in the head's rest-pose coordinates so they move with the
skin: lipstick, eye shadow and blush on some faces; forehead lines, crow's feet and darker folds beside
the nose on older ones. Only the skin and lips change (never the eyeballs, brows, beards or hair), and
the labels not at all."""

from __future__ import annotations

import math

import torch

from .maths import column, gaussian_bump, hsv_to_rgb, smoothstep

NUMBERS_PER_SAMPLE = 8
_EYE_X, _EYE_Y = 0.031, 0.024  # an eye's centre in the rest pose (metres; x mirrored)
_FOREHEAD_Y = (0.05, 0.085)  # the forehead's height in the rest pose
_WRINKLE_SPACING = 0.011  # metres between forehead lines


def makeup_and_age(
    albedo: torch.Tensor,
    weights: dict[str, torch.Tensor],
    maps: dict[str, torch.Tensor],
    numbers: torch.Tensor,
) -> torch.Tensor:
    """``albedo`` (3,N) with make-up and signs of age.

    Args:
        albedo: (3,N) one sample's albedo at its pixels, and ``weights`` its surface weights
            (`appearance.paint_albedo`): ``bare_skin`` and ``lips`` (N,) say where make-up and lines go.
        maps: the rest-pose maps at the pixels (`geometry.REST_MAPS`, (N,) each): ``x``, ``y`` and
            ``cheeks`` are read.
        numbers: (NUMBERS_PER_SAMPLE,) uniform numbers: whether the face wears make-up (about one in
            three) and its colours and amounts, and the face's age (lines from about the middle of the
            range up).
    """
    skin, lips = weights["bare_skin"], weights["lips"]
    across, y = maps["x"].abs(), maps["y"]
    albedo = albedo.clone()
    if float(numbers[0]) < 0.35:
        lipstick = (
            hsv_to_rgb(
                torch.tensor(0.95 + 0.1 * float(numbers[1])) % 1.0,
                torch.tensor(0.5 + 0.4 * float(numbers[2])),
                torch.tensor(0.3 + 0.5 * float(numbers[3])),
            )
            ** 2.2
        )
        amount = 0.4 + 0.5 * float(numbers[4])
        albedo = torch.lerp(albedo, column(lipstick), (amount * lips)[None])
        shadow = gaussian_bump(across, y, _EYE_X, _EYE_Y + 0.008, 0.016, 0.006) * skin
        albedo = albedo * (1 - 0.45 * float(numbers[5]) * shadow[None])
        blush = (
            torch.tensor([0.25, -0.1, -0.05]).view(3, 1) * (float(numbers[6]) * maps["cheeks"] * skin)[None]
        )
        albedo = albedo * (1 + blush)
    age = smoothstep(0.45, 1.0, numbers[7])
    if float(age) > 0:
        on_forehead = smoothstep(_FOREHEAD_Y[0], _FOREHEAD_Y[0] + 0.008, y) * smoothstep(
            _FOREHEAD_Y[1], _FOREHEAD_Y[1] - 0.01, y
        )
        lines = smoothstep(0.75, 0.95, torch.cos((y - _FOREHEAD_Y[0]) * (2 * math.pi / _WRINKLE_SPACING)))
        forehead = lines * on_forehead * smoothstep(0.05, 0.02, across)
        corner = torch.atan2(y - _EYE_Y, across - _EYE_X - 0.02)
        crows_feet = smoothstep(0.6, 0.95, torch.cos(corner * 9)) * gaussian_bump(
            across, y, _EYE_X + 0.024, _EYE_Y, 0.008, 0.01
        )
        folds = gaussian_bump(across - 0.02 + 0.33 * (y + 0.01), y, 0.0, -0.025, 0.004, 0.012)
        darker = float(age) * (0.25 * forehead + 0.3 * crows_feet + 0.2 * folds) * skin
        albedo = albedo * (1 - darker)[None]
    return albedo
