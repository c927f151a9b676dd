"""The eyes painted into one sample's albedo: irises with fibres and a limbal ring, pupils, lashes and
lid lines along the eye openings, and the upper lid's shadow on the eyeball."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ...constants import CLASS_ID
from ..base import Scene
from .geometry import SamplePixels
from .maths import smoothstep
from .noise import IRIS_OFFSET, PORES, sample_noise

# 1 on the eyeballs, 2 on the lids (where lashes and lid lines are painted), 0 elsewhere; by class id.
_EYE_KIND = torch.zeros(len(CLASS_ID), dtype=torch.long)
_EYE_KIND[[CLASS_ID["left_eyeball"], CLASS_ID["right_eyeball"]]] = 1
_EYE_KIND[[CLASS_ID[n] for n in ("left_eye_region", "right_eye_region", "eye_region")]] = 2
# Each eyeball's class and the head joint it turns about.
_EYEBALL_JOINTS = (("left_eyeball", 3), ("right_eyeball", 4))


def eyeball_mask(labels: torch.Tensor) -> torch.Tensor:
    """Whether each label is an eyeball's."""
    return (labels == CLASS_ID["left_eyeball"]) | (labels == CLASS_ID["right_eyeball"])


def shift_max(mask: torch.Tensor, reach: int, downwards: bool) -> torch.Tensor:
    """For each pixel, whether ``mask`` (B,1,H,W) float holds within ``reach`` pixels below it
    (``downwards``) or above it."""
    height = mask.shape[2]
    if downwards:
        padded = F.pad(mask, (0, 0, 0, reach))
        return F.max_pool2d(padded, (reach, 1), stride=1)[:, :, 1 : height + 1]
    padded = F.pad(mask, (0, 0, reach, 0))
    return F.max_pool2d(padded, (reach, 1), stride=1)[:, :, :height]


def _eye_centres_and_gazes(
    scene: Scene, sample: int, head_to_world: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """World centre (3,) and gaze direction (3,) of the left and right eyeballs of a sample: the gaze
    runs from the eye's joint to the eyeball's front-most vertex in the rest pose."""
    joints_world = head_to_world(scene.head_output.joints[sample]).float().cpu()
    vertices = scene.vertices_world[sample].float().cpu()
    vertex_labels = scene.head.vertex_labels.cpu()
    rest_z = scene.head.v_template[:, 2].float().cpu()
    centres, gazes = [], []
    for eye, joint in _EYEBALL_JOINTS:
        on_eye = vertex_labels == CLASS_ID[eye]
        front = torch.where(on_eye, rest_z, torch.full_like(rest_z, -1e9)).argmax()
        centres.append(joints_world[joint])
        gazes.append(F.normalize(vertices[front] - joints_world[joint], dim=-1))
    return centres, gazes


def _paint_irises(
    scene: Scene,
    sample: SamplePixels,
    on_eyeballs: torch.Tensor,
    albedo: torch.Tensor,
    iris_colour: torch.Tensor,
    iris_offset: float,
    head_to_world: Callable[[torch.Tensor], torch.Tensor],
    iris_angle: float,
    pupil_angle: float,
) -> None:
    """Iris (with fibres and a limbal ring) and pupil into ``albedo`` (3,N) at the pixels
    ``on_eyeballs``, in place, by the angle between a pixel's eyeball point and the gaze axis."""
    origin = scene.cameras.centers[sample.index].float().cpu()
    points = origin + sample.depth.index_select(0, on_eyeballs)[:, None] * sample.rays.index_select(
        0, on_eyeballs
    )
    right = sample.labels.index_select(0, on_eyeballs) == CLASS_ID["right_eyeball"]
    centres, gazes = _eye_centres_and_gazes(scene, sample.index, head_to_world)
    centre = torch.where(right[:, None], centres[1], centres[0])
    gaze = torch.where(right[:, None], gazes[1], gazes[0])
    outwards = F.normalize(points - centre, dim=-1)
    angle = torch.arccos((outwards * gaze).sum(-1).clamp(-1, 1))
    up = torch.tensor([0.0, 1.0, 0.0]).expand_as(gaze)
    side = F.normalize(torch.linalg.cross(gaze, up), dim=-1)
    around = torch.atan2((outwards * torch.linalg.cross(side, gaze)).sum(-1), (outwards * side).sum(-1))
    fibres = sample_noise([PORES], around * (1 / math.pi) + iris_offset, angle * 0.05)[0]
    radial = ((angle - pupil_angle) / (iris_angle - pupil_angle)).clamp(0, 1)
    iris = iris_colour.view(3, 1) * ((1 + 0.35 * fibres) * (1.25 - 0.55 * smoothstep(0.55, 1.0, radial)))
    colour = torch.where(angle < iris_angle, iris, albedo.index_select(1, on_eyeballs))
    albedo.index_copy_(
        1, on_eyeballs, torch.where(angle < pupil_angle, torch.full_like(colour, 0.01), colour)
    )


def _paint_lids(sample: SamplePixels, on_eyeballs: torch.Tensor, albedo: torch.Tensor) -> None:
    """Lashes and lid lines into ``albedo`` (3,N), in place: lid pixels right above (upper lid) or below
    (lower lid) the eyeball, a crease above, and the upper lid's shadow on the eyeball; worked out in a
    crop around the visible eyeballs."""
    resolution = sample.label_image.shape[-1]
    reach = max(1, round(resolution / 128))
    margin = 4 * reach + 3
    eye_pixels = sample.pixels.index_select(0, on_eyeballs)
    eye_rows, eye_cols = eye_pixels // resolution, eye_pixels % resolution
    top, bottom = max(0, int(eye_rows.min()) - margin), min(resolution, int(eye_rows.max()) + margin + 1)
    left, right = max(0, int(eye_cols.min()) - margin), min(resolution, int(eye_cols.max()) + margin + 1)
    kind = _EYE_KIND[sample.label_image[top:bottom, left:right]][None, None]
    eyes_grid, lid_grid = (kind == 1).float(), (kind == 2).float()
    near_above = shift_max(eyes_grid, reach + 1, downwards=True)
    crease_band = shift_max(eyes_grid, 4 * reach + 2, downwards=True) - shift_max(
        eyes_grid, 2 * reach + 1, downwards=True
    )
    rings = torch.cat(
        [
            near_above * lid_grid,
            shift_max(eyes_grid, reach, downwards=False) * lid_grid * (1 - near_above),
            crease_band.clamp(0, 1) * lid_grid,
            shift_max(lid_grid, 2 * reach, downwards=False) * eyes_grid,
        ],
        1,
    ).reshape(4, -1)
    row, col = sample.pixels // resolution, sample.pixels % resolution
    inside = ((row >= top) & (row < bottom) & (col >= left) & (col < right)).nonzero()[:, 0]
    crop = (row.index_select(0, inside) - top) * (right - left) + col.index_select(0, inside) - left
    upper, lower, crease, lid_shadow = rings.index_select(1, crop).unbind(0)
    lashes = (0.9 * upper + 0.35 * lower).clamp(0, 1)
    shade = (1 - lashes * 0.92) * (1 - 0.25 * crease) * (1 - 0.3 * lid_shadow)
    albedo.index_copy_(1, inside, albedo.index_select(1, inside) * shade)


def paint_eyes(
    scene: Scene,
    sample: SamplePixels,
    albedo: torch.Tensor,
    iris_colour: torch.Tensor,
    offsets: list[float],
    head_to_world: Callable[[torch.Tensor], torch.Tensor],
    iris_angle: float,
    pupil_angle: float,
) -> torch.Tensor:
    """``albedo`` (3,N) of the ``sample``'s pixels with its irises, pupils, lashes and lid lines (painted
    in place; nothing when no eyeball is visible). ``iris_angle`` / ``pupil_angle``: half-angles
    (radians) of the iris and pupil seen from the eye centre."""
    on_eyeballs = eyeball_mask(sample.labels).nonzero()[:, 0]
    if not len(on_eyeballs):
        return albedo
    _paint_irises(
        scene,
        sample,
        on_eyeballs,
        albedo,
        iris_colour,
        offsets[IRIS_OFFSET],
        head_to_world,
        iris_angle,
        pupil_angle,
    )
    _paint_lids(sample, on_eyeballs, albedo)
    return albedo


# Each eye's iBUG points (corner, upper lid, upper lid, corner, lower lid, lower lid) with its eyeball's
# class and the class of the skin around it.
_EYE_OUTLINES = (
    ((36, 37, 38, 39, 40, 41), "right_eyeball", "right_eye_region"),
    ((42, 43, 44, 45, 46, 47), "left_eyeball", "left_eye_region"),
)


def _lid_curve(u: torch.Tensor, knots_u: torch.Tensor, knots_v: torch.Tensor) -> torch.Tensor:
    """A lid margin's height at ``u`` through four knots (corner, two lid points, corner, by u): the cubic
    through them, or straight segments between them when the lid points are out of order or bunched
    (a face seen edge-on)."""
    ordered = bool((knots_u[1:] - knots_u[:-1] > 0.05).all())
    if not ordered:
        order = knots_u.argsort()
        knots_u, knots_v = knots_u[order], knots_v[order]
        index = torch.searchsorted(knots_u.contiguous(), u.clamp(float(knots_u[0]), float(knots_u[-1])))
        index = index.clamp(1, 3)
        u0, u1 = knots_u[index - 1], knots_u[index]
        weight = ((u - u0) / (u1 - u0).clamp_min(1e-6)).clamp(0, 1)
        return knots_v[index - 1] + weight * (knots_v[index] - knots_v[index - 1])
    curve = torch.zeros_like(u)
    for i in range(4):
        basis = torch.ones_like(u)
        for j in range(4):
            if i != j:
                basis = basis * (u - knots_u[j]) / (knots_u[i] - knots_u[j])
        curve = curve + knots_v[i] * basis
    return curve


def close_lids_to_landmarks(label_image: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
    """``label_image`` (H,W) with each eyeball's pixels outside its lid margins, as the eye's six iBUG
    points draw them (``landmarks`` (68 or more,2) in pixels, centres at i + 0.5), given to the skin
    around the eye: the lids then cover the eyeball up to where the landmarks say the eye opens."""
    labels = label_image.clone()
    tolerance = 0.35  # pixels: the margin itself is open
    for points, eyeball_name, region_name in _EYE_OUTLINES:
        eyeball = (labels == CLASS_ID[eyeball_name]).nonzero()
        if not len(eyeball):
            continue
        outline = landmarks[list(points)].float()
        corner, axis = outline[0], outline[3] - outline[0]
        length = float(axis.norm())
        if length < 1.0:
            labels[eyeball[:, 0], eyeball[:, 1]] = CLASS_ID[region_name]
            continue
        along = axis / length
        up = torch.stack([along[1], -along[0]])  # image y points down: this is up for an upright eye
        if float((outline[1] + outline[2] - 2 * corner) @ up) < float(
            (outline[4] + outline[5] - 2 * corner) @ up
        ):
            up = -up  # the upper lid's points are on the other side (a head upside down)
        centres = eyeball.flip(1).float() + 0.5
        u = (centres - corner) @ along / length
        v = (centres - corner) @ up / length
        knots = (outline - corner) / length
        upper = _lid_curve(u, knots[[0, 1, 2, 3]] @ along, knots[[0, 1, 2, 3]] @ up)
        lower = _lid_curve(u, knots[[0, 5, 4, 3]] @ along, knots[[0, 5, 4, 3]] @ up)
        slack = tolerance / length
        inside = (u >= -slack) & (u <= 1 + slack) & (v <= upper + slack) & (v >= lower - slack)
        closed = eyeball[~inside]
        labels[closed[:, 0], closed[:, 1]] = CLASS_ID[region_name]
    return labels
