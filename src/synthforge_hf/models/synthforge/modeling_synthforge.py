"""The SynthForge synthetic backbone (SB): UNet features, segmentation / depth / keypoint heads."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .checked_loading import CheckedLoadingMixin
from .configuration_synthforge import SynthForgeConfig
from .heatmaps import decode_heatmaps, gaussian_heatmaps


@dataclass
class SynthForgeModelOutput(ModelOutput):
    """``features``: (B, feature_channels, H, W), the shared feature map at input resolution."""

    features: torch.FloatTensor | None = None


@dataclass
class SynthForgeFaceAnalysisOutput(ModelOutput):
    """Predictions of all tasks.

    What `SynthForgeForFaceAnalysis.forward` returns; the image processor's ``post_process_*`` methods
    map its fields back into the input images.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            The weighted total loss (when targets are given).
        logits (`torch.FloatTensor` of shape `(B, num_labels, H, W)`):
            Segmentation logits.
        depth (`torch.FloatTensor` of shape `(B, H, W)`):
            Depth, in the units of the training targets (metres for SynthForge data).
        heatmaps (`torch.FloatTensor` of shape `(B, num_landmarks, H/4, W/4)`):
            Keypoint heatmaps of the last hourglass stack.
        landmarks (`torch.FloatTensor` of shape `(B, num_landmarks, 2)`):
            Keypoints decoded from ``heatmaps`` (`decode_heatmaps`), in input pixels (pixel centres at
            i + 0.5).
        features (`torch.FloatTensor` of shape `(B, feature_channels, H, W)`):
            Shared features.
        losses (`dict[str, torch.Tensor]`, *optional*):
            Each task's unweighted loss (when targets are given): ``segmentation``, ``depth``,
            ``heatmap`` and, in training, ``ssl``.

    Example:

    ```python
    >>> import torch
    >>> from synthforge_hf.models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis
    >>> model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
    >>> with torch.no_grad():
    ...     out = model(torch.zeros(1, 3, 32, 32))
    >>> type(out).__name__, out.loss, list(out.keys())
    ('SynthForgeFaceAnalysisOutput', None, ['logits', 'depth', 'heatmaps', 'landmarks', 'features'])
    >>> out.heatmaps.shape, out.landmarks.shape
    (torch.Size([1, 68, 8, 8]), torch.Size([1, 68, 2]))

    ```
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    depth: torch.FloatTensor | None = None
    heatmaps: torch.FloatTensor | None = None
    landmarks: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None
    losses: dict[str, torch.Tensor] | None = None


Norm = Callable[[int], nn.Module]


def norm_layer(kind: str, groups: int) -> Norm:
    """channels -> normalisation layer: ``"batch"`` (BatchNorm, as the official network) or ``"group"``
    (GroupNorm with up to ``groups`` groups, independent of the batch)."""
    if kind == "batch":
        return nn.BatchNorm2d
    if kind == "group":
        return lambda channels: nn.GroupNorm(math.gcd(groups, channels), channels)
    raise ValueError(f"normalization must be 'batch' or 'group', got {kind!r}")


class ConvBlock(nn.Sequential):
    """Two 3x3 conv + norm + ReLU layers (the first to ``mid_channels``, by default ``out_channels``)."""

    def __init__(self, in_channels: int, out_channels: int, norm: Norm, mid_channels: int | None = None):
        mid_channels = mid_channels or out_channels
        super().__init__(
            nn.Conv2d(in_channels, mid_channels, 3, padding=1, bias=False),
            norm(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
            norm(out_channels),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """A UNet: ``channels[k]`` wide at 1/2^k resolution, skip connections, output at input resolution.

    Each up block convolves the upsampled coarser map concatenated with the skip of its level. With
    ``lean_up_blocks`` its second convolution already narrows to the next finer level's width, as the
    official network's bilinear UNet does, so the map upsampled into a level is as wide as that level's
    skip rather than twice as wide: at full resolution the first up convolution reads 2 x channels[0]
    channels instead of 3 x (where, at full resolution, most of a UNet's work is).
    Otherwise every up block keeps its level's width (the layout of models saved before the option existed).
    """

    def __init__(
        self,
        in_channels: int,
        channels: list[int],
        out_channels: int,
        norm: Norm,
        lean_up_blocks: bool = False,
    ):
        super().__init__()
        self.down = nn.ModuleList()
        previous = in_channels
        for width in channels:
            self.down.append(ConvBlock(previous, width, norm))
            previous = width
        self.up = nn.ModuleList()
        for k in reversed(range(len(channels) - 1)):
            block_out = channels[max(k - 1, 0)] if lean_up_blocks else channels[k]
            self.up.append(ConvBlock(previous + channels[k], block_out, norm, mid_channels=channels[k]))
            previous = block_out
        self.out = nn.Conv2d(channels[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.out(x)


class Residual(nn.Module):
    """Pre-activation bottleneck residual block of the hourglass network."""

    def __init__(self, channels: int, norm: Norm):
        super().__init__()
        mid = channels // 2
        self.body = nn.Sequential(
            norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, mid, 1),
            norm(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            norm(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Hourglass(nn.Module):
    """Newell et al.'s recursive hourglass of the given depth."""

    def __init__(self, depth: int, channels: int, norm: Norm):
        super().__init__()
        self.skip = Residual(channels, norm)
        self.down = Residual(channels, norm)
        self.inner = Hourglass(depth - 1, channels, norm) if depth > 1 else Residual(channels, norm)
        self.up = Residual(channels, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(inner, size=x.shape[-2:], mode="nearest")


class StackedHourglassHead(nn.Module):
    """Features -> per-stack heatmaps at 1/4 resolution, with intermediate supervision."""

    def __init__(self, config: SynthForgeConfig):
        super().__init__()
        c, norm = config.hourglass_channels, norm_layer(config.normalization, config.norm_groups)
        self.stem = nn.Sequential(
            nn.Conv2d(config.feature_channels, c, 3, stride=2, padding=1),
            norm(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, stride=2, padding=1),
            norm(c),
            nn.ReLU(inplace=True),
        )
        stacks = config.hourglass_stacks
        self.hourglasses = nn.ModuleList(Hourglass(config.hourglass_depth, c, norm) for _ in range(stacks))
        self.refine = nn.ModuleList(Residual(c, norm) for _ in range(stacks))
        self.to_heatmaps = nn.ModuleList(nn.Conv2d(c, config.num_landmarks, 1) for _ in range(stacks))
        for conv in self.to_heatmaps:
            conv.is_heatmap_output = True
        self.remap_features = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(stacks - 1))
        self.remap_heatmaps = nn.ModuleList(nn.Conv2d(config.num_landmarks, c, 1) for _ in range(stacks - 1))

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(features)
        heatmaps = []
        for k, hourglass in enumerate(self.hourglasses):
            y = self.refine[k](hourglass(x))
            heatmap = self.to_heatmaps[k](y)
            heatmaps.append(heatmap)
            if k < len(self.hourglasses) - 1:
                x = x + self.remap_features[k](y) + self.remap_heatmaps[k](heatmap)
        return heatmaps


def random_affine(
    batch: int,
    max_degrees: float,
    max_translation: float,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    """(B,2,3) rotation + translation maps in normalised coordinates, for `F.affine_grid`."""
    angles = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(max_degrees)
    shifts = (torch.rand(batch, 2, generator=generator) * 2 - 1) * 2 * max_translation
    cos, sin = angles.cos(), angles.sin()
    theta = torch.stack(
        [torch.stack([cos, -sin, shifts[:, 0]], -1), torch.stack([sin, cos, shifts[:, 1]], -1)], 1
    )
    return theta.to(device)


def warp(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


@torch.no_grad()
def init_module(module: nn.Module) -> None:
    """Kaiming convolutions, unit norm layers, and near-zero heatmap outputs (flat heatmaps at the start
    keep the first heatmap loss small)."""
    if getattr(module, "is_heatmap_output", False):
        nn.init.normal_(module.weight, std=1e-3)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.GroupNorm, nn.BatchNorm2d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class SynthForgePreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config_class = SynthForgeConfig
    base_model_prefix = "synthforge"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        init_module(module)


class SynthForgeModel(SynthForgePreTrainedModel):
    """The feature encoder alone: pixels -> (B, feature_channels, H, W) features.

    The UNet encoder of `SynthForgeForFaceAnalysis` (its ``synthforge`` attribute), which
    `transformers.AutoModel` loads from an SB folder. Its ``forward(pixel_values, return_dict=None)``
    returns a `SynthForgeModelOutput` with ``features``, or ``(features,)`` with ``return_dict=False``.

    Args:
        config (`SynthForgeConfig`):
            The SB's configuration; the encoder reads ``num_channels``, ``encoder_channels``,
            ``feature_channels``, ``lean_up_blocks``, ``normalization`` and ``norm_groups``.

    Example:

    ```python
    >>> import torch
    >>> from synthforge_hf.models.synthforge import SynthForgeConfig, SynthForgeModel
    >>> encoder = SynthForgeModel(SynthForgeConfig.tiny())
    >>> encoder(torch.zeros(2, 3, 32, 32)).features.shape
    torch.Size([2, 16, 32, 32])
    >>> encoder.save_pretrained("encoder")
    >>> SynthForgeModel.from_pretrained("encoder").config.feature_channels
    16

    ```
    """

    def __init__(self, config: SynthForgeConfig):
        super().__init__(config)
        norm = norm_layer(config.normalization, config.norm_groups)
        self.encoder = UNet(
            config.num_channels, config.encoder_channels, config.feature_channels, norm, config.lean_up_blocks
        )
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, return_dict: bool | None = None, **kwargs
    ) -> SynthForgeModelOutput:
        features = self.encoder(pixel_values)
        return SynthForgeModelOutput(features=features) if return_dict is not False else (features,)


AUTO_CLASSES = ("AutoModelForSemanticSegmentation", "AutoModelForDepthEstimation")  # what the SB serves


class SynthForgeForFaceAnalysis(SynthForgePreTrainedModel):
    """The SB: features + segmentation, depth and keypoint heads, with the multi-task + SSL loss."""

    def __init__(self, config: SynthForgeConfig):
        super().__init__(config)
        self.synthforge = SynthForgeModel(config)
        norm = norm_layer(config.normalization, config.norm_groups)
        width, lean = config.head_channels, config.lean_up_blocks
        self.segmentation_head = UNet(config.feature_channels, width, config.num_labels, norm, lean)
        self.depth_head = UNet(config.feature_channels, width, 1, norm, lean)
        self.keypoint_head = StackedHourglassHead(config)
        self.post_init()

    def save_pretrained(self, *args, **kwargs):
        """As `PreTrainedModel.save_pretrained`; config.json's ``auto_map`` names this class for every
        Auto class it serves (`AUTO_CLASSES`), not only the one it is registered for, so a folder loads
        with ``trust_remote_code=True`` in both of transformers' pipelines."""
        reference = f"{type(self).__module__.rsplit('.', 1)[-1]}.{type(self).__name__}"
        auto_map = getattr(self.config, "auto_map", None) or {}
        self.config.auto_map = {**auto_map, **dict.fromkeys(AUTO_CLASSES, reference)}
        return super().save_pretrained(*args, **kwargs)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        depth: torch.Tensor | None = None,
        landmarks: torch.Tensor | None = None,
        ssl_generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SynthForgeFaceAnalysisOutput:
        """Predict the segmentation, depth and landmarks of face images, and the losses of given targets.

        Any target given adds its loss (segmentation cross-entropy ignoring
        ``config.semantic_loss_ignore_index``, L1 over the pixels with depth, MSE of every hourglass
        stack's heatmaps against Gaussians at the landmarks); in training mode the SSL loss is added
        too. ``loss`` is their sum weighted by the config's ``*_loss_weight``.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, 3, H, W)`):
                Images normalised by `SynthForgeImageProcessor` (pass ``return_tensors="pt"``).
            labels (`torch.LongTensor` of shape `(B, H, W)`, *optional*):
                Target class ids.
            depth (`torch.FloatTensor` of shape `(B, H, W)`, *optional*):
                Target depth in metres (0 = no depth).
            landmarks (`torch.FloatTensor` of shape `(B, K, 2)`, *optional*):
                Target landmarks in input pixels.
            ssl_generator (`torch.Generator`, *optional*):
                Seeds the random affine maps of the SSL loss.
            return_dict (`bool`, *optional*):
                `False` returns the output's fields as a tuple.
            kwargs (*optional*):
                Ignored, except a collated batch's ``segmentation`` and ``landmarks_2d``, which are
                refused (`TypeError`) so they are not silently dropped: pass them as ``labels`` and
                ``landmarks``.

        Returns:
            `SynthForgeFaceAnalysisOutput` or `tuple`: ``logits`` (B,num_labels,H,W), ``depth`` (B,H,W),
            ``heatmaps`` (B,K,H/4,W/4), ``landmarks`` (B,K,2) and ``features``; with targets also
            ``loss`` and ``losses``.

        Example:

        ```python
        >>> import numpy as np
        >>> import torch
        >>> from synthforge_hf.models.synthforge import (
        ...     SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor
        ... )
        >>> model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
        >>> processor = SynthForgeImageProcessor(size=32)
        >>> inputs = processor(np.zeros((48, 40, 3), np.uint8), return_tensors="pt")
        >>> with torch.no_grad():
        ...     out = model(inputs["pixel_values"])
        >>> out.logits.shape, out.depth.shape, out.landmarks.shape
        (torch.Size([1, 20, 32, 32]), torch.Size([1, 32, 32]), torch.Size([1, 68, 2]))
        >>> targets = {"labels": torch.zeros(1, 32, 32, dtype=torch.long), "depth": torch.ones(1, 32, 32)}
        >>> out = model(inputs["pixel_values"], **targets, landmarks=torch.full((1, 68, 2), 16.0))
        >>> out.loss.shape, sorted(out.losses)
        (torch.Size([]), ['depth', 'heatmap', 'segmentation'])

        ```
        """
        misnamed = {"segmentation": "labels", "landmarks_2d": "landmarks"}.keys() & kwargs.keys()
        if misnamed:
            raise TypeError(
                f"unexpected targets {sorted(misnamed)}: pass a collated batch's `segmentation` as labels= "
                "and its `landmarks_2d` as landmarks= (they would otherwise be ignored)"
            )
        features = self.synthforge(pixel_values).features
        logits = self.segmentation_head(features)
        predicted_depth = self.depth_head(features)[:, 0]
        stacks = self.keypoint_head(features)
        predicted_landmarks = decode_heatmaps(
            stacks[-1], self.config.heatmap_stride, self.config.heatmap_sigma
        )
        losses = {}
        if labels is not None:
            losses["segmentation"] = F.cross_entropy(
                logits, labels.long(), ignore_index=self.config.semantic_loss_ignore_index
            )
        if depth is not None:
            mask = depth > 0
            losses["depth"] = (predicted_depth - depth).abs()[mask].mean() if mask.any() else logits.sum() * 0
        if landmarks is not None:
            target = gaussian_heatmaps(
                landmarks, stacks[-1].shape[-2:], self.config.heatmap_stride, self.config.heatmap_sigma
            )
            losses["heatmap"] = sum(F.mse_loss(h, target) for h in stacks) / len(stacks)
        if losses and self.training and self.config.ssl_loss_weight > 0:
            losses["ssl"] = self.equivariance_loss(pixel_values, features, ssl_generator)
        loss = None
        if losses:
            weights = {
                "segmentation": self.config.segmentation_loss_weight,
                "depth": self.config.depth_loss_weight,
                "heatmap": self.config.heatmap_loss_weight,
                "ssl": self.config.ssl_loss_weight,
            }
            loss = sum(weights[name] * value for name, value in losses.items())
        output = SynthForgeFaceAnalysisOutput(
            loss=loss,
            logits=logits,
            depth=predicted_depth,
            heatmaps=stacks[-1],
            landmarks=predicted_landmarks,
            features=features,
            losses=losses or None,
        )
        return output if return_dict is not False else output.to_tuple()

    def equivariance_loss(
        self, pixel_values: torch.Tensor, features: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """|| f(T x) - T f(x) ||^2 over the pixels that T keeps inside the image, for a random
        rotation + translation T per image."""
        theta = random_affine(
            pixel_values.shape[0],
            self.config.ssl_max_rotation_degrees,
            self.config.ssl_max_translation,
            generator,
            pixel_values.device,
        )
        warped_features = self.synthforge(warp(pixel_values, theta)).features
        valid = warp(torch.ones_like(pixel_values[:, :1]), theta, mode="nearest")
        difference = (warped_features - warp(features, theta)) ** 2 * valid
        return difference.sum() / (valid.sum() * features.shape[1]).clamp(min=1.0)
