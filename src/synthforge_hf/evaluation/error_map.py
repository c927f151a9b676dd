"""Where a model errs over the generator's controls: the landmark NME, segmentation error (1 - mIoU) and
depth error of fresh generated faces, binned by the head's yaw and pitch as the camera sees it, by the
strength of the expression, by the jaw's opening, by the field of view and, for the mesh renderer, by
appearance (skin tone, hair density, light intensity). It shows a user (and a sampler) which faces the
model has not learned.

Example:

```python
>>> import numpy as np
>>> counts, means = bin_means(np.array([-30.0, -25.0, 5.0]), np.array([0.1, 0.3, 0.05]), (-40, -20, 0, 20))
>>> counts.tolist(), np.round(means, 3).tolist()
([2, 0, 1], [0.2, nan, 0.05])

```
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..data.sampling import ControlSpace, GuidedSampler
from ..data.shards import sample_seed
from ..generators.mesh import MeshFaceGenerator
from ..generators.mesh.parameters import latent_fields
from ..models.synthforge.image_processing_synthforge import normalize_pixels
from ..visualization import heat_map
from . import metrics

SPLIT = "error-map"  # the seeds' split name: faces no make-dataset split holds
# Bin edges. Values beyond the outer edges fall into the outer bins.
YAW_DEGREES = (-50.0, -30.0, -10.0, 10.0, 30.0, 50.0)
PITCH_DEGREES = (-30.0, -18.0, -6.0, 6.0, 18.0, 30.0)
EXPRESSION_RMS = (0.0, 0.5, 1.0, 1.5, 2.0)
JAW_RADIANS = (0.0, 0.1, 0.2, 0.3, 0.4)
FOV_DEGREES = (12.0, 15.0, 18.0, 21.0, 24.0, 27.0)
APPEARANCE_FIELDS = ("skin_tone", "hair_density", "light_intensity")  # the mesh renderer's latent fields
QUARTERS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the appearance fields are U(0, 1)


def bin_means(values: np.ndarray, errors: np.ndarray, edges) -> tuple[np.ndarray, np.ndarray]:
    """The count (B,) and mean error (B,; NaN where empty) of the ``errors`` (N,) whose ``values`` (N,)
    fall in each of the B bins between consecutive ``edges`` (values beyond the outer edges count in the
    outer bins)."""
    bins = np.clip(np.searchsorted(np.asarray(edges), values, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(bins, minlength=len(edges) - 1)
    sums = np.bincount(bins, weights=errors, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore"):
        return counts, np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def bin_means_2d(
    rows: np.ndarray, columns: np.ndarray, errors: np.ndarray, row_edges, column_edges
) -> tuple[np.ndarray, np.ndarray]:
    """As `bin_means` over a grid: counts and mean errors (R,C) of the errors binned by ``rows`` values
    and ``columns`` values."""
    width = len(column_edges) - 1
    row_bins = np.clip(np.searchsorted(np.asarray(row_edges), rows, side="right") - 1, 0, len(row_edges) - 2)
    column_bins = np.clip(np.searchsorted(np.asarray(column_edges), columns, side="right") - 1, 0, width - 1)
    cells = np.arange((len(row_edges) - 1) * width, dtype=float)
    counts, means = bin_means(row_bins * width + column_bins, errors, np.append(cells, cells[-1] + 1))
    return counts.reshape(-1, width), means.reshape(-1, width)


@dataclass
class ErrorMap:
    """Per-face errors of ``count`` generated faces (landmark NME; and segmentation error, 1 - mIoU over
    the classes present, and depth MAE in metres, when measured) and the factors they are binned by
    (degrees, radians, RMS expression coefficient; appearance fields in [0, 1]), with the bins as
    `to_dict` writes them."""

    nme: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    fov: np.ndarray
    segmentation: np.ndarray | None = None
    depth: np.ndarray | None = None
    appearance: dict[str, np.ndarray] = field(default_factory=dict)

    def _errors(self) -> dict[str, np.ndarray]:
        named = {"nme": self.nme, "segmentation_error": self.segmentation, "depth_mae": self.depth}
        return {name: values for name, values in named.items() if values is not None}

    def to_dict(self) -> dict:
        """The binned errors (JSON-ready): the mean NME, yaw x pitch counts and means (rows: pitch), and
        one row of counts and means per other factor."""

        def listed(array: np.ndarray) -> list:
            return np.where(np.isnan(array), None, np.round(array, 5)).tolist()

        errors = self._errors()
        report = {"samples": int(len(self.nme)), **{name: float(np.nanmean(v)) for name, v in errors.items()}}
        grid = {"yaw_edges_degrees": list(YAW_DEGREES), "pitch_edges_degrees": list(PITCH_DEGREES)}
        for name, values in errors.items():
            counts, means = bin_means_2d(self.pitch, self.yaw, values, PITCH_DEGREES, YAW_DEGREES)
            grid.update({"counts": counts.tolist(), name: listed(means)})
        report["yaw_pitch"] = grid
        factors = [
            ("expression_rms", self.expression, EXPRESSION_RMS),
            ("jaw_radians", self.jaw, JAW_RADIANS),
            ("fov_degrees", self.fov, FOV_DEGREES),
            *((name, values, QUARTERS) for name, values in self.appearance.items()),
        ]
        for name, factor, edges in factors:
            report[name] = {"edges": list(edges)}
            for error, values in errors.items():
                counts, means = bin_means(factor, values, edges)
                report[name].update({"counts": counts.tolist(), error: listed(means)})
        return report


def bin_labels(edges) -> list[str]:
    return [f"{low:g}..{high:g}" for low, high in zip(edges[:-1], edges[1:], strict=True)]


ERROR_TITLES = {  # each error as the picture names it; heat_map prints values times 100
    "nme": "NME %",
    "segmentation_error": "segmentation error (1 - mIoU) %",
    "depth_mae": "depth MAE, cm",
}


def error_map_picture(report: dict) -> Image.Image:
    """`ErrorMap.to_dict`'s bins as one picture: each error (NME in percent, segmentation error in percent,
    depth MAE in centimetres) by yaw (columns) and pitch (rows), then the NME by each other factor, one
    strip each; each error on its own colour scale (red at twice its mean)."""
    grid = report["yaw_pitch"]

    def array(values: list) -> np.ndarray:
        return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)

    panels = [
        heat_map(
            array(grid[error]),
            np.array(grid["counts"]),
            bin_labels(grid["yaw_edges_degrees"]),
            bin_labels(grid["pitch_edges_degrees"]),
            f"{title} by yaw (columns) and pitch (rows), degrees; {report['samples']} faces, "
            f"mean {100 * report[error]:.2f}",
            2 * report[error],
        )
        for error, title in ERROR_TITLES.items()
        if error in grid
    ]
    strips = {
        "expression_rms": "by expression strength (RMS coefficient)",
        "jaw_radians": "by jaw opening (radians)",
        "fov_degrees": "by field of view (degrees)",
        **{name: f"by {name.replace('_', ' ')} (appearance latent)" for name in APPEARANCE_FIELDS},
    }
    for name, title in strips.items():
        if name not in report:
            continue
        strip = report[name]
        panels.append(
            heat_map(
                array([strip["nme"]]),
                np.array([strip["counts"]]),
                bin_labels(strip["edges"]),
                [""],
                f"NME % {title}",
                2 * report["nme"],
            )
        )
    width = max(panel.width for panel in panels)
    picture = Image.new("RGB", (width, sum(panel.height for panel in panels)), (255, 255, 255))
    top = 0
    for panel in panels:
        picture.paste(panel, (0, top))
        top += panel.height
    return picture


@torch.no_grad()
def measure_error_map(
    model, pipe, num_samples: int, base_seed: int = 0, batch_size: int = 25, progress: bool = True
) -> ErrorMap:
    """The landmark NME, segmentation error and depth MAE of ``model`` (a `SynthForgeForFaceAnalysis`) on
    ``num_samples`` faces that ``pipe`` (a `SynthForgePipeline`) samples from seeds of the "error-map"
    split, at the model's input size.

    Args:
        model: the SB to measure, in eval mode.
        pipe: the pipeline whose faces it is measured on (its sampling ranges set how far they reach).
        num_samples: how many faces.
        base_seed: face i's seed is `sample_seed(base_seed, "error-map", i)`.
        batch_size: faces rendered and predicted together.
        progress: show a progress bar.

    Returns:
        `ErrorMap`: per-face errors and the factors (appearance fields for the mesh renderer).
    """
    size = model.config.image_size
    device = next(model.parameters()).device
    names = ("nme", "segmentation", "depth", "yaw", "pitch", "expression", "jaw", "fov")
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    mesh = isinstance(pipe.face_generator, MeshFaceGenerator)
    appearance: dict[str, list[np.ndarray]] = {name: [] for name in APPEARANCE_FIELDS} if mesh else {}
    with tqdm(total=num_samples, desc="error-map", disable=not progress) as bar:
        for start in range(0, num_samples, batch_size):
            seeds = [
                sample_seed(base_seed, SPLIT, i) for i in range(start, min(start + batch_size, num_samples))
            ]
            out = pipe(seeds=seeds, resolution=size, output_type="pt")
            predicted = model(normalize_pixels(out.images).to(device))
            columns["nme"].append(
                metrics.nme(predicted.landmarks.float().cpu().numpy(), out.landmarks_2d.numpy())
            )
            classes = predicted.logits.argmax(1).cpu().numpy()
            columns["segmentation"].append(
                np.array(
                    [
                        1 - metrics.mean_iou(metrics.confusion_matrix(p, t, model.config.num_labels))
                        for p, t in zip(classes, out.segmentation.numpy(), strict=True)
                    ]
                )
            )
            depth = out.depth.numpy()
            mask = depth > 0
            difference = np.abs(predicted.depth.float().cpu().numpy() - depth) * mask
            columns["depth"].append(difference.sum((1, 2)) / np.maximum(mask.sum((1, 2)), 1))
            columns["yaw"].append(out.head_pose[:, 0].numpy())
            columns["pitch"].append(out.head_pose[:, 1].numpy())
            expression = out.parameters["expression"].float()
            columns["expression"].append(expression.pow(2).mean(1).sqrt().numpy())
            columns["jaw"].append(out.parameters["pose"][:, 6].float().numpy())
            columns["fov"].append(out.parameters["fov"].float().numpy())
            fields = latent_fields(out.parameters["latents"].float()) if mesh else {}
            for name in appearance:
                appearance[name].append(fields[name].numpy())
            bar.update(len(seeds))
    return ErrorMap(
        **{name: np.concatenate(parts) for name, parts in columns.items()},
        appearance={name: np.concatenate(parts) for name, parts in appearance.items()},
    )


def guidance_from(
    model,
    pipe,
    num_samples: int,
    base_seed: int = 0,
    uniform_share: float = 0.25,
    hard_fraction: float = 0.2,
    model_name: str | None = None,
    progress: bool = True,
) -> dict:
    """Where ``model`` errs, as `generate_dataset`'s ``guidance``: its NME on ``num_samples`` faces of the
    "error-map" split (`measure_error_map`), the hardest ``hard_fraction`` of them kept as the parents of
    a `GuidedSampler` with a uniform share of ``uniform_share``.

    Args:
        model: the SB (`SynthForgeForFaceAnalysis`, in eval mode) whose errors guide the sampling.
        pipe: the pipeline that will make the dataset.
        num_samples: faces scored.
        base_seed: the seed of the scored faces (and of the dataset).
        uniform_share: the share of each block of rows sampled uniformly.
        hard_fraction: the fraction of the scored faces, hardest first, that are parents.
        model_name: what the record calls the model (e.g. its folder).
        progress: show a progress bar.

    Returns:
        `dict`: ``model``, ``scored_faces`` and ``scored_nme`` (their mean NME), and the sampler's
        `GuidedSampler.parents_record`.
    """
    errors = measure_error_map(model, pipe, num_samples, base_seed, progress=progress).nme
    space = ControlSpace(pipe)
    sampler = GuidedSampler(
        space, base_seed, uniform_share=uniform_share, hard_fraction=hard_fraction, memory=num_samples
    )
    scored = space.of_split(base_seed, SPLIT, 0, num_samples)
    sampler.record(scored, torch.from_numpy(np.nan_to_num(errors, nan=0.0)))  # an unscorable face: easy
    sampler.start_round(1)
    return {
        "model": model_name,
        "scored_faces": num_samples,
        "scored_nme": float(np.nanmean(errors)),
        **sampler.parents_record(),
    }
