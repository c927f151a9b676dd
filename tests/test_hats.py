"""Hats (`MeshFaceGenerator(hats=True)`): a beanie or a cap sitting on the skull above the brows, its brim
where the geometry says, covering what is behind it; heads without one render as they did."""

import math

import numpy as np
import torch

from synthforge_hf.generators.mesh.hair import RestFrame, scalp_outline
from synthforge_hf.generators.mesh.hats import (
    _BRIM_REACH,
    _CROWN_MARGIN,
    NUMBERS_PER_SAMPLE,
    _brim_hits,
    _edge_height,
    hat_kind,
)
from synthforge_hf.head.default_head import build_default_head

from .parts import without_and_with


def test_about_one_head_in_seven_wears_a_hat_of_either_kind():
    numbers = torch.rand(7000, NUMBERS_PER_SAMPLE, generator=torch.Generator().manual_seed(1))
    kinds = [hat_kind(row) for row in numbers]
    assert abs(kinds.count("beanie") / 7000 - 0.07) < 0.01
    assert abs(kinds.count("cap") / 7000 - 0.07) < 0.01


def test_the_edge_is_above_the_brows_in_front_and_four_centimetres_lower_behind():
    skull = scalp_outline(build_default_head())
    edge = _edge_height(skull, torch.tensor([0.0, math.pi / 2, math.pi]), 0.03)
    expected = [skull.brow_height + 0.03, skull.brow_height + 0.01, skull.brow_height - 0.01]
    np.testing.assert_allclose(edge.numpy(), expected, atol=1e-6)


def test_a_brim_reaches_out_in_front_of_the_forehead_and_no_further():
    """Rays straight down from a metre above the skull's centre: over the brim they stop at its height;
    beyond its reach, or behind the head, they pass."""
    skull = scalp_outline(build_default_head())
    crown = skull.half + torch.tensor(_CROWN_MARGIN["cap"])
    height = skull.brow_height + 0.03
    down = torch.tensor([[0.0, -1.0, 0.0]])
    reach = skull.fringe_depth + _BRIM_REACH
    for z, expected in (
        (float(crown[2]) + 0.02, True),
        (reach + 0.01, False),
        (-float(crown[2]) - 0.02, False),
    ):
        origin = skull.centre + torch.tensor([0.0, 1.0, z])
        along, hit = _brim_hits(skull, RestFrame(origin, down, torch.eye(3)), height, crown)
        assert bool(hit[0]) is expected
        if expected:
            assert math.isclose(float(along[0]), 1.0 - height, abs_tol=1e-5)


def test_hats_cover_the_top_of_the_head_and_leave_other_heads_alone():
    seeds = list(range(40))
    bare, hatted = without_and_with("hats", seeds, 64)
    changed = np.abs(hatted.images - bare.images).max(-1) > 1e-5
    with_hat = changed.any(axis=(1, 2))
    assert 2 <= with_hat.sum() <= 12
    np.testing.assert_allclose(hatted.images[~with_hat], bare.images[~with_hat], atol=1e-5)
    relabelled = hatted.segmentation != bare.segmentation
    assert (hatted.segmentation[relabelled] == 0).all()
    rows = np.nonzero(relabelled)[1]
    assert np.median(rows) < np.median(bare.landmarks_2d[:, 17:27, 1])  # above the brows
    assert (hatted.landmark_visibility <= bare.landmark_visibility).all()
