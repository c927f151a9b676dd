"""The error map (`synthforge_hf.evaluation.error_map`, `synthforge error-map`): bins against hand-computed
cases, and the command on the reference model."""

import json

import numpy as np
import pytest

from synthforge_hf.cli import main
from synthforge_hf.evaluation.error_map import ErrorMap, bin_means, bin_means_2d, error_map_picture


def test_bins_by_hand():
    values = np.array([-60.0, -35.0, -5.0, 0.0, 10.0, 49.0, 75.0])
    errors = np.array([0.10, 0.20, 0.03, 0.05, 0.04, 0.08, 0.12])
    counts, means = bin_means(values, errors, (-50.0, -30.0, -10.0, 10.0, 30.0, 50.0))
    # -60 and -35 in the first bin (below the first edge: the outer bin), -5 and 0 in the middle, 10 starts
    # the fourth, 49 and 75 (beyond the last edge) in the last
    assert counts.tolist() == [2, 0, 2, 1, 2]
    np.testing.assert_allclose(means, [0.15, np.nan, 0.04, 0.04, 0.10])


def test_grid_bins_by_hand():
    rows = np.array([0.5, 0.5, 1.5, 1.5, 1.5])
    columns = np.array([0.5, 2.5, 0.5, 0.5, 1.5])
    errors = np.array([1.0, 2.0, 3.0, 5.0, 7.0])
    counts, means = bin_means_2d(rows, columns, errors, (0, 1, 2), (0, 1, 2, 3))
    assert counts.tolist() == [[1, 0, 1], [2, 1, 0]]
    np.testing.assert_allclose(means, [[1.0, np.nan, 2.0], [4.0, 7.0, np.nan]])


def test_the_report_accounts_for_every_face():
    rng = np.random.default_rng(0)
    count = 40
    error_map = ErrorMap(
        nme=rng.uniform(0.01, 0.1, count),
        yaw=rng.uniform(-60, 60, count),
        pitch=rng.uniform(-40, 40, count),
        expression=rng.uniform(0, 2.5, count),
        jaw=np.zeros(count),
        fov=rng.uniform(12, 27, count),
    )
    report = error_map.to_dict()
    assert report["samples"] == count and np.isclose(report["nme"], error_map.nme.mean())
    grid = report["yaw_pitch"]
    assert np.sum(grid["counts"]) == count
    counts, means = np.array(grid["counts"]), np.array(grid["nme"], dtype=float)
    weighted = np.nansum(counts * means)
    assert np.isclose(weighted / count, error_map.nme.mean(), atol=1e-4)
    for name in ("expression_rms", "jaw_radians", "fov_degrees"):
        assert sum(report[name]["counts"]) == count
    assert report["jaw_radians"]["counts"][0] == count


@pytest.mark.slow
def test_error_map_command_on_the_reference_model(tmp_path, capsys):
    out = tmp_path / "map"
    assert (
        main(["error-map", "--out", str(out), "--num-samples", "6", "--batch-size", "3", "--no-progress"])
        == 0
    )
    report = json.loads((out / "error_map.json").read_text())
    assert report["samples"] == 6 and 0.005 < report["nme"] < 0.2  # a real model, not a constant guess
    assert (out / "error_map.png").stat().st_size > 1000
    before = (out / "error_map.json").read_bytes()
    with pytest.raises(SystemExit, match="error_map.json exists"):
        main(["error-map", "--out", str(out), "--num-samples", "2"])
    assert (out / "error_map.json").read_bytes() == before


def test_segmentation_depth_and_appearance_bins_by_hand():
    error_map = ErrorMap(
        nme=np.array([0.02, 0.04, 0.06]),
        yaw=np.array([0.0, 0.0, 40.0]),
        pitch=np.array([0.0, 0.0, 0.0]),
        expression=np.array([0.2, 0.2, 0.2]),
        jaw=np.zeros(3),
        fov=np.array([20.0, 20.0, 20.0]),
        segmentation=np.array([0.1, 0.3, 0.5]),
        depth=np.array([0.01, 0.03, 0.02]),
        appearance={"skin_tone": np.array([0.1, 0.6, 0.9])},
    )
    report = error_map.to_dict()
    assert np.isclose(report["segmentation_error"], 0.3) and np.isclose(report["depth_mae"], 0.02)
    grid = report["yaw_pitch"]
    assert (
        grid["segmentation_error"][2][2] == 0.2 and grid["depth_mae"][2][4] == 0.02
    )  # two frontal, one turned
    assert report["skin_tone"]["counts"] == [1, 0, 1, 1]
    assert report["skin_tone"]["nme"] == [0.02, None, 0.04, 0.06]
    assert report["fov_degrees"]["depth_mae"][2] == 0.02
    picture = error_map_picture(report)
    assert (
        picture.height
        > error_map_picture(ErrorMap(**{k: getattr(error_map, k) for k in FACTORS}).to_dict()).height
    )


FACTORS = ("nme", "yaw", "pitch", "expression", "jaw", "fov")
