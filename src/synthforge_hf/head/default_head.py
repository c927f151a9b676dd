"""The embedded default head: a parametric human head built by code, so nothing is downloaded.

The neutral head is one closed grid (a sphere warped into cranium, face and neck, denser on the face)
sculpted by smooth analytic features (brow ridge, eye sockets and lids, nose, cheekbones, lips, a mouth
slot, chin), plus two eyeballs and two ears as separate closed meshes. Identity and expression
blendshapes are smooth displacement fields on the neutral vertices (scalings, bulges and shifts
localised by Gaussian weights), so a head stays valid for any coefficients in the sampler's U(-2, 2).
Labels, landmarks and skinning weights are assigned from the neutral geometry by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import PchipInterpolator

from ..constants import CLASS_ID
from .landmarks import landmarks_at_vertices
from .model import POSE_JOINTS, ParametricHeadModel

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
# temple, where the head turns away and the brow no longer reads as one (benchmarks/realism.py: 5.80%
# against 5.06% for the even arch, 4.94% for this; README).
BROW_POINTS = np.array(
    [[0.0130, 0.0429], [0.0248, 0.0455], [0.0372, 0.0464], [0.0494, 0.0448], [0.0597, 0.0389]]
)
NECK_TOP_Y, NECK_BOTTOM_Y, NECK_CENTRE_Z = -0.060, -0.300, -0.020
# The neck runs on below every frame the sampler's cameras see (its closed end would show as a point);
# the root joint stays at the base of the neck.
NECK_BASE_Y = -0.187

_RINGS, _SEGMENTS = 130, 100
_EYE_RINGS, _EYE_SEGMENTS = 14, 22
_EAR_RINGS, _EAR_SEGMENTS = 14, 20


# ----------------------------------------------------------------------------------------------
# Small smooth building blocks


def _brow_top(ax: np.ndarray) -> np.ndarray:
    """Height of the brow's upper edge at |x| = ``ax``: a monotone cubic through ``BROW_POINTS``."""
    return PchipInterpolator(BROW_POINTS[:, 0], BROW_POINTS[:, 1], extrapolate=True)(ax)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy, sx: float, sy: float) -> np.ndarray:
    return np.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _pair(x: np.ndarray, y: np.ndarray, cx: float, cy, sx: float, sy: float) -> np.ndarray:
    """Two Gaussian bumps mirrored about x = 0 (smooth across the midline, unlike a function of |x|)."""
    return np.maximum(_gauss(x, y, cx, cy, sx, sy), _gauss(x, y, -cx, cy, sx, sy))


def _warp(t: np.ndarray, strength: float) -> np.ndarray:
    """Odd monotone map of [-1, 1] onto itself, flatter (denser samples) near 0."""
    return (t + strength * t**3) / (1 + strength)


# ----------------------------------------------------------------------------------------------
# Topology


@dataclass(frozen=True)
class _Topology:
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


def _topology() -> _Topology:
    t = np.linspace(-1, 1, _RINGS + 1)[1:-1]
    theta = math.pi / 2 + _warp(t, 1.2) * (math.pi / 2) * 0.999 + 0.12 * (1 - t**2)
    phi = _warp(np.linspace(-1, 1, _SEGMENTS, endpoint=False), 1.4) * math.pi
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    theta_all = np.concatenate([[0.0], th.ravel(), [math.pi]])
    phi_all = np.concatenate([[0.0], ph.ravel(), [0.0]])
    rings = len(theta)

    def idx(r: int, k: int) -> int:
        return 1 + r * _SEGMENTS + (k % _SEGMENTS)

    head = [(0, idx(0, k), idx(0, k + 1)) for k in range(_SEGMENTS)]
    for r in range(rings - 1):
        for k in range(_SEGMENTS):
            a, b, c, d = idx(r, k), idx(r, k + 1), idx(r + 1, k), idx(r + 1, k + 1)
            # Diagonals mirror across the midline, so the neutral mesh is exactly left/right symmetric.
            head += [(a, d, b), (a, c, d)] if phi[k] < 0 else [(a, c, b), (b, c, d)]
    last = len(theta_all) - 1
    head += [(last, idx(rings - 1, k + 1), idx(rings - 1, k)) for k in range(_SEGMENTS)]
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
    return _Topology(theta_all, phi_all, np.concatenate(blocks), eye_v, ear_v)


# ----------------------------------------------------------------------------------------------
# The neutral sculpt


@dataclass
class _Neutral:
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
    return _smoothstep(-0.0003, 0.0006, inside)


def eyelid_curves(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lid margin heights at ``u`` (-1 inner corner ... +1 outer corner)."""
    centre = EYE_Y + 0.0012 * (1 - u**2)
    upper = centre + EYE_HALF_HEIGHT * (1 - u**2) * (1.0 + 0.25 * u)
    lower = centre - 0.75 * EYE_HALF_HEIGHT * (1 - u**2)
    return upper, lower


def _cranium(topo: _Topology) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    x = x * (1 - 0.26 * _smoothstep(0.1, 0.9, below) * (0.4 + 0.6 * front))
    z = z - 0.014 * front**2 * (1 - 0.6 * below)
    chin = _smoothstep(0.5, 0.9, below) * front**2
    y = y - 0.006 * chin
    z = z + 0.008 * chin
    x = x * (1 - 0.25 * chin * front**4)
    neck = _smoothstep(0.74, 0.90, below) * (1 - 0.65 * front**3)
    tube = np.clip((topo.theta - 2.45) / (math.pi - 2.45), 0, 1)
    neck = np.maximum(neck, _smoothstep(0.05, 0.3, tube))  # the front of the neck joins the tube too
    neck_y = NECK_TOP_Y - (NECK_TOP_Y - NECK_BOTTOM_Y) * tube
    closing = 1 - _smoothstep(0.985, 1.0, tube)
    flare = 1 + 0.3 * _smoothstep(0.35, 1.0, tube)  # widening towards the shoulders
    x = x * (1 - neck) + 0.052 * flare * sp * closing * neck
    y = y * (1 - neck) + np.minimum(neck_y, y) * neck
    z = z * (1 - neck) + (NECK_CENTRE_Z + 0.054 * cp * closing) * neck
    return x, y, z, neck


def _sculpt(topo: _Topology) -> _Neutral:
    x, y, z, neck = _cranium(topo)
    # 1 on the front of the face; 0 towards the sides, the neck and the poles of the grid.
    facing = (
        _smoothstep(0.15, 0.6, np.cos(topo.phi)) * (1 - neck) * _smoothstep(0.2, 0.45, np.sin(topo.theta))
    )
    relief = 0.005 * _pair(x, y, 0.028, BROW_Y - 0.002, 0.026, 0.008)  # brow ridge
    relief += 0.003 * _pair(x, y, 0.047, -0.002, 0.017, 0.014)  # cheekbones
    relief += 0.005 * _gauss(x, y, 0.0, CHIN_Y + 0.012, 0.014, 0.010)  # chin
    relief -= 0.0025 * _gauss(x, y, 0.0, MOUTH_Y - 0.016, 0.012, 0.004)  # groove under the lower lip
    # Nose: bridge ridge to a rounded tip, alae, nostril dimples.
    along = np.clip((NOSE_TOP_Y - y) / (NOSE_TOP_Y - NOSE_TIP_Y), 0, 1.15)
    width = 0.0065 + 0.004 * along**2
    ridge = (0.007 + 0.011 * along**1.6) * (1 - _smoothstep(0.95, 1.15, along))
    nose = ridge * np.exp(-((x / width) ** 2)) * _smoothstep(0.0, 0.15, along)
    nose = np.maximum(nose, 0.017 * _gauss(x, y, 0.0, NOSE_TIP_Y - 0.001, 0.0075, 0.0068))
    nose = np.maximum(nose, 0.009 * _pair(x, y, 0.011, NOSE_TIP_Y - 0.006, 0.0055, 0.0055))
    nostrils = 0.003 * _pair(x, y, 0.0065, NOSE_TIP_Y - 0.0105, 0.0028, 0.002)
    relief += nose - nostrils
    # Lips around the mouth line; the slot between them is a deep, narrow groove.
    dy = y - MOUTH_Y
    across = np.clip(1 - (x / (MOUTH_HALF_WIDTH * 1.08)) ** 2, 0, 1) ** 0.6
    upper_lip = 0.0055 * across * np.exp(-(((dy - 0.004) / 0.0041) ** 2))
    lower_lip = 0.0060 * across * np.exp(-(((dy + 0.0048) / 0.0050) ** 2))
    philtrum = 0.0025 * _gauss(x, dy, 0.0, 0.011, 0.006, 0.005)
    slot = _smoothstep(-0.0004, 0.0004, SLOT_HALF - np.abs(dy)) * _smoothstep(
        -0.001, 0.002, MOUTH_HALF_WIDTH - np.abs(x)
    )
    relief += upper_lip + lower_lip + philtrum - 0.022 * slot
    relief -= 0.010 * _pair(x, y, EYE_X, EYE_Y, 0.019, 0.012)  # eye sockets
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
        _smoothstep(
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
    return _Neutral(np.concatenate(parts), facing, neck, opening, slot, nose, upper_lip, lower_lip, dy)


def _rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _ear(unit: np.ndarray, side: float) -> np.ndarray:
    """A flattened ellipsoid with a bowl on its outer face, tilted back and flared out."""
    scale = np.array([0.0075, 0.032, 0.021])
    e = unit * scale
    bowl = _smoothstep(0.0, 0.6, e[:, 0] / scale[0]) * (
        1 - (e[:, 1] / scale[1]) ** 2 - (e[:, 2] / scale[2]) ** 2
    )
    e[:, 0] -= 0.006 * np.clip(bowl, 0, 1)
    e = e @ _rotation("x", -12).T @ _rotation("y", 20).T
    e[:, 0] = side * (e[:, 0] + 0.076)
    return e + np.array([0.0, 0.008, -0.018])


# ----------------------------------------------------------------------------------------------
# Blendshapes: smooth displacement fields on the neutral vertices


def _fields(neutral: _Neutral, topo: _Topology) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Identity and expression displacement fields (V,3), each for a coefficient of 1."""
    v = neutral.vertices
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    n_head = topo.num_head
    head = np.zeros(len(v), dtype=bool)
    head[:n_head] = True
    face = np.zeros(len(v))
    face[:n_head] = neutral.facing
    eyes = np.zeros(len(v), dtype=bool)
    eyes[topo.block("left_eye")] = True
    eyes[topo.block("right_eye")] = True
    ears = np.zeros(len(v), dtype=bool)
    ears[topo.block("left_ear")] = True
    ears[topo.block("right_ear")] = True
    lower = _smoothstep(0.0, -0.05, y - 0.0)  # 0 above the cheekbones, 1 at the jaw
    chin_w = _gauss(x, y, 0.0, CHIN_Y + 0.005, 0.03, 0.02) * face
    nose_w = _gauss(x, y, 0.0, 0.004, 0.02, 0.022) * face
    mouth_w = _gauss(x, y, 0.0, MOUTH_Y, 0.032, 0.014) * face
    corner_w = _pair(x, y, MOUTH_HALF_WIDTH, MOUTH_Y, 0.013, 0.013) * face
    brow_w = _pair(x, y, 0.032, BROW_Y, 0.022, 0.012) * face
    inner_brow = _pair(x, y, 0.014, BROW_Y - 0.004, 0.010, 0.009) * face
    cheek_w = _pair(x, y, 0.040, -0.026, 0.016, 0.016) * face
    eye_w = np.maximum(_pair(x, y, EYE_X, EYE_Y, 0.020, 0.014) * face, eyes.astype(float))
    ear_sign = np.sign(x) * ears
    neck_w = np.zeros(len(v))
    neck_w[:n_head] = neutral.neck

    def field(dx=0.0, dy=0.0, dz=0.0) -> np.ndarray:
        return np.stack(np.broadcast_arrays(dx, dy, dz), axis=1).astype(np.float64) * np.ones((len(v), 1))

    sx = np.sign(x)
    identity = {
        "head_width": field(dx=0.06 * x),
        "head_height": field(dy=0.05 * np.clip(y - 0.0, 0, None)),
        "head_depth": field(dz=0.06 * np.clip(-(z - 0.0), 0, None)),
        # Stretch between the eyes and the chin; below, a shift that fades out down the neck.
        "face_length": field(
            dy=-0.10
            * np.clip(EYE_Y - y, 0, EYE_Y - CHIN_Y)
            * _smoothstep(NECK_BOTTOM_Y, CHIN_Y - 0.01, y)
            * head
        ),
        "jaw_width": field(dx=0.10 * x * lower * (1 - neck_w) * head),
        "chin_height": field(dy=-0.004 * chin_w),
        "chin_forward": field(dz=0.004 * chin_w),
        "cheekbones": field(
            dx=0.002 * sx * _pair(x, y, 0.050, 0.0, 0.015, 0.015) * face,
            dz=0.002 * _pair(x, y, 0.045, 0.0, 0.015, 0.015) * face,
        ),
        "nose_length": field(dy=-0.12 * np.clip(NOSE_TOP_Y - y, 0, 0.04) * nose_w),
        "nose_width": field(dx=0.15 * x * nose_w * (np.abs(x) < 0.03)),
        "nose_projection": field(dz=0.25 * neutral_pad(neutral.nose, v) * nose_w),
        "nose_bridge": field(dz=0.0025 * _gauss(x, y, 0.0, 0.018, 0.007, 0.010) * face),
        "nose_tip_height": field(dy=0.003 * _gauss(x, y, 0.0, NOSE_TIP_Y - 0.004, 0.014, 0.010) * face),
        "eye_size": field(dx=0.10 * (x - sx * EYE_X) * eye_w, dy=0.10 * (y - EYE_Y) * eye_w),
        "eye_spacing": field(dx=0.0025 * sx * eye_w),
        "eye_tilt": field(dy=0.12 * (np.abs(x) - EYE_X) * eye_w),
        "brow_ridge": field(dz=0.0025 * _pair(x, y, 0.028, BROW_Y - 0.002, 0.024, 0.008) * face),
        "lip_fullness": field(
            dy=0.0015 * np.tanh(neutral_pad(neutral.mouth_dy, v) / 0.003) * mouth_w, dz=0.0025 * mouth_w
        ),
        "mouth_width": field(dx=0.10 * x * mouth_w),
        "ear_size": field(dy=0.08 * (y - 0.008) * ears, dz=0.08 * (z + 0.018) * ears),
        "ear_protrusion": field(dx=0.003 * ear_sign * np.clip(-(z + 0.018) / 0.02 + 0.5, 0, 1.5)),
        "neck_width": field(dx=0.08 * x * neck_w, dz=0.08 * (z - NECK_CENTRE_Z) * neck_w),
        "forehead_slope": field(dz=-0.004 * _smoothstep(0.04, 0.11, y) * face),
        "face_flatness": field(dz=-0.003 * face * (1 - neck_w)),
    }
    upper_lid = np.zeros(len(v))
    for side in (1.0, -1.0):
        u = np.clip((x - side * EYE_X) * side / (EYE_HALF_WIDTH * 1.25), -1, 1)
        upper, _ = eyelid_curves(u)
        # From the eye's centre line up to the upper margin, fading out over the lid above it.
        band = _smoothstep(EYE_Y - 0.0005, EYE_Y + 0.0025, y) * _smoothstep(upper + 0.012, upper, y)
        upper_lid = np.maximum(upper_lid, band * (1 - u**2) * (np.sign(x) == side) * face)
    lid_drop = EYE_HALF_HEIGHT * 0.5  # a coefficient of 2 half-closes the eye, 4 closes it
    expression = {
        "smile": field(
            dx=0.0015 * sx * corner_w, dy=0.0025 * corner_w + 0.0012 * cheek_w, dz=-0.0012 * corner_w
        ),
        "mouth_corners_down": field(dy=-0.0022 * corner_w),
        "pucker": field(dx=-0.15 * x * mouth_w, dz=0.004 * mouth_w),
        "brows_raise": field(dy=0.003 * brow_w),
        "brows_frown": field(dx=-0.002 * sx * inner_brow, dy=-0.002 * inner_brow),
        "blink_left": field(dy=-lid_drop * upper_lid * (x > 0), dz=0.5 * lid_drop * upper_lid * (x > 0)),
        "blink_right": field(dy=-lid_drop * upper_lid * (x < 0), dz=0.5 * lid_drop * upper_lid * (x < 0)),
        "cheek_puff": field(dx=0.003 * sx * cheek_w, dz=0.002 * cheek_w),
        "nose_wrinkle": field(dy=0.0015 * _pair(x, y, 0.011, NOSE_TIP_Y - 0.004, 0.008, 0.008) * face),
        "mouth_stretch": field(dx=0.08 * x * mouth_w, dy=-0.001 * mouth_w),
        "lips_part": field(dy=0.0006 * np.tanh(neutral_pad(neutral.mouth_dy, v) / 0.0008) * mouth_w),
    }
    return identity, expression


def neutral_pad(head_values: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Extend a head-grid quantity to all vertices with zeros (eyes and ears)."""
    out = np.zeros(len(vertices))
    out[: len(head_values)] = head_values
    return out


# ----------------------------------------------------------------------------------------------
# Labels, landmarks and skeleton


def _labels(neutral: _Neutral, topo: _Topology) -> np.ndarray:
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
    brow_curve = _brow_top(ax)
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


def _landmark_vertices(neutral: _Neutral, topo: _Topology) -> np.ndarray:
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


def _skeleton(neutral: _Neutral, topo: _Topology) -> tuple[np.ndarray, np.ndarray]:
    """Joint regressor (5,V) and skinning weights (V,5) for (global, neck, jaw, left_eye, right_eye)."""
    v = neutral.vertices
    n = len(v)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    regressor = np.zeros((len(POSE_JOINTS), n))
    rings = (np.arange(1, topo.num_head - 1) - 1) // _SEGMENTS
    ring_ids = [np.arange(1 + r * _SEGMENTS, 1 + (r + 1) * _SEGMENTS) for r in range(rings.max() + 1)]
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
    follows_head = _smoothstep(-0.175, -0.095, y)
    below_mouth = _smoothstep(0.0005, -0.003, neutral_pad(neutral.mouth_dy, v))
    jaw = below_mouth * (1 - _smoothstep(0.045, 0.072, np.abs(x))) * _smoothstep(-0.02, 0.01, z)
    jaw *= 1 - _smoothstep(0.3, 0.9, neutral_pad(neutral.neck, v))
    jaw[topo.num_head :] = 0.0
    weights[:, 0] = 1 - follows_head
    weights[:, 1] = follows_head * (1 - jaw)
    weights[:, 2] = follows_head * jaw
    for joint, part in ((3, "left_eye"), (4, "right_eye")):
        weights[topo.block(part)] = 0.0
        weights[topo.block(part), joint] = 1.0
    return regressor, weights


def build_default_head() -> ParametricHeadModel:
    """Build the embedded default head (deterministic; about a second on one core)."""
    topo = _topology()
    neutral = _sculpt(topo)
    identity, expression = _fields(neutral, topo)
    labels = _labels(neutral, topo)
    regressor, weights = _skeleton(neutral, topo)
    landmark_face, landmark_bary = landmarks_at_vertices(topo.faces, _landmark_vertices(neutral, topo))
    head = ParametricHeadModel(
        num_vertices=len(neutral.vertices),
        num_faces=len(topo.faces),
        num_shape=len(identity),
        num_expression=len(expression),
        name="default",
        watertight=True,
        shape_names=tuple(identity),
        expression_names=tuple(expression),
    )
    f32 = torch.float32
    head.v_template.copy_(torch.tensor(neutral.vertices, dtype=f32))
    head.shapedirs.copy_(torch.tensor(np.stack(list(identity.values()), axis=-1), dtype=f32))
    head.exprdirs.copy_(torch.tensor(np.stack(list(expression.values()), axis=-1), dtype=f32))
    head.joint_regressor.copy_(torch.tensor(regressor, dtype=f32))
    head.lbs_weights.copy_(torch.tensor(weights, dtype=f32))
    head.faces.copy_(torch.tensor(topo.faces))
    head.landmark_face_idx.copy_(torch.tensor(landmark_face))
    head.landmark_bary.copy_(torch.tensor(landmark_bary, dtype=f32))
    head.vertex_labels.copy_(torch.tensor(labels))
    return head


IDENTITY_COMPONENTS = (
    "head_width",
    "head_height",
    "head_depth",
    "face_length",
    "jaw_width",
    "chin_height",
    "chin_forward",
    "cheekbones",
    "nose_length",
    "nose_width",
    "nose_projection",
    "nose_bridge",
    "nose_tip_height",
    "eye_size",
    "eye_spacing",
    "eye_tilt",
    "brow_ridge",
    "lip_fullness",
    "mouth_width",
    "ear_size",
    "ear_protrusion",
    "neck_width",
    "forehead_slope",
    "face_flatness",
)
EXPRESSION_COMPONENTS = (
    "smile",
    "mouth_corners_down",
    "pucker",
    "brows_raise",
    "brows_frown",
    "blink_left",
    "blink_right",
    "cheek_puff",
    "nose_wrinkle",
    "mouth_stretch",
    "lips_part",
)
