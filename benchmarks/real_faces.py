"""Landmark error of an SB on real photos beside its error on generated faces.

Real faces: the 43 labelled faces of `../shared/real-faces` (dlib-format XML, 68 points from dlib's
predictor). Each face is cropped as the generated training data frame faces (the framing measured on
the generated faces below) around either the box of its labelled points (the 300W protocol) or the
detector box stored in the XML, resized to the model's input size, and the predictions are mapped back
into the photo. Generated faces: fresh validation samples of the embedded default head (the seeds
of make-dataset's validation split). NME is the mean point error over the inter-ocular distance
(outer eye corners), over all 68 points and over the 51 inner points (17-67).

    python benchmarks/real_faces.py --model spaces_app/model --out benchmarks/results/real-faces

Writes ``generated.json`` and ``real-faces.json`` (the `synthforge evaluate` format, for model cards)
and ``summary.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from synthforge_hf import SynthForgePipeline
from synthforge_hf.data.framing import crop_box, crop_face, landmark_box, measure_framing
from synthforge_hf.data.shards import sample_seed
from synthforge_hf.evaluation import metrics
from synthforge_hf.evaluation.readers import DlibLandmarkXML
from synthforge_hf.models.synthforge import SynthForgeForFaceAnalysis
from synthforge_hf.models.synthforge.image_processing_synthforge import normalize_pixels

REAL_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "real-faces"
INNER = slice(17, 68)


def point_errors(predicted: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-face NME over all 68 and the 51 inner points, normalised by the target's outer eye corners."""
    scale = np.linalg.norm(target[:, 36] - target[:, 45], axis=-1)
    distances = np.linalg.norm(predicted - target, axis=-1) / scale[:, None]
    return {"nme": distances.mean(1), "nme_inner51": distances[:, INNER].mean(1)}


def summary(errors: dict[str, np.ndarray], benchmark: str, split: str) -> dict:
    nmes = errors["nme"]
    return {
        "benchmark": benchmark,
        "split": split,
        "samples": len(nmes),
        "nme": float(nmes.mean()),
        "nme_inner51": float(errors["nme_inner51"].mean()),
        "median_nme_inner51": float(np.median(errors["nme_inner51"])),
        "failure_rate_0.08": metrics.failure_rate(nmes, 0.08),
        "auc_0.08": metrics.ced_auc(nmes, 0.08)[0],
    }


@torch.no_grad()
def generated_faces(model, count: int, batch_size: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, target) landmarks on ``count`` fresh validation faces at the model's input size."""
    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    size = model.config.image_size
    predicted, target = [], []
    for start in range(0, count, batch_size):
        seeds = [sample_seed(0, "validation", i) for i in range(start, min(start + batch_size, count))]
        out = pipe(seeds=seeds, resolution=size, output_type="pt")
        predicted.append(model(normalize_pixels(out.images)).landmarks.numpy())
        target.append(out.landmarks_2d.numpy())
    return np.concatenate(predicted), np.concatenate(target)


@torch.no_grad()
def real_faces(model, framing, box_source: str) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, target) landmarks in photo pixels (centres at i + 0.5) of the 43 labelled faces."""
    size = model.config.image_size
    predicted, target = [], []
    for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        for face in DlibLandmarkXML(REAL_FACES / xml):
            labels = face["landmarks"] + 0.5  # dlib: pixel centres at integers
            box = landmark_box(labels) if box_source == "landmarks" else face["box"]
            crop, to_photo = crop_face(face["image"], crop_box(box, framing), size)
            pixels = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1)[None]
            points = model(normalize_pixels(pixels)).landmarks[0].numpy()
            predicted.append(points @ to_photo[:, :2].T + to_photo[:, 2])
            target.append(labels)
    return np.stack(predicted), np.stack(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved SB folder")
    parser.add_argument("--generated", type=int, default=200, help="generated validation faces")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/real-faces"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = SynthForgeForFaceAnalysis.from_pretrained(args.model).eval()
    predicted, target = generated_faces(model, args.generated)
    framing = measure_framing(target, model.config.image_size)
    generated = summary(point_errors(predicted, target), "synthforge-default-head", "validation")
    mean_shape = summary(
        point_errors(np.broadcast_to(target.mean(0), target.shape), target), "mean-shape", "validation"
    )
    results = {"framing": framing.to_dict(), "generated": generated, "generated_mean_shape": mean_shape}
    for source in ("landmarks", "detector"):
        results[f"real_{source}_box"] = summary(
            point_errors(*real_faces(model, framing, source)), "real-faces", f"{source} box"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "generated.json").write_text(json.dumps(generated, indent=1))
    (args.out / "real-faces.json").write_text(json.dumps(results["real_landmarks_box"], indent=1))
    (args.out / "summary.json").write_text(json.dumps({"model": args.model, **results}, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
