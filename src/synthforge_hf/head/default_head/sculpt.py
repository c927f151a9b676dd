"""The default head's neutral sculpt: its anatomical layout, the head grid (a sphere warped into
cranium, face and neck, denser on the face) with two eyeballs and two ears, and the smooth analytic
relief (brow ridge, eye sockets and lids, nose, cheekbones, lips, a mouth slot, chin) carved into it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

# Anatomical layout of the neutral head (metres; y up, +z out of the face, +x the subject's left).
# The eyeballs sit forward enough that the lids rest on them: the middles of both lids lie 0.09 inter-ocular
# distances in front of the outer eye corners, as on FLAME's template (tests/test_default_head.py).
EYE_X, EYE_Y, EYE_Z, EYE_RADIUS = 0.031, 0.024, 0.047, 0.0125
EYE_HALF_WIDTH, EYE_HALF_HEIGHT = 0.0145, 0.0052
MOUTH_Y, MOUTH_HALF_WIDTH, SLOT_HALF = -0.0405, 0.024, 0.0013
NOSE_TOP_Y, NOSE_TIP_Y, CHIN_Y, BROW_Y = 0.030, -0.0077, -0.086, 0.044
# Brows, nose base and mouth sit at the FLAME mean face's heights below the eye corners (inter-ocular
# units, its 68-point embedding); tests/test_default_head.py holds them there.
# Upper edge of the left brow, inner end to outer end (x, y): the brow landmarks 22-26 (17-21 mirrored).
# A quarter of the way from an even arch (x 0.014-0.058, y 0.0423-0.0450) to the FLAME mean face's
# (inner end 4 mm nearer the midline, middle 5 mm higher, tail 14 mm lower): all of it puts the tail on the
# temple, where the head turns away and the brow no longer reads as one (benchmarks/realism.py compares
# the shapes).
BROW_POINTS = np.array(
    [[0.0130, 0.0429], [0.0248, 0.0455], [0.0372, 0.0464], [0.0494, 0.0448], [0.0597, 0.0389]]
)
NECK_TOP_Y, NECK_BOTTOM_Y, NECK_CENTRE_Z = -0.060, -0.300, -0.020
# The neck runs on below every frame the sampler's cameras see (its closed end would show as a point);
# the root joint stays at the base of the neck.
NECK_BASE_Y = -0.187

_RINGS, SEGMENTS = 130, 100
_EYE_RINGS, _EYE_SEGMENTS = 14, 22
_EAR_RINGS, _EAR_SEGMENTS = 14, 20


# ----------------------------------------------------------------------------------------------
# Small smooth building blocks


def brow_top(ax: np.ndarray) -> np.ndarray:
    """Height of the brow's upper edge at |x| = ``ax``: a monotone cubic through ``BROW_POINTS``."""
    return PchipInterpolator(BROW_POINTS[:, 0], BROW_POINTS[:, 1], extrapolate=True)(ax)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1``."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def gauss(x: np.ndarray, y: np.ndarray, cx: float, cy, sx: float, sy: float) -> np.ndarray:
    """An axis-aligned Gaussian bump of height 1 at (``cx``, ``cy``) with widths ``sx``, ``sy``."""
    return np.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def gauss_pair(x: np.ndarray, y: np.ndarray, cx: float, cy, sx: float, sy: float) -> np.ndarray:
    """Two Gaussian bumps mirrored about x = 0 (smooth across the midline, unlike a function of |x|)."""
    return np.maximum(gauss(x, y, cx, cy, sx, sy), gauss(x, y, -cx, cy, sx, sy))


def _warp(t: np.ndarray, strength: float) -> np.ndarray:
    """Odd monotone map of [-1, 1] onto itself, flatter (denser samples) near 0."""
    return (t + strength * t**3) / (1 + strength)


# ----------------------------------------------------------------------------------------------
# Topology


@dataclass(frozen=True)
class Topology:
    theta: np.ndarray  # head grid: polar angle from the top
    phi: np.ndarray  # head grid: azimuth from the front, positive towards +x
    faces: np.ndarray  # all faces (head, left eye, right eye, left ear, right ear)
    sphere_eye: np.ndarray
    sphere_ear: np.ndarray

    @property
    def num_head(self) -> int:
        return len(self.theta)

    def block(self, name: str) -> slice:
        """Vertex range of a part: head, left_eye, right_eye, left_ear, right_ear."""
        sizes = {
            "head": self.num_head,
            "left_eye": len(self.sphere_eye),
            "right_eye": len(self.sphere_eye),
            "left_ear": len(self.sphere_ear),
            "right_ear": len(self.sphere_ear),
        }
        start = 0
        for part, size in sizes.items():
            if part == name:
                return slice(start, start + size)
            start += size
        raise KeyError(name)


def _sphere(rings: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit UV sphere with its first vertex at the +z pole; faces wound outwards."""
    verts = [(0.0, 0.0, 1.0)]
    for i in range(1, rings):
        a = math.pi * i / rings
        for j in range(segments):
            b = 2 * math.pi * j / segments
            verts.append((math.sin(a) * math.cos(b), math.sin(a) * math.sin(b), math.cos(a)))
    verts.append((0.0, 0.0, -1.0))
    faces, last = [], len(verts) - 1
    for j in range(segments):
        faces.append((0, 1 + j, 1 + (j + 1) % segments))
    for i in range(rings - 2):
        a0, b0 = 1 + i * segments, 1 + (i + 1) * segments
        for j in range(segments):
            k = (j + 1) % segments
            faces += [(a0 + j, b0 + j, b0 + k), (a0 + j, b0 + k, a0 + k)]
    base = 1 + (rings - 2) * segments
    for j in range(segments):
        faces.append((last, base + (j + 1) % segments, base + j))
    return np.asarray(verts), np.asarray(faces, dtype=np.int64)


def build_topology() -> Topology:
    """The head grid (rings from the top, segments around, denser on the face) and the eye and ear
    spheres, with all their faces."""
    t = np.linspace(-1, 1, _RINGS + 1)[1:-1]
    theta = math.pi / 2 + _warp(t, 1.2) * (math.pi / 2) * 0.999 + 0.12 * (1 - t**2)
    phi = _warp(np.linspace(-1, 1, SEGMENTS, endpoint=False), 1.4) * math.pi
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    theta_all = np.concatenate([[0.0], th.ravel(), [math.pi]])
    phi_all = np.concatenate([[0.0], ph.ravel(), [0.0]])
    rings = len(theta)

    def idx(r: int, k: int) -> int:
        return 1 + r * SEGMENTS + (k % SEGMENTS)

    head = [(0, idx(0, k), idx(0, k + 1)) for k in range(SEGMENTS)]
    for r in range(rings - 1):
        for k in range(SEGMENTS):
            a, b, c, d = idx(r, k), idx(r, k + 1), idx(r + 1, k), idx(r + 1, k + 1)
            # Diagonals mirror across the midline, so the neutral mesh is exactly left/right symmetric.
            head += [(a, d, b), (a, c, d)] if phi[k] < 0 else [(a, c, b), (b, c, d)]
    last = len(theta_all) - 1
    head += [(last, idx(rings - 1, k + 1), idx(rings - 1, k)) for k in range(SEGMENTS)]
    eye_v, eye_f = _sphere(_EYE_RINGS, _EYE_SEGMENTS)
    ear_v, ear_f = _sphere(_EAR_RINGS, _EAR_SEGMENTS)
    blocks, offset = [np.asarray(head, dtype=np.int64)], len(theta_all)
    for faces, count in (
        (eye_f, len(eye_v)),
        (eye_f, len(eye_v)),
        (ear_f, len(ear_v)),
        (ear_f[:, [0, 2, 1]], len(ear_v)),
    ):
        blocks.append(faces + offset)  # the right ear is mirrored: its winding is flipped
        offset += count
    return Topology(theta_all, phi_all, np.concatenate(blocks), eye_v, ear_v)


# ----------------------------------------------------------------------------------------------
# The neutral sculpt


@dataclass
class Neutral:
    vertices: np.ndarray  # (V,3) all parts
    facing: np.ndarray  # head grid: 1 on the front of the face
    neck: np.ndarray  # head grid: 1 on the neck tube
    opening: np.ndarray  # head grid: 1 inside an eye opening
    slot: np.ndarray  # head grid: 1 inside the mouth slot
    nose: np.ndarray  # head grid: nose relief height
    upper_lip: np.ndarray
    lower_lip: np.ndarray
    mouth_dy: np.ndarray  # head grid: y - mouth line


def _eye_opening(x: np.ndarray, y: np.ndarray, side: float) -> np.ndarray:
    """Smooth almond mask of one eye opening (1 inside)."""
    u = (x - side * EYE_X) * side / EYE_HALF_WIDTH  # -1 inner corner, +1 outer corner
    upper, lower = eyelid_curves(u)
    inside = np.minimum(np.minimum(upper - y, y - lower), (1 - np.abs(u)) * EYE_HALF_WIDTH)
    return smoothstep(-0.0003, 0.0006, inside)


def eyelid_curves(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lid margin heights at ``u`` (-1 inner corner ... +1 outer corner)."""
    centre = EYE_Y + 0.0012 * (1 - u**2)
    upper = centre + EYE_HALF_HEIGHT * (1 - u**2) * (1.0 + 0.25 * u)
    lower = centre - 0.75 * EYE_HALF_HEIGHT * (1 - u**2)
    return upper, lower


def _cranium(topo: Topology) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Head grid before the facial relief: x, y, z and the neck weight."""
    st, ct = np.sin(topo.theta), np.cos(topo.theta)
    sp, cp = np.sin(topo.phi), np.cos(topo.phi)
    cy = 0.012
    ct_soft = np.sign(ct) * np.abs(ct) ** 0.85
    st_soft = st**0.8
    front = np.clip(cp, 0, 1)
    x = 0.079 * st_soft * sp
    y = cy + 0.112 * ct_soft
    z = -0.016 - 0.014 * np.clip(ct, 0, 1) * (1 - front) + 0.099 * st_soft * cp
    below = np.clip(-(y - cy) / 0.112, 0, 1)
    x = x * (1 - 0.26 * smoothstep(0.1, 0.9, below) * (0.4 + 0.6 * front))
    z = z - 0.014 * front**2 * (1 - 0.6 * below)
    chin = smoothstep(0.5, 0.9, below) * front**2
    y = y - 0.006 * chin
    z = z + 0.008 * chin
    x = x * (1 - 0.25 * chin * front**4)
    neck = smoothstep(0.74, 0.90, below) * (1 - 0.65 * front**3)
    tube = np.clip((topo.theta - 2.45) / (math.pi - 2.45), 0, 1)
    neck = np.maximum(neck, smoothstep(0.05, 0.3, tube))  # the front of the neck joins the tube too
    neck_y = NECK_TOP_Y - (NECK_TOP_Y - NECK_BOTTOM_Y) * tube
    closing = 1 - smoothstep(0.985, 1.0, tube)
    flare = 1 + 0.3 * smoothstep(0.35, 1.0, tube)  # widening towards the shoulders
    x = x * (1 - neck) + 0.052 * flare * sp * closing * neck
    y = y * (1 - neck) + np.minimum(neck_y, y) * neck
    z = z * (1 - neck) + (NECK_CENTRE_Z + 0.054 * cp * closing) * neck
    return x, y, z, neck


def sculpt_neutral(topo: Topology) -> Neutral:
    """The neutral head on ``topo``: the cranium with the facial relief and lids, the eyeballs and ears."""
    x, y, z, neck = _cranium(topo)
    # 1 on the front of the face; 0 towards the sides, the neck and the poles of the grid.
    facing = smoothstep(0.15, 0.6, np.cos(topo.phi)) * (1 - neck) * smoothstep(0.2, 0.45, np.sin(topo.theta))
    relief = 0.005 * gauss_pair(x, y, 0.028, BROW_Y - 0.002, 0.026, 0.008)  # brow ridge
    relief += 0.003 * gauss_pair(x, y, 0.047, -0.002, 0.017, 0.014)  # cheekbones
    relief += 0.005 * gauss(x, y, 0.0, CHIN_Y + 0.012, 0.014, 0.010)  # chin
    relief -= 0.0025 * gauss(x, y, 0.0, MOUTH_Y - 0.016, 0.012, 0.004)  # groove under the lower lip
    # Nose: bridge ridge to a rounded tip, alae, nostril dimples.
    along = np.clip((NOSE_TOP_Y - y) / (NOSE_TOP_Y - NOSE_TIP_Y), 0, 1.15)
    width = 0.0065 + 0.004 * along**2
    ridge = (0.007 + 0.011 * along**1.6) * (1 - smoothstep(0.95, 1.15, along))
    nose = ridge * np.exp(-((x / width) ** 2)) * smoothstep(0.0, 0.15, along)
    nose = np.maximum(nose, 0.017 * gauss(x, y, 0.0, NOSE_TIP_Y - 0.001, 0.0075, 0.0068))
    nose = np.maximum(nose, 0.009 * gauss_pair(x, y, 0.011, NOSE_TIP_Y - 0.006, 0.0055, 0.0055))
    nostrils = 0.003 * gauss_pair(x, y, 0.0065, NOSE_TIP_Y - 0.0105, 0.0028, 0.002)
    relief += nose - nostrils
    # Lips around the mouth line; the slot between them is a deep, narrow groove.
    dy = y - MOUTH_Y
    across = np.clip(1 - (x / (MOUTH_HALF_WIDTH * 1.08)) ** 2, 0, 1) ** 0.6
    upper_lip = 0.0055 * across * np.exp(-(((dy - 0.004) / 0.0041) ** 2))
    lower_lip = 0.0060 * across * np.exp(-(((dy + 0.0048) / 0.0050) ** 2))
    philtrum = 0.0025 * gauss(x, dy, 0.0, 0.011, 0.006, 0.005)
    slot = smoothstep(-0.0004, 0.0004, SLOT_HALF - np.abs(dy)) * smoothstep(
        -0.001, 0.002, MOUTH_HALF_WIDTH - np.abs(x)
    )
    relief += upper_lip + lower_lip + philtrum - 0.022 * slot
    relief -= 0.010 * gauss_pair(x, y, EYE_X, EYE_Y, 0.019, 0.012)  # eye sockets
    z_face = z + relief * facing
    # Lids: near each eye the skin wraps the eyeball and opens in an almond.
    lid = np.full_like(x, -1.0)
    opening = np.zeros_like(x)
    for side in (1.0, -1.0):
        r2 = ((x - side * EYE_X) ** 2 + (y - EYE_Y) ** 2) / (EYE_RADIUS * 1.05) ** 2
        cap = EYE_Z + EYE_RADIUS * np.sqrt(np.clip(1 - r2, 0, 1)) + 0.0012
        lid = np.where(r2 < 1, np.maximum(lid, cap), lid)
        opening = np.maximum(opening, _eye_opening(x, y, side))
    near_eye = (
        smoothstep(
            0.0, 1.0, 1.0 - np.minimum(((np.abs(x) - EYE_X) / 0.020) ** 2 + ((y - EYE_Y) / 0.014) ** 2, 1.0)
        )
        * facing
    )
    z_lid = np.where(lid > -1, lid, z_face)
    z_skin = z_face * (1 - near_eye) + np.maximum(z_lid, z_face - 0.004) * near_eye
    z_skin = z_skin - 0.024 * opening * facing
    head = np.stack([x, y, z_skin], axis=1)

    parts = [head]
    for side in (1.0, -1.0):
        parts.append(topo.sphere_eye * EYE_RADIUS + np.array([side * EYE_X, EYE_Y, EYE_Z]))
    for side in (1.0, -1.0):
        parts.append(_ear(topo.sphere_ear, side))
    return Neutral(np.concatenate(parts), facing, neck, opening, slot, nose, upper_lip, lower_lip, dy)


def _rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _ear(unit: np.ndarray, side: float) -> np.ndarray:
    """A flattened ellipsoid with a bowl on its outer face, tilted back and flared out."""
    scale = np.array([0.0075, 0.032, 0.021])
    e = unit * scale
    bowl = smoothstep(0.0, 0.6, e[:, 0] / scale[0]) * (
        1 - (e[:, 1] / scale[1]) ** 2 - (e[:, 2] / scale[2]) ** 2
    )
    e[:, 0] -= 0.006 * np.clip(bowl, 0, 1)
    e = e @ _rotation("x", -12).T @ _rotation("y", 20).T
    e[:, 0] = side * (e[:, 0] + 0.076)
    return e + np.array([0.0, 0.008, -0.018])


def neutral_pad(head_values: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Extend a head-grid quantity to all vertices with zeros (eyes and ears)."""
    out = np.zeros(len(vertices))
    out[: len(head_values)] = head_values
    return out
