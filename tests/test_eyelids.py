"""Lids closed to the landmarks (`MeshFaceGenerator(lids_follow_landmarks=True)`): each eye opens where its
six iBUG points say, the eyeball pixels the lids cover are labelled as the skin around the eye, and
nothing else changes."""

import numpy as np
import torch
from scipy.ndimage import binary_dilation

from synthforge_hf.constants import CLASS_ID
from synthforge_hf.generators.mesh.eyes import close_lids_to_landmarks

from .parts import without_and_with

EYEBALLS = [CLASS_ID["right_eyeball"], CLASS_ID["left_eyeball"]]
AROUND_THE_EYES = [CLASS_ID[name] for name in ("right_eye_region", "left_eye_region", "eye_region")]


def test_an_eyeball_outside_its_almond_becomes_lid():
    """A disc of right eyeball (radius 12 around (20, 20)) under an almond from (10, 20) to (30, 20),
    4 px high at its lid points; the left eye's points are far away and its eyeball absent."""
    labels = torch.full((40, 40), CLASS_ID["face"])
    rows, cols = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    disc = (rows + 0.5 - 20) ** 2 + (cols + 0.5 - 20) ** 2 < 12**2
    labels[disc] = CLASS_ID["right_eyeball"]
    landmarks = torch.zeros(68, 2)
    landmarks[36:42] = torch.tensor(
        [[10, 20], [15, 16], [25, 16], [30, 20], [25, 24], [15, 24]], dtype=torch.float
    )
    out = close_lids_to_landmarks(labels, landmarks)
    eyeball = out == CLASS_ID["right_eyeball"]
    for x, y in [(20, 20), (20, 18), (20, 22), (13, 20), (27, 20)]:
        assert eyeball[int(y), int(x)], (x, y)  # inside the almond
    for x, y in [(20, 12), (20, 28), (9, 20), (31, 20), (12, 15)]:
        assert out[int(y), int(x)] == CLASS_ID["right_eye_region"], (x, y)
    assert torch.equal(out[~disc], labels[~disc])  # only the eyeball's pixels change
    assert 0.15 < eyeball.sum() / disc.sum() < 0.45
    # an upside-down head: the same almond rotated half a turn about (20, 20) keeps the same pixels
    flipped = close_lids_to_landmarks(labels.flip(0, 1), 40 - landmarks)
    assert torch.equal(flipped.flip(0, 1), out)


def test_the_rendered_eyes_open_within_their_landmarks():
    seeds = list(range(4))
    bare, closed = without_and_with("lids_follow_landmarks", seeds, 128)
    for k in range(len(seeds)):
        before, after = np.isin(bare.segmentation[k], EYEBALLS), np.isin(closed.segmentation[k], EYEBALLS)
        assert (after <= before).all()
        changed = bare.segmentation[k] != closed.segmentation[k]
        assert np.isin(closed.segmentation[k][changed], AROUND_THE_EYES[:2]).all()
        rows, cols = np.nonzero(after)
        eyes = closed.landmarks_2d[k, 36:48]
        assert rows.min() + 0.5 >= eyes[:, 1].min() - 1.0 and rows.max() + 0.5 <= eyes[:, 1].max() + 1.0
        assert cols.min() + 0.5 >= eyes[:, 0].min() - 1.0 and cols.max() + 0.5 <= eyes[:, 0].max() + 1.0
        # the image changes on the eyes (and, through the camera's blur, next to them) only
        far = ~binary_dilation(np.isin(bare.segmentation[k], EYEBALLS + AROUND_THE_EYES), iterations=2)
        np.testing.assert_allclose(closed.images[k][far], bare.images[k][far], atol=1e-5)
    eyeball_pixels = [np.isin(out.segmentation, EYEBALLS).sum() for out in (bare, closed)]
    assert eyeball_pixels[1] < 0.85 * eyeball_pixels[0]  # the default head's openings are taller
    for key in ("landmarks_2d", "landmark_visibility", "depth"):
        assert np.array_equal(getattr(bare, key), getattr(closed, key)), key
