"""The benchmark protocols on tiny folders in the benchmarks' layouts: 300W's splits and boxes, LaPa's
crops and predictions pasted back into the image, CelebAMask-HQ's official partition, the crops
train-lf learns on, and the samples evaluate cannot score (reported, never NaN in the JSON)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from synthforge_hf.cli import main
from synthforge_hf.evaluation.benchmarks import evaluate, labels_in_crop, open_benchmark
from synthforge_hf.evaluation.metrics import LAPA_CLASSES
from synthforge_hf.evaluation.readers import CelebAMaskHQ, Face300W, LaPa
from synthforge_hf.models.synthforge import (
    SynthForgeConfig,
    SynthForgeForFaceAnalysis,
    SynthForgeImageProcessor,
)
from synthforge_hf.models.synthforge.image_processing_synthforge import DEFAULT_FRAMING
from synthforge_hf.models.synthforge_lf.modeling_synthforge_lf import SynthForgeLabelFinetuneOutput
from synthforge_hf.training.lf import prepare_batch

SIZE = 64


def _pts(path, points):
    body = "\n".join(f"{x} {y}" for x, y in points)
    path.write_text(f"version: 1\nn_points: 68\n{{\n{body}\n}}\n")


def _face_points(rng) -> np.ndarray:
    return rng.uniform(20, 44, (68, 2))


def _photo(path, rng, size=(64, 64)):
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _crop_square(box) -> tuple[float, float, float, float]:
    """The processor's default framing around a box, by hand: (left, top, right, bottom)."""
    left, top, right, bottom = box
    longer = max(right - left, bottom - top)
    cx = (left + right) / 2 + DEFAULT_FRAMING["offset"][0] * longer
    cy = (top + bottom) / 2 + DEFAULT_FRAMING["offset"][1] * longer
    half = longer / DEFAULT_FRAMING["box_fraction"] / 2
    return cx - half, cy - half, cx + half, cy + half


def test_300w_test_split_in_the_official_layout(tmp_path):
    rng = np.random.default_rng(0)
    for folder, count in (("01_Indoor", 3), ("02_Outdoor", 2)):
        (tmp_path / "300W" / folder).mkdir(parents=True)
        for k in range(count):
            _photo(tmp_path / "300W" / folder / f"{folder[3:].lower()}_{k:03d}.png", rng)
            _pts(tmp_path / "300W" / folder / f"{folder[3:].lower()}_{k:03d}.pts", _face_points(rng))
    assert len(Face300W(tmp_path, "test")) == len(Face300W(tmp_path / "300W", "test")) == 5
    sample = Face300W(tmp_path, "test")[4]
    points = sample["landmarks"]  # the .pts values minus 1
    np.testing.assert_allclose(sample["box"], [*(points.min(0) + 0.5), *(points.max(0) + 0.5)], rtol=1e-6)
    with pytest.raises(ValueError, match="test set has no bounding-box files"):
        Face300W(tmp_path, "test", boxes="detector")
    with pytest.raises(FileNotFoundError, match="01_Indoor not found"):
        Face300W(tmp_path / "elsewhere", "test")


def test_300w_box_files_are_required_where_asked_for(tmp_path):
    rng = np.random.default_rng(1)
    for folder in ("helen/testset", "lfpw/testset"):
        (tmp_path / folder).mkdir(parents=True)
    _photo(tmp_path / "helen/testset/a.jpg", rng)
    _pts(tmp_path / "helen/testset/a.pts", _face_points(rng))
    with pytest.raises(FileNotFoundError, match="Bounding Boxes/bounding_boxes_helen_testset.mat not found"):
        Face300W(tmp_path, "common", boxes="ground-truth")
    with pytest.raises(ValueError, match="is for 300W"):
        open_benchmark("lapa", str(tmp_path), "test", boxes="detector")


def _lapa_folder(root, split="test") -> tuple[np.ndarray, np.ndarray]:
    """A 200x200 LaPa sample: a bright skin square [60,140)^2 with its 106 points on [70,130]^2, and a
    bright hair block [0,40)^2 that the face crop leaves out."""
    for sub in ("images", "labels", "landmarks"):
        (root / split / sub).mkdir(parents=True)
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    labels = np.zeros((200, 200), dtype=np.uint8)
    image[60:140, 60:140] = 255
    labels[60:140, 60:140] = LAPA_CLASSES.index("skin")
    image[:40, :40] = 255
    labels[:40, :40] = LAPA_CLASSES.index("hair")
    points = np.random.default_rng(2).uniform(70, 130, (106, 2))
    points[:2] = [[70, 70], [130, 130]]
    Image.fromarray(image).save(root / split / "images" / "x.png")
    Image.fromarray(labels).save(root / split / "labels" / "x.png")
    (root / split / "landmarks" / "x.txt").write_text("106\n" + "\n".join(f"{x} {y}" for x, y in points))
    return image, labels


class _Parser(torch.nn.Module):
    """A stand-in LF parsing model: skin where its input is bright (``follow_input``) or everywhere."""

    def __init__(self, classes: int, follow_input: bool):
        super().__init__()
        self.classes, self.follow_input = classes, follow_input
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, pixel_values):
        batch, _, height, width = pixel_values.shape
        logits = torch.zeros(batch, self.classes, height, width)
        logits[:, 1] = 10 * pixel_values.mean(1) if self.follow_input else 1.0
        return SynthForgeLabelFinetuneOutput(logits=logits)


class _Pointer(torch.nn.Module):
    """A stand-in keypoint model whose weights are finite but whose landmarks are NaN."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, pixel_values):
        return SynthForgeLabelFinetuneOutput(landmarks=torch.full((len(pixel_values), 68, 2), float("nan")))


def _f1_by_hand(prediction: np.ndarray, target: np.ndarray, class_id: int) -> float:
    tp = np.sum((prediction == class_id) & (target == class_id))
    return 2 * tp / (np.sum(prediction == class_id) + np.sum(target == class_id))


def test_lapa_is_scored_on_the_face_crop_pasted_back(tmp_path):
    _, labels = _lapa_folder(tmp_path)
    processor = SynthForgeImageProcessor(size=SIZE)
    dataset = LaPa(tmp_path, "test")
    np.testing.assert_allclose(dataset[0]["box"], [70.5, 70.5, 130.5, 130.5])
    # Skin predicted everywhere in the crop: exactly the pixels whose centres the crop covers.
    left, top, right, bottom = _crop_square((70.5, 70.5, 130.5, 130.5))
    ys, xs = np.mgrid[0:200, 0:200] + 0.5
    predicted = np.where((xs >= left) & (xs <= right) & (ys >= top) & (ys <= bottom), 1, 0)
    flat = evaluate(_Parser(11, follow_input=False), processor, "lapa", dataset)
    assert flat["f1"]["skin"] == pytest.approx(_f1_by_hand(predicted, labels, 1), abs=1e-12)
    assert flat["f1"]["background"] == pytest.approx(_f1_by_hand(predicted, labels, 0), abs=1e-12)
    assert flat["f1"]["nose"] is None and flat["samples"] == 1 and flat["skipped"] == []
    # Skin where the crop is bright: the face square, not the hair block outside the crop. The whole
    # image padded (the old protocol) would call the hair block skin too: skin F1 0.89.
    following = evaluate(_Parser(11, follow_input=True), processor, "lapa", dataset)
    assert following["f1"]["skin"] > 0.97 and following["f1"]["hair"] == 0.0


def test_celebamask_masks_at_half_size_are_scored_on_their_grid(tmp_path):
    (tmp_path / "CelebA-HQ-img").mkdir()
    (tmp_path / "CelebAMask-HQ-mask-anno" / "0").mkdir(parents=True)
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[16:48, 8:40] = 255
    Image.fromarray(image).save(tmp_path / "CelebA-HQ-img" / "0.jpg", quality=100)
    skin = np.zeros((32, 32), dtype=np.uint8)
    skin[8:24, 4:20] = 255
    Image.fromarray(skin).save(tmp_path / "CelebAMask-HQ-mask-anno" / "0" / "00000_skin.png")
    result = evaluate(
        _Parser(19, follow_input=True),
        SynthForgeImageProcessor(size=SIZE),
        "celebamask-hq",
        CelebAMaskHQ(tmp_path, indices=[0]),
    )
    assert result["f1"]["skin"] > 0.95 and result["f1"]["background"] > 0.98


def _celebamask_partition(root, partitions: dict[int, int], mapping: dict[int, int]) -> None:
    (root / "CelebA-HQ-img").mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"{idx} {orig} {orig + 1:06d}.jpg" for idx, orig in mapping.items())
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text(f"idx         orig_idx    orig_file   \n{rows}\n")
    lines = "\n".join(f"{orig + 1:06d}.jpg {part}" for orig, part in partitions.items())
    (root / "list_eval_partition.txt").write_text(lines + "\n")


def test_celebamask_hq_follows_celeba_partition(tmp_path):
    rng = np.random.default_rng(3)
    partitions = {orig: int(rng.integers(0, 3)) for orig in range(40)}  # CelebA index -> 0/1/2
    mapping = {idx: int(orig) for idx, orig in enumerate(rng.permutation(40)[:12])}  # CelebA-HQ -> CelebA
    _celebamask_partition(tmp_path, partitions, mapping)
    by_hand = {
        split: sorted(idx for idx, orig in mapping.items() if partitions[orig] == part)
        for split, part in (("train", 0), ("val", 1), ("test", 2))
    }
    assert sum(map(len, by_hand.values())) == 12 and all(by_hand.values())
    for split, indices in by_hand.items():
        assert open_benchmark("celebamask-hq", str(tmp_path), split).indices == indices
    with pytest.raises(ValueError, match="unknown CelebAMask-HQ split 'all'"):
        CelebAMaskHQ(tmp_path, "all")
    (tmp_path / "list_eval_partition.txt").rename(tmp_path / "moved.txt")
    with pytest.raises(FileNotFoundError, match=r"list_eval_partition.txt not found.*CelebA download"):
        CelebAMaskHQ(tmp_path, "test")
    (tmp_path / "Eval").mkdir()
    (tmp_path / "moved.txt").rename(tmp_path / "Eval" / "list_eval_partition.txt")  # CelebA's own place
    assert CelebAMaskHQ(tmp_path, "val").indices == by_hand["val"]
    (tmp_path / "CelebA-HQ-to-CelebA-mapping.txt").unlink()
    with pytest.raises(FileNotFoundError, match="CelebA-HQ-to-CelebA-mapping.txt not found"):
        CelebAMaskHQ(tmp_path, "test")


def test_lf_batches_are_the_crops_evaluate_scores(tmp_path):
    rng = np.random.default_rng(4)
    (tmp_path / "ibug").mkdir()
    _photo(tmp_path / "ibug" / "a.jpg", rng, (90, 70))
    points = _face_points(rng) + [10, 5]
    _pts(tmp_path / "ibug" / "a.pts", points + 1)  # iBUG: 1-based
    processor = SynthForgeImageProcessor(size=SIZE)
    sample = Face300W(tmp_path, "challenge")[0]
    batch = prepare_batch([sample], processor)
    left, top, right, bottom = _crop_square((*(points.min(0) + 0.5), *(points.max(0) + 0.5)))
    by_hand = (points + 0.5 - [left, top]) * SIZE / (right - left)
    np.testing.assert_allclose(batch["landmarks"][0].numpy(), by_hand, atol=1e-4)
    crop = processor([sample["image"]], boxes=[[sample["box"]]], return_tensors="pt")["pixel_values"]
    assert torch.equal(batch["pixel_values"], crop)
    # LaPa: the labels in the crop are the labels nearest to each crop pixel's centre (0 outside).
    _, labels = _lapa_folder(tmp_path / "lapa")
    lapa = LaPa(tmp_path / "lapa", "test")[0]
    batch = prepare_batch([lapa], processor)
    left, top, right, bottom = _crop_square(lapa["box"])
    centres = (np.arange(SIZE) + 0.5) * (right - left) / SIZE
    columns, rows = np.floor(left + centres).astype(int), np.floor(top + centres).astype(int)
    inside = (rows[:, None] >= 0) & (rows[:, None] < 200) & (columns[None] >= 0) & (columns[None] < 200)
    expected = np.where(inside, labels[np.clip(rows, 0, 199)[:, None], np.clip(columns, 0, 199)[None]], 0)
    assert np.array_equal(batch["labels"][0].numpy(), expected)
    bright = batch["pixel_values"][0].mean(0).numpy() > 0
    assert np.mean(bright == (expected > 0)) > 0.97  # labels and pixels are the same crop
    half = labels_in_crop(labels[::2, ::2], (200, 200), np.array([[1.0, 0, 0], [0, 1.0, 0]]), (200, 200))
    assert np.array_equal(half, labels[::2, ::2].repeat(2, 0).repeat(2, 1))  # a label map at half size


@pytest.fixture(scope="module")
def tiny_sb(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sb")
    torch.manual_seed(0)
    SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).save_pretrained(folder)
    SynthForgeImageProcessor(size=SIZE).save_pretrained(folder)
    return folder


def _bad_300w(root, good: int) -> None:
    """helen/testset with ``good`` usable faces, one with a NaN point and one with zero inter-ocular
    distance; lfpw/testset empty."""
    rng = np.random.default_rng(5)
    for folder in ("helen/testset", "lfpw/testset"):
        (root / folder).mkdir(parents=True)
    faces = {f"good{k}": _face_points(rng) for k in range(good)}
    faces["nan"] = _face_points(rng)
    faces["nan"][7] = np.nan
    faces["zero_iod"] = _face_points(rng)
    faces["zero_iod"][45] = faces["zero_iod"][36]
    for name, points in faces.items():
        _photo(root / "helen/testset" / f"{name}.png", rng)
        _pts(root / "helen/testset" / f"{name}.pts", points)


def _strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path} carries {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_unscorable_samples_are_reported_not_scored(tiny_sb, tmp_path):
    _bad_300w(tmp_path / "300W", good=2)
    args = ["evaluate", "--model", str(tiny_sb), "--benchmark", "300w", "--data", str(tmp_path / "300W")]
    assert main([*args, "--split", "common", "--out", str(tmp_path / "eval.json")]) == 0
    result = _strict_json(tmp_path / "eval.json")
    assert result["samples"] == 2 and [row["path"].rsplit("/", 1)[1] for row in result["per_image"]] == [
        "good0.png",
        "good1.png",
    ]
    reasons = {row["path"].rsplit("/", 1)[1]: row["reason"] for row in result["skipped"]}
    assert reasons.keys() == {"nan.png", "zero_iod.png"}
    assert "not all finite" in reasons["nan.png"] and "zero inter-ocular" in reasons["zero_iod.png"]
    assert result["nme"] == pytest.approx(np.mean([row["nme"] for row in result["per_image"]]))


@pytest.mark.slow
def test_nothing_to_score_is_one_line_and_a_failed_exit(tiny_sb, tmp_path):
    _bad_300w(tmp_path / "bad", good=0)
    args = ["evaluate", "--model", str(tiny_sb), "--benchmark", "300w", "--split", "common", "--data"]
    with pytest.raises(SystemExit, match=r"no 300w sample could be scored: all 2 skipped") as error:
        main([*args, str(tmp_path / "bad")])
    assert "\n" not in str(error.value.code)
    for folder in ("helen/testset", "lfpw/testset"):
        (tmp_path / "empty" / folder).mkdir(parents=True)
    command = [sys.executable, "-m", "synthforge_hf.cli", *args, str(tmp_path / "empty")]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode != 0 and run.stdout == ""
    assert run.stderr.strip().splitlines()[-1] == (
        f"synthforge evaluate: no images in the 300W common folders under {tmp_path / 'empty'}"
    )


def test_a_model_predicting_nan_is_refused(tiny_sb, tmp_path):
    _bad_300w(tmp_path / "300W", good=1)
    model = SynthForgeForFaceAnalysis.from_pretrained(tiny_sb)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))  # its landmarks come out finite: arg-max decoding
    dataset = Face300W(tmp_path / "300W", "common")
    with pytest.raises(ValueError, match="weights hold NaN or Infinity"):
        evaluate(model, SynthForgeImageProcessor(size=SIZE), "300w", dataset)
    with pytest.raises(ValueError, match="non-finite landmarks for .*good0.png"):
        evaluate(_Pointer(), SynthForgeImageProcessor(size=SIZE), "300w", dataset)
