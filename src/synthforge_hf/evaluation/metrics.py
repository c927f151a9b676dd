"""Face-analysis metrics as the SynthForge paper reports them: NME normalised by the inter-ocular
distance, failure rate and CED/AUC for landmarks; per-class and mean F1 for parsing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..visualization import line_plot

OUTER_EYE_CORNERS = (36, 45)
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)

# LaPa label ids 0..10. The mean F1 the paper reports is over the 10 foreground classes (hair included).
LAPA_CLASSES = (
    "background",
    "skin",
    "left_eyebrow",
    "right_eyebrow",
    "left_eye",
    "right_eye",
    "nose",
    "upper_lip",
    "inner_mouth",
    "lower_lip",
    "hair",
)
LAPA_MEAN_F1_CLASSES = LAPA_CLASSES[1:]
# CelebAMask-HQ ids 0..18 in the usual merge order.
CELEBAMASK_CLASSES = (
    "background",
    "skin",
    "nose",
    "eye_g",
    "l_eye",
    "r_eye",
    "l_brow",
    "r_brow",
    "l_ear",
    "r_ear",
    "mouth",
    "u_lip",
    "l_lip",
    "hair",
    "hat",
    "ear_r",
    "neck_l",
    "neck",
    "cloth",
)
CELEBAMASK_MEAN_F1_CLASSES = CELEBAMASK_CLASSES[1:]


def normalising_distance(target: np.ndarray, normalisation: str = "inter_ocular") -> np.ndarray:
    """(N,) distances that NME divides by, of (N,68,2) target landmarks: between the outer eye corners
    (``inter_ocular``) or the eye centres (``inter_pupil``)."""
    target = np.asarray(target, dtype=np.float64)
    if normalisation == "inter_ocular":
        return np.linalg.norm(target[:, OUTER_EYE_CORNERS[0]] - target[:, OUTER_EYE_CORNERS[1]], axis=-1)
    if normalisation == "inter_pupil":
        return np.linalg.norm(target[:, RIGHT_EYE].mean(1) - target[:, LEFT_EYE].mean(1), axis=-1)
    raise ValueError(f"unknown normalisation {normalisation!r}")


def nme(pred: np.ndarray, target: np.ndarray, normalisation: str = "inter_ocular") -> np.ndarray:
    """Per-image mean point-to-point error over (N,68,2) landmarks divided by `normalising_distance`;
    NaN for an image whose distance is zero or not finite, or whose points are not finite."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[1] != 68:
        raise ValueError(f"expected two (N,68,2) arrays, got {pred.shape} and {target.shape}")
    scale = normalising_distance(target, normalisation)
    error = np.linalg.norm(pred - target, axis=-1).mean(axis=1)
    usable = np.isfinite(scale) & (scale > 0) & np.isfinite(error)
    return np.divide(error, scale, out=np.full_like(error, np.nan), where=usable)


def failure_rate(nmes: np.ndarray, threshold: float = 0.08) -> float:
    """Fraction of images whose NME exceeds ``threshold``; a NaN or infinite NME is a failure."""
    nmes = np.asarray(nmes, dtype=np.float64)
    if nmes.size == 0:
        raise ValueError("no errors to summarise")
    return float(1.0 - (nmes <= threshold).mean())


def ced_auc(
    nmes: np.ndarray, threshold: float = 0.08, steps: int = 1000
) -> tuple[float, np.ndarray, np.ndarray]:
    """Area under the cumulative error distribution up to ``threshold``, in [0, 1], and the curve."""
    errors = np.sort(np.asarray(nmes, dtype=np.float64))
    if errors.size == 0:
        raise ValueError("no errors to summarise")
    x = np.linspace(0.0, threshold, steps + 1)
    y = np.searchsorted(errors, x, side="right") / len(errors)
    return float(np.trapezoid(y, x) / threshold), x, y


def save_ced_plot(nmes_by_method: dict[str, np.ndarray], path: str | Path, threshold: float = 0.08) -> Path:
    """A PNG with one CED curve per method: x the NME from 0 to ``threshold``, y the fraction of images
    with at most that error, ticks on both axes, each method's AUC in the legend."""
    series = {}
    for name, nmes in nmes_by_method.items():
        auc, x, y = ced_auc(nmes, threshold)
        series[f"{name}  AUC@{threshold:g} = {auc:.3f}"] = (x, y)
    plot = line_plot(
        series, "NME (inter-ocular)", "fraction of images", x_range=(0, threshold), y_range=(0, 1)
    )
    path = Path(path)
    plot.save(path)
    return path


def confusion_matrix(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """(num_classes, num_classes) counts; rows are the target class, columns the prediction."""
    pred, target = np.asarray(pred).ravel().astype(np.int64), np.asarray(target).ravel().astype(np.int64)
    keep = (target >= 0) & (target < num_classes) & (pred >= 0) & (pred < num_classes)
    if ignore_index is not None:
        keep &= target != ignore_index
    counts = np.bincount(target[keep] * num_classes + pred[keep], minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def f1_scores(confusion: np.ndarray) -> np.ndarray:
    """Per-class F1 = 2TP / (2TP + FP + FN); NaN for a class absent from both prediction and target."""
    tp = np.diag(confusion).astype(np.float64)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean intersection over union over the classes that occur in the target or the prediction."""
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
    return float((tp[union > 0] / union[union > 0]).mean())


def parsing_report(confusion: np.ndarray, class_names: tuple[str, ...], mean_over: tuple[str, ...]) -> dict:
    """Per-class F1 by name (None for a class in neither the targets nor the predictions) and their
    mean over the classes of ``mean_over`` that occur."""
    f1 = f1_scores(confusion)
    per_class = {name: (float(f1[i]) if np.isfinite(f1[i]) else None) for i, name in enumerate(class_names)}
    present = [per_class[name] for name in mean_over if per_class[name] is not None]
    if not present:
        raise ValueError(f"none of the classes {list(mean_over)} occurs in the targets or the predictions")
    return {"f1": per_class, "mean_f1": float(np.mean(present))}
