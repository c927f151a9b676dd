"""The interface every image backend (mesh renderer, Next3D) implements."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from diffusers.configuration_utils import ConfigMixin
from diffusers.models.modeling_utils import ModelMixin

from ..head.model import HeadOutput, ParametricHeadModel
from ..rendering.annotator import Annotations
from ..rendering.cameras import Cameras, head_to_world


@dataclass
class Scene:
    """Everything known about a batch before its images are made."""

    head: ParametricHeadModel
    head_output: HeadOutput
    vertices_world: torch.Tensor
    landmarks_world: torch.Tensor
    cameras: Cameras
    annotations: Annotations
    latents: torch.Tensor
    resolution: int
    pose: torch.Tensor  # (B,15) the head's pose parameters (global, neck, jaw, eyes; axis-angle)


@dataclass
class GeneratorOutput:
    """``images`` (B,3,H,W) in [0, 1] at the scene's resolution, backend-specific per-sample outputs
    (``extras``: tensors whose first dimension is the batch, e.g. Next3D's own depth and its alignment
    residuals), and ``occluder_depth`` (B,H,W): the depth (metres along the optical axis, inf where none)
    of what the backend drew that is not the head (clothes...), so the head's labels lose the pixels and
    landmarks it covers (`rendering.annotator.Annotations.occluded_by`); None when it drew nothing else.
    ``occluder_labels`` (B,H,W): the class each of those pixels takes (background for clothes and
    glasses, the scalp for hair); None for background everywhere.
    ``segmentation`` (B,H,W): the labels the backend painted the images with, where it changed the
    scene's (e.g. lids closed over part of the eyeballs); None when it kept them.
    """

    images: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    occluder_depth: torch.Tensor | None = None
    occluder_labels: torch.Tensor | None = None
    segmentation: torch.Tensor | None = None


class FaceGenerator(ModelMixin, ConfigMixin):
    """Base class of image backends. Subclasses set ``latent_dim`` in their config and implement
    `sample_latents` and `forward` (Scene -> `GeneratorOutput`).

    A subclass's module must import ``ModelMixin`` by name: `DiffusionPipeline.from_pretrained`
    picks a custom component's loader by looking that name up in the component's module.
    """

    config_name = "config.json"
    # Per-sample scalars among the extras that measure how well the image matches its labels (kept as
    # dataset columns and usable for rejection).
    quality_outputs: tuple[str, ...] = ()
    # Whether the extras hold ``parts`` (B,H,W) uint8: the `constants.PART_CLASSES` id of what the backend
    # drew in front of the head at each pixel (kept as a dataset mask column).
    part_map: bool = False

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def sample_latents(self, generators: list[torch.Generator | None]) -> torch.Tensor:
        """One latent vector per sample, each drawn from its own generator (B, latent_dim)."""
        raise NotImplementedError

    def head_to_world(self, points: torch.Tensor) -> torch.Tensor:
        """Head-frame points (metres) -> the world this backend renders in."""
        return head_to_world(points)

    def forward(self, scene: Scene) -> GeneratorOutput:
        raise NotImplementedError
