"""Hair with volume (`MeshFaceGenerator(hair_volume=True)`): a shell over the skull up to the head's own
hairline; the pixels it covers become scalp with its depth, nothing else changes, and labelled occluders
of any class are applied by `Annotations.occluded_by`."""

import math

import numpy as np
import torch

from synthforge_hf.constants import CLASS_ID
from synthforge_hf.generators.mesh.hair import (
    _AZIMUTH_BINS,
    HAIR_STYLES,
    _bun_hits,
    _curtain_hits,
    _shell_hits,
    hair_style,
    scalp_outline,
)
from synthforge_hf.head.default_head import build_default_head
from synthforge_hf.rendering.annotator import Annotations
from synthforge_hf.rendering.fragments import Fragments

from .parts import without_and_with

SCALP = CLASS_ID["scalp"]


def test_the_hairline_is_high_over_the_forehead_and_low_at_the_nape():
    centre, half, hairline, *_ = scalp_outline(build_default_head())
    front = hairline[_AZIMUTH_BINS // 2]  # azimuth 0: +z, out of the face
    back = hairline[0]  # azimuth -pi: the back of the head
    assert front > 0.2 and back < 0.0 and front - back > 0.5
    assert (half > 0.05).all() and abs(float(centre[0])) < 1e-3


def test_a_head_without_a_scalp_label_gets_no_shell():
    head = build_default_head()
    head.vertex_labels.zero_()
    assert scalp_outline(head) is None


def test_hair_volume_covers_with_scalp_and_leaves_the_rest():
    seeds = list(range(8))
    bare, full = without_and_with("hair_volume", seeds, 96, yaw=None, pitch=None)
    gained = full.segmentation != bare.segmentation
    assert gained.any(axis=(1, 2)).sum() >= 3  # most heads have a full head of hair
    assert (full.segmentation[gained] == SCALP).all()
    from_background = gained & (bare.segmentation == 0)
    assert from_background.any() and (full.depth[from_background] > 0).all()  # volume beyond the skull
    rows = np.nonzero(gained)[1]
    assert np.median(rows) < np.median(full.landmarks_2d[:, 27:31, 1])  # above the eyes, not the jaw
    for k in range(len(seeds)):
        if not gained[k].any():
            np.testing.assert_allclose(full.images[k], bare.images[k], atol=1e-5)
    assert (full.landmark_visibility <= bare.landmark_visibility).all()


def test_an_occluder_takes_its_class_and_depth_where_it_is_nearest():
    """A 1x4 row: head at 1 m in pixels 0-1, background in 2-3; a hair occluder (scalp) at 0.9 m over
    pixels 1-2 and at 1.5 m over pixel 0 (behind the head)."""
    depth = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    annotations = Annotations(
        fragments=Fragments(torch.zeros(1, 1, 4, dtype=torch.long), torch.zeros(1, 1, 4, 3), depth.clone()),
        segmentation=torch.tensor([[[1, 1, 0, 0]]]),
        depth=depth,
        landmarks_2d=torch.tensor([[[0.5, 0.5], [1.5, 0.5]]]),
        landmarks_3d=torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]]),
        landmark_visibility=torch.tensor([[True, True]]),
    )
    occluder = torch.tensor([[[1.5, 0.9, 0.9, math.inf]]])
    out = annotations.occluded_by(occluder, torch.full((1, 1, 4), SCALP))
    assert out.segmentation.tolist() == [[[1, SCALP, SCALP, 0]]]
    assert torch.allclose(out.depth, torch.tensor([[[1.0, 0.9, 0.9, 0.0]]]))
    assert out.landmark_visibility.tolist() == [[True, False]]


def test_the_styles_are_drawn_in_their_shares():
    numbers = torch.zeros(4000, 8)
    numbers[:, 4] = torch.rand(4000, generator=torch.Generator().manual_seed(0))
    counts = {style: 0 for style in HAIR_STYLES}
    for row in numbers:
        counts[hair_style(row)] += 1
    shares = np.array([counts[style] / 4000 for style in HAIR_STYLES])
    np.testing.assert_allclose(shares, [0.25, 0.2, 0.2, 0.15, 0.2], atol=0.025)
    assert hair_style(torch.full((8,), 0.999)) == "tied back"
    assert hair_style(torch.full((8,), 0.75)) == "long with fringe"


def test_a_fringe_comes_down_over_the_forehead_to_the_brows():
    """A ray straight at the forehead, a centimetre above the brows, meets the shell with a fringe and
    passes it without; a ray at the mouth's height meets neither."""
    skull = scalp_outline(build_default_head())
    axes = skull.half.clone()
    axes[2] = skull.fringe_depth + 0.005
    down = torch.tensor([[0.0, 0.0, -1.0]])
    for height, expected in ((skull.brow_height + 0.01, True), (skull.brow_height - 0.05, False)):
        start = skull.centre + torch.tensor([0.0, height, 2.0])
        with_fringe = _shell_hits(skull, start, down, axes, skull.centre, 0.3, 0.0)
        without = _shell_hits(skull, start, down, axes, skull.centre, None)
        assert (bool(with_fringe.hit[0]), bool(without.hit[0])) == (expected, False)


def test_long_hair_is_a_sheet_below_the_widest_line_from_the_ears_back():
    """A unit cylinder about the y axis: a ray along -z at x = 0 enters at the front (azimuth 0, no hair
    there) and leaves at the back, 6 along from z = 5, where the sheet faces the viewer; above the widest
    line or below the hair's length there is none; a ray at x = 0.99 grazes the side (azimuth near
    pi/2, beyond the ears' azimuth) on entry."""
    axes = torch.tensor([1.0, 1.0, 1.0])
    rays = torch.tensor([[0.0, 0.0, -1.0]] * 4)
    origins = [
        torch.tensor([0.0, -0.2, 5.0]),
        torch.tensor([0.0, 0.2, 5.0]),
        torch.tensor([0.0, -0.5, 5.0]),
        torch.tensor([0.99, -0.2, 5.0]),
    ]
    hits = [_curtain_hits(origin, rays[:1], axes, torch.zeros(3), 0.3) for origin in origins]
    assert [bool(h.hit[0]) for h in hits] == [True, False, False, True]
    assert math.isclose(float(hits[0].distance[0]), 6.0, abs_tol=1e-5)
    assert torch.allclose(hits[0].normals[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
    entry = 5.0 - math.sqrt(1 - 0.99**2)
    assert math.isclose(float(hits[3].distance[0]), entry, abs_tol=1e-4)
    assert float(hits[3].normals[0, 0]) > 0.98  # the outer side, facing +x


def test_hair_tied_back_gathers_in_a_bun_at_the_back_of_the_head():
    """On a unit shell, a bun of radius 0.3 at the centre's height sits at z = -(1 + 0.3 / 3) with a
    depth radius of 0.8 * 0.3: a ray along +z from behind meets it 0.24 before that; a ray from the front
    or one passing beside it does not; a bun at half the height sits lower into the back."""
    axes, centre = torch.ones(3), torch.zeros(3)
    forward = torch.tensor([[0.0, 0.0, 1.0]])
    behind = _bun_hits(torch.tensor([0.0, 0.0, -5.0]), forward, axes, centre, 0.3, 0.0)
    assert bool(behind.hit[0]) and math.isclose(float(behind.distance[0]), 5 - 1.1 - 0.24, abs_tol=1e-5)
    assert torch.allclose(behind.normals[0], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)
    beside = _bun_hits(torch.tensor([0.35, 0.0, -5.0]), forward, axes, centre, 0.3, 0.0)
    front = _bun_hits(torch.tensor([0.0, 0.0, 5.0]), -forward, axes, centre, 0.3, 0.0)
    assert not bool(beside.hit[0]) and float(front.distance[0]) > 5  # the bun is behind the head
    high = _bun_hits(torch.tensor([0.0, 0.5, -5.0]), forward, axes, centre, 0.3, 0.5)
    expected = 5 - (math.sqrt(1 - 0.25) + 0.1) - 0.24
    assert bool(high.hit[0]) and math.isclose(float(high.distance[0]), expected, abs_tol=1e-5)


def test_styles_hide_brows_under_fringes_and_hang_hair_below_the_jaw():
    seeds = list(range(16))
    bare, styled = without_and_with("hair_styles", seeds, 96)
    gained = styled.segmentation != bare.segmentation
    assert (styled.segmentation[gained] == SCALP).all()
    assert (styled.landmark_visibility <= bare.landmark_visibility).all()
    brows_hidden = (bare.landmark_visibility[:, 17:27] & ~styled.landmark_visibility[:, 17:27]).any(1)
    assert brows_hidden.sum() >= 2  # fringes
    chin_row = bare.landmarks_2d[:, 8, 1]
    rows = np.arange(96)[None, :, None]
    below_jaw = gained & (rows > chin_row[:, None, None] + 3)
    assert below_jaw.any(axis=(1, 2)).sum() >= 2  # long hair
    untouched = ~gained.any(axis=(1, 2))
    np.testing.assert_allclose(styled.images[untouched], bare.images[untouched], atol=1e-5)
