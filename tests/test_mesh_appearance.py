"""Appearance of the mesh backend: deterministic in the latents, varied across seeds, textured
backgrounds, and labels that never depend on the appearance."""

import numpy as np
import pytest
import torch

from synthforge_hf.constants import CLASS_ID
from synthforge_hf.generators.mesh import _FIELD, LATENT_FIELDS, MeshFaceGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline

from .test_pipeline import RES, _frontal


@pytest.fixture(scope="module")
def pipe():
    pipeline = SynthForgePipeline.from_default_head()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _local_std(image: np.ndarray, mask: np.ndarray, size: int = 8) -> float:
    """Median over size x size tiles fully inside ``mask`` of the luminance standard deviation in a tile,
    after removing the tile's best-fitting plane (so smooth gradients count as flat)."""
    lum = image.mean(-1)
    yy, xx = np.mgrid[0:size, 0:size]
    basis = np.stack([np.ones(size * size), yy.ravel(), xx.ravel()], 1)
    values = []
    for r in range(0, lum.shape[0] - size + 1, size):
        for c in range(0, lum.shape[1] - size + 1, size):
            if mask[r : r + size, c : c + size].all():
                tile = lum[r : r + size, c : c + size].ravel()
                coef, *_ = np.linalg.lstsq(basis, tile, rcond=None)
                values.append((tile - basis @ coef).std())
    return float(np.median(values))


def test_latent_fields_cover_the_default_latent():
    assert MeshFaceGenerator().latent_dim == len(LATENT_FIELDS) == len(set(LATENT_FIELDS))
    with pytest.raises(ValueError):
        MeshFaceGenerator(latent_dim=len(LATENT_FIELDS) - 1)


def test_same_seed_same_image_and_values_in_range(pipe):
    a = pipe(seeds=[3, 4], resolution=RES, output_type="np")
    b = pipe(seeds=[3, 4], resolution=RES, output_type="np")
    assert np.array_equal(a.images, b.images)
    assert a.images.min() >= 0.0 and a.images.max() <= 1.0
    assert a.images.dtype == np.float32 and np.isfinite(a.images).all()


def test_different_seeds_differ_in_background_and_skin(pipe):
    out = _frontal(pipe, n=2)
    background = out.segmentation == 0
    face = out.segmentation == CLASS_ID["face"]
    assert np.array_equal(background[0], background[1])  # same geometry and camera
    bg = [out.images[i][background[i]].mean(0) for i in range(2)]
    skin = [out.images[i][face[i]].mean(0) for i in range(2)]
    assert np.abs(bg[0] - bg[1]).max() > 0.02
    assert np.abs(skin[0] - skin[1]).max() > 0.01


def test_background_is_textured(pipe):
    # A flat or linear-gradient background has no residual within a tile.
    flat = np.full((RES, RES, 3), 0.4, dtype=np.float32)
    yy = np.linspace(0, 1, RES, dtype=np.float32)[:, None, None]
    gradient = np.broadcast_to(0.2 + 0.6 * yy, (RES, RES, 3))
    everywhere = np.ones((RES, RES), dtype=bool)
    assert _local_std(flat, everywhere) < 1e-6 and _local_std(gradient, everywhere) < 1e-5

    latents = torch.rand(6, pipe.face_generator.latent_dim, generator=torch.Generator().manual_seed(0))
    latents[:, _FIELD["sensor_noise"]] = 0.0  # sensor noise alone: std 0.002
    out = pipe(seeds=list(range(6)), latents=latents, resolution=RES, output_type="np")
    stds = [_local_std(out.images[i], out.segmentation[i] == 0) for i in range(6)]
    assert np.median(stds) > 0.004, stds  # some are out of focus (bokeh), yet above the noise floor
    latents[:, _FIELD["background_blur"]] = 0.0  # in focus
    out = pipe(seeds=list(range(6)), latents=latents, resolution=RES, output_type="np")
    stds = [_local_std(out.images[i], out.segmentation[i] == 0) for i in range(6)]
    assert np.median(stds) > 0.01 and min(stds) > 0.004, stds  # the lowest: a dark background


def test_labels_do_not_depend_on_the_appearance(pipe):
    first = _frontal(pipe, n=1)
    latents = torch.rand(1, pipe.face_generator.latent_dim, generator=torch.Generator().manual_seed(99))
    second = _frontal(pipe, n=1, latents=latents)
    assert not np.array_equal(first.images, second.images)
    assert np.array_equal(first.segmentation, second.segmentation)
    assert np.array_equal(first.landmarks_2d, second.landmarks_2d)
    assert np.array_equal(first.landmark_visibility, second.landmark_visibility)
    assert np.array_equal(first.depth, second.depth)


@pytest.mark.slow
def test_each_appearance_field_changes_the_image(pipe):
    base = torch.full((1, pipe.face_generator.latent_dim), 0.7)
    reference = _frontal(pipe, n=1, latents=base).images
    unchanged = []
    for name in LATENT_FIELDS:
        latents = base.clone()
        latents[0, _FIELD[name]] = 0.05
        if np.array_equal(_frontal(pipe, n=1, latents=latents).images, reference):
            unchanged.append(name)
    assert not unchanged, unchanged


def test_hair_brows_and_lashes_are_painted_in_their_regions(pipe):
    latents = torch.full((1, pipe.face_generator.latent_dim), 0.5)
    latents[0, _FIELD["skin_tone"]] = 0.1  # light skin
    latents[0, _FIELD["hair_colour"]] = 0.0  # black hair
    latents[0, _FIELD["hair_density"]] = 1.0
    latents[0, _FIELD["brow_density"]] = 1.0
    out = _frontal(pipe, n=1, latents=latents)
    image, seg = out.images[0].mean(-1), out.segmentation[0]
    face = image[seg == CLASS_ID["face"]].mean()
    assert image[seg == CLASS_ID["scalp"]].mean() < 0.6 * face
    brows = (seg == CLASS_ID["left_eyebrow"]) | (seg == CLASS_ID["right_eyebrow"])
    assert image[brows].mean() < 0.8 * face


def test_a_batch_of_one_matches_the_same_sample_in_a_batch(pipe):
    both = pipe(seeds=[21, 22], resolution=RES, output_type="np", batch_size=2)
    alone = pipe(seeds=[22], resolution=RES, output_type="np")
    # Batched matrix products round differently (~1e-7); sharp highlights can amplify that a little.
    assert np.allclose(both.images[1], alone.images[0], atol=1e-4)


def test_cast_shadow_stays_finite_for_normals_a_rounding_over_unit_length():
    """A normal facing the light whose length rounds above 1 (as interpolated, renormalised normals do)
    once gave sqrt of a negative number: NaN pixels in a face."""
    from synthforge_hf.generators.mesh.lighting import cast_shadow

    light = torch.tensor([0.0, 0.0, 1.0])
    vertices = torch.rand(200, 3)
    points = torch.tensor([[0.5, 0.5, 2.0], [0.5, 0.5, -1.0]])  # above everything, below everything
    normals = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0 + 1e-6, 1.0]])
    visibility = cast_shadow(vertices, points, normals, light)
    assert torch.isfinite(visibility).all() and ((visibility >= 0) & (visibility <= 1)).all()
