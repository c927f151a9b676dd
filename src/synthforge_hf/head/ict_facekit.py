"""Loading ICT-FaceKit (MIT licence) into a `ParametricHeadModel`.

Reads the `FaceXModel` folder of the ICT-FaceKit repository: `generic_neutral_mesh.obj`, identity
PCA targets `identityNNN.obj` and ARKit-style expression targets (`jawOpen.obj`, ...), all on one
topology, plus `vertex_indices.json` (expression names, Multi-PIE 68 landmark vertices). The model is
in centimetres; it is scaled to metres and shifted so its outer-eye-corner midpoint sits where
FLAME's does, so cameras framed for FLAME frame it the same way.

The overlay geometry (lacrimal fluid, eye blend and occlusion shells, eyelash strips) is dropped:
it is drawn with transparency in the original and would hide the eyes of an opaque render. There
is no jaw skinning in ICT-FaceKit: the jaw opens with the `jawOpen` expression.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import torch

from ..constants import CLASS_ID, HEAD_FRAME_EYE_MIDPOINT, OUTER_EYE_CORNERS
from ..errors import MalformedAssetError, MissingAssetError, require_file
from ..io.obj import read_obj, read_obj_vertices
from .landmarks import landmarks_at_vertices
from .model import POSE_JOINTS, ParametricHeadModel

logger = logging.getLogger(__name__)

WHERE = "Clone https://github.com/ICT-VGL/ICT-FaceKit (MIT licence) and pass its FaceXModel folder."
CENTIMETRES = 0.01
# Vertex ranges of the ICT-FaceKit topology (its README), end exclusive.
REGIONS = {
    "face": (0, 9409),
    "head_and_neck": (9409, 11248),
    "mouth_socket": (11248, 13294),
    "eye_socket_left": (13294, 13678),
    "eye_socket_right": (13678, 14062),
    "gums_and_tongue": (14062, 17039),
    "teeth": (17039, 21451),
    "eyeball_left": (21451, 23021),
    "eyeball_right": (23021, 24591),
}
NUM_KEPT_VERTICES = REGIONS["eyeball_right"][1]  # overlay geometry follows from here
NUM_TOPOLOGY_VERTICES = 26719


def load_ict_facekit(
    directory: str | Path,
    num_identities: int | None = None,
    expressions: list[str] | None = None,
) -> ParametricHeadModel:
    """ICT-FaceKit as a `ParametricHeadModel` ("ict-facekit").

    Args:
        directory: the `FaceXModel` folder.
        num_identities: how many identity targets (`identity000.obj` onwards) to use; default all
            that are present (100 in the full release).
        expressions: expression target names; default every name in `vertex_indices.json` whose
            file is present (53 in the full release). Coefficients are ARKit weights in [0, 1].
    """
    directory = Path(directory).expanduser()
    index = _read_vertex_indices(directory / "vertex_indices.json")
    neutral_path = directory / "generic_neutral_mesh.obj"
    mesh = read_obj(neutral_path, "ICT-FaceKit neutral mesh (generic_neutral_mesh.obj)", WHERE)
    if len(mesh.vertices) != NUM_TOPOLOGY_VERTICES:
        raise MalformedAssetError(
            neutral_path, f"{len(mesh.vertices)} vertices, expected {NUM_TOPOLOGY_VERTICES} (ICT-FaceKit)"
        )
    identity_paths = _identity_paths(directory, num_identities)
    expression_paths = _expression_paths(directory, index["expressions"], expressions)

    neutral = mesh.vertices.astype(np.float64)
    landmark_ids = np.asarray(index["idx_to_landmark_verts"], dtype=np.int64)
    scale = CENTIMETRES
    shift = (
        np.asarray(HEAD_FRAME_EYE_MIDPOINT) - neutral[landmark_ids[list(OUTER_EYE_CORNERS)]].mean(0) * scale
    )
    template = neutral[:NUM_KEPT_VERTICES] * scale + shift
    shape_dirs = _deltas(identity_paths, neutral, scale)
    expression_dirs = _deltas(expression_paths, neutral, scale)
    faces = mesh.faces[(mesh.faces < NUM_KEPT_VERTICES).all(axis=1)]
    landmark_face, landmark_bary = landmarks_at_vertices(faces, landmark_ids)
    regressor, weights = _skeleton(template)
    labels = _labels(template, template[landmark_ids])

    head = ParametricHeadModel(
        num_vertices=NUM_KEPT_VERTICES,
        num_faces=len(faces),
        num_shape=len(identity_paths),
        num_expression=len(expression_paths),
        name="ict-facekit",
        expression_bounds=(0.0, 1.0),
        shape_names=tuple(p.stem for p in identity_paths),
        expression_names=tuple(p.stem for p in expression_paths),
    )
    f32 = torch.float32
    head.v_template.copy_(torch.tensor(template, dtype=f32))
    head.shapedirs.copy_(torch.tensor(shape_dirs, dtype=f32))
    head.exprdirs.copy_(torch.tensor(expression_dirs, dtype=f32))
    head.joint_regressor.copy_(torch.tensor(regressor, dtype=f32))
    head.lbs_weights.copy_(torch.tensor(weights, dtype=f32))
    head.faces.copy_(torch.tensor(faces))
    head.landmark_face_idx.copy_(torch.tensor(landmark_face))
    head.landmark_bary.copy_(torch.tensor(landmark_bary, dtype=f32))
    head.vertex_labels.copy_(torch.tensor(labels))
    return head


def _read_vertex_indices(path: Path) -> dict:
    path = require_file(path, "ICT-FaceKit vertex_indices.json", WHERE)
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedAssetError(path, f"not valid JSON ({err})") from err
    for key in ("expressions", "idx_to_landmark_verts"):
        if key not in index:
            raise MalformedAssetError(path, f"missing key '{key}'")
    if len(index["idx_to_landmark_verts"]) != 68:
        raise MalformedAssetError(path, "idx_to_landmark_verts must list 68 vertices (Multi-PIE 68)")
    return index


def _identity_paths(directory: Path, num_identities: int | None) -> list[Path]:
    present = sorted(p for p in directory.glob("identity*.obj") if re.fullmatch(r"identity\d{3}", p.stem))
    count = len(present) if num_identities is None else num_identities
    paths = [directory / f"identity{i:03d}.obj" for i in range(count)]
    for path in paths:
        require_file(path, f"ICT-FaceKit identity target {path.name}", WHERE)
    if not paths:
        raise MissingAssetError(directory / "identity000.obj", "ICT-FaceKit identity targets", WHERE)
    return paths


def _expression_paths(directory: Path, known: list[str], requested: list[str] | None) -> list[Path]:
    if requested is not None:
        unknown = [name for name in requested if name not in known]
        if unknown:
            raise ValueError(f"unknown ICT-FaceKit expressions {unknown}; known: {known}")
        return [require_file(directory / f"{n}.obj", f"ICT-FaceKit expression {n}", WHERE) for n in requested]
    paths = [directory / f"{name}.obj" for name in known if (directory / f"{name}.obj").is_file()]
    if not paths:
        raise MissingAssetError(directory / f"{known[0]}.obj", "ICT-FaceKit expression targets", WHERE)
    if len(paths) < len(known):
        logger.warning("ICT-FaceKit: %d of %d expression targets present", len(paths), len(known))
    return paths


def _deltas(paths: list[Path], neutral: np.ndarray, scale: float) -> np.ndarray:
    """(V,3,K) blendshape offsets in metres of each target from the neutral mesh."""
    out = np.empty((NUM_KEPT_VERTICES, 3, len(paths)))
    for k, path in enumerate(paths):
        target = read_obj_vertices(path, f"ICT-FaceKit target {path.name}", WHERE)
        if target.shape != neutral.shape:
            raise MalformedAssetError(path, f"{len(target)} vertices, expected {len(neutral)}")
        out[:, :, k] = (target[:NUM_KEPT_VERTICES] - neutral[:NUM_KEPT_VERTICES]) * scale
    return out


def _block(name: str) -> slice:
    start, stop = REGIONS[name]
    return slice(start, stop)


def _skeleton(template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint regressor (5,V) and skinning weights (V,5). The head and neck move rigidly with the
    neck joint, the eyeballs with their eye joints; the jaw joint is located but has no vertices."""
    regressor = np.zeros((len(POSE_JOINTS), NUM_KEPT_VERTICES))
    neck = np.arange(*REGIONS["head_and_neck"])
    base = neck[template[neck, 1] < template[neck, 1].min() + 0.01]
    regressor[0, base] = regressor[1, base] = 1.0 / len(base)
    jaw_anchor = np.arange(*REGIONS["teeth"])  # the jaw joint sits at the dentition
    regressor[2, jaw_anchor] = 1.0 / len(jaw_anchor)
    weights = np.zeros((NUM_KEPT_VERTICES, len(POSE_JOINTS)))
    weights[:, 1] = 1.0
    for joint, part in ((3, "eyeball_left"), (4, "eyeball_right")):
        block = _block(part)
        regressor[joint, block] = 1.0 / (block.stop - block.start)
        weights[block] = 0.0
        weights[block, joint] = 1.0
    return regressor, weights


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test of (N,2) points against a closed (M,2) polygon."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < x_at)).sum(axis=1) % 2 == 1


def _distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(((points[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    closest = a + t[..., None] * ab
    return np.linalg.norm(points[:, None] - closest, axis=-1).min(axis=1)


def _labels(v: np.ndarray, lmk: np.ndarray) -> np.ndarray:
    """Per-vertex class ids from the region ranges and frontal-view rules around the landmarks."""
    labels = np.full(len(v), CLASS_ID["face"], dtype=np.int64)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    xy = v[:, :2]
    left = x > 0
    face_area = np.zeros(len(v), dtype=bool)
    face_area[_block("face")] = True
    front = face_area & (z > lmk[0, 2] + 0.005)

    # Scalp, ears and neck around the face.
    labels[_block("head_and_neck")] = CLASS_ID["scalp"]
    ear = face_area & (np.abs(x) > np.abs(lmk[0, 0]) + 0.003) & (z < lmk[0, 2] + 0.002)
    labels[ear & left] = CLASS_ID["left_ear"]
    labels[ear & ~left] = CLASS_ID["right_ear"]
    brow_top = lmk[17:27, 1].max()
    labels[face_area & (y > brow_top + 0.012) & ~ear] = CLASS_ID["forehead"]
    # Neck: below the jaw line, which runs from the chin back to the jaw angle in side view.
    chin, angle = lmk[8, 1:], (lmk[3, 1:] + lmk[13, 1:]) / 2
    slope = (chin[0] - angle[0]) / (chin[1] - angle[1])
    jaw_y = np.where(z > angle[1], angle[0] + (z - angle[1]) * slope, angle[0])
    neck = (y < jaw_y - 0.004) & ~ear & (labels != CLASS_ID["forehead"])
    neck &= face_area | (labels == CLASS_ID["scalp"])
    neck_centre_z = v[neck, 2].mean() if neck.any() else 0.0
    labels[neck & (z > neck_centre_z)] = CLASS_ID["neck"]
    labels[neck & (z <= neck_centre_z)] = CLASS_ID["neck_back"]

    # Eyes: the surrounding region, the brows between, the lids, then the eyeballs themselves.
    for eye in (lmk[36:42], lmk[42:48]):
        centre = eye[:, :2].mean(0)
        half_width = np.abs(eye[:, 0].max() - eye[:, 0].min()) / 2
        around = ((xy - centre) / [half_width * 1.9, half_width * 1.25]) ** 2
        labels[front & (around.sum(1) < 1)] = CLASS_ID["eye_region"]
    glabella = front & (np.abs(x) < np.abs(lmk[21, 0])) & (y > lmk[39, 1]) & (y < brow_top + 0.012)
    labels[glabella] = CLASS_ID["eye_region+forehead"]
    for side, brow in (("right", lmk[17:22]), ("left", lmk[22:27])):
        on_brow = front & (_distance_to_polyline(xy, brow[:, :2]) < 0.0045)
        labels[on_brow] = CLASS_ID[f"{side}_eyebrow"]
    for side, eye in (("right", lmk[36:42]), ("left", lmk[42:48])):
        centre = eye[:, :2].mean(0)
        half_width = np.abs(eye[:, 0].max() - eye[:, 0].min()) / 2
        lids = ((xy - centre) / [half_width * 1.3, half_width * 0.75]) ** 2
        labels[front & (lids.sum(1) < 1)] = CLASS_ID[f"{side}_eye_region"]
        labels[_block(f"eye_socket_{side}")] = CLASS_ID[f"{side}_eye_region"]
        labels[_block(f"eyeball_{side}")] = CLASS_ID[f"{side}_eyeball"]

    # Nose: from the bridge down, flaring to the alae beside the nostrils.
    flare = 0.35 * np.abs(lmk[35, 0] - lmk[31, 0])
    half = [
        (lmk[27, 0] - 0.6 * flare, lmk[27, 1] + 0.003),
        (lmk[31, 0] - flare, lmk[31, 1] + 0.6 * flare),
        (lmk[31, 0] - 0.5 * flare, lmk[31, 1] - 0.3 * flare),
        (lmk[33, 0], lmk[33, 1] - 0.002),
    ]
    nose = np.array(half + [(-px, py) for px, py in reversed(half[:-1])])
    labels[
        front
        & _inside(xy, nose)
        & (labels != CLASS_ID["right_eye_region"])
        & (labels != CLASS_ID["left_eye_region"])
    ] = CLASS_ID["nose"]

    # Lips: inside the outer lip contour, split at the line between the inner lips.
    outer_lip = lmk[48:60, :2]
    outer_lip = outer_lip.mean(0) + 1.08 * (outer_lip - outer_lip.mean(0))  # landmarks lie on the border
    lips = front & _inside(xy, outer_lip)
    mouth_line = (lmk[61:64, 1].mean() + lmk[65:68, 1].mean()) / 2
    labels[lips & (y >= mouth_line)] = CLASS_ID["upper_lip"]
    labels[lips & (y < mouth_line)] = CLASS_ID["lower_lip"]
    for part in ("mouth_socket", "gums_and_tongue", "teeth"):
        labels[_block(part)] = CLASS_ID["inner_mouth"]
    return labels
