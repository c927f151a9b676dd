"""Landmark error of an SB on real photos beside its error on generated faces.

Real faces: the 43 labelled faces of `../shared/real-faces` (dlib-format XML, 68 points from dlib's
predictor). Each face is cropped as the generated training data frame faces (the framing measured on
the generated faces below) around either the box of its labelled points (the 300W protocol) or the
detector box stored in the XML, resized to the model's input size, and the predictions are mapped back
into the photo. Generated faces: fresh validation samples of the embedded default head (the seeds
of make-dataset's validation split). NME is the mean point error over the inter-ocular distance
(outer eye corners), over all 68 points and over the 51 inner points (17-67).

    python benchmarks/real_faces.py --model runs/sb --out benchmarks/results/real-faces

With ``--lf-steps``, also Stage II in miniature: an LF keypoint head trained on the 18 training faces
(dlib's 300W-style labels; a 300W-format folder of the photos' face regions, which `train-lf` and
`evaluate` crop by the 300W protocol) against the SB alone on the 25 test faces.

Writes ``generated.json`` and ``real-faces.json`` (the `synthforge evaluate` format, for model cards)
and ``summary.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from recording import write_result

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


def labelled_faces():
    """Each labelled face (training XML first): the XML's name, the face's record and its labels in photo
    pixels (centres at i + 0.5)."""
    for xml in ("training", "testing"):
        for face in DlibLandmarkXML(REAL_FACES / f"{xml}_with_face_landmarks.xml"):
            yield xml, face, face["landmarks"] + 0.5  # dlib: pixel centres at integers


def face_crops(framing, size: int, box_source: str = "landmarks"):
    """Each labelled face (training XML first): the XML's name, the face cropped at ``framing`` around
    the box of its labelled points or its detector box, the crop's map to the photo, and its labels
    in photo pixels (centres at i + 0.5)."""
    for xml, face, labels in labelled_faces():
        box = landmark_box(labels) if box_source == "landmarks" else face["box"]
        crop, to_photo = crop_face(face["image"], crop_box(box, framing), size)
        yield xml, crop, to_photo, labels


@torch.no_grad()
def real_faces(model, framing, box_source: str) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, target) landmarks in photo pixels (centres at i + 0.5) of the 43 labelled faces."""
    predicted, target = [], []
    for _, crop, to_photo, labels in face_crops(framing, model.config.image_size, box_source):
        pixels = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        points = model(normalize_pixels(pixels)).landmarks[0].numpy()
        predicted.append(points @ to_photo[:, :2].T + to_photo[:, 2])
        target.append(labels)
    return np.stack(predicted), np.stack(target)


def write_300w_folder(root: Path, margin: float = 1.0) -> Path:
    """The real faces as a 300W-format folder (training XML -> ``afw/``, the train split; testing XML ->
    ``helen/testset/``, the common split): as 300W does for photos with several faces, one image per
    face, here the photo region around the face's labelled points with ``margin`` box sizes on each
    side (clipped to the photo), so that `evaluate` and `train-lf` crop it by the benchmark protocol."""
    folders = {"training": root / "afw", "testing": root / "helen" / "testset"}
    for folder in (
        *folders.values(),
        root / "helen" / "trainset",
        root / "lfpw" / "trainset",
        root / "lfpw" / "testset",
    ):
        folder.mkdir(parents=True, exist_ok=True)
    for k, (xml, face, labels) in enumerate(labelled_faces()):
        left, top, right, bottom = landmark_box(labels)
        pad = margin * max(right - left, bottom - top)
        width, height = face["image"].size
        region = (
            max(0, int(left - pad)),
            max(0, int(top - pad)),
            min(width, int(np.ceil(right + pad))),
            min(height, int(np.ceil(bottom + pad))),
        )
        face["image"].crop(region).save(folders[xml] / f"{k:03d}.png")
        in_region = labels - region[:2]
        points = "\n".join(f"{x:.3f} {y:.3f}" for x, y in in_region + 0.5)  # iBUG: 1-based, centres at 1
        (folders[xml] / f"{k:03d}.pts").write_text(f"version: 1\nn_points: 68\n{{\n{points}\n}}\n")
    return root


def label_finetuning(model_dir: str, work: Path, steps: int) -> dict:
    """Stage II in miniature: an LF keypoint head trained on the 18 training faces (dlib's 300W-style
    points), against the SB alone, on the 25 test faces, through `train_lf` and `evaluate`."""
    from synthforge_hf.evaluation.benchmarks import evaluate
    from synthforge_hf.evaluation.readers import Face300W
    from synthforge_hf.models.synthforge import SynthForgeImageProcessor
    from synthforge_hf.models.synthforge_lf import SynthForgeLabelFinetuneModel
    from synthforge_hf.training.lf import LFTrainingArguments, train_lf

    folder = write_300w_folder(work / "300W")
    lf_dir = train_lf(
        LFTrainingArguments(
            backbone=model_dir,
            benchmark="300w",
            data=str(folder),
            output_dir=str(work / "lf"),
            max_steps=steps,
            batch_size=6,
            learning_rate=1e-3,
            warmup_steps=10,
            num_workers=0,
            save_steps=steps,
        )
    )
    test = Face300W(folder, "common")
    processor = SynthForgeImageProcessor.from_pretrained(model_dir)
    sb = SynthForgeForFaceAnalysis.from_pretrained(model_dir).eval()
    lf = SynthForgeLabelFinetuneModel.from_pretrained(lf_dir).eval()
    return {
        "train_faces": len(Face300W(folder, "train")),
        "lf_steps": steps,
        "sb": evaluate(sb, processor, "300w", test),
        "sb_plus_lf": evaluate(lf, processor, "300w", test),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved SB folder")
    parser.add_argument("--generated", type=int, default=200, help="generated validation faces")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/real-faces"))
    parser.add_argument("--lf-steps", type=int, default=150, help="label fine-tuning steps (0: skip)")
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
    if args.lf_steps:
        with tempfile.TemporaryDirectory() as work:
            results["label_finetuning"] = label_finetuning(args.model, Path(work), args.lf_steps)
    (args.out / "generated.json").write_text(json.dumps(generated, indent=1))
    (args.out / "real-faces.json").write_text(json.dumps(results["real_landmarks_box"], indent=1))
    write_result(args.out / "summary.json", {"model": args.model, **results})
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
