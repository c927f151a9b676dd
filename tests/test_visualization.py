"""Plots drawn for people: curves land where their values say, with their names in the legend."""

from __future__ import annotations

import numpy as np

from synthforge_hf.visualization import PLOT_COLOURS, line_plot, training_curves

BLUE = tuple(int(PLOT_COLOURS[0][i : i + 2], 16) for i in (1, 3, 5))


def _coloured(picture, colour) -> np.ndarray:
    return (np.asarray(picture.convert("RGB")) == colour).all(-1)


def test_a_line_is_drawn_through_the_pixels_its_values_map_to():
    # Default layout: 520 x 380 px, the axes' box from (60, 16) to (504, 332).
    plot = line_plot({"y = x": (np.array([0.0, 1.0]), np.array([0.0, 1.0]))}, "x", "y", (0, 1), (0, 1))
    mask = _coloured(plot, BLUE)
    for value in (0.25, 0.5, 0.75):
        column, row = round(60 + value * 444), round(332 - value * 316)
        assert mask[row - 2 : row + 3, column - 2 : column + 3].any(), value
    assert not mask[300:330, 400:500].any()  # nothing below the diagonal's right end
    log = _coloured(line_plot({"decades": ([0, 1, 2], [1, 10, 100])}, "x", "y", log_y=True), BLUE)
    assert log[174 - 2 : 174 + 3, 282 - 2 : 282 + 3].any()  # 10 halfway up on a log axis


def test_training_curves_have_a_loss_panel_and_a_validation_panel():
    records = [{"step": s, "loss": 2.0 / s, "loss/heatmap": 0.1 / s} for s in range(1, 101)]
    assert training_curves(records).size == (640, 360)  # no validation yet: losses only
    records[49]["validation/nme"], records[99]["validation/nme"] = 0.2, 0.1
    picture = training_curves(records)
    assert picture.size == (640, 720)
    lower = _coloured(picture, BLUE)[360:]
    assert lower[40:330].any()  # the NME curve in the validation panel
