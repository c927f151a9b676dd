"""benchmarks/realism.py's face-frame offsets, checked against offsets built by hand."""

from __future__ import annotations

import math

import numpy as np

from .benchmark_modules import load_benchmark


def test_offsets_are_measured_along_and_across_the_eye_axis_in_inter_ocular_units():
    realism = load_benchmark("realism.py")
    rng = np.random.default_rng(0)
    canonical = rng.uniform(-1, 1, (68, 2))
    canonical[36], canonical[45] = (-0.5, 0.0), (0.5, 0.0)  # inter-ocular distance 1, eyes level
    shift = np.zeros((68, 2))
    shift[17:27] = (0.02, 0.05)  # brows: a little outwards-right and down, in face units
    shift[30] = (-0.1, 0.0)
    for angle, scale, origin in ((0.0, 1.0, (0, 0)), (0.7, 80.0, (40, 60)), (-2.0, 33.0, (128, 5))):
        c, s = math.cos(angle), math.sin(angle)
        to_image = scale * np.array([[c, -s], [s, c]])
        labels = canonical @ to_image.T + origin
        predicted = (canonical + shift) @ to_image.T + origin
        np.testing.assert_allclose(realism.face_frame_offsets(predicted, labels), shift, atol=1e-12)
        # a broken frame (no rotation, or pixels instead of inter-ocular units) would not give the shift back
        assert angle == 0.0 or not np.allclose((predicted - labels) / scale, shift, atol=1e-3)


def test_view_bins_count_found_faces_and_median_errors_by_hand():
    realism = load_benchmark("realism.py")
    view = np.array([0.05, 0.15, 0.3, 0.55, 0.8, 0.79])
    found = np.array([True, False, True, True, False, False])
    errors = np.array([0.04, 0.06, 0.05, 0.07, 0.2, 0.1])
    rows = realism.view_breakdown(found, errors, view)
    assert [(r["from"], r["to"], r["count"]) for r in rows] == [
        (0.0, 0.2, 2),
        (0.2, 0.4, 1),
        (0.4, 0.6, 1),
        (0.6, 0.8, 2),
    ]
    assert [r["found_fraction"] for r in rows] == [0.5, 1.0, 1.0, 0.0]
    np.testing.assert_allclose([r["nme_inner_median"] for r in rows], [0.05, 0.05, 0.07, 0.15])


def test_a_detection_counts_when_it_overlaps_the_labelled_box_or_holds_most_points():
    realism = load_benchmark("realism.py")
    points = np.array([[10.0 + i % 8, 10.0 + i // 8] for i in range(68)])  # 8 x 9 grid, x 10-17, y 10-18
    box = (10.0, 10.0, 18.0, 18.0)
    assert realism.detects([(10.0, 10.0, 18.0, 18.0)], box, points)
    assert realism.detects([(9.0, 9.0, 14.5, 30.0)], box, points)  # IoU 0.25, but 44 of 68 points inside
    assert not realism.detects([(9.0, 9.0, 12.5, 30.0)], box, points)  # IoU 0.17, 27 points inside
    assert not realism.detects([(40.0, 40.0, 60.0, 60.0)], box, points)
    assert not realism.detects([], box, points)


def test_view_bins_report_the_cnn_detectors_share_beside_the_hog_one():
    realism = load_benchmark("realism.py")
    view = np.array([0.1, 0.3, 0.7, 0.75])
    rows = realism.view_breakdown(
        np.array([True, False, False, False]),
        np.array([0.04, 0.05, 0.06, 0.08]),
        view,
        cnn_found=np.array([True, True, True, False]),
    )
    assert [r["cnn_found_fraction"] for r in rows] == [1.0, 1.0, 0.5]
    assert [r["found_fraction"] for r in rows] == [1.0, 0.0, 0.0]
    assert "cnn_found_fraction" not in realism.view_breakdown(np.array([True]), np.array([0.1]), view[:1])[0]


def test_the_two_sample_test_is_at_chance_for_one_distribution_and_sure_for_two():
    """benchmarks/realism_score.py's classifier: two draws of one Gaussian are not told apart (accuracy
    about 0.5, a large p), one shifted by half a standard deviation on every axis always is."""
    score = load_benchmark("realism_score.py")
    rng = np.random.default_rng(0)
    real = rng.normal(size=(43, 128))
    same = score.two_sample_test(real, rng.normal(size=(200, 128)))
    assert abs(same["two_sample_accuracy"] - 0.5) < 0.1 and same["two_sample_p_value"] > 0.05
    shifted = rng.normal(size=(200, 128)) + 0.5
    apart = score.two_sample_test(real, shifted)
    assert apart["two_sample_accuracy"] > 0.95 and apart["two_sample_p_value"] < 0.02


def test_generated_faces_are_scaled_to_the_real_inter_ocular_distance():
    score = load_benchmark("realism_score.py")
    image = np.random.default_rng(1).uniform(size=(256, 256, 3))
    points = np.random.default_rng(2).uniform(40, 200, size=(68, 2))
    points[36], points[45] = (80.5, 120.5), (176.5, 120.5)  # 96 px apart
    pixels, scaled = score.matched_to(image, points, 24.0)
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    assert math.isclose(score.inter_ocular(scaled), 24.0, rel_tol=1e-6)
    np.testing.assert_allclose(scaled[36], (80.5 / 4 - 0.5, 120.5 / 4 - 0.5))  # dlib: centres at integers


def test_mmd_by_hand_and_for_near_and_far_distributions():
    """Real {0, 1} and generated {0, 1} on a line: the kernel width is 1 (the real points' one squared
    distance), so the within-set terms are exp(-1) each and the cross term (2 + 2 exp(-1)) / 4."""
    score = load_benchmark("realism_score.py")
    pair = np.array([[0.0], [1.0]])
    expected = 2 * math.exp(-1) - 2 * (2 + 2 * math.exp(-1)) / 4
    assert math.isclose(score.mmd_squared(pair, pair), expected, rel_tol=1e-12)
    rng = np.random.default_rng(3)
    real = rng.normal(size=(43, 16))
    near = score.mmd_squared(real, rng.normal(size=(200, 16)))
    far = score.mmd_squared(real, rng.normal(size=(200, 16)) + 1.0)
    assert abs(near) < 0.02 < far


def test_found_by_pitch_counts_each_band_by_hand_and_leaves_out_empty_ones():
    """Pitches -25 (missed), -15 (found), -12 (missed), 5 (found), 0 (found): bands [-30,-20) 0 of 1,
    [-20,-10) 1 of 2, [0,10) 2 of 2; no band without a face; a band's lower edge is in it."""
    score = load_benchmark("realism_score.py")
    pitch = np.array([-25.0, -15.0, -12.0, 5.0, 0.0])
    found = np.array([False, True, False, True, True])
    bands = score.found_by_pitch(pitch, found)
    assert [band["pitch_degrees"] for band in bands] == [[-30, -20], [-20, -10], [0, 10]]
    assert [band["count"] for band in bands] == [1, 2, 2]
    assert [band["found_fraction"] for band in bands] == [0.0, 0.5, 1.0]
