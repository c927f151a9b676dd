"""Configuration of the SynthForge synthetic backbone (SB).

This file, `modeling_synthforge.py` and `image_processing_synthforge.py` import nothing from the rest of
the package, so that `save_pretrained` can copy them into a model folder and the model loads with
``trust_remote_code=True`` where synthforge-hf is not installed.
"""

from __future__ import annotations

import math

from transformers import PretrainedConfig

COUNTS = ("num_channels", "feature_channels", "num_landmarks", "hourglass_stacks", "hourglass_depth")
COUNTS += ("hourglass_channels", "image_size", "norm_groups")
WIDTH_LISTS = ("encoder_channels", "head_channels")
WEIGHTS = ("segmentation_loss_weight", "depth_loss_weight", "heatmap_loss_weight", "ssl_loss_weight")
WEIGHTS += ("ssl_max_rotation_degrees", "ssl_max_translation")


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_weight(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def check_values(config: dict) -> None:  # the attributes a SynthForgeConfig sets
    """Raise `ValueError` naming the first value of a SynthForge configuration that no network can be
    built from (a config.json edited by hand, or of another model)."""
    for name in COUNTS:
        if not _is_count(config[name]):
            raise ValueError(f"{name} must be a positive integer, got {config[name]!r}")
    for name in WIDTH_LISTS:
        widths = config[name]
        if not isinstance(widths, (list, tuple)) or not widths or not all(map(_is_count, widths)):
            raise ValueError(f"{name} must be a list of positive integers, got {widths!r}")
    for name in WEIGHTS:
        if not _is_weight(config[name]):
            raise ValueError(f"{name} must be a finite number >= 0, got {config[name]!r}")
    if not _is_weight(config["heatmap_sigma"]) or config["heatmap_sigma"] == 0:
        raise ValueError(f"heatmap_sigma must be a positive number, got {config['heatmap_sigma']!r}")
    if not isinstance(config["lean_up_blocks"], bool):
        raise ValueError(f"lean_up_blocks must be true or false, got {config['lean_up_blocks']!r}")


class SynthForgeConfig(PretrainedConfig):
    """Configuration of the SynthForge synthetic backbone (SB), `SynthForgeForFaceAnalysis`.

    A multi-task face network: a UNet feature encoder, UNet segmentation and depth heads, and a
    stacked-hourglass keypoint head, trained with an affine-equivariance (SSL) loss on the features.
    The defaults are the project's network (9.8 M parameters, 256 px); `paper` gives the widths of the
    paper's network, `small` a CPU-trainable one and `tiny` one for tests and demos. A value no network
    can be built from is refused (`ValueError` naming it).

    Args:
        num_channels (`int`, *optional*, defaults to 3):
            Channels of the input images.
        encoder_channels (`tuple[int, ...]`, *optional*, defaults to `(64, 128, 256, 512)`):
            Widths of the encoder UNet levels (each level halves the resolution).
        feature_channels (`int`, *optional*, defaults to 64):
            Channels of the shared feature map, at input resolution (64 in the paper).
        head_channels (`tuple[int, ...]`, *optional*, defaults to `(48, 96, 192)`):
            Widths of the segmentation and depth head UNets. The official head UNets have five levels,
            64 to 512 wide (`paper`); the default's three, 48 to 192 wide, cut the work where most of it
            sits (full-resolution convolutions).
        lean_up_blocks (`bool`, *optional*, defaults to `True`):
            UNet up blocks that narrow to the next finer level's width before upsampling, as the official
            network's bilinear UNet (see `UNet`). `False` keeps each up block at its level's width: the
            wider layout of models saved before this option, which `from_dict` gives the configurations
            saved without it.
        num_labels (`int`, *optional*, defaults to 20):
            Segmentation classes (background + the 19 SynthForge classes; `build_config` in
            `synthforge_hf.training.sb` names them in ``id2label``).
        num_landmarks (`int`, *optional*, defaults to 68):
            Keypoints (iBUG order).
        hourglass_stacks (`int`, *optional*, defaults to 2):
            Stacks of the keypoint head; each is supervised, the last one's heatmaps are the output.
        hourglass_depth (`int`, *optional*, defaults to 4):
            Recursion depth (halvings) of each hourglass.
        hourglass_channels (`int`, *optional*, defaults to 64):
            Width of the keypoint head (64 channels, as the official StackedHGNetV2 on the 64-channel
            features).
        heatmap_stride (`int`, *optional*, defaults to 4):
            Heatmaps are at 1 / ``heatmap_stride`` of the input resolution; the keypoint head works at
            1/4, so any other value is refused.
        heatmap_sigma (`float`, *optional*, defaults to 1.5):
            Std of the target Gaussians, in heatmap cells.
        image_size (`int`, *optional*, defaults to 256):
            The input resolution the network is trained at.
        segmentation_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the segmentation cross-entropy in the total loss.
        depth_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the masked L1 depth loss in the total loss.
        heatmap_loss_weight (`float`, *optional*, defaults to 100.0):
            Weight of the heatmap MSE in the total loss.
        ssl_loss_weight (`float`, *optional*, defaults to 0.1):
            Weight of the SSL (affine-equivariance) loss in the total loss; 0 turns it off.
        ssl_max_rotation_degrees (`float`, *optional*, defaults to 15.0):
            Largest rotation of the random affine map of the SSL loss.
        ssl_max_translation (`float`, *optional*, defaults to 0.1):
            Largest translation of that map, as a fraction of the image size.
        normalization (`str`, *optional*, defaults to `"batch"`):
            ``"batch"`` (BatchNorm, as the official network; with channels-last memory and bf16 autocast
            it trains faster than GroupNorm on CPU, as `benchmarks/training.py` measures) or ``"group"``
            (GroupNorm with up to ``norm_groups`` groups, independent of the batch size).
        norm_groups (`int`, *optional*, defaults to 8):
            The most groups of a GroupNorm layer (``normalization="group"``).
        semantic_loss_ignore_index (`int`, *optional*, defaults to 255):
            The label the image processor gives map pixels outside the image; the loss ignores it.
        kwargs (*optional*):
            Passed to `transformers.PretrainedConfig` (e.g. ``id2label``).

    Example:

    ```python
    >>> from synthforge_hf.models.synthforge import SynthForgeConfig
    >>> config = SynthForgeConfig.tiny(image_size=32)
    >>> config.model_type, config.num_labels, config.num_landmarks, config.normalization
    ('synthforge', 20, 68, 'group')
    >>> config.save_pretrained("tiny-sb")  # config.json
    >>> SynthForgeConfig.from_pretrained("tiny-sb").encoder_channels
    [8, 16, 32, 64]
    >>> SynthForgeConfig(heatmap_sigma=0)
    Traceback (most recent call last):
        ...
    ValueError: heatmap_sigma must be a positive number, got 0

    ```
    """

    model_type = "synthforge"

    def __init__(
        self,
        num_channels: int = 3,
        encoder_channels: tuple[int, ...] = (64, 128, 256, 512),
        feature_channels: int = 64,
        head_channels: tuple[int, ...] = (48, 96, 192),
        lean_up_blocks: bool = True,
        num_labels: int = 20,
        num_landmarks: int = 68,
        hourglass_stacks: int = 2,
        hourglass_depth: int = 4,
        hourglass_channels: int = 64,
        heatmap_stride: int = 4,
        heatmap_sigma: float = 1.5,
        image_size: int = 256,
        segmentation_loss_weight: float = 1.0,
        depth_loss_weight: float = 1.0,
        heatmap_loss_weight: float = 100.0,
        ssl_loss_weight: float = 0.1,
        ssl_max_rotation_degrees: float = 15.0,
        ssl_max_translation: float = 0.1,
        normalization: str = "batch",
        norm_groups: int = 8,
        semantic_loss_ignore_index: int = 255,
        **kwargs,
    ):
        if heatmap_stride != 4:
            raise ValueError("the keypoint head works at 1/4 resolution: heatmap_stride must be 4")
        if normalization not in ("batch", "group"):
            raise ValueError(f"normalization must be 'batch' or 'group', got {normalization!r}")
        self.num_channels = num_channels
        self.encoder_channels = list(encoder_channels)
        self.feature_channels = feature_channels
        self.head_channels = list(head_channels)
        self.lean_up_blocks = lean_up_blocks
        self.num_landmarks = num_landmarks
        self.hourglass_stacks = hourglass_stacks
        self.hourglass_depth = hourglass_depth
        self.hourglass_channels = hourglass_channels
        self.heatmap_stride = heatmap_stride
        self.heatmap_sigma = heatmap_sigma
        self.image_size = image_size
        self.segmentation_loss_weight = segmentation_loss_weight
        self.depth_loss_weight = depth_loss_weight
        self.heatmap_loss_weight = heatmap_loss_weight
        self.ssl_loss_weight = ssl_loss_weight
        self.ssl_max_rotation_degrees = ssl_max_rotation_degrees
        self.ssl_max_translation = ssl_max_translation
        self.normalization = normalization
        self.norm_groups = norm_groups
        # the label the image processor gives map pixels outside the image; the loss ignores it
        self.semantic_loss_ignore_index = semantic_loss_ignore_index
        check_values(vars(self))
        super().__init__(num_labels=num_labels, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """As `PretrainedConfig.from_pretrained`; a value no network can be built from is refused in one
        line naming the configuration."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{pretrained_model_name_or_path} (config.json): {error}") from None

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs) -> SynthForgeConfig:
        """As `PretrainedConfig.from_dict`; a saved configuration without ``lean_up_blocks`` predates the
        option and describes the wide up blocks its weights have."""
        return super().from_dict({"lean_up_blocks": False, **config_dict}, **kwargs)

    @classmethod
    def paper(cls, **kwargs) -> SynthForgeConfig:
        """The widths of the paper's network (the official synthforge-train MultiModal model).

        Encoder and head UNets of five levels, 64 to 512 channels, over 64-channel features. The default
        configuration is the project's faster one: four encoder levels and three-level, 48-192 wide heads
        (`benchmarks/training.py` measures both).

        Args:
            kwargs (*optional*):
                Any `SynthForgeConfig` argument, replacing the paper's value.

        Returns:
            `SynthForgeConfig`: the configuration.

        Example:

        ```python
        >>> from synthforge_hf.models.synthforge import SynthForgeConfig
        >>> config = SynthForgeConfig.paper()
        >>> config.encoder_channels, config.head_channels, config.feature_channels
        ([64, 128, 256, 512, 512], [64, 128, 256, 512, 512], 64)

        ```
        """
        widths = (64, 128, 256, 512, 512)
        return cls(**{"encoder_channels": widths, "head_channels": widths, **kwargs})

    @classmethod
    def tiny(cls, **kwargs) -> SynthForgeConfig:
        """A CPU-sized configuration for tests and demos.

        0.2 M parameters at 64 px, quick on a CPU; GroupNorm, as its runs use batches of a few images.

        Args:
            kwargs (*optional*):
                Any `SynthForgeConfig` argument, replacing the tiny value.

        Returns:
            `SynthForgeConfig`: the configuration.

        Example:

        ```python
        >>> from synthforge_hf.models.synthforge import SynthForgeConfig, SynthForgeForFaceAnalysis
        >>> config = SynthForgeConfig.tiny()
        >>> config.encoder_channels, config.image_size, config.normalization
        ([8, 16, 32, 64], 64, 'group')
        >>> model = SynthForgeForFaceAnalysis(config)
        >>> round(sum(p.numel() for p in model.parameters()) / 1e6, 1)
        0.2

        ```
        """
        defaults = dict(
            normalization="group",
            encoder_channels=(8, 16, 32, 64),
            feature_channels=16,
            head_channels=(8, 16),
            hourglass_depth=2,
            hourglass_channels=32,
            image_size=64,
            norm_groups=4,
        )
        return cls(**{**defaults, **kwargs})

    @classmethod
    def small(cls, **kwargs) -> SynthForgeConfig:
        """A CPU-trainable configuration at 128 px (about 1 M parameters).

        What ``synthforge train-sb --config small`` trains; docs/training.md has a CPU recipe for it.

        Args:
            kwargs (*optional*):
                Any `SynthForgeConfig` argument, replacing the small value.

        Returns:
            `SynthForgeConfig`: the configuration.

        Example:

        ```python
        >>> from synthforge_hf.models.synthforge import SynthForgeConfig
        >>> config = SynthForgeConfig.small(normalization="group")
        >>> config.encoder_channels, config.head_channels, config.image_size, config.normalization
        ([16, 32, 64, 128], [16, 32, 64], 128, 'group')

        ```
        """
        defaults = dict(
            encoder_channels=(16, 32, 64, 128),
            feature_channels=32,
            head_channels=(16, 32, 64),
            hourglass_depth=3,
            hourglass_channels=64,
            image_size=128,
        )
        return cls(**{**defaults, **kwargs})
