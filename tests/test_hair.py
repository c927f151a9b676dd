"""Hair with volume (`MeshFaceGenerator(hair_volume=True)`): a shell over the skull up to the head's own
hairline; the pixels it covers become scalp with its depth, nothing else changes, and labelled occluders
of any class are applied by `Annotations.occluded_by`."""

import math

import numpy as np
import torch

from synthforge_hf.constants import CLASS_ID
from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.generators.mesh.hair import _AZIMUTH_BINS, scalp_outline
from synthforge_hf.head.default_head import build_default_head
from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.rendering.annotator import Annotations
from synthforge_hf.rendering.fragments import Fragments

SCALP = CLASS_ID["scalp"]


def test_the_hairline_is_high_over_the_forehead_and_low_at_the_nape():
    centre, half, hairline = scalp_outline(build_default_head())
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
    bare, full = (
        SynthForgePipeline.from_assets("default", MeshFaceGenerator(hair_volume=volume))(
            seeds=seeds, resolution=96, output_type="np"
        )
        for volume in (False, True)
    )
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
