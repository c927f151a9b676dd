"""Objects held in front of the face (`MeshFaceGenerator(occluders=True)`, `held_objects`): a phone at an
ear, a cup at the mouth, a microphone below it, where the face's points say, in front of the face."""

import math

import numpy as np
import torch

from synthforge_hf.generators.mesh.held_objects import (
    OBJECT_KINDS,
    object_distance,
    object_kind,
    render_held_object,
)
from synthforge_hf.generators.mesh.occluders import NUMBERS_PER_SAMPLE, occluder_kind

KIND_NUMBER = {"phone": 0.1, "cup": 0.5, "microphone": 0.9}


def _upright_face() -> torch.Tensor:
    """68 points of an upright face 40 px wide: the jaw from (30, 40) down to the chin (50, 70) and up to
    (70, 40), the nose bridge (iBUG 27) at (50, 38), the lips (51, 57) at (50, 58) and (50, 62)."""
    points = torch.zeros(68, 2)
    angle = torch.linspace(0, math.pi, 17)
    points[:17, 0] = torch.linspace(30, 70, 17)
    points[:17, 1] = 40 + 30 * torch.sin(angle)
    points[27] = torch.tensor([50.0, 38.0])
    points[51], points[57] = torch.tensor([50.0, 58.0]), torch.tensor([50.0, 62.0])
    return points


def _inside(kind: str, **numbers: float) -> np.ndarray:
    """(100,100) bool: the pixels the ``kind`` of object covers on `_upright_face`, with every number 0.5
    but the kind's (index 1) and those given by index (``n2=0.1``)."""
    row = torch.full((NUMBERS_PER_SAMPLE,), 0.5)
    row[1] = KIND_NUMBER[kind]
    for name, value in numbers.items():
        row[int(name[1:])] = value
    distance, albedo, facing = object_distance(_upright_face(), 100, row)
    assert albedo.shape == (3, 10000) and bool((facing >= 0).all() and (facing <= 1).all())
    return (distance < 0).reshape(100, 100).numpy()


def test_one_face_in_twelve_holds_an_object_of_each_kind_in_equal_shares_beside_the_hands_and_masks():
    numbers = torch.rand(12000, NUMBERS_PER_SAMPLE, generator=torch.Generator().manual_seed(0))
    kinds = [occluder_kind(row) for row in numbers]
    assert abs(kinds.count("object") / 12000 - 0.08) < 0.01
    assert abs(kinds.count("hand") / 12000 - 0.26 * 0.62) < 0.015  # as before objects came
    held = [object_kind(row) for row, kind in zip(numbers, kinds, strict=True) if kind == "object"]
    for name in OBJECT_KINDS:
        assert abs(held.count(name) / len(held) - 1 / 3) < 0.06


def test_a_cup_covers_the_mouth_and_chin_with_its_handle_to_the_chosen_side():
    cup = _inside("cup")  # rim at the lips' middle (50, 60), 0.35 face widths (14 px) tall, handle left
    assert cup[61, 50] and cup[70, 50] and cup[80, 50]  # the lower lip, the chin, below
    assert not cup[38, 50] and not cup[30, 40] and not cup[55, 50]  # nose bridge, an eye, above the lips
    assert cup[72, 33] and not cup[72, 66]  # the handle: out to the left, nothing to the right
    mirrored = _inside("cup", n2=0.1)
    assert mirrored[72, 66] and not mirrored[72, 33]


def test_a_microphone_is_held_below_the_lower_lip_on_a_handle_running_down():
    microphone = _inside("microphone")  # the grille's centre (50, 69.2), 6.8 px round
    assert microphone[69, 50] and microphone[85, 50] and microphone[97, 50]  # grille, handle
    assert not microphone[60, 50] and not microphone[69, 40] and not microphone[30, 50]


def test_a_phone_is_held_to_the_chosen_ear_down_the_side_of_the_face():
    left = _inside("phone", n2=0.5)  # at iBUG 15 (67.5, 45.9), on the image's right
    assert left[53, 65] and left[40, 68]
    assert not left[46, 32] and not left[60, 50] and not left[30, 40]
    right = _inside("phone", n2=0.2)  # at iBUG 1, mirrored
    assert right[53, 34] and right[40, 31] and not right[53, 65]


def test_an_object_stands_in_front_of_the_face_and_is_lit():
    row = torch.full((NUMBERS_PER_SAMPLE,), 0.5)  # a cup
    face_depth = torch.full((10000,), torch.inf)
    face_depth[:5000] = 0.5
    rays = torch.tensor([0.0, 0.0, -1.0]).expand(10000, 3)
    lights = [(torch.tensor([0.0, 0.0, 1.0]), torch.ones(3))]
    depth, radiance = render_held_object(
        _upright_face(), face_depth, rays, lights, torch.full((3,), 0.1), 100, row
    )
    covered = torch.from_numpy(_inside("cup").reshape(-1))
    np.testing.assert_allclose(depth[covered].numpy(), 0.47)
    assert torch.isinf(depth[~covered]).all() and (radiance[:, ~covered] == 0).all()
    assert (radiance[:, covered] > 0).all()
    dark = render_held_object(_upright_face(), face_depth, rays, [], torch.full((3,), 0.1), 100, row)[1]
    assert (dark[:, covered] < radiance[:, covered]).all()  # the light lights it
