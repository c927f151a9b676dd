"""Label-consistent training augmentations: exact geometry, label-preserving photometrics, seeding."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from synthforge_hf.constants import CLASS_ID, LANDMARK_FLIP_PERMUTATION, SEGMENTATION_FLIP_PERMUTATION
from synthforge_hf.training.augment import (
    FaceAugmentation,
    affine_matrices,
    colour_matrices,
    gaussian_blur,
    homography_from_corners,
    homography_warp,
    horizontal_flip,
    jpeg_compress,
    motion_blur,
    occluder_masks,
    to_homography,
)

# The ranges that the probabilities gate; every other field at 0 (the scale range at (1, 1)) is off.
RANGES = {"occluder_size", "blur_sigma", "motion_blur_length", "noise_std", "jpeg_quality"}
OFF = {
    field.name: (1.0, 1.0) if field.name == "scale_range" else 0.0
    for field in dataclasses.fields(FaceAugmentation)
    if field.name not in RANGES
}
PHOTOMETRIC = [
    {"occluder_probability": 1.0},
    {"erase_probability": 1.0},
    {"brightness": 0.2},
    {"contrast": 0.2},
    {"saturation": 0.3},
    {"hue_degrees": 8.0},
    {"channel_gain": 0.1},
    {"gamma": 0.25},
    {"blur_probability": 1.0},
    {"motion_blur_probability": 1.0},
    {"noise_probability": 1.0},
    {"grayscale_probability": 1.0},
    {"jpeg_probability": 1.0},
]
GEOMETRIC = [
    {"flip_probability": 1.0},
    {"max_rotation_degrees": 20.0},
    {"scale_range": (0.9, 1.1)},
    {"max_shift": 0.05},
    {"perspective": 0.05},
]


def only(**options) -> FaceAugmentation:
    return FaceAugmentation(**{**OFF, **options})


def face_batch(size: int = 64, count: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """Smooth images, blocky random segmentations, positive depth, landmarks inside."""
    g = torch.Generator().manual_seed(seed)
    pixels = F.interpolate(torch.rand(count, 3, 6, 6, generator=g), size=(size, size), mode="bilinear")
    blocks = torch.randint(0, 20, (count, size // 8, size // 8), generator=g)
    return {
        "pixel_values": pixels,
        "segmentation": blocks.repeat_interleave(8, 1).repeat_interleave(8, 2),
        "depth": torch.rand(count, size, size, generator=g) + 0.5,
        "landmarks_2d": (torch.rand(count, 68, 2, generator=g) * 0.6 + 0.2) * size,
    }


def pixel_centres(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")


def dots(points: torch.Tensor, size: int, sigma: float = 1.2) -> torch.Tensor:
    """(H,W) image with a small bright Gaussian dot at each point (K,2)."""
    ys, xs = pixel_centres(size)
    return sum(torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) for x, y in points.tolist())


def centroid(weights: torch.Tensor, x: float, y: float, radius: float = 5.0) -> tuple[float, float]:
    ys, xs = pixel_centres(weights.shape[-1])
    window = weights * (((xs - x) ** 2 + (ys - y) ** 2) < radius**2)
    return (window * xs).sum().item() / window.sum().item(), (window * ys).sum().item() / window.sum().item()


def random_homographies(count: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    theta = affine_matrices(
        torch.rand(count, generator=g) - 0.5,
        0.9 + 0.2 * torch.rand(count, generator=g),
        torch.zeros(count, 2),
    )
    return to_homography(theta) @ homography_from_corners(0.2 * torch.rand(count, 4, 2, generator=g) - 0.1)


GRID_POINTS = torch.tensor([[30.5, 30.5], [66.5, 28.5], [48.5, 48.5], [28.5, 66.5], [64.5, 68.5]])


def test_homography_from_corners_moves_the_corners():
    offsets = 0.2 * torch.rand(3, 4, 2, generator=torch.Generator().manual_seed(0)) - 0.1
    matrix = homography_from_corners(offsets)
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    mapped = torch.cat([corners, torch.ones(4, 1)], -1) @ matrix.transpose(1, 2)
    assert torch.allclose(mapped[..., :2] / mapped[..., 2:], corners + offsets, atol=1e-5)
    assert torch.allclose(homography_from_corners(torch.zeros(1, 4, 2)), torch.eye(3)[None], atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_homography_warp_maps_landmarks_onto_the_warped_dots_and_blobs(seed):
    size, points = 96, GRID_POINTS[None]
    segmentation = torch.zeros(1, size, size, dtype=torch.long)
    for k, (x, y) in enumerate(points[0].long().tolist()):
        segmentation[0, y - 2 : y + 3, x - 2 : x + 3] = k + 1  # 5x5 blob centred on the point
    batch = {
        "pixel_values": dots(points[0], size).expand(1, 3, size, size),
        "segmentation": segmentation,
        "landmarks_2d": points,
    }
    matrix = random_homographies(1, seed)
    assert matrix[0, 2, :2].abs().max() > 0.01  # a real perspective, not an affine map
    out = homography_warp(batch, matrix)
    assert not torch.allclose(out["landmarks_2d"], points, atol=1.0)
    for k, (x, y) in enumerate(out["landmarks_2d"][0].tolist()):
        cx, cy = centroid(out["pixel_values"][0, 0], x, y)
        assert abs(cx - x) < 0.2 and abs(cy - y) < 0.2
        cx, cy = centroid((out["segmentation"][0] == k + 1).float(), x, y)
        assert abs(cx - x) < 0.5 and abs(cy - y) < 0.5
    back = homography_warp(out, torch.linalg.inv(matrix))
    assert torch.allclose(back["landmarks_2d"], points, atol=1e-3)
    for x, y in points[0].tolist():
        cx, cy = centroid(back["pixel_values"][0, 0], x, y)
        assert abs(cx - x) < 0.2 and abs(cy - y) < 0.2


def test_augmentation_geometry_with_flip_keeps_landmarks_on_their_dots():
    """The whole geometric path (flip, rotation, scale, shift, perspective in one homography): the dot
    of landmark k ends up under landmark LANDMARK_FLIP_PERMUTATION[k]."""
    size, tracked = 96, [0, 8, 30, 36, 45]
    landmarks = torch.full((2, 68, 2), size / 2)
    landmarks[:, tracked] = GRID_POINTS
    image = dots(GRID_POINTS, size).expand(2, 3, size, size)
    augment = only(
        flip_probability=1.0,
        max_rotation_degrees=20.0,
        scale_range=(0.9, 1.1),
        max_shift=0.05,
        perspective=0.05,
    )
    out = augment({"pixel_values": image, "landmarks_2d": landmarks}, torch.Generator().manual_seed(1))
    for sample in range(2):
        for k in tracked:
            x, y = out["landmarks_2d"][sample, LANDMARK_FLIP_PERMUTATION[k]].tolist()
            cx, cy = centroid(out["pixel_values"][sample, 0], x, y)
            assert abs(cx - x) < 0.25 and abs(cy - y) < 0.25


def test_flip_inside_the_warp_equals_flipping_first():
    batch = face_batch(size=48)
    options = dict(max_rotation_degrees=15.0, perspective=0.05)
    warped = only(flip_probability=1.0, **options)(batch, torch.Generator().manual_seed(3))
    flipped = horizontal_flip(batch, torch.ones(4, dtype=torch.bool))
    expected = only(**options)(flipped, torch.Generator().manual_seed(3))
    assert torch.allclose(warped["landmarks_2d"], expected["landmarks_2d"], atol=1e-4)
    assert torch.allclose(warped["pixel_values"], expected["pixel_values"], atol=1e-4)
    for key in ("segmentation", "depth"):  # nearest sampling: only ties may round differently
        assert (warped[key] == expected[key]).float().mean() > 0.999, key


def test_flip_mirrors_permutes_and_swaps_classes_and_twice_is_identity():
    batch = face_batch(size=32)
    batch["segmentation"][0] = 0
    batch["segmentation"][0, 5:10, 2:6] = CLASS_ID["left_eye_region"]
    flip = torch.tensor([True, False, True, False])
    flipped = horizontal_flip(batch, flip)
    assert (flipped["segmentation"][0, 5:10, 26:30] == CLASS_ID["right_eye_region"]).all()
    assert (flipped["segmentation"][0] == CLASS_ID["left_eye_region"]).sum() == 0
    permutation = torch.tensor(SEGMENTATION_FLIP_PERMUTATION)
    for i in (0, 2):
        assert torch.equal(flipped["pixel_values"][i], batch["pixel_values"][i].flip(-1))
        assert torch.equal(flipped["depth"][i], batch["depth"][i].flip(-1))
        assert torch.equal(flipped["segmentation"][i], permutation[batch["segmentation"][i].flip(-1)])
        source = batch["landmarks_2d"][i, list(LANDMARK_FLIP_PERMUTATION)]
        assert torch.equal(flipped["landmarks_2d"][i, :, 0], 32 - source[:, 0])
        assert torch.equal(flipped["landmarks_2d"][i, :, 1], source[:, 1])
    assert LANDMARK_FLIP_PERMUTATION[36] == 45 and LANDMARK_FLIP_PERMUTATION[45] == 36
    for key in batch:
        assert torch.equal(flipped[key][1::2], batch[key][1::2]), key
        twice = horizontal_flip(flipped, flip)[key]  # W - (W - x) may round in the last bit
        assert (
            torch.equal(twice, batch[key]) if key != "landmarks_2d" else torch.allclose(twice, batch[key])
        ), key


@pytest.mark.parametrize("options", PHOTOMETRIC, ids=lambda o: next(iter(o)))
def test_photometric_transforms_change_pixels_only(options):
    batch = face_batch()
    out = only(**options)(batch, torch.Generator().manual_seed(0))
    for key in ("segmentation", "depth", "landmarks_2d"):
        assert torch.equal(out[key], batch[key]), key
    assert out["pixel_values"].min() >= 0 and out["pixel_values"].max() <= 1
    assert not torch.equal(out["pixel_values"], batch["pixel_values"])


@pytest.mark.parametrize("options", GEOMETRIC, ids=lambda o: next(iter(o)))
def test_each_geometric_transform_moves_the_landmarks(options):
    batch = face_batch()
    out = only(**options)(batch, torch.Generator().manual_seed(0))
    assert not torch.allclose(out["landmarks_2d"], batch["landmarks_2d"], atol=0.1)
    assert not torch.equal(out["pixel_values"], batch["pixel_values"])


def test_everything_off_returns_the_batch_unchanged():
    assert len(OFF) == len(PHOTOMETRIC) + len(GEOMETRIC)  # each switch is tested on its own below
    batch = face_batch()
    out = only()(batch, torch.Generator().manual_seed(0))
    for key in batch:
        assert torch.equal(out[key], batch[key]), key


def test_defaults_are_seeded_and_leave_the_input_alone():
    batch = face_batch(size=64, count=8)
    before = {key: value.clone() for key, value in batch.items()}
    first = FaceAugmentation()(batch, torch.Generator().manual_seed(5))
    again = FaceAugmentation()(batch, torch.Generator().manual_seed(5))
    other = FaceAugmentation()(batch, torch.Generator().manual_seed(6))
    for key in batch:
        assert torch.equal(batch[key], before[key]), key
        assert torch.equal(first[key], again[key]), key
        assert not torch.equal(first[key], other[key]), key
    assert first["pixel_values"].min() >= 0 and first["pixel_values"].max() <= 1
    assert first["segmentation"].dtype == torch.long and first["landmarks_2d"].shape == (8, 68, 2)


def test_grayscale_gives_equal_channels_also_through_jpeg():
    batch = face_batch()
    for options in ({"grayscale_probability": 1.0}, {"grayscale_probability": 1.0, "jpeg_probability": 1.0}):
        pixels = only(**options)(batch, torch.Generator().manual_seed(0))["pixel_values"]
        assert torch.equal(pixels[:, 0], pixels[:, 1]) and torch.equal(pixels[:, 1], pixels[:, 2])


def test_jpeg_differs_from_the_input_but_stays_close():
    images = face_batch()["pixel_values"]
    differences = [(jpeg_compress(images, [q] * 4) - images).abs().mean().item() for q in (20, 90)]
    assert 0.04 > differences[0] > differences[1] > 1e-3


def test_colour_matrices_rotate_hue_about_grey_and_desaturate_to_luma():
    ones = torch.ones(1)
    third_turn = colour_matrices(ones, torch.tensor([2 * math.pi / 3]), torch.ones(1, 3))
    assert torch.allclose(
        third_turn[0] @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6
    )
    grey = torch.tensor([0.3, 0.3, 0.3])
    turned = colour_matrices(ones, torch.tensor([0.4]), torch.ones(1, 3))[0]
    assert torch.allclose(turned @ grey, grey, atol=1e-6)
    flat = colour_matrices(torch.zeros(1), torch.zeros(1), torch.ones(1, 3))[0] @ torch.tensor(
        [1.0, 0.0, 0.0]
    )
    assert torch.allclose(flat, torch.full((3,), 0.299), atol=1e-6)
    gains = colour_matrices(ones, torch.zeros(1), torch.tensor([[1.1, 1.0, 0.9]]))[0]
    assert torch.allclose(gains, torch.diag(torch.tensor([1.1, 1.0, 0.9])), atol=1e-6)


def test_blurs_keep_flat_directions_and_smooth_edges():
    ys, xs = pixel_centres(32)
    rows = (ys > 16).float().expand(2, 3, 32, 32)  # changes along y only
    assert torch.allclose(motion_blur(rows, torch.tensor([7.0, 7.0]), torch.zeros(2)), rows, atol=1e-6)
    across = motion_blur(rows, torch.tensor([7.0, 7.0]), torch.full((2,), math.pi / 2))
    assert 0.2 < across[0, 0, 15, 10] < 0.5 and across[0, 0, 10, 10] == 0
    blurred = gaussian_blur(rows, torch.tensor([1.0, 2.0]))
    assert torch.allclose(blurred[..., :8, :], rows[..., :8, :]) and 0.3 < blurred[1, 0, 16, 5] < 0.7
    assert blurred[1, 0, 17, 5] - blurred[1, 0, 15, 5] < blurred[0, 0, 17, 5] - blurred[0, 0, 15, 5]
    assert torch.allclose(gaussian_blur(torch.full((1, 3, 8, 8), 0.4), torch.ones(1)), torch.tensor(0.4))


def test_occluder_masks_have_the_expected_areas():
    size, radius, aspect = 128, 40.0, 0.5
    centres = torch.full((3, 2), size / 2)
    sides = torch.stack([torch.arange(4) * math.pi / 2, torch.full((4,), 0.5)], -1).expand(3, 4, 2)
    masks = occluder_masks(
        centres,
        torch.full((3,), radius),
        torch.zeros(3),
        torch.full((3,), aspect),
        torch.arange(3),
        sides,
        size,
        size,
    )
    areas = masks.flatten(1).sum(-1).float()
    expected = torch.tensor([math.pi * radius**2 * aspect, 3 * radius * 0.7 * radius * aspect, radius**2])
    assert torch.allclose(areas, expected, rtol=0.03)
