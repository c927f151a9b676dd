"""Configuration of the SynthForge label fine-tuning (LF) networks."""

from __future__ import annotations

from transformers import PretrainedConfig

TASKS = ("keypoints", "segmentation", "depth")


class SynthForgeLabelFinetuneConfig(PretrainedConfig):
    """Configuration of a SynthForge label fine-tuning (LF) network, `SynthForgeLabelFinetuneModel`.

    A small network on top of a frozen SB that maps its predictions (+ features) to a benchmark's label
    set: 300W's 68 points, LaPa's 11 classes, CelebAMask-HQ's 19 classes, or a corrected depth.

    Args:
        backbone (`str`, *optional*):
            Path or Hub id of the SB (`SynthForgeForFaceAnalysis`); loaded by reference when the LF
            model is loaded, never copied into the LF checkpoint.
        backbone_config (`dict`, *optional*):
            The SB's configuration, so the LF model can be built before the SB weights are loaded.
        task (`str`, *optional*, defaults to `"keypoints"`):
            "keypoints" (SB heatmaps -> ``num_outputs`` landmarks, e.g. 68 for 300W), "segmentation" (SB
            class probabilities -> ``num_outputs`` classes, 11 for LaPa, 19 for CelebAMask-HQ) or "depth"
            (a correction of the SB's depth); anything else is refused (`ValueError`).
        num_outputs (`int`, *optional*, defaults to 68):
            Landmarks (keypoints) or classes (segmentation) the LF network predicts.
        use_features (`bool`, *optional*, defaults to `True`):
            Also feed the SB's shared features.
        hidden_channels (`tuple[int, ...]`, *optional*, defaults to `(32, 64)`):
            Widths of the LF network.
        heatmap_sigma (`float`, *optional*, defaults to 1.5):
            Std of the keypoint task's target Gaussians, in heatmap cells.
        label_names (`list[str]`, *optional*):
            The benchmark's class names (segmentation) for ``id2label``.
        semantic_loss_ignore_index (`int`, *optional*, defaults to 255):
            The label the image processor gives map pixels outside the image; the loss ignores it.
        kwargs (*optional*):
            Passed to `transformers.PretrainedConfig`.

    Example:

    ```python
    >>> from synthforge_hf.models.synthforge import SynthForgeConfig
    >>> from synthforge_hf.models.synthforge_lf import SynthForgeLabelFinetuneConfig
    >>> config = SynthForgeLabelFinetuneConfig(
    ...     backbone="runs/sb",  # the SB's folder or Hub id
    ...     backbone_config=SynthForgeConfig.tiny().to_dict(),
    ...     task="segmentation",
    ...     num_outputs=3,
    ...     label_names=["background", "skin", "hair"],
    ... )
    >>> config.model_type, config.id2label
    ('synthforge-lf', {0: 'background', 1: 'skin', 2: 'hair'})

    ```
    """

    model_type = "synthforge-lf"

    def __init__(
        self,
        backbone: str | None = None,
        backbone_config: dict | None = None,
        task: str = "keypoints",
        num_outputs: int = 68,
        use_features: bool = True,
        hidden_channels: tuple[int, ...] = (32, 64),
        heatmap_sigma: float = 1.5,
        label_names: list[str] | None = None,
        semantic_loss_ignore_index: int = 255,
        **kwargs,
    ):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.backbone = backbone
        self.backbone_config = backbone_config
        self.task = task
        self.num_outputs = num_outputs
        self.use_features = use_features
        self.hidden_channels = list(hidden_channels)
        self.heatmap_sigma = heatmap_sigma
        self.label_names = label_names
        # the label the image processor gives map pixels outside the image; the loss ignores it
        self.semantic_loss_ignore_index = semantic_loss_ignore_index
        if label_names and "id2label" not in kwargs:
            kwargs["id2label"] = dict(enumerate(label_names))
        super().__init__(**kwargs)
