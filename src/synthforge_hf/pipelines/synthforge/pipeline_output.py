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

    Args:
        images: list of PIL images, or an array/tensor (B,H,W,3) / (B,3,H,W) in [0,1].
        segmentation: (B,H,W) class ids of `synthforge_hf.constants.SEGMENTATION_CLASSES` (0 = background).
        landmarks_2d: (B,68,2) iBUG-68 pixel coordinates (x right, y down; pixel centres at i + 0.5).
        landmarks_3d: (B,68,3) camera coordinates in metres (x right, y down, z forward).
        landmark_visibility: (B,68) True where the landmark is in the image and not self-occluded.
        depth: (B,H,W) metres along the optical axis, 0 on background.
        parameters: everything needed to regenerate each sample: ``seed``, ``shape``, ``expression``,
            ``pose``, ``yaw``, ``pitch``, ``fov``, ``latents`` and the EG3D ``camera`` vector (B,25).
        generator_outputs: what the image backend adds per sample (empty for the mesh renderer). Next3D:
            ``depth`` (B,H,W) its own rendered depth in metres, ``image_raw`` (B,3,64,64) its neural
            rendering, and the alignment residuals ``landmark_depth_error`` and ``depth_residual`` (B,)
            in metres (see `synthforge_hf.generators.next3d.alignment`).
    """

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    segmentation: np.ndarray | torch.Tensor
    landmarks_2d: np.ndarray | torch.Tensor
    landmarks_3d: np.ndarray | torch.Tensor
    landmark_visibility: np.ndarray | torch.Tensor
    depth: np.ndarray | torch.Tensor
    parameters: dict[str, Any]
    generator_outputs: dict[str, Any] = field(default_factory=dict)
