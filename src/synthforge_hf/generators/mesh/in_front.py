"""The parts drawn in front of the head mesh (hair with volume, hats, clothes, glasses, hands, masks and
held objects): `Layers` composites them into a sample's image by depth and records what each pixel
shows, and `draw_in_front` draws those a generator's configuration turns on. Each part's random numbers
come from one table per sample (`PART_NUMBERS`), in a fixed order: a part added later appends its
numbers, so the others' stay as they were."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ...constants import CLASS_ID, PART_ID
from ...head.lbs import head_rotation
from ...rendering.cameras import WORLD_UNITS_PER_METRE
from ..base import Scene
from .clothing import NUMBERS_PER_SAMPLE as CLOTHING_NUMBERS
from .clothing import render_torso
from .geometry import SamplePixels
from .glasses import NUMBERS_PER_SAMPLE as GLASSES_NUMBERS
from .glasses import render_glasses
from .hair import NUMBERS_PER_SAMPLE as HAIR_NUMBERS
from .hair import Skull, has_hair_volume, render_hair_volume, rest_frame
from .hats import NUMBERS_PER_SAMPLE as HAT_NUMBERS
from .hats import hat_kind, render_hat
from .held_objects import render_held_object
from .occluders import NUMBERS_PER_SAMPLE as OCCLUDER_NUMBERS
from .occluders import occluder_kind, render_face_mask, render_hand
from .skin_detail import NUMBERS_PER_SAMPLE as SKIN_NUMBERS

PART_NUMBERS = (CLOTHING_NUMBERS, GLASSES_NUMBERS, HAIR_NUMBERS, OCCLUDER_NUMBERS, SKIN_NUMBERS, HAT_NUMBERS)
CLOTHING, GLASSES, HAIR, OCCLUDER, SKIN, HAT = range(len(PART_NUMBERS))
_ROOT_JOINT, _NECK_JOINT = 0, 1  # the head model's joints the torso and the hair turn about


class HeadAnchors(NamedTuple):
    """What the parts in front of the head measure on the head once per batch: its joints in the rest
    pose (J,3), the base of its neck where clothes hang (`clothing.torso_anchor`; None without clothes)
    and its skull (`hair.scalp_outline`; None without hair or hats)."""

    rest_joints: torch.Tensor
    notch: torch.Tensor | None
    skull: Skull | None


class SampleView(NamedTuple):
    """One sample as the parts in front of its head see it: its head's pixels, its camera's centre (3,)
    and rays (H*W,3), its lights, ambient light (3,) and appearance ``params``, each part's random numbers
    (in `PART_NUMBERS` order), the shaded skin ``radiance`` and its ``albedo`` (3,N), and the image side."""

    sample: SamplePixels
    camera_centre: torch.Tensor
    rays: torch.Tensor
    lights: list[tuple[torch.Tensor, torch.Tensor]]
    ambient: torch.Tensor
    params: dict[str, torch.Tensor]
    numbers: list[torch.Tensor]
    radiance: torch.Tensor
    albedo: torch.Tensor
    resolution: int


class Layers:
    """What one image shows in front of the head as parts are drawn into it: ``image`` (3,H,W), painted
    in place; ``depth`` (H*W) of the nearest part at each pixel (metres along the optical axis, inf where
    the head or the background shows), the class its pixels take in the segmentation (``labels``) and
    which part shows there (``parts``, `constants.PART_CLASSES` ids, 0 where none does)."""

    def __init__(self, image: torch.Tensor, head_depth: torch.Tensor):
        self.image = image
        self.nearest = torch.where(head_depth > 0, head_depth, torch.inf)
        self.depth = torch.full_like(self.nearest, torch.inf)
        self.labels = torch.zeros(self.nearest.shape, dtype=torch.long)
        self.parts = torch.zeros(self.nearest.shape, dtype=torch.long)

    def draw(self, part: str, depth: torch.Tensor, radiance: torch.Tensor, label: int = 0) -> None:
        """The ``part`` (a `constants.PART_CLASSES` name) whose surface is at ``depth`` (H*W, inf where
        absent) with ``radiance`` (3,H*W), shown where it is nearer than what is there; its pixels take
        the class ``label`` in the segmentation."""
        shown = depth < self.nearest
        self.image.view(3, -1)[:, shown] = radiance[:, shown]
        self.nearest[shown] = self.depth[shown] = depth[shown]
        self.labels[shown] = label
        self.parts[shown] = PART_ID[part]

    def tint(self, part: str, depth: torch.Tensor, transmittance: torch.Tensor) -> None:
        """The clear surface of ``part`` at ``depth`` (H*W) that lets ``transmittance`` (3,) of the light
        through: what is behind keeps its segmentation class, the part map shows the part."""
        seen_through = depth < self.nearest
        self.image.view(3, -1)[:, seen_through] *= transmittance[:, None]
        self.parts[seen_through] = PART_ID[part]


def draw_in_front(parts: dict, layers: Layers, scene: Scene, anchors: HeadAnchors, view: SampleView) -> None:
    """Draw the parts in front of the head that ``parts`` (`MeshFaceGenerator`'s configuration) turns on
    into one sample's ``layers``: hair with volume, a hat, clothes, glasses, then a hand, a face mask or a
    held object."""
    sample, numbers = view.sample, view.numbers
    rotation = head_rotation(scene.pose[sample.index : sample.index + 1])[0]
    skull = anchors.skull
    if skull is not None:
        frame = rest_frame(
            anchors.rest_joints[_NECK_JOINT],
            rotation,
            scene.head_output.joints[sample.index, _NECK_JOINT],
            view.camera_centre,
            view.rays,
        )
    hair = parts.hair_volume or parts.hair_styles
    if hair and skull is not None and has_hair_volume(float(view.params["hair_density"]), numbers[HAIR]):
        hair_depth, hair_radiance = render_hair_volume(
            skull,
            frame,
            view.rays,
            view.lights,
            view.ambient,
            view.params["hair"],
            float(view.params["hair_shine"]),
            numbers[HAIR],
            styled=parts.hair_styles,
        )
        layers.draw("hair", hair_depth, hair_radiance, CLASS_ID["scalp"])
    hat = hat_kind(numbers[HAT]) if parts.hats and skull is not None else None
    if hat is not None:
        layers.draw("hat", *render_hat(skull, frame, view.rays, view.lights, view.ambient, hat, numbers[HAT]))
    if parts.clothing:
        layers.draw(
            "cloth",
            *render_torso(
                anchors.notch,
                anchors.rest_joints[_ROOT_JOINT],
                scene.pose[sample.index, :3],
                scene.head_output.joints[sample.index, _ROOT_JOINT],
                view.camera_centre,
                view.rays,
                view.lights,
                view.ambient,
                view.params["skin"],
                numbers[CLOTHING],
            ),
        )
    if parts.glasses:
        frame_depth, frame_radiance, lens_depth, transmittance = render_glasses(
            scene.head_output.landmarks_3d[sample.index],
            rotation,
            view.camera_centre,
            view.rays,
            view.lights,
            view.ambient,
            numbers[GLASSES],
        )
        layers.tint("eye_g", lens_depth, transmittance)
        layers.draw("eye_g", frame_depth, frame_radiance)
    kind = occluder_kind(numbers[OCCLUDER]) if parts.occluders else None
    if kind is None:
        return
    landmarks = scene.annotations.landmarks_2d[sample.index].float().cpu()
    skin_depth = sample.depth / WORLD_UNITS_PER_METRE
    if kind == "hand":
        layers.draw(
            "hand",
            *render_hand(
                landmarks,
                skin_depth,
                view.rays,
                view.lights,
                view.ambient,
                view.params["skin"],
                view.resolution,
                numbers[OCCLUDER],
            ),
        )
    elif kind == "object":
        layers.draw(
            "object",
            *render_held_object(
                landmarks,
                skin_depth,
                view.rays,
                view.lights,
                view.ambient,
                view.resolution,
                numbers[OCCLUDER],
            ),
        )
    else:
        layers.draw(
            "face_mask",
            *render_face_mask(
                sample.pixels,
                skin_depth,
                view.radiance,
                view.albedo,
                landmarks,
                view.resolution,
                numbers[OCCLUDER],
            ),
        )
