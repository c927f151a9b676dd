r"""How far the generated faces are from photos, measured with no human labels: a two-sample test on an
independent network's features, and a face detector trained on photos.

    pip install -e ".[bench]"      # dlib-bin, face-recognition-models, scikit-learn
    python benchmarks/realism_score.py [--num-samples 200] [--resolution 256] \
        [--generator-option NAME=VALUE ...] [--sampling-option NAME=VALUE ...] [--out FILE]

``--generator-option`` sets a `MeshFaceGenerator` configuration value (a JSON value, e.g.
``clothing=true``), ``--sampling-option`` a `SamplingRanges` field (e.g. ``roll=0.4``), so the same
command scores today's appearance and each new part.

- Two-sample test: dlib's face recognition ResNet (shipped in face-recognition-models, trained on
  photos, never on this project's faces) embeds every face (128 values), aligned by its 68 labelled
  points in the same way for both sets: the 43 faces of ``../shared/real-faces`` and the generated
  validation faces (sample i of the "validation" split of base seed 0). Each generated face is first
  scaled so that its inter-ocular distance is that of a real face (taken in turn), so the images'
  resolution is not what tells the sets apart. A logistic regression on the standardised embeddings
  tells generated from real, cross-validated (5 folds, repeated with 20 splits), class-balanced:
  ``two_sample_accuracy`` 0.5 means the sets cannot be told apart, 1.0 that they always can. The
  p-value is a permutation test's (100 label shuffles): how often shuffled labels score as well.
  ``mmd_squared``, the kernel two-sample statistic on the same features (`mmd_squared`), keeps
  measuring the distance once the classifier tells every face apart.
- Detection: dlib's HOG frontal detector, run at 256 px with no upsampling, on the near-frontal
  generated faces (|yaw| < 0.3 rad, the head's yaw as the camera sees it): the share it finds
  (`realism.evaluate`'s ``found_fraction``), overall and per band of head pitch
  (``frontal_hog_found_by_pitch``). It finds near-frontal real faces almost always.

Prints the figures and writes benchmarks/results/realism-score.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image
from realism import evaluate
from recording import name_value_options, write_result

from synthforge_hf.data.shards import sample_seed
from synthforge_hf.evaluation.readers import DlibLandmarkXML
from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline

REAL_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "real-faces"
FRONTAL_YAW = 0.3  # radians
PITCH_BANDS = (-90, -30, -20, -10, 0, 10, 20, 30, 90)  # degrees
FOLDS, REPEATS, PERMUTATIONS = 5, 20, 100
OUTER_EYE_CORNERS = (36, 45)


def real_faces() -> list[tuple[np.ndarray, np.ndarray]]:
    """The labelled faces of ../shared/real-faces: (RGB8 photo, (68,2) points with pixel centres at
    integers, as dlib places them)."""
    faces = []
    for xml in ("training", "testing"):
        for face in DlibLandmarkXML(REAL_FACES / f"{xml}_with_face_landmarks.xml"):
            faces.append((np.asarray(face["image"].convert("RGB")), face["landmarks"].astype(np.float64)))
    return faces


def inter_ocular(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[OUTER_EYE_CORNERS[0]] - points[OUTER_EYE_CORNERS[1]]))


def matched_to(
    image: np.ndarray, points: np.ndarray, target_inter_ocular: float
) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (H,W,3 in [0,1]) and its ``points`` (68,2, pixel centres at i + 0.5) scaled so that the
    face's inter-ocular distance is ``target_inter_ocular`` pixels: RGB8 and points in dlib's convention."""
    scale = target_inter_ocular / inter_ocular(points)
    size = max(8, round(image.shape[1] * scale))
    pil = Image.fromarray(np.round(image * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.LANCZOS
    )
    scale = size / image.shape[1]
    return np.asarray(pil), points * scale - 0.5


def embeddings(faces: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(N,128) dlib face descriptors of ``faces`` (RGB8 image, (68,2) points in dlib's convention), each
    aligned by its 68 points (dlib's own face chip: 150 px, 25% padding)."""
    import dlib
    import face_recognition_models

    network = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    rows = []
    for image, points in faces:
        left, top = points.min(0)
        right, bottom = points.max(0)
        rect = dlib.rectangle(*(int(round(v)) for v in (left, top, right, bottom)))
        shape = dlib.full_object_detection(
            rect, [dlib.point(int(round(x)), int(round(y))) for x, y in points]
        )
        rows.append(np.asarray(network.compute_face_descriptor(np.ascontiguousarray(image), shape)))
    return np.stack(rows)


def two_sample_test(real: np.ndarray, generated: np.ndarray) -> dict:
    """Cross-validated, class-balanced accuracy of a logistic regression telling ``generated`` (N,D) from
    ``real`` (M,D) features, its spread over the repeated splits, and a permutation test's p-value."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score, permutation_test_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.concatenate([real, generated])
    labels = np.concatenate([np.zeros(len(real), dtype=int), np.ones(len(generated), dtype=int)])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000))
    splits = RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=REPEATS, random_state=0)
    scores = cross_val_score(classifier, features, labels, cv=splits, scoring="balanced_accuracy")
    by_repeat = scores.reshape(REPEATS, FOLDS).mean(1)
    _, _, p_value = permutation_test_score(
        classifier,
        features,
        labels,
        cv=RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=1, random_state=0),
        scoring="balanced_accuracy",
        n_permutations=PERMUTATIONS,
        random_state=0,
    )
    return {
        "two_sample_accuracy": float(by_repeat.mean()),
        "two_sample_accuracy_std": float(by_repeat.std()),
        "two_sample_p_value": float(p_value),
    }


def mmd_squared(real: np.ndarray, generated: np.ndarray) -> float:
    """Unbiased squared maximum mean discrepancy between the ``real`` (M,D) and ``generated`` (N,D)
    features with a Gaussian kernel whose width is set by the real features alone (their median squared
    pairwise distance), so every variant is measured with the same kernel: about 0 for one distribution,
    larger the further apart. Unlike the classifier's accuracy it keeps falling as the faces come
    closer, after the accuracy has saturated."""
    points = np.concatenate([real, generated])
    squared = ((points[:, None] - points[None]) ** 2).sum(-1)
    count = len(real)
    width = np.median(squared[:count, :count][np.triu_indices(count, 1)])
    kernel = np.exp(-squared / width)
    within_real, within_generated = kernel[:count, :count], kernel[count:, count:]
    m, n = count, len(generated)
    return float(
        (within_real.sum() - np.trace(within_real)) / (m * (m - 1))
        + (within_generated.sum() - np.trace(within_generated)) / (n * (n - 1))
        - 2 * kernel[:count, count:].mean()
    )


def found_by_pitch(pitch_degrees: np.ndarray, found: np.ndarray) -> list[dict]:
    """The detector's share of faces found per band of head pitch (`PITCH_BANDS`, degrees; > 0 looking
    up), for the bands with faces: where looking up or down loses it."""
    bands = []
    for low, high in zip(PITCH_BANDS[:-1], PITCH_BANDS[1:], strict=True):
        inside = (pitch_degrees >= low) & (pitch_degrees < high)
        if inside.any():
            bands.append(
                {
                    "pitch_degrees": [low, high],
                    "count": int(inside.sum()),
                    "found_fraction": float(found[inside].mean()),
                }
            )
    return bands


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--generator-option", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--sampling-option", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "realism-score.json")
    args = parser.parse_args()
    generator_options = name_value_options(args.generator_option, "--generator-option")
    sampling_options = name_value_options(args.sampling_option, "--sampling-option")

    pipe = SynthForgePipeline.from_assets(
        "default", MeshFaceGenerator(**generator_options), **sampling_options
    )
    pipe.set_progress_bar_config(disable=True)
    seeds = [sample_seed(0, "validation", i) for i in range(args.num_samples)]
    start = time.perf_counter()
    out = pipe(seeds=seeds, resolution=args.resolution, batch_size=args.batch_size, output_type="np")
    generation_s = time.perf_counter() - start
    frontal = np.abs(np.deg2rad(out.head_pose[:, 0])) < FRONTAL_YAW
    unoccluded = frontal & out.landmark_visibility.all(axis=1)  # nothing (hair, hat, hand...) over a point
    level = frontal & (np.abs(np.deg2rad(out.head_pose[:, 1])) < FRONTAL_YAW)  # and not looking up or down

    real = real_faces()
    targets = [inter_ocular(points) for _, points in real]
    generated = [
        matched_to(image, points, targets[k % len(targets)])
        for k, (image, points) in enumerate(zip(out.images, out.landmarks_2d, strict=True))
    ]
    real_features, generated_features = embeddings(real), embeddings(generated)
    found = np.array(
        evaluate(out.images[frontal], out.landmarks_2d[frontal], upsample=0, save_dir=None, cnn=False)[
            "per_sample"
        ]["found"]
    )
    report = {
        "benchmark": "two-sample test on dlib face descriptors (generated vs ../shared/real-faces) + HOG "
        "detection of near-frontal generated faces",
        "generator_options": generator_options,
        "sampling_options": sampling_options,
        "num_samples": args.num_samples,
        "num_real_faces": len(real),
        "resolution": args.resolution,
        "generation_seconds": round(generation_s, 2),
        **two_sample_test(real_features, generated_features),
        "mmd_squared": mmd_squared(real_features, generated_features),
        "frontal_yaw_radians": FRONTAL_YAW,
        "frontal_count": int(frontal.sum()),
        "frontal_hog_found_fraction": float(found.mean()),
        "frontal_level_count": int(level.sum()),
        "frontal_level_hog_found_fraction": float(found[level[frontal]].mean()),
        "frontal_unoccluded_count": int(unoccluded.sum()),
        "frontal_unoccluded_hog_found_fraction": float(found[unoccluded[frontal]].mean()),
        "frontal_hog_found_by_pitch": found_by_pitch(out.head_pose[frontal, 1], found),
    }
    print(
        f"two-sample accuracy {report['two_sample_accuracy']:.3f} +- {report['two_sample_accuracy_std']:.3f} "
        f"(0.5: indistinguishable; p = {report['two_sample_p_value']:.3f}); "
        f"MMD^2 {report['mmd_squared']:.4f}; HOG finds {100 * report['frontal_hog_found_fraction']:.1f}% "
        f"of {report['frontal_count']} faces within {math.degrees(FRONTAL_YAW):.0f} degrees of yaw"
    )
    write_result(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
