"""Benchmark readers on folders in the benchmarks' formats, and metrics checked by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from synthforge_hf.evaluation.metrics import (
    CELEBAMASK_CLASSES,
    LAPA_CLASSES,
    LAPA_MEAN_F1_CLASSES,
    ced_auc,
    confusion_matrix,
    f1_scores,
    failure_rate,
    mean_iou,
    nme,
    parsing_report,
    save_ced_plot,
)
from synthforge_hf.evaluation.readers import CelebAMaskHQ, Face300W, LaPa, read_pts
from synthforge_hf.io.images import to_rgb8


def _pts(path, points, declared=None):
    body = "\n".join(f"{x} {y}" for x, y in points)
    path.write_text(f"version: 1\nn_points:  {declared or len(points)}\n{{\n{body}\n}}\n")


def _image(path, size=(40, 30)):
    Image.fromarray(np.full((size[1], size[0], 3), 90, dtype=np.uint8)).save(path)


def _face_300w(root):
    points = np.stack([np.arange(68) + 1.0, np.arange(68) * 0.5 + 1.0], axis=1)
    for folder, names in (("helen/testset", ["a", "b"]), ("lfpw/testset", ["c"]), ("ibug", ["d"])):
        (root / folder).mkdir(parents=True)
        for name in names:
            _image(root / folder / f"{name}.jpg")
            _pts(root / folder / f"{name}.pts", points)
    return points


def test_300w_splits_and_zero_based_points(tmp_path):
    points = _face_300w(tmp_path)
    assert len(Face300W(tmp_path, "common")) == 3 and len(Face300W(tmp_path, "challenge")) == 1
    sample = Face300W(tmp_path, "full")[3]
    assert sample["path"].endswith("ibug/d.jpg") and sample["image"].size == (40, 30)
    np.testing.assert_array_equal(sample["landmarks"], points - 1)
    assert sample["landmarks"][0].tolist() == [0.0, 0.0]


def test_300w_errors_name_the_file(tmp_path):
    _face_300w(tmp_path)
    (tmp_path / "ibug" / "d.pts").unlink()
    with pytest.raises(FileNotFoundError, match="d.pts"):
        Face300W(tmp_path, "challenge")[0]
    _pts(tmp_path / "ibug" / "d.pts", [(1, 2), (3, 4)], declared=68)
    with pytest.raises(ValueError, match="n_points: 68 but holds 2"):
        Face300W(tmp_path, "challenge")[0]
    (tmp_path / "ibug" / "d.jpg").write_bytes(b"not an image")
    _pts(tmp_path / "ibug" / "d.pts", [(1, 1)] * 68)
    with pytest.raises(ValueError, match="d.jpg is not a readable image"):
        Face300W(tmp_path, "challenge")[0]
    with pytest.raises(FileNotFoundError, match="300W layout"):
        Face300W(tmp_path / "nowhere", "full")
    assert read_pts(tmp_path / "helen/testset/a.pts").shape == (68, 2)


def test_16_bit_images_are_scaled_to_8_bits_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 65535], [257, 257 * 128, 40000]], dtype=np.uint16)
    expected = np.round(values / 257).astype(np.uint8)
    for mode in ("I;16", "I"):
        image = Image.fromarray(values) if mode == "I;16" else Image.fromarray(values.astype(np.int32), "I")
        assert image.mode == mode
        rgb = to_rgb8(image)
        assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb), np.dstack([expected] * 3))
    _face_300w(tmp_path)
    (tmp_path / "ibug" / "d.jpg").unlink()
    Image.fromarray(values).save(tmp_path / "ibug" / "d.png")
    assert Image.open(tmp_path / "ibug" / "d.png").mode == "I;16"
    image = Face300W(tmp_path, "challenge")[0]["image"]
    assert image.mode == "RGB" and np.array_equal(np.asarray(image)[..., 1], expected)
    (tmp_path / "CelebA-HQ-img").mkdir()
    _image(tmp_path / "CelebA-HQ-img" / "7.jpg", (3, 2))
    (tmp_path / "CelebAMask-HQ-mask-anno" / "0").mkdir(parents=True)
    Image.fromarray(values).save(tmp_path / "CelebAMask-HQ-mask-anno" / "0" / "00007_skin.png")
    skin = CELEBAMASK_CLASSES.index("skin")
    assert CelebAMaskHQ(tmp_path, indices=[7])[0]["segmentation"].tolist() == [[0, 0, skin], [0, skin, skin]]


def test_lapa_reader(tmp_path):
    split = tmp_path / "test"
    for sub in ("images", "labels", "landmarks"):
        (split / sub).mkdir(parents=True)
    _image(split / "images" / "x.jpg", (8, 6))
    labels = np.arange(48, dtype=np.uint8).reshape(6, 8) % 11
    Image.fromarray(labels).save(split / "labels" / "x.png")
    (split / "landmarks" / "x.txt").write_text("106\n" + "\n".join(f"{k} {k + 0.5}" for k in range(106)))
    sample = LaPa(tmp_path, "test")[0]
    assert np.array_equal(sample["segmentation"], labels) and sample["landmarks"][3].tolist() == [3.0, 3.5]
    Image.fromarray(labels[:5]).save(split / "labels" / "x.png")
    with pytest.raises(ValueError, match="labels/x.png"):
        LaPa(tmp_path, "test")[0]


def test_celebamask_parts_merge_in_class_order(tmp_path):
    (tmp_path / "CelebA-HQ-img").mkdir()
    _image(tmp_path / "CelebA-HQ-img" / "2001.jpg", (16, 16))
    folder = tmp_path / "CelebAMask-HQ-mask-anno" / "1"
    folder.mkdir(parents=True)
    skin = np.zeros((8, 8), dtype=np.uint8)
    skin[:, :6] = 255
    nose = np.zeros((8, 8, 3), dtype=np.uint8)
    nose[2:4, 2:4] = 255  # RGB masks are accepted
    Image.fromarray(skin).save(folder / "02001_skin.png")
    Image.fromarray(nose).save(folder / "02001_nose.png")
    merged = CelebAMaskHQ(tmp_path, indices=[2001])[0]["segmentation"]
    expected = np.zeros((8, 8), dtype=np.uint8)
    expected[:, :6] = CELEBAMASK_CLASSES.index("skin")
    expected[2:4, 2:4] = CELEBAMASK_CLASSES.index("nose")  # nose (id 2) painted over skin (id 1)
    assert np.array_equal(merged, expected)
    _image(tmp_path / "CelebA-HQ-img" / "4001.jpg", (16, 16))
    with pytest.raises(FileNotFoundError, match="part masks of image 4001"):
        CelebAMaskHQ(tmp_path, indices=[4001])[0]


def test_nme_failure_rate_and_auc_by_hand():
    target = np.zeros((1, 68, 2))
    target[0, 36] = [0, 0]
    target[0, 45] = [50, 0]  # inter-ocular distance 50
    pred = target + np.array([3.0, 4.0])  # every point 5 px off
    assert nme(pred, target)[0] == pytest.approx(0.1)
    target[0, 36:42] = [10, 0]
    target[0, 42:48] = [30, 0]
    assert nme(target + np.array([3.0, 4.0]), target, "inter_pupil")[0] == pytest.approx(5 / 20)
    assert failure_rate(np.array([0.01, 0.09, 0.2, 0.05])) == 0.5
    assert ced_auc(np.zeros(10))[0] == pytest.approx(1.0, abs=1e-3)
    assert ced_auc(np.full(10, 0.5))[0] == 0.0
    assert ced_auc(np.linspace(0, 0.08, 10001))[0] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="68"):
        nme(np.zeros((1, 5, 2)), np.zeros((1, 5, 2)))


def test_unusable_landmarks_give_nan_and_count_as_failures():
    target = np.zeros((3, 68, 2))
    target[:, 45] = [40.0, 0.0]  # inter-ocular distance 40
    target[1, 45] = target[1, 36]  # zero inter-ocular distance
    pred = target + np.array([0.0, 2.0])  # 2 px off: NME 0.05
    pred[2, 10] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division warnings either
        errors = nme(pred, target)
    assert errors[0] == pytest.approx(0.05) and np.isnan(errors[1:]).all()
    assert failure_rate(errors) == pytest.approx(2 / 3)  # NaN is a failure, never a pass
    assert failure_rate(np.array([np.inf, 0.01])) == 0.5
    with pytest.raises(ValueError, match="no errors"):
        failure_rate(np.array([]))


def test_f1_and_miou_by_hand(tmp_path):
    target = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 2, 2, 0])
    confusion = confusion_matrix(pred, target, 4)
    assert confusion.tolist() == [[1, 1, 0, 0], [0, 2, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    f1 = f1_scores(confusion)
    np.testing.assert_allclose(f1[:3], [2 / 4, 4 / 6, 4 / 6])  # 2TP / (2TP + FP + FN)
    assert np.isnan(f1[3])
    assert mean_iou(confusion) == pytest.approx((1 / 3 + 2 / 4 + 2 / 4) / 3)
    names = LAPA_CLASSES[:4]
    report = parsing_report(confusion, names, mean_over=names[1:3])
    assert report["mean_f1"] == pytest.approx(4 / 6) and "background" not in LAPA_MEAN_F1_CLASSES
    absent = parsing_report(confusion, names, mean_over=names[1:])  # class 3 in neither: None, not NaN
    assert absent["f1"]["right_eyebrow"] is None and absent["mean_f1"] == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="none of the classes"):
        parsing_report(confusion, names, mean_over=names[3:])
    plot = save_ced_plot({"ours": np.linspace(0, 0.1, 50)}, tmp_path / "ced.png")
    pixels = np.asarray(Image.open(plot).convert("RGB"))
    assert pixels.shape == (380, 520, 3)
    curve = (pixels == (0x1F, 0x77, 0xB4)).all(-1)  # the first method's colour: its curve and legend
    assert curve[100:330, 60:500].sum() > 200  # a curve across the plot, not only the legend
