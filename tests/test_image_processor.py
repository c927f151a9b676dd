"""SynthForgeImageProcessor: HF processor conventions (do_pad, channel formats, segmentation maps and
landmarks as targets, unknown arguments refused), face crops of real photos, the maps back into the
photo, and transformers' image-segmentation / depth-estimation pipelines on a saved SB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from synthforge_hf.constants import REFERENCE_MODEL
from synthforge_hf.data.framing import Framing, crop_box, crop_face
from synthforge_hf.models.synthforge import (
    SynthForgeConfig,
    SynthForgeFaceAnalysisOutput,
    SynthForgeForFaceAnalysis,
    SynthForgeImageProcessor,
)
from synthforge_hf.models.synthforge.crop_geometry import face_crop_box
from synthforge_hf.models.synthforge.image_processing_synthforge import DEFAULT_FRAMING

REFERENCE = REFERENCE_MODEL
FRAMING = {"box_fraction": 0.5, "offset": [0.1, -0.2]}


def _coordinate_photo(height: int, width: int) -> np.ndarray:
    """Float photo whose channels are the x and y of each pixel centre, and 1."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    return np.stack([xs, ys, np.ones_like(xs)], axis=-1)


def _fake_outputs(count: int, size: int, **fields) -> SynthForgeFaceAnalysisOutput:
    defaults = {
        "landmarks": torch.zeros(count, 68, 2),
        "logits": torch.zeros(count, 20, size, size),
        "depth": torch.zeros(count, size, size),
    }
    return SynthForgeFaceAnalysisOutput(**{**defaults, **fields})


def test_size_is_a_dict_and_old_int_size_configs_load(tmp_path):
    assert SynthForgeImageProcessor(size=64).size == {"height": 64, "width": 64}
    assert SynthForgeImageProcessor(size={"height": 48, "width": 32}).size == {"height": 48, "width": 32}
    # The format the first reference model was saved in (before this processor).
    old_format = {
        "auto_map": {"AutoImageProcessor": "image_processing_synthforge.SynthForgeImageProcessor"},
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "SynthForgeImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "size": 128,
    }
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "preprocessor_config.json").write_text(json.dumps(old_format))
    old = SynthForgeImageProcessor.from_pretrained(tmp_path / "old")
    assert old.size == {"height": 128, "width": 128} and old.framing == DEFAULT_FRAMING
    assert old.resample == 2 and old.do_resize and old.do_rescale and old.do_normalize
    assert old.do_pad and old.ignore_index == 255  # keys added since get their defaults
    assert SynthForgeImageProcessor.from_pretrained(REFERENCE).size == {"height": 128, "width": 128}
    # The pixels the old code gave: zero-padded to a centred square, antialiased bilinear, normalised.
    photo = np.random.default_rng(0).integers(0, 256, (90, 61, 3), dtype=np.uint8)
    square = torch.zeros(3, 90, 90)
    square[:, :, 14:75] = torch.from_numpy(photo).permute(2, 0, 1) / 255
    resized = F.interpolate(
        square[None], size=(128, 128), mode="bilinear", antialias=True, align_corners=False
    )
    torch.testing.assert_close(
        old(photo, return_tensors="pt")["pixel_values"], (resized - 0.5) / 0.5, atol=1e-5, rtol=0
    )
    SynthForgeImageProcessor(size=40, framing=FRAMING, do_pad=False, ignore_index=0).save_pretrained(
        tmp_path / "new"
    )
    saved = json.loads((tmp_path / "new" / "preprocessor_config.json").read_text())
    assert saved["size"] == {"height": 40, "width": 40} and saved["framing"] == FRAMING
    assert saved["do_pad"] is False and saved["ignore_index"] == 0
    assert saved["resample"] == 2 and saved["do_resize"] and saved["rescale_factor"] == pytest.approx(1 / 255)
    loaded = SynthForgeImageProcessor.from_pretrained(tmp_path / "new")
    assert {k: v for k, v in loaded.to_dict().items() if k != "auto_map"} == SynthForgeImageProcessor(
        size=40, framing=FRAMING, do_pad=False, ignore_index=0
    ).to_dict()
    for bad in ({"shortest_edge": 5}, 0, {"height": 4, "width": -1}):
        with pytest.raises(ValueError, match="size must be"):
            SynthForgeImageProcessor(size=bad)


def test_pixels_by_hand_and_per_call_overrides():
    processor = SynthForgeImageProcessor(size=8)
    # 1 x 2, padded below to 2 x 2 (PIL: a (1,2,3) array would read channels-first, as transformers reads it)
    image = Image.fromarray(np.array([[[10] * 3, [200] * 3]], dtype=np.uint8))
    out = processor(image, do_resize=False, return_tensors="pt")
    expected = np.array([[10 / 255 * 2 - 1, 200 / 255 * 2 - 1], [-1.0, -1.0]], dtype=np.float32)
    np.testing.assert_allclose(out["pixel_values"][0].numpy(), np.stack([expected] * 3), atol=1e-6)
    assert out["paddings"].tolist() == [[0, 0]] and out["original_sizes"].tolist() == [[1, 2]]
    assert out["affines"][0].tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    plain = processor(image, do_resize=False, do_normalize=False, return_tensors="np")["pixel_values"]
    assert isinstance(plain, np.ndarray)
    np.testing.assert_allclose(plain[0, 0], [[10 / 255, 200 / 255], [0, 0]], atol=1e-7)
    raw = processor(image, do_resize=False, do_rescale=False, do_normalize=False, return_tensors="pt")[
        "pixel_values"
    ]
    assert raw[0, 0].tolist() == [[10.0, 200.0], [0.0, 0.0]]
    halves = processor(
        image, do_resize=False, image_mean=[0, 0, 0], image_std=[2, 2, 2], return_tensors="pt"
    )["pixel_values"]
    np.testing.assert_allclose(halves[0, 0].numpy(), [[5 / 255, 100 / 255], [0, 0]], atol=1e-7)
    nearest = processor(image, size=4, resample=0, do_normalize=False, do_rescale=False, return_tensors="pt")[
        "pixel_values"
    ]
    assert nearest[0, 0].tolist() == [[10.0, 10.0, 200.0, 200.0]] * 2 + [[0.0] * 4] * 2
    assert processor(image, return_tensors="pt")["pixel_values"].shape == (
        1,
        3,
        8,
        8,
    )  # the overrides did not stick
    assert processor.size == {"height": 8, "width": 8} and processor.do_normalize
    with pytest.raises(ValueError, match="image_std must not contain zeros"):
        processor(image, image_std=[0, 0, 0], return_tensors="pt")
    with pytest.raises(ValueError, match="image_mean needs 1 or 3 values"):
        processor(image, image_mean=[0.5, 0.5], return_tensors="pt")
    with pytest.raises(ValueError, match="cannot be batched"):
        processor([image, np.zeros((5, 5, 3), np.uint8)], do_resize=False, return_tensors="pt")


def test_a_face_crop_samples_the_photo_through_its_affine():
    photo = _coordinate_photo(300, 400)
    # Enlarged (bilinear interpolation reproduces a linear ramp exactly; shrinking, the antialiasing
    # filter's discrete weights move it by up to ~0.05 px).
    processor = SynthForgeImageProcessor(size=128, framing=FRAMING, do_normalize=False)
    # Box 40 x 50 centred at (170, 125): a 100 px crop centred at (170, 125) + (0.1, -0.2) * 50.
    out = processor(photo, boxes=[[(150, 100, 190, 150)]], return_tensors="pt")
    scale = 100 / 128
    np.testing.assert_allclose(out["affines"][0].numpy(), [[scale, 0, 125], [0, scale, 65]], atol=1e-12)
    centres = (np.arange(128) + 0.5) * scale
    pixels = out["pixel_values"][0].numpy()
    np.testing.assert_allclose(pixels[0], np.broadcast_to(125 + centres, (128, 128)), atol=1e-3)
    np.testing.assert_allclose(pixels[1], np.broadcast_to(65 + centres[:, None], (128, 128)), atol=1e-3)
    shrunk = processor(photo, boxes=[[(150, 100, 190, 150)]], size=64, return_tensors="pt")["pixel_values"][
        0, 0
    ].numpy()
    np.testing.assert_allclose(
        shrunk, np.broadcast_to(125 + (np.arange(64) + 0.5) * 100 / 64, (64, 64)), atol=0.06
    )
    # A fractional box: the pixels follow the affine exactly, not a rounded crop.
    fractional = processor(photo, boxes=[[(150.3, 100.7, 190.9, 150.2)]], return_tensors="pt")
    affine = fractional["affines"][0].numpy()
    np.testing.assert_allclose(
        affine[:, 2], face_crop_box((150.3, 100.7, 190.9, 150.2), 0.5, (0.1, -0.2))[:2]
    )
    np.testing.assert_allclose(
        fractional["pixel_values"][0, 0, 5].numpy(),
        affine[0, 0] * (np.arange(128) + 0.5) + affine[0, 2],
        atol=1e-3,
    )
    # Past the photo's corner the crop is black.
    corner = processor(photo, boxes=[[(0, 0, 40, 40)]], return_tensors="pt")["pixel_values"][0, 2].numpy()
    assert corner[0, 0] == 0 and corner[-1, -1] == pytest.approx(1.0)


def test_landmarks_round_trip_through_two_faces_of_one_image_and_a_second_image():
    rng = np.random.default_rng(1)
    photos = [
        rng.integers(0, 256, (240, 320, 3), dtype=np.uint8),
        rng.integers(0, 256, (100, 90), dtype=np.uint8),
    ]
    boxes = [[(40.5, 60.25, 100.0, 130.0), (200.0, 20.0, 260.0, 90.0)], [(10.0, 10.0, 80.0, 85.0)]]
    processor = SynthForgeImageProcessor(size=64)
    inputs = processor(photos, boxes=boxes, return_tensors="pt")
    assert inputs["pixel_values"].shape == (3, 3, 64, 64) and "paddings" not in inputs
    assert inputs["image_indices"].tolist() == [0, 0, 1]
    assert inputs["original_sizes"].tolist() == [[240, 320], [240, 320], [100, 90]]
    faces = [box for entry in boxes for box in entry]
    truth = np.stack([rng.uniform(box[:2], box[2:], size=(68, 2)) for box in faces])  # photo pixels
    affines = inputs["affines"].numpy()
    for box, affine in zip(faces, affines, strict=True):
        crop = face_crop_box(box, **{**DEFAULT_FRAMING})
        np.testing.assert_allclose(
            affine, [[(crop[2] - crop[0]) / 64, 0, crop[0]], [0, (crop[3] - crop[1]) / 64, crop[1]]]
        )
    in_crop = (truth - affines[:, None, :, 2]) / affines[:, None, [0, 1], [0, 1]]
    outputs = _fake_outputs(3, 64, landmarks=torch.tensor(in_crop, dtype=torch.float32))
    back = processor.post_process_landmarks(outputs, affines=inputs["affines"])
    assert len(back) == 3
    np.testing.assert_allclose(np.stack([b.numpy() for b in back]), truth, atol=1e-3)


def test_segmentation_and_depth_are_pasted_into_the_face_region_of_the_photo():
    processor = SynthForgeImageProcessor(size=32, framing={"box_fraction": 0.5, "offset": [0, 0]})
    inputs = processor(
        np.zeros((120, 160, 3), np.uint8), boxes=[[(40, 30, 80, 70)]], return_tensors="pt"
    )  # crop (20, 10, 100, 90)
    logits = torch.zeros(1, 20, 32, 32)
    logits[0, 7] = 1.0
    u = (torch.arange(32) + 0.5).expand(32, 32)  # depth = the input pixel's x
    outputs = _fake_outputs(1, 32, logits=logits, depth=u[None])
    sizes, affines = inputs["original_sizes"], inputs["affines"]
    labels = processor.post_process_semantic_segmentation(outputs, sizes, affines=affines)[0]
    depth = processor.post_process_depth_estimation(outputs, sizes, affines=affines)[0]["predicted_depth"]
    assert labels.shape == depth.shape == (120, 160)
    face = torch.zeros(120, 160, dtype=torch.bool)
    face[10:90, 20:100] = True  # the pixels whose centres the crop covers
    assert torch.equal(labels, torch.where(face, 7, 0)) and torch.equal(depth == 0, ~face)
    x = torch.arange(160, dtype=torch.float64) + 0.5
    expected = (x - 20) / 2.5  # the input x of each photo column; exact between the outer input centres
    interior = (expected >= 0.5) & (expected <= 31.5)
    np.testing.assert_allclose(depth[50, interior].numpy(), expected[interior].numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="needs target_sizes"):
        processor.post_process_depth_estimation(outputs, affines=affines)
    with pytest.raises(ValueError, match="target_sizes must be 1 positive"):
        processor.post_process_semantic_segmentation(outputs, [(120, 160), (1, 1)])


def test_padding_paddings_and_affines_routes_agree():
    processor = SynthForgeImageProcessor(size=32)
    inputs = processor([np.zeros((50, 30, 3), np.uint8), np.zeros((20, 45), np.uint8)], return_tensors="pt")
    assert inputs["paddings"].tolist() == [[0, 10], [12, 0]]
    torch.manual_seed(0)
    outputs = _fake_outputs(2, 32, landmarks=torch.rand(2, 68, 2) * 32, logits=torch.randn(2, 20, 32, 32))
    outputs.depth = torch.randn(2, 32, 32)
    sizes = [tuple(s) for s in inputs["original_sizes"].tolist()]
    routes = [(sizes,), (sizes, inputs["paddings"]), (sizes, None, inputs["affines"])]
    for method in ("post_process_landmarks", "post_process_semantic_segmentation"):
        first, *others = (getattr(processor, method)(outputs, *route) for route in routes)
        for other in others:
            for a, b in zip(first, other, strict=True):
                torch.testing.assert_close(a, b)
    depths = [processor.post_process_depth_estimation(outputs, *route) for route in routes]
    assert depths[0][1]["predicted_depth"].shape == (20, 45)
    for other in depths[1:]:
        for a, b in zip(depths[0], other, strict=True):
            torch.testing.assert_close(a["predicted_depth"], b["predicted_depth"])
    # The 20 x 45 image sat 12 rows down a 45 px square: its landmarks move up by 12, scaled by 45 / 32.
    points = processor.post_process_landmarks(outputs, sizes)[1]
    torch.testing.assert_close(points, outputs.landmarks[1] * 45 / 32 - torch.tensor([0.0, 12.0]))
    unmapped = processor.post_process_semantic_segmentation(outputs)
    assert torch.equal(unmapped[0], outputs.logits[0].argmax(0))


def test_sixteen_bit_images_keep_their_tones():
    """A 16-bit PNG (PIL mode I;16) or uint16 array gives the pixels of its 8-bit version (value/257),
    not white (PIL's own conversion clips every value above 255)."""
    processor = SynthForgeImageProcessor(size=32)
    rng = np.random.default_rng(0)
    eight_bit = rng.integers(0, 256, size=(40, 40), dtype=np.uint8)
    sixteen_bit = eight_bit.astype(np.uint16) * 257
    expected = processor(np.repeat(eight_bit[..., None], 3, axis=-1), return_tensors="pt")["pixel_values"]
    for image in (Image.fromarray(sixteen_bit), sixteen_bit, sixteen_bit[..., None]):
        got = processor(image, return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_framing_module_crops_with_the_processor():
    rng = np.random.default_rng(2)
    photo = rng.integers(0, 256, (150, 130, 3), dtype=np.uint8)
    framing, box = Framing(0.55, (-0.01, -0.14)), (30.0, 40.0, 90.0, 110.0)
    np.testing.assert_array_equal(crop_box(np.array(box), framing), face_crop_box(box, 0.55, (-0.01, -0.14)))
    crop, to_photo = crop_face(Image.fromarray(photo), crop_box(np.array(box), framing), 48)
    processor = SynthForgeImageProcessor(size=48, framing=framing.to_dict(), do_normalize=False)
    inputs = processor(photo, boxes=[[box]], return_tensors="pt")
    np.testing.assert_allclose(to_photo, inputs["affines"][0].numpy())
    pixels = inputs["pixel_values"][0].permute(1, 2, 0).numpy() * 255
    assert np.abs(np.asarray(crop, dtype=np.float64) - pixels).max() <= 0.5 + 1e-3  # uint8 rounding only


def test_bad_boxes_and_framing_give_clear_errors():
    processor = SynthForgeImageProcessor(size=16)
    image = np.zeros((40, 40, 3), np.uint8)
    cases = [
        ([[(10, 10, 10, 30)]], "degenerate face box"),
        ([[(10, 30, 20, 5)]], "degenerate face box"),
        ([[(1, 2, 3)]], r"boxes\[0\] must be one or more"),
        ([[]], r"boxes\[0\] must be one or more"),
        ([[(0, 0, float("nan"), 10)]], "finite pixels"),
        ([[(0, 0, 10, 10)], [(0, 0, 10, 10)]], "one entry .* per image: 2 for 1"),
        ([[(0, 0, 10, 10), (0, 0, 10)]], r"boxes\[0\] is not a list"),
    ]
    for boxes, message in cases:
        with pytest.raises(ValueError, match=message):
            processor(image, boxes=boxes, return_tensors="pt")
    for framing in (
        {"box_fraction": 0, "offset": [0, 0]},
        {"box_fraction": 0.5},
        {"box_fraction": 0.5, "offset": [1]},
    ):
        with pytest.raises(ValueError, match="framing"):
            SynthForgeImageProcessor(framing=framing)
    with pytest.raises(ValueError, match="empty image"):
        processor(np.zeros((0, 5, 3), np.uint8), return_tensors="pt")


def test_without_padding_the_whole_image_is_stretched_and_maps_back_exactly():
    photo = _coordinate_photo(30, 50)
    stretched = SynthForgeImageProcessor(size=64, do_pad=False, do_normalize=False)
    inputs = stretched(photo, return_tensors="pt")
    assert inputs["paddings"].tolist() == [[0, 0]]
    np.testing.assert_allclose(inputs["affines"][0].numpy(), [[50 / 64, 0, 0], [0, 30 / 64, 0]], atol=1e-12)
    # Bilinear enlargement reproduces the coordinate ramps between the outer source pixel centres.
    centres = np.arange(64) + 0.5
    x, y = centres * 50 / 64, centres * 30 / 64
    inside_x, inside_y = (x >= 0.5) & (x <= 49.5), (y >= 0.5) & (y <= 29.5)
    pixels = inputs["pixel_values"][0].numpy()
    np.testing.assert_allclose(
        pixels[0][:, inside_x], np.broadcast_to(x[inside_x], (64, inside_x.sum())), atol=1e-3
    )
    np.testing.assert_allclose(
        pixels[1][inside_y], np.broadcast_to(y[inside_y, None], (inside_y.sum(), 64)), atol=1e-3
    )
    per_call = SynthForgeImageProcessor(size=64, do_normalize=False)(photo, do_pad=False, return_tensors="pt")
    assert torch.equal(per_call["pixel_values"], inputs["pixel_values"])
    assert torch.equal(per_call["affines"], inputs["affines"])
    # Landmarks: through the affines, and through target_sizes with the processor's do_pad=False.
    truth = np.random.default_rng(4).uniform((0, 0), (50, 30), size=(68, 2))
    in_input = truth * [64 / 50, 64 / 30]  # the stretch, by hand
    np.testing.assert_allclose(
        stretched(photo, landmarks=truth, return_tensors="pt")["landmarks"][0].numpy(), in_input, atol=1e-4
    )
    outputs = _fake_outputs(1, 64, landmarks=torch.tensor(in_input[None], dtype=torch.float32))
    for route in ({"affines": inputs["affines"]}, {"target_sizes": [(30, 50)]}):
        back = stretched.post_process_landmarks(outputs, **route)[0].numpy()
        np.testing.assert_allclose(back, truth, atol=1e-3)
    # The stretched input covers the whole image: a constant class everywhere, no background border.
    logits = torch.zeros(1, 20, 64, 64)
    logits[0, 4] = 1.0
    labels = stretched.post_process_semantic_segmentation(_fake_outputs(1, 64, logits=logits), [(30, 50)])
    assert torch.equal(labels[0], torch.full((30, 50), 4))
    # No resize either: the image itself, identity affine, its own shape.
    raw = stretched(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3), do_resize=False, do_rescale=False)
    assert raw["pixel_values"].shape == (1, 3, 2, 3)
    assert raw["pixel_values"][0, 1].tolist() == [[1.0, 4.0, 7.0], [10.0, 13.0, 16.0]]
    assert raw["affines"][0].tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_channels_first_last_torch_and_4d_batches_give_identical_pixels():
    rng = np.random.default_rng(5)
    processor = SynthForgeImageProcessor(size=16)
    hwc = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    expected = processor(Image.fromarray(hwc), return_tensors="pt")["pixel_values"]
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    for image in (hwc, chw, torch.from_numpy(hwc), torch.from_numpy(chw)):
        assert torch.equal(processor(image, return_tensors="pt")["pixel_values"], expected)
    flipped = hwc[:, ::-1]
    pair = torch.cat([expected, processor(flipped, return_tensors="pt")["pixel_values"]])
    for batch in (np.stack([hwc, flipped]), torch.from_numpy(np.stack([chw, flipped.transpose(2, 0, 1)]))):
        assert torch.equal(processor(batch, return_tensors="pt")["pixel_values"], pair)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    expected_gray = processor(Image.fromarray(gray), return_tensors="pt")["pixel_values"]
    for image in (gray, gray[None], gray[..., None], torch.from_numpy(gray[None])):
        assert torch.equal(processor(image, return_tensors="pt")["pixel_values"], expected_gray)
    # Both ends could be channels: read channels-first as transformers does, unless input_data_format says.
    small = rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
    as_first = processor(np.ascontiguousarray(small.transpose(1, 2, 0)), return_tensors="pt")["pixel_values"]
    assert torch.equal(processor(small, return_tensors="pt")["pixel_values"], as_first)
    assert torch.equal(
        processor(small, input_data_format="channels_first", return_tensors="pt")["pixel_values"], as_first
    )
    as_last = processor(small, input_data_format="channels_last", return_tensors="pt")["pixel_values"]
    assert torch.equal(as_last, processor(Image.fromarray(small), return_tensors="pt")["pixel_values"])
    assert not torch.equal(as_last, as_first)
    with pytest.raises(ValueError, match="input_data_format must be"):
        processor(hwc, input_data_format="channels_middle", return_tensors="pt")
    with pytest.raises(ValueError, match="cannot tell the channels"):
        processor(np.zeros((2, 5, 5, 5), np.uint8), return_tensors="pt")


def test_a_segmentation_map_and_landmarks_land_where_their_pixel_lands():
    # 30 x 50, padded to 50 x 50 (10 rows above) and enlarged twice: pixel (row 3, column 7) covers the
    # model-input rows 26-27 and columns 14-15; its centre (7.5, 3.5) lands at (15, 27).
    image = np.zeros((30, 50, 3), np.uint8)
    image[3, 7] = 255
    labels = np.zeros((30, 50), np.uint8)
    labels[3, 7] = 5
    processor = SynthForgeImageProcessor(size=100, resample=0, do_normalize=False)
    inputs = processor(image, segmentation_maps=labels, landmarks=np.array([[7.5, 3.5]]), return_tensors="pt")
    np.testing.assert_allclose(inputs["affines"][0].numpy(), [[0.5, 0, 0], [0, 0.5, -10]])
    expected = np.zeros((100, 100), np.int64)
    expected[:20] = expected[80:] = 255  # outside the image: ignore_index
    expected[26:28, 14:16] = 5
    assert inputs["labels"].dtype == torch.int64 and inputs["labels"].shape == (1, 100, 100)
    np.testing.assert_array_equal(inputs["labels"][0].numpy(), expected)
    assert torch.equal(inputs["pixel_values"][0, 0] == 1, torch.from_numpy(expected == 5))
    assert inputs["landmarks"].dtype == torch.float32 and inputs["landmarks"].tolist() == [[[15.0, 27.0]]]
    background = processor(
        image, segmentation_maps=Image.fromarray(labels), ignore_index=0, return_tensors="pt"
    )["labels"][0]
    np.testing.assert_array_equal(background.numpy(), np.where(expected == 255, 0, expected))
    # A batch: maps as one (B,H,W) tensor, points as one (B,N,2) array; rows stay aligned.
    second = np.zeros((30, 50), np.uint8)
    both = processor(
        [image, image],
        segmentation_maps=torch.from_numpy(np.stack([labels, second])),
        landmarks=np.array([[[7.5, 3.5]], [[0.0, 0.0]]]),
        return_tensors="pt",
    )
    np.testing.assert_array_equal(both["labels"][0].numpy(), expected)
    assert int((both["labels"][1] == 5).sum()) == 0
    assert both["landmarks"].tolist() == [[[15.0, 27.0]], [[0.0, 20.0]]]


def test_each_face_gets_its_own_map_crop_and_points():
    processor = SynthForgeImageProcessor(size=32, framing={"box_fraction": 0.5, "offset": [0, 0]})
    ys, xs = np.mgrid[0:120, 0:160]
    labels = (ys // 10) * 16 + xs // 10  # a class per 10 px cell
    boxes = [[(40, 30, 80, 70), (0, 0, 40, 40)]]  # crops (20, 10, 100, 90) and (-20, -20, 60, 60): 2.5 px
    rng = np.random.default_rng(6)
    points = [rng.uniform((40, 30), (80, 70), (68, 2)), rng.uniform((0, 0), (40, 40), (68, 2))]
    image = np.zeros((120, 160, 3), np.uint8)
    inputs = processor(image, boxes=boxes, segmentation_maps=labels, landmarks=[points], return_tensors="pt")
    first, second = inputs["labels"].numpy()
    # Model-input pixel (0, 0) samples photo (21.25, 11.25): cell (1, 2); pixel (31, 31) (98.75, 88.75).
    assert first[0, 0] == 1 * 16 + 2 and first[31, 31] == 8 * 16 + 9
    # The second crop starts 20 px left of and above the photo: 8 columns and rows outside it.
    assert (second[:8] == 255).all() and (second[:, :8] == 255).all() and second[8, 8] == 0
    assert second[31, 31] == 5 * 16 + 5  # photo (58.75, 58.75)
    np.testing.assert_allclose(inputs["landmarks"][0].numpy(), (points[0] - [20, 10]) / 2.5, atol=1e-5)
    np.testing.assert_allclose(inputs["landmarks"][1].numpy(), (points[1] + 20) / 2.5, atol=1e-5)
    outputs = _fake_outputs(2, 32, landmarks=inputs["landmarks"])
    back = processor.post_process_landmarks(outputs, affines=inputs["affines"])
    np.testing.assert_allclose(np.stack([b.numpy() for b in back]), np.stack(points), atol=1e-3)
    one = processor(image, boxes=[boxes[0][:1]], landmarks=[points[0]], return_tensors="pt")["landmarks"]
    assert torch.equal(one, inputs["landmarks"][:1])
    cases = [
        ({"landmarks": [points[:1]]}, r"landmarks\[0\] must be 2 \(N,2\) point arrays, one per face box"),
        ({"landmarks": [[points[0], points[1][:5]]]}, r"landmarks\[0\] must be 2 \(N,2\)"),
        ({"segmentation_maps": labels[:100]}, r"segmentation_maps\[0\] must be an \(H,W\) map of its image"),
        ({"segmentation_maps": labels * 0.5}, "integer class ids"),
        ({"segmentation_maps": [labels, labels]}, "segmentation_maps needs one entry per image: 2 for 1"),
        ({"ignore_index": 1.5}, "ignore_index must be an int"),
    ]
    for arguments, message in cases:
        with pytest.raises(ValueError, match=message):
            processor(image, boxes=boxes, **arguments, return_tensors="pt")
    with pytest.raises(ValueError, match="landmarks of different shapes"):
        processor([image, image], landmarks=[points[0], points[1][:5]], return_tensors="pt")


def test_a_flipped_image_gives_flipped_pixels_labels_and_landmarks():
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)  # padded by 10 rows above and below
    labels = rng.integers(0, 20, (40, 60))
    points = rng.uniform((0, 0), (60, 40), (68, 2))
    mirrored = points * [-1, 1] + [60, 0]
    processor = SynthForgeImageProcessor(size=48, framing={"box_fraction": 0.5, "offset": [0, -0.1]})
    box, mirror_box = (10.0, 5.0, 34.0, 33.0), (26.0, 5.0, 50.0, 33.0)
    for route, mirror_route in (({}, {}), ({"boxes": [[box]]}, {"boxes": [[mirror_box]]})):
        plain = processor(image, segmentation_maps=labels, landmarks=[points], **route, return_tensors="pt")
        flipped = processor(
            image[:, ::-1],
            segmentation_maps=labels[:, ::-1],
            landmarks=[mirrored],
            **mirror_route,
            return_tensors="pt",
        )
        torch.testing.assert_close(flipped["pixel_values"], plain["pixel_values"].flip(-1), atol=1e-5, rtol=0)
        assert torch.equal(flipped["labels"], plain["labels"].flip(-1))
        torch.testing.assert_close(
            flipped["landmarks"], plain["landmarks"] * torch.tensor([-1.0, 1.0]) + torch.tensor([48.0, 0.0])
        )


def test_labels_round_trip_through_the_post_processing():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 20, (30, 50))
    processor = SynthForgeImageProcessor(size={"height": 60, "width": 100}, do_pad=False)
    inputs = processor(np.zeros((30, 50, 3), np.uint8), segmentation_maps=labels, return_tensors="pt")
    logits = F.one_hot(inputs["labels"], 20).permute(0, 3, 1, 2).float()
    back = processor.post_process_semantic_segmentation(_fake_outputs(1, 60, logits=logits), [(30, 50)])[0]
    np.testing.assert_array_equal(back.numpy(), labels)


def test_labels_and_landmarks_are_the_models_targets():
    torch.manual_seed(0)
    model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
    processor = SynthForgeImageProcessor(size=32, do_pad=False)
    image = np.random.default_rng(9).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    labels = np.zeros((40, 30), np.int64)
    labels[10:30, 5:25] = 3
    points = np.random.default_rng(9).uniform((0, 0), (30, 40), (68, 2))
    with torch.no_grad():
        out = model(**processor(image, segmentation_maps=labels, landmarks=points, return_tensors="pt"))
    assert set(out.losses) == {"segmentation", "heatmap"} and torch.isfinite(out.loss)


def test_unknown_keyword_arguments_are_refused():
    processor = SynthForgeImageProcessor(size=8)
    image = np.zeros((8, 8, 3), np.uint8)
    for call in (processor, processor.preprocess):
        with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
            call(image, foo=1)
        with pytest.raises(TypeError, match="'do_center_crop'"):  # a transformers option this one lacks
            call(image, do_center_crop=True)
    with pytest.raises(TypeError, match="positional"):  # options are keyword-only
        processor(image, None, None, None, False, return_tensors="pt")


PIPELINE_SCRIPT = """
import sys
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import pipeline
if sys.argv[1] == "package":
    import synthforge_hf.models.synthforge  # registers the Auto classes
    options = {}
else:
    sys.modules["synthforge_hf"] = None  # importing the package now fails
    options = {"trust_remote_code": True}
image = Image.open("face.png")
segmenter = pipeline("image-segmentation", model="sb", **options)
estimator = pipeline("depth-estimation", model="sb", **options)
source = "transformers_modules" if sys.argv[1] == "remote" else "synthforge_hf"
for component in (segmenter.model, estimator.model, segmenter.image_processor, estimator.image_processor):
    assert type(component).__module__.startswith(source), type(component)
label2id = {name: int(i) for i, name in segmenter.model.config.id2label.items()}
labels = np.full((image.height, image.width), -1)
for segment in segmenter(image):
    mask = np.asarray(segment["mask"]) == 255
    assert not (labels[mask] >= 0).any(), "masks overlap"
    labels[mask] = label2id[segment["label"]]
result = estimator(image)
assert result["depth"].size == image.size, result["depth"].size
np.save("labels.npy", labels)
np.save("depth.npy", result["predicted_depth"].numpy())
"""


@pytest.fixture(scope="module")
def saved_sb(tmp_path_factory):
    """A saved tiny SB folder, a photo, and the maps the processor + model give for it."""
    root = tmp_path_factory.mktemp("pipelines")
    torch.manual_seed(0)
    model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
    model.save_pretrained(root / "sb")
    processor = SynthForgeImageProcessor(size=64)
    processor.save_pretrained(root / "sb")
    photo = Image.fromarray(np.random.default_rng(3).integers(0, 256, (70, 50, 3), dtype=np.uint8))
    photo.save(root / "face.png")
    with torch.no_grad():
        outputs = model(**processor(photo, return_tensors="pt"))
    labels = processor.post_process_semantic_segmentation(outputs, [(70, 50)])[0].numpy()
    depth = processor.post_process_depth_estimation(outputs, [(70, 50)])[0]["predicted_depth"].numpy()
    return root, labels, depth


def test_saved_config_maps_both_pipeline_auto_classes(saved_sb):
    auto_map = json.loads((saved_sb[0] / "sb" / "config.json").read_text())["auto_map"]
    for name in ("AutoModelForSemanticSegmentation", "AutoModelForDepthEstimation"):
        assert auto_map[name] == "modeling_synthforge.SynthForgeForFaceAnalysis"
    assert json.loads((saved_sb[0] / "sb" / "preprocessor_config.json").read_text())["auto_map"] == {
        "AutoImageProcessor": "image_processing_synthforge.SynthForgeImageProcessor"
    }


@pytest.mark.parametrize("route", ["package", "remote"])
@pytest.mark.slow
def test_transformers_pipelines_on_a_saved_sb_in_a_fresh_process(saved_sb, route):
    root, labels, depth = saved_sb
    for name in ("labels.npy", "depth.npy"):
        (root / name).unlink(missing_ok=True)
    env = {**os.environ, "HF_MODULES_CACHE": str(root / f"modules-{route}"), "HF_HUB_OFFLINE": "1"}
    script = textwrap.dedent(PIPELINE_SCRIPT)
    result = subprocess.run(
        [sys.executable, "-c", script, route],
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,  # transformers may ask about remote code: no terminal, no answer
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(root / "labels.npy"), labels)  # every pixel has one label
    np.testing.assert_allclose(np.load(root / "depth.npy"), depth, atol=1e-5)


def test_return_tensors_defaults_to_numpy_as_transformers_processors_do():
    processor = SynthForgeImageProcessor(size=16)
    image = np.zeros((10, 12, 3), np.uint8)
    assert isinstance(processor(image)["pixel_values"], np.ndarray)
    assert isinstance(processor(image, return_tensors="pt")["pixel_values"], torch.Tensor)
