"""Realism of the mesh backend's images as seen by an independent face detector and landmark predictor.

    pip install -e ".[bench]"      # dlib-bin, face-recognition-models (dlib's 68-point predictor)
    python benchmarks/realism.py [--num-samples 200] [--resolution 128] [--upsample 0] [--save-dir DIR]
        [--no-cnn] [--head default|flame|ict-facekit --head-dir DIR]

Generates validation faces with the default pipeline (sample i of the "validation" split of base seed 0,
`synthforge_hf.data.shards.sample_seed`; ``--head`` renders another head with the same mesh backend, e.g.
ICT-FaceKit's scan-based one, to compare geometries), upsamples them to 256 px and runs dlib on them:

- found: a dlib face detector finds a face that overlaps the labelled landmarks' box (IoU > 0.3) or
  contains most (> 50%) of the 68 labelled points. Two detectors: the HOG frontal detector
  (`found_fraction`; five linear filters for frontal and slightly turned faces) and the CNN (MMOD)
  detector shipped in face-recognition-models (`cnn_found_fraction`; made for all poses, about 0.3 s
  an image here);
- NME: dlib's 68-point shape predictor, run in a dlib-style box made from the labelled landmarks (the
  square that best maps the predictor's own mean shape onto the 68 labels, so every face is measured,
  found or not); per face, the mean distance of the 51 inner points (17-67) to
  their labels divided by the inter-ocular distance (outer eye corners 36 and 45); the median over faces.
- bias: per group, the mean offset of dlib's points from the labels on the near-frontal faces, in a face
  frame (x along the eye corners 36 -> 45, y down, inter-ocular units): where dlib's idea of a point and
  the label's differ in the same way on every face (a convention or a painted feature out of place), not
  face by face. ``nme_unbiased`` is the inner-51 median once each point's mean offset is taken away.

The sampler's views reach +-0.8 rad (46 degrees) of yaw and pitch, beyond what a frontal detector is
made for, so the figures are also given for the near-frontal views (both within +-0.4 rad).
Prints the figures and writes benchmarks/results/realism.json. Targets: >= 95% found, median NME < 5%.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from recording import write_result

from synthforge_hf.data.shards import sample_seed
from synthforge_hf.pipelines.synthforge import SynthForgePipeline

DLIB_SIZE = 256
INNER = slice(17, 68)
FRONTAL = 0.4  # radians: camera yaw and pitch offsets of the "near-frontal" subset (the sampler: +-0.8)
GROUPS = {
    "brows": slice(17, 27),
    "nose": slice(27, 36),
    "eyes": slice(36, 48),
    "mouth": slice(48, 68),
}


def predictor_mean_shape(path: str) -> np.ndarray:
    """The shape predictor's initial (mean) shape (68,2), in the unit box of its training detections.

    Read from the model file: dlib serializes a version, then the mean shape as a column matrix of 136
    floats (x0, y0, x1, ...); integers are a length/sign byte and little-endian bytes, floats a
    (mantissa, exponent) pair of integers."""
    data = Path(path).read_bytes()
    pos = 0

    def integer() -> int:
        nonlocal pos
        head = data[pos]
        size = head & 0x0F
        value = int.from_bytes(data[pos + 1 : pos + 1 + size], "little")
        pos += 1 + size
        return -value if head & 0x80 else value

    version, rows, cols = integer(), abs(integer()), abs(integer())
    if version != 1 or rows * cols != 136:
        raise ValueError(f"unexpected shape predictor file {path} (version {version}, {rows}x{cols})")
    values = [integer() * 2.0 ** integer() for _ in range(rows * cols)]
    return np.asarray(values).reshape(68, 2)


def dlib_box(points: np.ndarray, mean_shape: np.ndarray) -> tuple[float, float, float, float]:
    """(left, top, right, bottom): the square box that maps the predictor's mean shape closest (least
    squares, scale and translation) onto the 68 labelled points (N,2), in dlib pixels. This frames a face
    as dlib's detector frames the faces the predictor was trained on."""
    centred = mean_shape - mean_shape.mean(0)
    target = points - points.mean(0)
    side = float((centred * target).sum() / (centred**2).sum())
    left, top = points.mean(0) - side * mean_shape.mean(0)
    return float(left), float(top), float(left + side), float(top + side)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def fraction_inside(points: np.ndarray, box: tuple[float, ...]) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(np.mean((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])))


def detects(detections: list[tuple[float, ...]], box: tuple[float, ...], points: np.ndarray) -> bool:
    """Whether one of the detector's boxes is the labelled face: IoU > 0.3 with the labels' dlib box, or
    most (> 50%) of the labelled points inside it."""
    return any(iou(box, d) > 0.3 or fraction_inside(points, d) > 0.5 for d in detections)


def evaluate(
    images: np.ndarray,
    landmarks: np.ndarray,
    upsample: int,
    save_dir: Path | None,
    frontal: np.ndarray | None = None,
    cnn: bool = True,
) -> dict:
    """images (N,H,W,3) in [0,1]; landmarks (N,68,2) in image pixels (centres at i + 0.5); ``frontal``
    (N,) bool marks the near-frontal views, reported separately; ``cnn``: also run dlib's CNN detector."""
    import dlib
    import face_recognition_models

    detector = dlib.get_frontal_face_detector()
    cnn_detector = (
        dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())
        if cnn
        else None
    )
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    mean_shape = predictor_mean_shape(face_recognition_models.pose_predictor_model_location())
    scale = DLIB_SIZE / images.shape[1]
    found, cnn_found, errors, group_errors, offsets = [], [], [], {name: [] for name in GROUPS}, []
    for k, (image, labels) in enumerate(zip(images, landmarks, strict=True)):
        pil = Image.fromarray(np.round(image * 255).astype(np.uint8)).resize(
            (DLIB_SIZE, DLIB_SIZE), Image.Resampling.BICUBIC
        )
        pixels = np.asarray(pil)
        points = labels * scale - 0.5  # dlib: pixel centres at integers
        box = dlib_box(points, mean_shape)
        detections = [(d.left(), d.top(), d.right(), d.bottom()) for d in detector(pixels, upsample)]
        found.append(detects(detections, box, points))
        if cnn_detector is not None:
            boxes = [
                (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom())
                for d in cnn_detector(pixels, upsample)
            ]
            cnn_found.append(detects(boxes, box, points))
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = predictor(pixels, rect)
        predicted = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        inter_ocular = np.linalg.norm(points[36] - points[45])
        distance = np.linalg.norm(predicted - points, axis=1) / inter_ocular
        errors.append(float(distance[INNER].mean()))
        offsets.append(face_frame_offsets(predicted, points))
        for name, rows in GROUPS.items():
            group_errors[name].append(float(distance[rows].mean()))
        if save_dir is not None and k < 32:
            _save_overlay(pil, points, predicted, detections, box, save_dir / f"{k:03d}.png")
    errors, found, offsets = np.asarray(errors), np.asarray(found), np.asarray(offsets)
    frontal = np.ones(len(found), dtype=bool) if frontal is None else np.asarray(frontal)
    bias = offsets[frontal].mean(0) if frontal.any() else np.zeros((68, 2))
    unbiased = np.linalg.norm(offsets - bias, axis=2)[:, INNER].mean(1)
    cnn_found = np.asarray(cnn_found, dtype=bool)
    return {
        "found_fraction": float(np.mean(found)),
        "cnn_found_fraction": float(np.mean(cnn_found)) if cnn else None,
        "frontal_cnn_found_fraction": float(np.mean(cnn_found[frontal])) if cnn and frontal.any() else None,
        "frontal_count": int(frontal.sum()),
        "frontal_found_fraction": float(np.mean(found[frontal])) if frontal.any() else float("nan"),
        "frontal_nme_inner_median": float(np.median(errors[frontal])) if frontal.any() else float("nan"),
        "nme_inner_median": float(np.median(errors)),
        "nme_inner_mean": float(errors.mean()),
        "nme_inner_p90": float(np.quantile(errors, 0.9)),
        "nme_group_median": {name: float(np.median(v)) for name, v in group_errors.items()},
        "frontal_group_bias": {name: bias[rows].mean(0).round(4).tolist() for name, rows in GROUPS.items()},
        "nme_unbiased_median": float(np.median(unbiased)),
        "frontal_nme_unbiased_median": float(np.median(unbiased[frontal])) if frontal.any() else float("nan"),
        "per_sample": {
            "found": found.tolist(),
            "cnn_found": cnn_found.tolist(),
            "nme_inner": errors.tolist(),
        },
    }


def face_frame_offsets(predicted: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(68,2) offsets of ``predicted`` from ``points`` in the labels' face frame: x along the outer eye
    corners (36 -> 45), y perpendicular (down in the image), in inter-ocular distances."""
    axis = points[45] - points[36]
    length = float(np.linalg.norm(axis))
    cos, sin = axis / length
    rotation = np.array([[cos, sin], [-sin, cos]])
    return (predicted - points) @ rotation.T / length


def _save_overlay(pil, points, predicted, detections, box, path: Path) -> None:
    from PIL import ImageDraw

    canvas = pil.copy()
    draw = ImageDraw.Draw(canvas)
    for d in detections:
        draw.rectangle(d, outline=(0, 255, 0))
    draw.rectangle(box, outline=(255, 255, 0))
    for (x, y), (u, v) in zip(points, predicted, strict=True):
        draw.point((x, y), fill=(0, 255, 255))
        draw.point((u, v), fill=(255, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def view_breakdown(
    found: np.ndarray,
    errors: np.ndarray,
    view: np.ndarray,
    edges: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8),
    cnn_found: np.ndarray | None = None,
) -> list[dict]:
    """Found share (and the CNN detector's, when given) and median NME of the faces whose view angle
    (radians) falls in each [edge, next edge) bin (the last bin closed); bins without faces are left out."""
    rows = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        inside = (view >= low) & ((view <= high) if k == len(edges) - 2 else (view < high))
        if inside.any():
            rows.append(
                {
                    "from": low,
                    "to": high,
                    "count": int(inside.sum()),
                    "found_fraction": float(found[inside].mean()),
                    **({} if cnn_found is None else {"cnn_found_fraction": float(cnn_found[inside].mean())}),
                    "nme_inner_median": float(np.median(errors[inside])),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--upsample", type=int, default=0, help="dlib detector's upsample_num_times")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--save-dir", type=Path, default=None, help="overlays of the first 32 faces")
    parser.add_argument("--no-cnn", action="store_true", help="skip dlib's CNN detector (60 s of the run)")
    parser.add_argument(
        "--head", default="default", choices=("default", "flame", "ict-facekit"), help="the head to render"
    )
    parser.add_argument("--head-dir", type=Path, default=None, help="its files, for flame / ict-facekit")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "realism.json")
    args = parser.parse_args()

    pipe = (
        SynthForgePipeline.from_default_head()
        if args.head == "default"
        else SynthForgePipeline.from_assets(head=args.head, head_dir=args.head_dir)
    )
    pipe.set_progress_bar_config(disable=True)
    seeds = [sample_seed(0, "validation", i) for i in range(args.num_samples)]
    start = time.perf_counter()
    out = pipe(seeds=seeds, resolution=args.resolution, batch_size=args.batch_size, output_type="np")
    generation_s = time.perf_counter() - start
    yaw, pitch = out.parameters["yaw"], out.parameters["pitch"]
    frontal = (np.abs(yaw) < FRONTAL) & (np.abs(pitch) < FRONTAL)
    report = evaluate(
        out.images, out.landmarks_2d, args.upsample, args.save_dir, frontal, cnn=not args.no_cnn
    )
    view = np.maximum(np.abs(yaw), np.abs(pitch))
    report["by_view"] = view_breakdown(
        np.array(report["per_sample"]["found"]),
        np.array(report["per_sample"]["nme_inner"]),
        view,
        cnn_found=None if args.no_cnn else np.array(report["per_sample"]["cnn_found"]),
    )
    report["per_sample"]["view_radians"] = np.round(view, 4).tolist()
    report = {
        "benchmark": "dlib HOG and CNN detectors + 68-point predictor on mesh-backend validation faces",
        "head": args.head,
        "num_samples": args.num_samples,
        "resolution": args.resolution,
        "dlib_size": DLIB_SIZE,
        "upsample": args.upsample,
        "generation_seconds": round(generation_s, 2),
        **report,
    }
    groups = ", ".join(f"{k} {100 * v:.1f}%" for k, v in report["nme_group_median"].items())
    cnn = "" if args.no_cnn else f", CNN detector {100 * report['cnn_found_fraction']:.1f}%"
    print(
        f"found {100 * report['found_fraction']:.1f}% of {args.num_samples} faces (HOG detector{cnn}); "
        f"inner-51 NME median {100 * report['nme_inner_median']:.2f}% "
        f"(mean {100 * report['nme_inner_mean']:.2f}%, p90 {100 * report['nme_inner_p90']:.2f}%); "
        f"group medians: {groups}"
    )
    print(
        f"near-frontal views (|yaw|, |pitch| < {FRONTAL} rad, {report['frontal_count']} faces): found "
        f"{100 * report['frontal_found_fraction']:.1f}%, "
        f"NME median {100 * report['frontal_nme_inner_median']:.2f}%"
    )
    bias = ", ".join(f"{k} ({v[0]:+.3f}, {v[1]:+.3f})" for k, v in report["frontal_group_bias"].items())
    print(
        f"systematic offset of dlib's points on near-frontal faces (face frame, inter-ocular units): {bias}; "
        f"inner-51 NME median, each point's mean offset removed, {100 * report['nme_unbiased_median']:.2f}% "
        f"(near-frontal {100 * report['frontal_nme_unbiased_median']:.2f}%)"
    )
    print(
        "by view (larger of |yaw|, |pitch|): "
        + "; ".join(
            f"{b['from']:.1f}-{b['to']:.1f} rad: {b['count']} faces, found {100 * b['found_fraction']:.0f}%"
            + ("" if args.no_cnn else f" (CNN {100 * b['cnn_found_fraction']:.0f}%)")
            + ", "
            f"NME median {100 * b['nme_inner_median']:.2f}%"
            for b in report["by_view"]
        )
    )
    write_result(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
