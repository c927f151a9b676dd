"""`MeshFaceGenerator`, the diffusers component that renders the head mesh itself: per batch it samples
the appearance parameters, lights and background, then paints, shades and photographs each sample's
face pixels with the package's stages."""

from __future__ import annotations

import functools

import torch
from diffusers.configuration_utils import register_to_config

from ...head.model import ParametricHeadModel
from ...rendering.cameras import WORLD_UNITS_PER_METRE
from ...rendering.fragments import Fragments
from ...rendering.parallel import parallel_map, split
from ..base import FaceGenerator, GeneratorOutput, Scene
from .appearance import paint_albedo
from .background import render_background
from .camera import photograph
from .clothing import torso_anchor
from .eyes import close_lids_to_landmarks, paint_eyes
from .geometry import (
    REST_MAPS,
    SamplePixels,
    interpolate,
    rest_pose_maps,
    rotation_rest_to_world,
    vertex_normals,
)
from .hair import scalp_outline
from .in_front import PART_NUMBERS, SKIN, HeadAnchors, Layers, SampleView, draw_in_front
from .lighting import KEY, ambient_occlusion, cast_shadow, environment_light, sample_lights, shade
from .maths import unit
from .mouth import paint_mouth
from .noise import noise_bank
from .parameters import _FIELD, LATENT_FIELDS, SKIN_TONES, appearance_parameters, seeded_uniforms
from .scenes import light_the_scene, scene_numbers
from .skin_detail import makeup_and_age

# Each sample's random numbers (from its texture seed), by use.
_NUMBERS_PER_SAMPLE = 24
_TEXTURE_OFFSETS, _LIGHT_NUMBERS, _CAMERA_NUMBERS = slice(0, 8), slice(8, 16), slice(16, 24)


def _pixel_maps(
    head: ParametricHeadModel,
    vertices: torch.Tensor,
    rest_maps: tuple[torch.Tensor, torch.Tensor],
    fragments: Fragments,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The foreground pixels of a batch's ``fragments`` (their flat indices over the batch (N,)) and, at
    them, the posed geometry (6,N: world normal, hair strand direction) from the posed ``vertices``
    (B,V,3), and the ``head``'s rest-pose maps (C,N) (`rest_pose_maps`: maps and strand directions)."""
    hw = fragments.face_index.shape[1] * fragments.face_index.shape[2]
    foreground = (fragments.face_index >= 0).reshape(-1).nonzero()[:, 0]
    faces = head.faces.cpu()
    rest = head.v_template.float().cpu()
    maps, strand_rest = rest_maps
    rotation = rotation_rest_to_world(rest, vertices)
    posed = torch.cat(
        [vertex_normals(vertices, faces), torch.einsum("vj,bij->bvi", strand_rest, rotation)], -1
    )
    corners = faces.index_select(0, fragments.face_index.view(-1).index_select(0, foreground)).T.contiguous()
    weights = fragments.barycentric.view(-1, 3).index_select(0, foreground).T.contiguous()
    per_sample = corners + (foreground // hw) * vertices.shape[1]
    geometry = interpolate(posed.view(-1, posed.shape[-1]), per_sample, weights)
    return foreground, geometry, interpolate(maps, corners, weights)


# The optional parts of the appearance: each a boolean of `MeshFaceGenerator`'s configuration, off by default.
APPEARANCE_PARTS = (
    "clothing",
    "lids_follow_landmarks",
    "teeth",
    "glasses",
    "hair_volume",
    "hair_styles",
    "scenes",
    "occluders",
    "skin_detail",
    "hats",
)


class MeshFaceGenerator(FaceGenerator):
    """Shaded rendering of the head mesh with sampled skin, hair, eyes, lighting, background and camera.

    Args:
        latent_dim: size of the appearance latent (at least the number of appearance fields).
        iris_angle / pupil_angle: half-angles (radians) of the iris and pupil seen from the eye centre.
        skin_texture_strength: amplitude of the skin albedo noise (pores scale with it).
        clothing: dress the head: shoulders and a garment below the neck (`clothing.render_torso`); where
            they cover the neck, the pipeline takes those pixels and landmarks out of the head's labels.
        lids_follow_landmarks: close the lids over the eyeballs down to the lid margins that the eyes'
            iBUG points draw (`eyes.close_lids_to_landmarks`), so the eye opens where its landmarks say;
            the eyeball pixels the lids cover are labelled as the skin around the eye.
        teeth: paint teeth and a tongue into open mouths (`mouth.paint_mouth`; labels unchanged).
        glasses: put eyeglasses or sunglasses on about one face in three (`glasses.render_glasses`); their
            frames cover what is behind them as the clothes do, their lenses tint it.
        hair_volume: give full heads of hair volume: a shell over the skull up to the head's hairline
            (`hair.render_hair_volume`); the pixels it covers become scalp in the labels.
        hair_styles: give hair with volume (implied) a style per head (`hair.HAIR_STYLES`): short, a fringe
            down to the brows, long hair falling past the jaw, both, or hair tied back in a bun; about one
            head in four curls.
        scenes: put the head in a room or outdoors (`scenes.render_scene`) instead of the abstract
            backdrop, and light the face as the scene would (`scenes.light_the_scene`: the sun, clouds,
            lamps and a window); the ambient light takes the scene's colour as it takes the backdrop's.
        occluders: raise a hand to the chin, a jaw or the mouth of about one face in six, put a cloth
            face mask on about one in ten (`occluders.render_hand`, `occluders.render_face_mask`), and
            have about one in twelve hold up a phone to an ear, a cup to the mouth or a microphone below
            it (`held_objects.render_held_object`); they cover the face as the glasses' frames do.
        skin_detail: make-up (lipstick, eye shadow, blush) on about one face in three and lines of age
            (forehead, crow's feet, folds beside the nose) on older faces (`skin_detail.makeup_and_age`).
        hats: a knitted beanie or a cap with a brim on about one head in seven (`hats.render_hat`); it covers
            the hair and forehead as the glasses' frames cover the face.
    """

    # The class keeps the module path it had before `mesh` became a package (the package re-exports
    # it): saved pipelines' model_index.json and datasets' pipeline fingerprints record this path.
    __module__ = "synthforge_hf.generators.mesh"

    @register_to_config
    def __init__(
        self,
        latent_dim: int = len(LATENT_FIELDS),
        iris_angle: float = 0.50,
        pupil_angle: float = 0.20,
        skin_texture_strength: float = 0.08,
        clothing: bool = False,
        lids_follow_landmarks: bool = False,
        teeth: bool = False,
        glasses: bool = False,
        hair_volume: bool = False,
        hair_styles: bool = False,
        scenes: bool = False,
        occluders: bool = False,
        skin_detail: bool = False,
        hats: bool = False,
    ):
        super().__init__()
        if latent_dim < len(LATENT_FIELDS):
            raise ValueError(f"latent_dim must be >= {len(LATENT_FIELDS)}")
        self.register_buffer("skin_tones", torch.tensor(SKIN_TONES))
        self.register_buffer("_device_anchor", torch.zeros(0), persistent=False)
        self._rest_maps_cache: tuple[object, tuple[torch.Tensor, torch.Tensor]] | None = None

    @property
    def part_map(self) -> bool:
        """Whether a part drawn in front of the head is on (hair with volume, hats, clothes, glasses, hands
        and masks): then the outputs' extras hold the ``parts`` map (`in_front.Layers.parts`)."""
        config = self.config
        parts = (config.hair_volume, config.hair_styles, config.hats, config.clothing, config.glasses)
        return any(parts) or config.occluders

    def sample_latents(self, generators: list[torch.Generator | None]) -> torch.Tensor:
        return torch.stack([torch.rand(self.config.latent_dim, generator=g) for g in generators])

    def _rest_maps(self, head: ParametricHeadModel) -> tuple[torch.Tensor, torch.Tensor]:
        """`rest_pose_maps` of ``head``, kept while the same head (same template tensor) is rendered."""
        key = (id(head), head.v_template.data_ptr(), tuple(head.v_template.shape))
        if self._rest_maps_cache is None or self._rest_maps_cache[0] != key:
            self._rest_maps_cache = (key, rest_pose_maps(head))
        return self._rest_maps_cache[1]

    def forward(self, scene: Scene) -> GeneratorOutput:
        """Render images (B,3,H,W) in [0,1].

        Samples are shaded one at a time over their foreground pixels: the tensors are small (they stay
        in cache), so each piece of the batch runs on one intra-op thread, the pieces side by side on
        the CPU cores (`parallel_map`), which avoids the synchronisation cost of many small parallel ops
        (large on shared CPUs)."""
        self._rest_maps(scene.head)  # the shared tables, made before the threads start
        noise_bank()
        pieces = parallel_map(functools.partial(self._render, scene), split(scene.latents.shape[0]))
        images, occluders, occluder_labels, part_maps, segmentation = zip(*pieces, strict=True)
        return GeneratorOutput(
            torch.cat(images),
            extras={} if part_maps[0] is None else {"parts": torch.cat(part_maps)},
            occluder_depth=None if occluders[0] is None else torch.cat(occluders),
            occluder_labels=None if occluder_labels[0] is None else torch.cat(occluder_labels),
            segmentation=None if segmentation[0] is None else torch.cat(segmentation),
        )

    def _render(
        self, scene: Scene, samples: slice
    ) -> tuple[
        torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None
    ]:
        """Images (b,3,H,W) of the ``samples`` of the scene; the depth (b,H,W) of the parts drawn in front
        of the head (metres along the optical axis, inf where none is), the class their pixels take and
        which part each pixel shows (`Layers.parts`; all three None without such parts); and the labels
        (b,H,W) the images were painted with where they are not the scene's (None where they are)."""
        latents = scene.latents[samples].float().cpu()
        resolution = scene.resolution
        all_fragments = scene.annotations.fragments
        fragments = Fragments(
            all_fragments.face_index[samples].cpu(),
            all_fragments.barycentric[samples].cpu(),
            all_fragments.depth[samples].cpu(),
        )
        labels = scene.annotations.segmentation[samples].cpu()
        if self.config.lids_follow_landmarks:
            landmarks = scene.annotations.landmarks_2d[samples].float().cpu()
            labels = torch.stack(
                [close_lids_to_landmarks(*pair) for pair in zip(labels, landmarks, strict=True)]
            )
        cameras = scene.cameras[samples]
        batch, hw = labels.shape[0], resolution * resolution
        numbers = seeded_uniforms(latents[:, _FIELD["texture_seed"]], _NUMBERS_PER_SAMPLE)
        on_skull = self.config.hair_volume or self.config.hair_styles or self.config.hats
        in_front = self.part_map
        if in_front or self.config.skin_detail:  # the parts' own random numbers
            all_part_numbers = seeded_uniforms(
                (latents[:, _FIELD["texture_seed"]] + 0.5) % 1.0, sum(PART_NUMBERS)
            ).split(list(PART_NUMBERS), dim=1)
        if in_front:  # what the parts drawn in front of the head need, once for the samples
            anchors = HeadAnchors(
                scene.head.joint_regressor.float().cpu() @ scene.head.v_template.float().cpu(),
                torso_anchor(scene.head) if self.config.clothing else None,
                scalp_outline(scene.head) if on_skull else None,
            )
        params = appearance_parameters(
            latents, tuple(map(tuple, self.skin_tones.tolist())), self.config.skin_texture_strength
        )
        vertices = scene.vertices_world[samples].float().cpu()
        foreground, geometry, rest_maps = _pixel_maps(
            scene.head, vertices, self._rest_maps(scene.head), fragments
        )
        starts = torch.searchsorted(foreground, torch.arange(batch + 1) * hw).tolist()
        rays = cameras.ray_directions(resolution).float().cpu().reshape(batch, hw, 3)
        lights = sample_lights(latents, cameras, numbers[:, _LIGHT_NUMBERS])
        background = render_background(latents, resolution, self.config.scenes)
        environment = environment_light(background)
        if self.config.scenes:
            cam2world = cameras.cam2world[:, :3, :3].float().cpu()
            ambient = params["ambient"] * environment.mean(1)
            lights, factor = light_the_scene(lights, ambient, scene_numbers(latents), latents, cam2world)
            environment = environment * factor[:, None]

        images, occluders, occluder_labels, part_maps = [], [], [], []
        for item in range(batch):
            rows = slice(starts[item], starts[item + 1])
            pixels = foreground[rows] - item * hw
            sample = SamplePixels(
                index=samples.start + item,
                pixels=pixels,
                label_image=labels[item],
                labels=labels[item].reshape(-1).index_select(0, pixels),
                depth=fragments.depth[item].reshape(-1).index_select(0, pixels),
                rays=rays[item].index_select(0, pixels),
            )
            sample_params = {key: value[item] for key, value in params.items()}
            # Pores are finer than a pixel below 256 px.
            sample_params["pores"] = sample_params["pores"] * min(1.0, resolution / 256)
            offsets = numbers[item, _TEXTURE_OFFSETS].tolist()
            albedo, weights = paint_albedo(sample_params, rest_maps[:, rows], sample.labels, offsets)
            if self.config.skin_detail:
                maps = dict(zip(REST_MAPS, rest_maps[:, rows].unbind(0), strict=True))
                albedo = makeup_and_age(albedo, weights, maps, all_part_numbers[SKIN][item])
            albedo = paint_eyes(
                scene,
                sample,
                albedo,
                sample_params["iris"],
                offsets,
                self.head_to_world,
                self.config.iris_angle,
                self.config.pupil_angle,
            )
            if self.config.teeth:
                paint_mouth(sample, albedo)
            normals = unit(geometry[:3, rows])
            points = cameras.centers[item].float().cpu() + sample.depth[:, None] * sample.rays
            radiance = shade(
                sample_params,
                [(direction[item], colour[item]) for direction, colour in lights],
                albedo,
                weights,
                normals,
                unit(geometry[3:, rows]),
                -unit(sample.rays.T),
                ambient_occlusion(fragments.depth[item], pixels, sample.depth),
                environment[item],
                cast_shadow(vertices[item], points, normals, lights[KEY][0][item]),
            )
            image = background[item] * sample_params["background_light"]
            image.view(3, -1).index_copy_(1, pixels, radiance)
            if in_front:
                layers = Layers(image, fragments.depth[item].reshape(-1) / WORLD_UNITS_PER_METRE)
                draw_in_front(
                    self.config,
                    layers,
                    scene,
                    anchors,
                    SampleView(
                        sample,
                        cameras.centers[item],
                        rays[item],
                        [(direction[item], colour[item]) for direction, colour in lights],
                        sample_params["ambient"] * environment[item],
                        sample_params,
                        [numbers_of_part[item] for numbers_of_part in all_part_numbers],
                        radiance,
                        albedo,
                        resolution,
                    ),
                )
                occluders.append(layers.depth.reshape(resolution, resolution))
                occluder_labels.append(layers.labels.reshape(resolution, resolution))
                part_maps.append(layers.parts.reshape(resolution, resolution).to(torch.uint8))
            images.append(photograph(image, latents[item], numbers[item, _CAMERA_NUMBERS]))
        return (
            torch.stack(images),
            torch.stack(occluders) if occluders else None,
            torch.stack(occluder_labels) if occluder_labels else None,
            torch.stack(part_maps) if part_maps else None,
            labels if self.config.lids_follow_landmarks else None,
        )
