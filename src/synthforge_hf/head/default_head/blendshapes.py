"""The default head's identity and expression blendshapes: smooth displacement fields on the neutral
vertices (scalings, bulges and shifts localised by Gaussian weights), so a head stays valid for any
coefficients in the sampler's U(-2, 2)."""

from __future__ import annotations

import numpy as np

from .sculpt import (
    BROW_Y,
    CHIN_Y,
    EYE_HALF_HEIGHT,
    EYE_HALF_WIDTH,
    EYE_X,
    EYE_Y,
    MOUTH_HALF_WIDTH,
    MOUTH_Y,
    NECK_BOTTOM_Y,
    NECK_CENTRE_Z,
    NOSE_TIP_Y,
    NOSE_TOP_Y,
    Neutral,
    Topology,
    eyelid_curves,
    gauss,
    gauss_pair,
    neutral_pad,
    smoothstep,
)

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


def displacement_fields(
    neutral: Neutral, topo: Topology
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
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
    lower = smoothstep(0.0, -0.05, y - 0.0)  # 0 above the cheekbones, 1 at the jaw
    chin_w = gauss(x, y, 0.0, CHIN_Y + 0.005, 0.03, 0.02) * face
    nose_w = gauss(x, y, 0.0, 0.004, 0.02, 0.022) * face
    mouth_w = gauss(x, y, 0.0, MOUTH_Y, 0.032, 0.014) * face
    corner_w = gauss_pair(x, y, MOUTH_HALF_WIDTH, MOUTH_Y, 0.013, 0.013) * face
    brow_w = gauss_pair(x, y, 0.032, BROW_Y, 0.022, 0.012) * face
    inner_brow = gauss_pair(x, y, 0.014, BROW_Y - 0.004, 0.010, 0.009) * face
    cheek_w = gauss_pair(x, y, 0.040, -0.026, 0.016, 0.016) * face
    eye_w = np.maximum(gauss_pair(x, y, EYE_X, EYE_Y, 0.020, 0.014) * face, eyes.astype(float))
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
            * smoothstep(NECK_BOTTOM_Y, CHIN_Y - 0.01, y)
            * head
        ),
        "jaw_width": field(dx=0.10 * x * lower * (1 - neck_w) * head),
        "chin_height": field(dy=-0.004 * chin_w),
        "chin_forward": field(dz=0.004 * chin_w),
        "cheekbones": field(
            dx=0.002 * sx * gauss_pair(x, y, 0.050, 0.0, 0.015, 0.015) * face,
            dz=0.002 * gauss_pair(x, y, 0.045, 0.0, 0.015, 0.015) * face,
        ),
        "nose_length": field(dy=-0.12 * np.clip(NOSE_TOP_Y - y, 0, 0.04) * nose_w),
        "nose_width": field(dx=0.15 * x * nose_w * (np.abs(x) < 0.03)),
        "nose_projection": field(dz=0.25 * neutral_pad(neutral.nose, v) * nose_w),
        "nose_bridge": field(dz=0.0025 * gauss(x, y, 0.0, 0.018, 0.007, 0.010) * face),
        "nose_tip_height": field(dy=0.003 * gauss(x, y, 0.0, NOSE_TIP_Y - 0.004, 0.014, 0.010) * face),
        "eye_size": field(dx=0.10 * (x - sx * EYE_X) * eye_w, dy=0.10 * (y - EYE_Y) * eye_w),
        "eye_spacing": field(dx=0.0025 * sx * eye_w),
        "eye_tilt": field(dy=0.12 * (np.abs(x) - EYE_X) * eye_w),
        "brow_ridge": field(dz=0.0025 * gauss_pair(x, y, 0.028, BROW_Y - 0.002, 0.024, 0.008) * face),
        "lip_fullness": field(
            dy=0.0015 * np.tanh(neutral_pad(neutral.mouth_dy, v) / 0.003) * mouth_w, dz=0.0025 * mouth_w
        ),
        "mouth_width": field(dx=0.10 * x * mouth_w),
        "ear_size": field(dy=0.08 * (y - 0.008) * ears, dz=0.08 * (z + 0.018) * ears),
        "ear_protrusion": field(dx=0.003 * ear_sign * np.clip(-(z + 0.018) / 0.02 + 0.5, 0, 1.5)),
        "neck_width": field(dx=0.08 * x * neck_w, dz=0.08 * (z - NECK_CENTRE_Z) * neck_w),
        "forehead_slope": field(dz=-0.004 * smoothstep(0.04, 0.11, y) * face),
        "face_flatness": field(dz=-0.003 * face * (1 - neck_w)),
    }
    upper_lid = np.zeros(len(v))
    for side in (1.0, -1.0):
        u = np.clip((x - side * EYE_X) * side / (EYE_HALF_WIDTH * 1.25), -1, 1)
        upper, _ = eyelid_curves(u)
        # From the eye's centre line up to the upper margin, fading out over the lid above it.
        band = smoothstep(EYE_Y - 0.0005, EYE_Y + 0.0025, y) * smoothstep(upper + 0.012, upper, y)
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
        "nose_wrinkle": field(dy=0.0015 * gauss_pair(x, y, 0.011, NOSE_TIP_Y - 0.004, 0.008, 0.008) * face),
        "mouth_stretch": field(dx=0.08 * x * mouth_w, dy=-0.001 * mouth_w),
        "lips_part": field(dy=0.0006 * np.tanh(neutral_pad(neutral.mouth_dy, v) / 0.0008) * mouth_w),
    }
    return identity, expression
