"""Output of `SynthForgePipeline`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers.utils import BaseOutput


@dataclass
class SynthForgePipelineOutput(BaseOutput):
    """Images with exact annotations.

    What `SynthForgePipeline.__call__` returns: the rendered images and, for every sample, the labels
    its 3D head gives (no human in the loop) and the parameters that regenerate it. With
    ``output_type="pil"`` the images are PIL images and everything else numpy arrays; with ``"np"``
    everything is numpy; with ``"pt"`` everything is a torch tensor. ``return_dict=False`` gives the
    same fields as a tuple, in this order.

    Args:
        images (`list[PIL.Image.Image]`, `np.ndarray` or `torch.Tensor`):
            The images: a list of PIL images (``"pil"``), a (B,H,W,3) array in [0,1] (``"np"``) or a
            (B,3,H,W) tensor in [0,1] (``"pt"``).
        segmentation (`np.ndarray` or `torch.Tensor` of shape `(B, H, W)`):
            Class ids of `synthforge_hf.constants.SEGMENTATION_CLASSES` (0 = background).
        landmarks_2d (`np.ndarray` or `torch.Tensor` of shape `(B, 68, 2)`):
            iBUG-68 pixel coordinates (x right, y down; pixel centres at i + 0.5).
        landmarks_3d (`np.ndarray` or `torch.Tensor` of shape `(B, 68, 3)`):
            Camera coordinates in metres (x right, y down, z forward).
        landmark_visibility (`np.ndarray` or `torch.Tensor` of shape `(B, 68)`, bool):
            True where the landmark is in the image and not self-occluded.
        depth (`np.ndarray` or `torch.Tensor` of shape `(B, H, W)`):
            Metres along the optical axis, 0 on background.
        parameters (`dict[str, np.ndarray | torch.Tensor]`):
            Everything needed to regenerate each sample: ``seed``, ``shape``, ``expression``, ``pose``,
            ``yaw``, ``pitch``, ``fov``, ``latents`` and the EG3D ``camera`` vector (B,25).
        generator_outputs (`dict[str, np.ndarray | torch.Tensor]`, *optional*, defaults to `{}`):
            What the image backend adds per sample. The mesh renderer with a part drawn in front of the
            head on (hair with volume, hats, clothes, glasses, hands, masks): ``parts`` (B,H,W) uint8, the
            `synthforge_hf.constants.PART_CLASSES` id of the part each pixel shows (0 = none); with none
            on, nothing. Next3D: ``depth``
            (B,H,W) its own rendered depth in metres, ``image_raw`` (B,3,64,64) its neural rendering, and
            the alignment residuals ``landmark_depth_error`` and ``depth_residual`` (B,) in metres (see
            `synthforge_hf.generators.next3d.alignment`).
        pupils_2d (`np.ndarray` or `torch.Tensor` of shape `(B, 2, 2)`):
            The pixel coordinates of the pupils of the subject's right and left eyes (NaN for a head
            without labelled eyeballs); after the 68 iBUG points, FaceSynthetics' 70-point layout.
        pupil_visibility (`np.ndarray` or `torch.Tensor` of shape `(B, 2)`, bool):
            As ``landmark_visibility``, for the pupils.
        head_pose (`np.ndarray` or `torch.Tensor` of shape `(B, 3)`):
            Yaw, pitch and roll of the head as the camera sees it, in degrees (0 for a face looking
            straight into the camera; yaw > 0 turned to the subject's left, pitch > 0 up, roll > 0
            counter-clockwise in the image; `synthforge_hf.rendering.cameras.head_pose_degrees`).

    Example:

    ```python
    >>> from synthforge_hf import SynthForgePipeline
    >>> pipe = SynthForgePipeline.from_default_head()
    >>> out = pipe(seeds=[0, 1], resolution=32, output_type="np")
    >>> out.images.shape, out.segmentation.shape, out.depth.dtype
    ((2, 32, 32, 3), (2, 32, 32), dtype('float32'))
    >>> out.landmarks_2d.shape, out.landmarks_3d.shape, out.landmark_visibility.dtype
    ((2, 68, 2), (2, 68, 3), dtype('bool'))
    >>> out.parameters["seed"].tolist(), out.parameters["camera"].shape, out.generator_outputs
    ([0, 1], (2, 25), {})
    >>> out.pupils_2d.shape, out.head_pose.shape
    ((2, 2, 2), (2, 3))

    ```
    """

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    segmentation: np.ndarray | torch.Tensor
    landmarks_2d: np.ndarray | torch.Tensor
    landmarks_3d: np.ndarray | torch.Tensor
    landmark_visibility: np.ndarray | torch.Tensor
    depth: np.ndarray | torch.Tensor
    parameters: dict[str, Any]
    generator_outputs: dict[str, Any] = field(default_factory=dict)
    pupils_2d: np.ndarray | torch.Tensor | None = None
    pupil_visibility: np.ndarray | torch.Tensor | None = None
    head_pose: np.ndarray | torch.Tensor | None = None
