"""Label fine-tuning (LF): per-task networks on the frozen SB's predictions (+ features)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from ..synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis
from ..synthforge.checked_loading import CheckedLoadingMixin
from ..synthforge.heatmaps import decode_heatmaps, gaussian_heatmaps
from ..synthforge.modeling_synthforge import ConvBlock, UNet, init_module, norm_layer
from .configuration_synthforge_lf import SynthForgeLabelFinetuneConfig


@dataclass
class SynthForgeLabelFinetuneOutput(ModelOutput):
    """``logits`` (B,C,H,W) for segmentation; ``landmarks`` (B,K,2) pixels and ``heatmaps`` for
    keypoints; ``depth`` (B,H,W) for depth; ``loss`` when targets are given."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    landmarks: torch.FloatTensor | None = None
    heatmaps: torch.FloatTensor | None = None
    depth: torch.FloatTensor | None = None


class SynthForgeLabelFinetuneModel(CheckedLoadingMixin, PreTrainedModel):
    """A frozen SB (``self.backbone``, loaded from ``config.backbone``) and a small trainable head.

    The LF checkpoint holds only the head; `from_pretrained` loads the SB it refers to (or takes one
    given as ``backbone=``). The SB stays frozen and in eval mode (``train()`` leaves it so); the head
    (GroupNorm, as LF trains on few real images) is a conv block on the SB's heatmaps (keypoints) or a
    UNet on its class probabilities (segmentation) or its depth (depth), each with the SB's features
    when ``use_features``.

    Args:
        config (`SynthForgeLabelFinetuneConfig`):
            The LF configuration.
        backbone (`SynthForgeForFaceAnalysis`, *optional*):
            The SB; default: one built from ``config.backbone_config`` (with fresh weights, which
            `from_pretrained` replaces by those of ``config.backbone``).

    Example:

    ```python
    >>> from synthforge_hf.models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis
    >>> from synthforge_hf.models.synthforge_lf import (
    ...     SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel
    ... )
    >>> sb = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
    >>> sb.save_pretrained("sb")
    >>> config = SynthForgeLabelFinetuneConfig(backbone="sb", backbone_config=sb.config.to_dict())
    >>> model = SynthForgeLabelFinetuneModel(config, backbone=sb)  # keypoints: 68 points
    >>> model.save_pretrained("lf")  # the head only
    >>> loaded = SynthForgeLabelFinetuneModel.from_pretrained("lf")  # loads the SB from "sb" too
    >>> sum(p.requires_grad for p in loaded.backbone.parameters()), loaded.backbone.training
    (0, False)

    ```
    """

    config_class = SynthForgeLabelFinetuneConfig
    base_model_prefix = "synthforge_lf"
    main_input_name = "pixel_values"
    _keys_to_ignore_on_load_missing = [r"^backbone\."]

    def __init__(
        self, config: SynthForgeLabelFinetuneConfig, backbone: SynthForgeForFaceAnalysis | None = None
    ):
        super().__init__(config)
        if backbone is None:
            backbone = SynthForgeForFaceAnalysis(SynthForgeConfig(**(config.backbone_config or {})))
        self.backbone = backbone
        self.backbone.requires_grad_(False)
        sb = backbone.config
        extra = sb.feature_channels if config.use_features else 0
        hidden = config.hidden_channels
        norm = norm_layer("group", sb.norm_groups)  # LF trains on few real images: batch-independent
        if config.task == "keypoints":
            self.head = nn.Sequential(
                ConvBlock(sb.num_landmarks + extra, hidden[-1], norm),
                nn.Conv2d(hidden[-1], config.num_outputs, 1),
            )
            self.head[-1].is_heatmap_output = True
        elif config.task == "segmentation":
            self.head = UNet(sb.num_labels + extra, hidden, config.num_outputs, norm)
        else:
            self.head = UNet(1 + extra, hidden, 1, norm)
        self._keys_to_ignore_on_save = {f"backbone.{name}" for name in self.backbone.state_dict()}
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.backbone or any(module is m for m in self.backbone.modules()):
            return  # the SB keeps its trained weights
        init_module(module)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, backbone=None, **kwargs):
        """Load the LF head, then the SB it refers to (``config.backbone``) unless one is given."""
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        if backbone is None:
            if not model.config.backbone:
                raise ValueError(
                    "this LF model names no backbone: pass backbone=SynthForgeForFaceAnalysis(...)"
                )
            backbone = SynthForgeForFaceAnalysis.from_pretrained(model.config.backbone)
        model.backbone.load_state_dict(backbone.state_dict())
        model.backbone.requires_grad_(False)
        return model

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # frozen: no dropout/statistics updates
        return self

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        landmarks: torch.Tensor | None = None,
        depth: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SynthForgeLabelFinetuneOutput:
        """Run the frozen SB, then the head of the config's task; with its target, also the loss.

        The keypoint loss is the SB's heatmap loss (MSE against Gaussians at the landmarks, weighted
        100) and its points are decoded as the SB's; segmentation uses cross-entropy ignoring
        ``config.semantic_loss_ignore_index``; depth, L1 over the pixels with depth.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, 3, H, W)`):
                Images normalised by `SynthForgeImageProcessor` (pass ``return_tensors="pt"``).
            labels (`torch.LongTensor` of shape `(B, H, W)`, *optional*):
                Target class ids (segmentation).
            landmarks (`torch.FloatTensor` of shape `(B, K, 2)`, *optional*):
                Target landmarks in input pixels (keypoints).
            depth (`torch.FloatTensor` of shape `(B, H, W)`, *optional*):
                Target depth in metres, 0 = no depth (depth).
            return_dict (`bool`, *optional*):
                `False` returns the output's fields as a tuple.
            kwargs (*optional*):
                Ignored.

        Returns:
            `SynthForgeLabelFinetuneOutput` or `tuple`: ``logits`` (B,C,H,W) for segmentation;
            ``landmarks`` (B,K,2) input pixels and ``heatmaps`` (B,K,H/4,W/4) for keypoints; ``depth``
            (B,H,W) for depth; ``loss`` when the task's target is given.

        Example:

        ```python
        >>> import torch
        >>> from synthforge_hf.models.synthforge import SynthForgeConfig
        >>> from synthforge_hf.models.synthforge_lf import (
        ...     SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel
        ... )
        >>> sb_config = SynthForgeConfig.tiny().to_dict()
        >>> lapa = SynthForgeLabelFinetuneModel(
        ...     SynthForgeLabelFinetuneConfig(backbone_config=sb_config, task="segmentation", num_outputs=11)
        ... )
        >>> out = lapa(torch.zeros(2, 3, 32, 32), labels=torch.zeros(2, 32, 32, dtype=torch.long))
        >>> out.logits.shape, out.loss.shape
        (torch.Size([2, 11, 32, 32]), torch.Size([]))
        >>> points = SynthForgeLabelFinetuneModel(SynthForgeLabelFinetuneConfig(backbone_config=sb_config))
        >>> out = points(torch.zeros(1, 3, 32, 32))
        >>> out.landmarks.shape, out.heatmaps.shape, out.loss
        (torch.Size([1, 68, 2]), torch.Size([1, 68, 8, 8]), None)

        ```
        """
        with torch.no_grad():
            sb = self.backbone(pixel_values)
        task = self.config.task
        stride = self.backbone.config.heatmap_stride
        features = sb.features
        if task == "keypoints":
            inputs = sb.heatmaps
            if self.config.use_features:
                inputs = torch.cat([inputs, F.avg_pool2d(features, stride)], dim=1)
            heatmaps = self.head(inputs)
            points = decode_heatmaps(heatmaps, stride, self.config.heatmap_sigma)
            out = SynthForgeLabelFinetuneOutput(landmarks=points, heatmaps=heatmaps)
            if landmarks is not None:
                target = gaussian_heatmaps(landmarks, heatmaps.shape[-2:], stride, self.config.heatmap_sigma)
                out.loss = 100.0 * F.mse_loss(heatmaps, target)  # the SB's heatmap loss and decoding
        elif task == "segmentation":
            inputs = sb.logits.softmax(dim=1)
            if self.config.use_features:
                inputs = torch.cat([inputs, features], dim=1)
            out = SynthForgeLabelFinetuneOutput(logits=self.head(inputs))
            if labels is not None:
                out.loss = F.cross_entropy(
                    out.logits, labels.long(), ignore_index=self.config.semantic_loss_ignore_index
                )
        else:
            inputs = sb.depth[:, None]
            if self.config.use_features:
                inputs = torch.cat([inputs, features], dim=1)
            predicted = sb.depth + self.head(inputs)[:, 0]  # a correction of the SB's depth
            out = SynthForgeLabelFinetuneOutput(depth=predicted)
            if depth is not None:
                mask = depth > 0
                out.loss = (predicted - depth).abs()[mask].mean()
        return out if return_dict is not False else out.to_tuple()
