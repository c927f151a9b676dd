"""The benchmarks as the project evaluates them: each one's task, label set and readers, the crops the
models see (the protocol), and the evaluation loop used by `synthforge evaluate`, `train-lf` and the
benchmarks/ scripts.

Protocol: a sample with a face ``box`` (300W: the landmark box or a bounding-box file's; LaPa: the box
of its 106 points) is cropped around it as the model's image processor frames faces (its ``framing``),
a sample without one (CelebAMask-HQ, already face crops) is taken whole, padded to a square. Predictions
go back into the original image through each crop's affine, and the metrics are computed there.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers.image_processing_utils import BatchFeature

from ..models.synthforge import SynthForgeImageProcessor
from . import metrics
from .readers import BOX_SOURCES, CelebAMaskHQ, Face300W, LaPa

BENCHMARKS = {
    # name: (task, number of outputs, class names, classes in the mean F1)
    "300w": ("keypoints", 68, None, None),
    "lapa": ("segmentation", len(metrics.LAPA_CLASSES), metrics.LAPA_CLASSES, metrics.LAPA_MEAN_F1_CLASSES),
    "celebamask-hq": (
        "segmentation",
        len(metrics.CELEBAMASK_CLASSES),
        metrics.CELEBAMASK_CLASSES,
        metrics.CELEBAMASK_MEAN_F1_CLASSES,
    ),
}

# The split `synthforge evaluate` uses when none is named (the paper reports 300W's common, challenge, full).
DEFAULT_SPLITS = {"300w": "full", "lapa": "test", "celebamask-hq": "test"}


def open_benchmark(name: str, root: str, split: str, boxes: str = "landmarks"):
    """The reader of a benchmark split; ``boxes`` (300W only) chooses the face boxes of the crops."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; use one of {list(BENCHMARKS)}")
    if boxes not in BOX_SOURCES:
        raise ValueError(f"unknown box source {boxes!r}; use one of {list(BOX_SOURCES)}")
    if name != "300w" and boxes != "landmarks":
        raise ValueError(f"--boxes {boxes} is for 300W; {name} crops from its own annotation")
    if name == "300w":
        return Face300W(root, split, boxes)
    if name == "lapa":
        return LaPa(root, split)
    return CelebAMaskHQ(root, split)


def model_inputs(processor: SynthForgeImageProcessor, samples: list[dict]) -> BatchFeature:
    """The processor's inputs for ``samples``: one crop per sample, around its ``box`` when samples
    have one, else the whole image padded to a square (with ``affines`` to the image either way)."""
    images = [s["image"] for s in samples]
    with_box = ["box" in s for s in samples]
    if not any(with_box):
        return processor(images, return_tensors="pt")
    if not all(with_box):
        raise ValueError("a batch mixes samples with and without a face box")
    return processor(images, boxes=[[s["box"]] for s in samples], return_tensors="pt")


def landmarks_in_crop(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(K,2) points with pixel centres at integers (the readers' convention) -> model-input pixels of the
    crop whose 2x3 ``affine`` maps model-input pixels to the image (centres at i + 0.5 on both sides)."""
    affine = np.asarray(affine, dtype=np.float64)
    return (np.asarray(points, dtype=np.float64) + 0.5 - affine[:, 2]) @ np.linalg.inv(affine[:, :2]).T


def affine_to_label_grid(affine: np.ndarray, image_size, label_size) -> np.ndarray:
    """The 2x3 affine to the pixels of a label map of ``label_size`` (height, width) that covers an image
    of ``image_size`` (height, width): CelebAMask-HQ's masks are half its images' size."""
    scale = np.array([label_size[1] / image_size[1], label_size[0] / image_size[0]])[:, None]
    return np.asarray(affine, dtype=np.float64) * scale


def labels_in_crop(labels: np.ndarray, image_size, affine: np.ndarray, output_size) -> np.ndarray:
    """The class id of ``labels`` (a map covering an image of ``image_size``) nearest to each pixel
    centre of a crop of ``output_size`` (height, width) whose ``affine`` maps it to the image; class 0
    (background) where the crop leaves the image."""
    labels = np.asarray(labels)
    to_labels = affine_to_label_grid(affine, image_size, labels.shape)
    ys, xs = np.meshgrid(np.arange(output_size[0]) + 0.5, np.arange(output_size[1]) + 0.5, indexing="ij")
    uv = np.stack([xs, ys], axis=-1) @ to_labels[:, :2].T + to_labels[:, 2]
    columns, rows = np.floor(uv[..., 0]).astype(np.int64), np.floor(uv[..., 1]).astype(np.int64)
    inside = (columns >= 0) & (columns < labels.shape[1]) & (rows >= 0) & (rows < labels.shape[0])
    cropped = np.zeros(output_size, dtype=labels.dtype)
    cropped[inside] = labels[rows[inside], columns[inside]]
    return cropped


def sample_problem(sample: dict, task: str) -> str | None:
    """Why a sample's annotation cannot be scored (None when it can): landmarks that are not finite, a
    zero inter-ocular distance, or a face box without area."""
    if task == "keypoints":
        points = np.asarray(sample["landmarks"], dtype=np.float64)
        if not np.isfinite(points).all():
            return "the annotated landmarks are not all finite"
        if not metrics.normalising_distance(points[None])[0] > 0:
            return "zero inter-ocular distance: the annotated outer eye corners (points 36, 45) coincide"
    box = sample.get("box")
    if box is not None:
        left, top, right, bottom = np.asarray(box, dtype=np.float64)
        if not (np.isfinite([left, top, right, bottom]).all() and right > left and bottom > top):
            return f"the face box {np.round(box, 2).tolist()} has no area"
    return None


def _check_weights(model: torch.nn.Module) -> None:
    bad = [
        name for name, t in [*model.named_parameters(), *model.named_buffers()] if not torch.isfinite(t).all()
    ]
    if bad:
        raise ValueError(f"the model's weights hold NaN or Infinity ({len(bad)} tensors, first {bad[0]})")


def _check_finite(values: torch.Tensor, paths: list[str], what: str) -> None:
    finite = torch.isfinite(values).flatten(1).all(1).tolist()
    bad = [path for path, ok in zip(paths, finite, strict=True) if not ok]
    if bad:
        more = f" and {len(bad) - 1} more images" if len(bad) > 1 else ""
        raise ValueError(f"the model predicted non-finite {what} for {bad[0]}{more}: check its weights")


def _usable_batches(dataset, task: str, batch_size: int, skipped: list[dict]):
    """Batches of (sample, path) that can be scored; the others go to ``skipped`` with their reason."""
    batch = []
    for index in range(len(dataset)):
        sample = dataset[index]
        path = str(sample.get("path", index))
        problem = sample_problem(sample, task)
        if problem:
            skipped.append({"path": path, "reason": problem})
            continue
        batch.append((sample, path))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


@torch.no_grad()
def evaluate(
    model, processor: SynthForgeImageProcessor, benchmark: str, dataset, batch_size: int = 8
) -> dict:
    """Benchmark metrics in original-image coordinates on the protocol's crops: NME (inter-ocular),
    failure rate and AUC at 0.08, per-image errors for 300W; per-class F1 (None for a class in neither
    labels nor predictions) and the benchmark's mean F1 for LaPa / CelebAMask-HQ. Samples whose
    annotation cannot be scored are left out and listed in ``skipped`` with the reason; a split with
    none to score, or a model that predicts non-finite values, is an error."""
    if len(dataset) == 0:
        raise ValueError(f"the {benchmark} split has no samples")
    model.eval()
    _check_weights(model)
    task, outputs, names, mean_over = BENCHMARKS[benchmark]
    errors, paths, skipped, scored = [], [], [], 0
    confusion = np.zeros((outputs, outputs), dtype=np.int64)
    device = next(model.parameters()).device
    for batch in _usable_batches(dataset, task, batch_size, skipped):
        samples, batch_paths = [s for s, _ in batch], [p for _, p in batch]
        scored += len(samples)
        inputs = model_inputs(processor, samples)
        out = model(inputs["pixel_values"].to(device))
        if task == "keypoints":
            _check_finite(out.landmarks, batch_paths, "landmarks")
            errors.append(_landmark_errors(processor, out, inputs, samples))
            paths += batch_paths
        else:
            _check_finite(out.logits, batch_paths, "logits")
            confusion += _segmentation_confusion(processor, out, inputs, samples, outputs)
    if not scored:
        reasons = sorted({row["reason"] for row in skipped})
        raise ValueError(
            f"no {benchmark} sample could be scored: all {len(skipped)} skipped ({'; '.join(reasons)})"
        )
    if task == "keypoints":
        return {"benchmark": benchmark, **_landmark_report(np.concatenate(errors), paths), "skipped": skipped}
    report = metrics.parsing_report(confusion, names, mean_over)
    return {"benchmark": benchmark, "samples": scored, **report, "skipped": skipped}


def _landmark_errors(processor, out, inputs, samples: list[dict]) -> np.ndarray:
    """The NME of each sample of a batch, the predictions mapped back into the image."""
    points = processor.post_process_landmarks(out, affines=inputs["affines"])
    predicted = np.stack([p.cpu().numpy() for p in points]) - 0.5  # back to the readers' convention
    return metrics.nme(predicted, np.stack([s["landmarks"] for s in samples]))


def _segmentation_confusion(processor, out, inputs, samples: list[dict], outputs: int) -> np.ndarray:
    """The confusion matrix of a batch, each prediction pasted back into its label map's grid."""
    label_sizes = [np.asarray(s["segmentation"]).shape for s in samples]
    affines = [
        affine_to_label_grid(affine, image_size, label_size)
        for affine, image_size, label_size in zip(
            inputs["affines"].numpy(), inputs["original_sizes"].tolist(), label_sizes, strict=True
        )
    ]
    masks = processor.post_process_semantic_segmentation(out, label_sizes, affines=np.stack(affines))
    confusion = np.zeros((outputs, outputs), dtype=np.int64)
    for mask, sample in zip(masks, samples, strict=True):
        confusion += metrics.confusion_matrix(mask.cpu().numpy(), np.asarray(sample["segmentation"]), outputs)
    return confusion


def _landmark_report(nmes: np.ndarray, paths: list[str]) -> dict:
    return {
        "samples": len(nmes),
        "nme": float(nmes.mean()),
        "failure_rate_0.08": metrics.failure_rate(nmes, 0.08),
        "auc_0.08": metrics.ced_auc(nmes, 0.08)[0],
        "per_image": [{"path": p, "nme": float(e)} for p, e in zip(paths, nmes, strict=True)],
    }
