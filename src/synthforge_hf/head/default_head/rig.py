"""What the default head's neutral sculpt is labelled with: the segmentation class of each vertex, the
vertices of the 68 iBUG landmarks, and the joints and skinning weights its pose turns."""

from __future__ import annotations

import math

import numpy as np

from ...constants import CLASS_ID
from ..model import POSE_JOINTS
from .sculpt import (
    BROW_POINTS,
    BROW_Y,
    CHIN_Y,
    EYE_HALF_WIDTH,
    EYE_X,
    EYE_Y,
    MOUTH_HALF_WIDTH,
    MOUTH_Y,
    NECK_BASE_Y,
    NECK_CENTRE_Z,
    NOSE_TIP_Y,
    NOSE_TOP_Y,
    SEGMENTS,
    SLOT_HALF,
    Neutral,
    Topology,
    brow_top,
    eyelid_curves,
    neutral_pad,
    smoothstep,
)


def vertex_labels(neutral: Neutral, topo: Topology) -> np.ndarray:
    """The segmentation class of each vertex (`constants.CLASS_ID`), from the neutral geometry."""
    v = neutral.vertices[: topo.num_head]
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    ax = np.abs(x)
    left = x > 0
    labels = np.full(len(neutral.vertices), CLASS_ID["scalp"])
    front = np.cos(topo.phi) > 0.28
    hairline = 0.083 - 5.0 * x**2
    jaw_side = (y < -0.012) & (z > -0.035)  # below the ears and in front of them: cheek and jaw
    face = (front | jaw_side) & (y < hairline) & (neutral.neck < 0.5)
    head = labels[: topo.num_head]
    head[face] = CLASS_ID["face"]
    head[face & (y > BROW_Y + 0.007) & (ax < 0.06)] = CLASS_ID["forehead"]
    eye_band = face & (((ax - EYE_X) / 0.027) ** 2 + ((y - EYE_Y - 0.002) / 0.019) ** 2 < 1)
    head[eye_band] = CLASS_ID["eye_region"]
    glabella = face & (ax < 0.011) & (y > EYE_Y + 0.004) & (y < BROW_Y + 0.007)
    head[glabella] = CLASS_ID["eye_region+forehead"]
    brow_curve = brow_top(ax)
    # The brow landmarks run along the brow's upper edge (1 mm inside it), as on FLAME's official
    # segmentation texture under its 68-point embedding; the brow is 8.4 mm thick there too.
    inner_x, outer_x = BROW_POINTS[0, 0], BROW_POINTS[-1, 0]
    along = (ax > inner_x - 0.0015) & (ax < outer_x + 0.002)
    brows = face & along & (np.abs(y - brow_curve + 0.0031) < 0.0042)
    head[brows & left] = CLASS_ID["left_eyebrow"]
    head[brows & ~left] = CLASS_ID["right_eyebrow"]
    lids = face & (((ax - EYE_X) / 0.0195) ** 2 + ((y - EYE_Y) / 0.0115) ** 2 < 1)
    head[lids & left] = CLASS_ID["left_eye_region"]
    head[lids & ~left] = CLASS_ID["right_eye_region"]
    nose = face & (neutral.nose > 0.0010) & (y < NOSE_TOP_Y - 0.002) & (y > NOSE_TIP_Y - 0.016) & ~lids
    head[nose] = CLASS_ID["nose"]
    lip_zone = face & (ax < MOUTH_HALF_WIDTH * 1.1)
    head[lip_zone & (neutral.upper_lip > 0.0008) & (neutral.mouth_dy > 0)] = CLASS_ID["upper_lip"]
    head[lip_zone & (neutral.lower_lip > 0.0008) & (neutral.mouth_dy <= 0)] = CLASS_ID["lower_lip"]
    head[face & (neutral.slot > 0.5)] = CLASS_ID["inner_mouth"]
    neck = neutral.neck >= 0.5
    head[neck & (z > NECK_CENTRE_Z)] = CLASS_ID["neck"]
    head[neck & (z <= NECK_CENTRE_Z)] = CLASS_ID["neck_back"]
    for part, name in (
        ("left_eye", "left_eyeball"),
        ("right_eye", "right_eyeball"),
        ("left_ear", "left_ear"),
        ("right_ear", "right_ear"),
    ):
        labels[topo.block(part)] = CLASS_ID[name]
    return labels


def _landmark_targets() -> np.ndarray:
    """Frontal (x, y) targets of the 68 iBUG points on the neutral head."""
    pts = []
    for k in range(17):  # jaw contour, subject's right to left
        s = math.pi * k / 16
        pts.append((-0.071 * math.cos(s), 0.012 + (CHIN_Y - 0.012) * math.sin(s) ** 1.3))
    for bx, by in BROW_POINTS[::-1]:  # right brow, outer to inner
        pts.append((-bx, by))
    for bx, by in BROW_POINTS:  # left brow, inner to outer
        pts.append((bx, by))
    pts += [(0.0, 0.026 + (NOSE_TIP_Y - 0.026) * k / 3) for k in range(4)]  # nose bridge, top to tip
    pts += [(sx * 0.0115, NOSE_TIP_Y - 0.0075 - 0.0015 * (abs(sx) < 1)) for sx in (-1.0, -0.5, 0.0, 0.5, 1.0)]

    def lid(side: float, u: float, upper: bool) -> tuple[float, float]:
        up, low = eyelid_curves(np.array(u))
        return side * (EYE_X + u * EYE_HALF_WIDTH), float(up if upper else low)

    pts += [
        lid(-1, 1, True),
        lid(-1, 0.4, True),
        lid(-1, -0.4, True),
        lid(-1, -1, True),
        lid(-1, -0.4, False),
        lid(-1, 0.4, False),
    ]
    pts += [
        lid(1, -1, True),
        lid(1, -0.4, True),
        lid(1, 0.4, True),
        lid(1, 1, True),
        lid(1, 0.4, False),
        lid(1, -0.4, False),
    ]
    mw, my = MOUTH_HALF_WIDTH, MOUTH_Y
    pts += [
        (-0.96 * mw, my),
        (-0.65 * mw, my + 0.0062),
        (-0.25 * mw, my + 0.0080),
        (0.0, my + 0.0074),
        (0.25 * mw, my + 0.0080),
        (0.65 * mw, my + 0.0062),
        (0.96 * mw, my),
        (0.65 * mw, my - 0.0078),
        (0.3 * mw, my - 0.0095),
        (0.0, my - 0.010),
        (-0.3 * mw, my - 0.0095),
        (-0.65 * mw, my - 0.0078),
    ]
    # The inner lip points beside the middle (61, 63, 65, 67) sit 0.07 inter-ocular off centre, as on FLAME.
    inner = SLOT_HALF + 0.0006
    pts += [
        (-0.85 * mw, my),
        (-0.3 * mw, my + inner),
        (0.0, my + inner),
        (0.3 * mw, my + inner),
        (0.85 * mw, my),
        (0.3 * mw, my - inner),
        (0.0, my - inner),
        (-0.3 * mw, my - inner),
    ]
    return np.asarray(pts)


def landmark_vertices(neutral: Neutral, topo: Topology) -> np.ndarray:
    """Head-grid vertex of each landmark: the front surface vertex nearest its frontal target
    (eye and lip points on the lid and lip surfaces, not inside the openings); 30 = the nose tip."""
    v = neutral.vertices[: topo.num_head]
    candidates = (np.cos(topo.phi) > 0.1) & (neutral.neck < 0.5)
    on_skin = candidates & (neutral.opening < 0.3) & (neutral.slot < 0.3)
    ids = []
    for k, (tx, ty) in enumerate(_landmark_targets()):
        pool = on_skin if 36 <= k < 68 else candidates
        d = (v[:, 0] - tx) ** 2 + (v[:, 1] - ty) ** 2
        ids.append(int(np.argmin(np.where(pool, d, np.inf))))
    tip_pool = candidates & (np.abs(v[:, 0]) < 0.004) & (np.abs(v[:, 1] - NOSE_TIP_Y) < 0.01)
    ids[30] = int(np.argmax(np.where(tip_pool, v[:, 2], -np.inf)))
    return np.asarray(ids)


def skeleton(neutral: Neutral, topo: Topology) -> tuple[np.ndarray, np.ndarray]:
    """Joint regressor (5,V) and skinning weights (V,5) for (global, neck, jaw, left_eye, right_eye)."""
    v = neutral.vertices
    n = len(v)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    regressor = np.zeros((len(POSE_JOINTS), n))
    rings = (np.arange(1, topo.num_head - 1) - 1) // SEGMENTS
    ring_ids = [np.arange(1 + r * SEGMENTS, 1 + (r + 1) * SEGMENTS) for r in range(rings.max() + 1)]
    tube = [ids for ids in ring_ids if topo.theta[ids[0]] > 2.45]
    top = min(tube, key=lambda ids: abs(y[ids].mean() + 0.085))
    base = min(tube, key=lambda ids: abs(y[ids].mean() - NECK_BASE_Y))
    regressor[0, base] = 1.0 / len(base)  # global: the base of the neck
    regressor[1, top] = 1.0 / len(top)  # neck: where the head turns on the neck
    jaw_pair = [
        int(np.argmin(np.sum((v[: topo.num_head] - np.array([s * 0.063, -0.006, -0.012])) ** 2, 1)))
        for s in (1.0, -1.0)
    ]
    regressor[2, jaw_pair] = 0.5
    for joint, part in ((3, "left_eye"), (4, "right_eye")):
        block = topo.block(part)
        regressor[joint, block] = 1.0 / (block.stop - block.start)

    weights = np.zeros((n, len(POSE_JOINTS)))
    follows_head = smoothstep(-0.175, -0.095, y)
    below_mouth = smoothstep(0.0005, -0.003, neutral_pad(neutral.mouth_dy, v))
    jaw = below_mouth * (1 - smoothstep(0.045, 0.072, np.abs(x))) * smoothstep(-0.02, 0.01, z)
    jaw *= 1 - smoothstep(0.3, 0.9, neutral_pad(neutral.neck, v))
    jaw[topo.num_head :] = 0.0
    weights[:, 0] = 1 - follows_head
    weights[:, 1] = follows_head * (1 - jaw)
    weights[:, 2] = follows_head * jaw
    for joint, part in ((3, "left_eye"), (4, "right_eye")):
        weights[topo.block(part)] = 0.0
        weights[topo.block(part), joint] = 1.0
    return regressor, weights
