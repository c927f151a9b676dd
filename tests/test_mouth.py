"""Teeth and tongue (`MeshFaceGenerator(teeth=True)`): painted on the inner mouth only, teeth right under
the upper lip and over the lower lip, the tongue low in the middle, labels unchanged."""

import numpy as np
import torch
from scipy.ndimage import binary_dilation

from synthforge_hf.constants import CLASS_ID
from synthforge_hf.generators.mesh.geometry import SamplePixels
from synthforge_hf.generators.mesh.mouth import TEETH, paint_mouth

from .parts import without_and_with

DARK = (0.1, 0.02, 0.02)


def _open_mouth(resolution: int = 90) -> tuple[SamplePixels, torch.Tensor]:
    """Face everywhere; rows 40-43 upper lip, 44-55 inner mouth, 56-59 lower lip, columns 30-59."""
    labels = torch.full((resolution, resolution), CLASS_ID["face"])
    labels[40:44, 30:60] = CLASS_ID["upper_lip"]
    labels[44:56, 30:60] = CLASS_ID["inner_mouth"]
    labels[56:60, 30:60] = CLASS_ID["lower_lip"]
    pixels = torch.arange(resolution * resolution)
    sample = SamplePixels(
        0, pixels, labels, labels.reshape(-1), torch.ones(len(pixels)), torch.zeros(len(pixels), 3)
    )
    albedo = torch.tensor(DARK)[:, None].repeat(1, len(pixels))
    return sample, albedo


def test_teeth_under_the_upper_lip_and_a_tongue_below_on_a_drawn_mouth():
    sample, albedo = _open_mouth()
    before = albedo.clone()
    paint_mouth(sample, albedo)
    image = albedo.reshape(3, 90, 90)
    outside = sample.label_image != CLASS_ID["inner_mouth"]
    assert torch.equal(image[:, outside], before.reshape(3, 90, 90)[:, outside])
    reach = round(90 / 45)  # the upper teeth's height at this resolution
    upper_teeth = image[:, 44 : 44 + reach, 44:46].mean((1, 2))
    assert torch.allclose(upper_teeth, torch.tensor(TEETH), rtol=0.1)  # the middle teeth, in full light
    throat = image[:, 48, 44:46].mean(1)
    assert torch.allclose(throat, torch.tensor(DARK), atol=1e-3)  # above the tongue, between the teeth
    low_middle = image[:, 54, 44:46].mean(1)
    assert low_middle[0] > DARK[0] and (low_middle[0] > low_middle[1:]).all()  # red: tongue and lower teeth
    assert image[:, 44, 31].sum() < upper_teeth.sum()  # teeth in the corners are in shadow


def test_a_closed_mouth_is_left_alone():
    sample, albedo = _open_mouth()
    sample.label_image[sample.label_image == CLASS_ID["inner_mouth"]] = CLASS_ID["upper_lip"]
    closed = SamplePixels(
        0, sample.pixels, sample.label_image, sample.label_image.reshape(-1), sample.depth, sample.rays
    )
    before = albedo.clone()
    paint_mouth(closed, albedo)
    assert torch.equal(albedo, before)


def test_rendered_teeth_change_only_the_inner_mouth():
    seeds = [11, 12, 13, 14]
    bare, toothed = without_and_with("teeth", seeds, 128, {"jaw_open": 0.35}, fov=14.0)
    mouth = bare.segmentation == CLASS_ID["inner_mouth"]
    assert mouth.any(axis=(1, 2)).all()
    for k in range(len(seeds)):
        far = ~binary_dilation(mouth[k], iterations=2)
        np.testing.assert_allclose(toothed.images[k][far], bare.images[k][far], atol=1e-5)
    assert (
        toothed.images[mouth].mean() > bare.images[mouth].mean() + 0.02
    )  # teeth are brighter than the mouth
    for key in ("segmentation", "landmarks_2d", "landmark_visibility", "depth"):
        assert np.array_equal(getattr(bare, key), getattr(toothed, key)), key
