"""The benchmarks as the project evaluates them: each one's task, label set and readers, and the
evaluation loop used by `synthforge evaluate`, `train-lf` and the benchmarks/ scripts."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..models.synthforge import SynthForgeImageProcessor
from . import metrics
from .readers import CelebAMaskHQ, Face300W, LaPa

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


def open_benchmark(name: str, root: str, split: str):
    """The reader of a benchmark split."""
    if name == "300w":
        return Face300W(root, split)
    if name == "lapa":
        return LaPa(root, split)
    if name == "celebamask-hq":
        return CelebAMaskHQ(root)
    raise ValueError(f"unknown benchmark {name!r}; use one of {list(BENCHMARKS)}")


@torch.no_grad()
def evaluate(
    model, processor: SynthForgeImageProcessor, benchmark: str, dataset, batch_size: int = 8
) -> dict:
    """Benchmark metrics in original-image coordinates: NME (inter-ocular), failure rate and AUC at
    0.08 for 300W; per-class F1 and the benchmark's mean F1 for LaPa / CelebAMask-HQ."""
    model.eval()
    task, outputs, names, mean_over = BENCHMARKS[benchmark]
    errors, paths, confusion = [], [], np.zeros((outputs, outputs), dtype=np.int64)
    device = next(model.parameters()).device
    for start in range(0, len(dataset), batch_size):
        samples = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        inputs = processor([s["image"] for s in samples])
        out = model(inputs["pixel_values"].to(device))
        if task == "keypoints":
            points = processor.post_process_landmarks(out, inputs["original_sizes"], inputs["paddings"])
            predicted = np.stack([p.cpu().numpy() for p in points]) - 0.5  # back to the readers' convention
            errors.append(metrics.nme(predicted, np.stack([s["landmarks"] for s in samples])))
            paths += [str(s.get("path", start + k)) for k, s in enumerate(samples)]
        else:
            masks = processor.post_process_semantic_segmentation(
                out, inputs["original_sizes"], inputs["paddings"]
            )
            for mask, sample in zip(masks, samples, strict=True):
                target = np.asarray(sample["segmentation"])
                prediction = mask.cpu().numpy()
                if prediction.shape != target.shape:  # CelebAMask-HQ: 512 px masks for 1024 px images
                    prediction = np.asarray(
                        F.interpolate(mask[None, None].float(), size=target.shape, mode="nearest")[0, 0]
                        .cpu()
                        .numpy()
                    )
                confusion += metrics.confusion_matrix(prediction, target, outputs)
    if task == "keypoints":
        nmes = np.concatenate(errors)
        auc = metrics.ced_auc(nmes, 0.08)[0]
        return {
            "benchmark": benchmark,
            "samples": len(nmes),
            "nme": float(nmes.mean()),
            "failure_rate_0.08": metrics.failure_rate(nmes, 0.08),
            "auc_0.08": auc,
            "per_image": [{"path": p, "nme": float(e)} for p, e in zip(paths, nmes, strict=True)],
        }
    report = metrics.parsing_report(confusion, names, mean_over)
    return {"benchmark": benchmark, "samples": len(dataset), **report}
