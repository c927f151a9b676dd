"""Shoulders and clothing (`MeshFaceGenerator(clothing=True)`): drawn where the head is not or where they are
nearer than it, a pure function of the seed, and the head's labels lose exactly what they cover."""

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.rendering.annotator import Annotations
from synthforge_hf.rendering.fragments import Fragments

SEEDS = list(range(6))
RES = 96
# A wide frontal view: the shoulders are in the picture.
VIEW = {"fov": 40.0, "pitch": 0.0, "yaw": 0.0}


def _pipe(clothing: bool) -> SynthForgePipeline:
    pipe = SynthForgePipeline.from_assets("default", MeshFaceGenerator(clothing=clothing))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def renders():
    return tuple(_pipe(c)(seeds=SEEDS, resolution=RES, output_type="np", **VIEW) for c in (False, True))


def test_clothes_appear_below_the_face(renders):
    bare, dressed = renders
    changed = np.abs(dressed.images - bare.images).max(-1) > 0.02
    for k in range(len(SEEDS)):
        chin_row = bare.landmarks_2d[k, 8, 1]
        assert changed[k].mean() > 0.05, k
        rows = np.nonzero(changed[k])[0]
        # what the camera's blur smears aside, the changes lie below the chin
        assert np.quantile(rows, 0.02) > chin_row - 0.1 * RES, k


def test_pixels_change_only_where_the_labels_say_nothing_of_the_head(renders):
    """Away from the background of the dressed labels (dilated by the camera's blur), the images are
    equal; the labels only lose head pixels (to background), below the chin, and never gain any."""
    bare, dressed = renders
    for k in range(len(SEEDS)):
        outside = ~binary_dilation(dressed.segmentation[k] == 0, iterations=3)
        np.testing.assert_allclose(dressed.images[k][outside], bare.images[k][outside], atol=1e-6)
        lost = dressed.segmentation[k] != bare.segmentation[k]
        assert (dressed.segmentation[k][lost] == 0).all()
        assert np.array_equal(lost, (dressed.depth[k] == 0) & (bare.depth[k] > 0))
        if lost.any():
            assert np.nonzero(lost)[0].min() > bare.landmarks_2d[k, 8, 1]
    assert (dressed.landmark_visibility <= bare.landmark_visibility).all()
    assert np.array_equal(dressed.landmarks_2d, bare.landmarks_2d)


def test_the_collar_hides_the_base_of_the_neck(renders):
    bare, dressed = renders
    lost = (bare.segmentation != dressed.segmentation).sum()
    assert lost > 0.002 * bare.segmentation.size


def test_clothes_are_a_pure_function_of_the_seed(renders):
    _, dressed = renders
    again = _pipe(True)(seeds=SEEDS[3:1:-1], resolution=RES, output_type="np", **VIEW)
    # other batch sizes take other float paths (as without clothes): equal to rounding
    np.testing.assert_allclose(again.images, dressed.images[3:1:-1], atol=1e-5)
    assert np.array_equal(again.segmentation, dressed.segmentation[3:1:-1])


def test_occluded_by_hides_what_is_behind_and_keeps_what_is_in_front():
    """Hand-made labels: a 4x4 head at 1 m, one landmark at 0.9 m in pixel (1, 2), one at 1.2 m in
    pixel (3, 0); an occluder at 1.1 m over the left half."""
    depth = torch.ones(1, 4, 4)
    depth[0, :, 3] = 0  # background column
    annotations = Annotations(
        fragments=Fragments(torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 4, 3), depth.clone()),
        segmentation=(depth > 0).long() * 3,
        depth=depth,
        landmarks_2d=torch.tensor([[[1.5, 2.5], [3.5, 0.5]]]),
        landmarks_3d=torch.tensor([[[0.0, 0.0, 0.9], [0.0, 0.0, 1.2]]]),
        landmark_visibility=torch.tensor([[True, True]]),
    )
    occluder = torch.full((1, 4, 4), torch.inf)
    occluder[0, :, :2] = 1.1  # the left half, behind the head (1 m) and the near landmark (0.9 m)
    occluder[0, 0, 3] = 0.5  # in front of the background and of the far landmark
    out = annotations.occluded_by(occluder)
    assert torch.equal(out.segmentation, annotations.segmentation)  # the occluder is behind the head
    assert out.landmark_visibility.tolist() == [[True, False]]
    occluder[0, :, :2] = 0.8  # now in front of the head's left half and of the near landmark
    out = annotations.occluded_by(occluder)
    expected = annotations.segmentation.clone()
    expected[0, :, :2] = 0
    assert torch.equal(out.segmentation, expected) and torch.equal(out.depth, expected.float() / 3)
    assert out.landmark_visibility.tolist() == [[False, False]]


def test_ellipsoid_hits_by_hand():
    """An ellipsoid with half axes (1, 2, 2) seen from (0, 0, 5): a ray along -z enters at z = 2 (ray
    parameter 3, the unit sphere's pole); one along -z from x = 0.5 enters where (0.5)^2 + (z/2)^2 = 1;
    one that passes beside it and one pointing away miss."""
    from synthforge_hf.generators.mesh.maths import ellipsoid_hits

    origins = torch.tensor([0.0, 0.0, 5.0])
    directions = torch.tensor([[0.0, 0.0, -1.0], [0.1, 0.0, -1.0], [0.3, 0.0, -1.0], [0.0, 0.0, 1.0]])
    distance, hit, surface = ellipsoid_hits(origins, directions, torch.tensor([1.0, 2.0, 2.0]))
    assert hit.tolist() == [True, True, False, False]
    assert torch.allclose(distance[0], torch.tensor(3.0)) and torch.allclose(
        surface[0], torch.tensor([0.0, 0.0, 1.0])
    )
    x, z = 0.1 * distance[1], 5.0 - distance[1]
    assert torch.allclose(x**2 + (z / 2) ** 2, torch.tensor(1.0), atol=1e-6)
    assert torch.allclose(surface[1].norm(), torch.tensor(1.0), atol=1e-6)
