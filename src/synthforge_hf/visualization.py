"""Pictures a person can check: colour-coded masks, landmark overlays, depth maps, contact sheets."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .constants import LANDMARK_GROUPS, SEGMENTATION_CLASSES, SEGMENTATION_COLORS

_PALETTE = np.array([SEGMENTATION_COLORS[name] for name in SEGMENTATION_CLASSES], dtype=np.uint8)
_GROUP_COLOURS = {
    "jaw": (255, 255, 255),
    "right_eyebrow": (255, 160, 0),
    "left_eyebrow": (255, 160, 0),
    "nose_bridge": (0, 200, 255),
    "nose_lower": (0, 200, 255),
    "right_eye": (0, 255, 0),
    "left_eye": (0, 255, 0),
    "outer_lip": (255, 0, 80),
    "inner_lip": (255, 120, 180),
}


def colorize_segmentation(segmentation: np.ndarray) -> np.ndarray:
    """Class ids (H,W) -> the official colour coding (H,W,3) uint8."""
    if segmentation.min() < 0 or segmentation.max() >= len(_PALETTE):
        raise ValueError(f"class ids must lie in [0, {len(_PALETTE) - 1}]")
    return _PALETTE[segmentation]


def colorize_depth(depth: np.ndarray) -> np.ndarray:
    """Depth (H,W) -> grey image (H,W,3), near = bright, background black, min-max over the foreground."""
    foreground = depth > 0
    out = np.zeros(depth.shape, dtype=np.float32)
    if foreground.any():
        near, far = depth[foreground].min(), depth[foreground].max()
        out[foreground] = 1.0 - 0.8 * (depth[foreground] - near) / max(far - near, 1e-8)
    return np.repeat((out * 255).astype(np.uint8)[..., None], 3, axis=-1)


def draw_landmarks(
    image: Image.Image, landmarks: np.ndarray, visibility: np.ndarray | None = None, radius: float = 1.5
) -> Image.Image:
    """Landmarks (68,2) drawn on a copy of ``image``: filled if visible, hollow if hidden."""
    canvas = image.convert("RGB").copy()
    draw = ImageDraw.Draw(canvas)
    for group, indices in LANDMARK_GROUPS.items():
        colour = _GROUP_COLOURS[group]
        for i in indices:
            x, y = landmarks[i]
            box = (x - radius, y - radius, x + radius, y + radius)
            if visibility is None or visibility[i]:
                draw.ellipse(box, fill=colour)
            else:
                draw.ellipse(box, outline=colour)
    return canvas


SHEET_COLUMNS = ("image", "segmentation", "landmarks", "depth")


def sheet_header_height(size: int) -> int:
    """Pixels of the column-title strip of a contact sheet with ``size`` px tiles."""
    return max(12, size // 10)


def _font(height: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, int(height * 0.7)))


def _legend(width: int, row_height: int) -> Image.Image:
    """Every class's colour swatch and name, wrapped into rows ``width`` wide."""
    font, gap = _font(row_height), row_height // 3
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entries = [
        (name, row_height + gap + int(draw.textlength(name, font=font)) + 2 * gap)
        for name in SEGMENTATION_CLASSES
    ]
    rows, current, used = [], [], 0
    for name, span in entries:
        if current and used + span > width:
            rows.append(current)
            current, used = [], 0
        current.append((name, used))
        used += span
    rows.append(current)
    legend = Image.new("RGB", (width, len(rows) * row_height), (255, 255, 255))
    draw = ImageDraw.Draw(legend)
    for r, row in enumerate(rows):
        top = r * row_height
        for name, left in row:
            draw.rectangle(
                (left + 1, top + 1, left + row_height - 2, top + row_height - 2),
                fill=SEGMENTATION_COLORS[name],
                outline=(0, 0, 0),
            )
            draw.text(
                (left + row_height + gap, top + row_height // 2), name, fill=(0, 0, 0), font=font, anchor="lm"
            )
    return legend


def contact_sheet(
    images: list[Image.Image],
    segmentation: np.ndarray,
    landmarks_2d: np.ndarray,
    depth: np.ndarray,
    visibility: np.ndarray | None = None,
) -> Image.Image:
    """A header naming the columns, one row per sample (image | mask | landmarks | depth; sample
    ``r`` at ``(column * size, header + r * size)``, with ``header = sheet_header_height(size)``),
    then a legend of the class colours."""
    size = images[0].size[0]
    header = sheet_header_height(size)
    legend = _legend(len(SHEET_COLUMNS) * size, header)
    sheet = Image.new(
        "RGB", (len(SHEET_COLUMNS) * size, header + len(images) * size + legend.height), (255, 255, 255)
    )
    draw, font = ImageDraw.Draw(sheet), _font(header)
    for col, title in enumerate(SHEET_COLUMNS):
        draw.text((col * size + size // 2, header // 2), title, fill=(0, 0, 0), font=font, anchor="mm")
    for row, image in enumerate(images):
        tiles = [
            image.convert("RGB"),
            Image.fromarray(colorize_segmentation(segmentation[row])),
            draw_landmarks(
                image,
                landmarks_2d[row],
                None if visibility is None else visibility[row],
                radius=max(1.0, size / 160),
            ),
            Image.fromarray(colorize_depth(depth[row])),
        ]
        for col, tile in enumerate(tiles):
            sheet.paste(tile, (col * size, header + row * size))
    sheet.paste(legend, (0, header + len(images) * size))
    return sheet


PLOT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def line_plot(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    log_y: bool = False,
    size: tuple[int, int] = (520, 380),
) -> Image.Image:
    """Curves ``name -> (x, y)`` on one pair of axes, with five ticks on each axis, axis labels and a
    legend of the names in the curves' colours. Ranges default to the data's; ``log_y`` plots log10(y)
    (non-positive values are left out)."""
    width, height = size
    left, right, top, bottom = 60, 16, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    curves = {}
    for name, (x, y) in series.items():
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if log_y else True)
        curves[name] = (x[keep], np.log10(y[keep]) if log_y else y[keep])
    values = [c for c in curves.values() if len(c[0])]
    if x_range is not None:
        x_low, x_high = x_range
    elif values:
        x_low, x_high = min(c[0].min() for c in values), max(c[0].max() for c in values)
    else:
        x_low, x_high = 0.0, 1.0
    if y_range is not None:
        y_low, y_high = (np.log10(y_range[0]), np.log10(y_range[1])) if log_y else y_range
    elif values:
        y_low, y_high = min(c[1].min() for c in values), max(c[1].max() for c in values)
    else:
        y_low, y_high = 0.0, 1.0
    x_span, y_span = (x_high - x_low) or 1.0, (y_high - y_low) or 1.0
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([left, top, left + plot_w, top + plot_h], outline="black")
    for k in range(5):
        x, y = left + plot_w * k / 4, top + plot_h * (1 - k / 4)
        x_value, y_value = x_low + x_span * k / 4, y_low + y_span * k / 4
        draw.line([x, top + plot_h, x, top + plot_h + 4], fill="black")
        draw.text((x, top + plot_h + 6), f"{x_value:.4g}", fill="black", anchor="mt")
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((left - 6, y), f"{10**y_value if log_y else y_value:.3g}", fill="black", anchor="rm")
    for k, (name, (x, y)) in enumerate(curves.items()):
        colour = PLOT_COLOURS[k % len(PLOT_COLOURS)]
        points = list(
            zip(
                (left + (x - x_low) / x_span * plot_w).tolist(),
                (top + plot_h - (y - y_low) / y_span * plot_h).tolist(),
                strict=True,
            )
        )
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        elif points:
            draw.ellipse(
                [points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2], fill=colour
            )
        anchor = (left + 8, top + 6 + 14 * k)
        draw.rectangle(draw.textbbox(anchor, name), fill="white")  # the legend stays readable over curves
        draw.text(anchor, name, fill=colour)
    draw.text((left + plot_w / 2, height - 6), x_label, fill="black", anchor="mb")
    draw.text((4, 2), y_label + (" (log scale)" if log_y else ""), fill="black")
    return image


def training_curves(records: list[dict]) -> Image.Image:
    """The curves of a training history (``train_history.jsonl`` records): the losses (moving average
    over 2% of the steps, log scale) above the validation metrics, each against the step."""
    steps = np.array([r["step"] for r in records], dtype=np.float64)
    window = max(1, len(records) // 50)
    losses = {}
    for key in [k for k in records[0] if k == "loss" or k.startswith("loss/")] if records else []:
        values = np.array([r.get(key, np.nan) for r in records], dtype=np.float64)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        losses[key] = (steps[window - 1 :], smooth)
    panels = [line_plot(losses, "step", "training loss", log_y=True, size=(640, 360))]
    metrics = sorted(
        {k for r in records for k in r if k.startswith("validation/") and k != "validation/samples"}
    )
    if metrics:
        series = {}
        for key in metrics:
            rows = [r for r in records if key in r]
            series[key.removeprefix("validation/")] = (
                np.array([r["step"] for r in rows], dtype=np.float64),
                np.array([r[key] for r in rows], dtype=np.float64),
            )
        panels.append(line_plot(series, "step", "validation", size=(640, 360)))
    picture = Image.new("RGB", (640, 360 * len(panels)), "white")
    for k, panel in enumerate(panels):
        picture.paste(panel, (0, 360 * k))
    return picture


def heat_map(
    values: np.ndarray,
    counts: np.ndarray,
    column_labels: list[str],
    row_labels: list[str],
    title: str,
    high: float,
    cell: int = 56,
) -> Image.Image:
    """A grid of ``values`` (R,C) as colours from white (0) to red (``high`` and above), each cell with its
    value in percent and, below, its ``counts`` (R,C); empty cells (NaN) grey. Columns and rows are
    labelled (``column_labels`` under the grid, ``row_labels`` on its left) and ``title`` is above."""
    rows, columns = values.shape
    font = _font(cell // 3)
    left, top, bottom = 2 * cell, cell // 2, cell // 2
    title_width = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(title, font=font))
    width = left + max(columns * cell, title_width) + 8
    image = Image.new("RGB", (width, top + rows * cell + bottom), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((left, top // 2), title, fill=(0, 0, 0), font=font, anchor="lm")
    for r in range(rows):
        draw.text(
            (left - 6, top + r * cell + cell // 2), row_labels[r], fill=(0, 0, 0), font=font, anchor="rm"
        )
        for c in range(columns):
            box = (left + c * cell, top + r * cell, left + (c + 1) * cell - 1, top + (r + 1) * cell - 1)
            value = values[r, c]
            if np.isnan(value):
                draw.rectangle(box, fill=(200, 200, 200))
                continue
            shade = int(255 * (1 - min(1.0, max(0.0, value / high))))
            draw.rectangle(box, fill=(255, shade, shade))
            middle = (box[0] + box[2]) // 2
            draw.text(
                (middle, box[1] + cell // 3), f"{100 * value:.1f}", fill=(0, 0, 0), font=font, anchor="mm"
            )
            draw.text(
                (middle, box[1] + 2 * cell // 3),
                f"n={counts[r, c]}",
                fill=(90, 90, 90),
                font=font,
                anchor="mm",
            )
    for c in range(columns):
        draw.text(
            (left + c * cell + cell // 2, top + rows * cell + bottom // 2),
            column_labels[c],
            fill=(0, 0, 0),
            font=font,
            anchor="mm",
        )
    return image
