"""Configuration of the SynthForge label fine-tuning (LF) networks."""

from __future__ import annotations

from transformers import PretrainedConfig

TASKS = ("keypoints", "segmentation", "depth")


class SynthForgeLabelFinetuneConfig(PretrainedConfig):
    """A small network on top of a frozen SB that maps its predictions (+ features) to a benchmark's
    label set.

    Args:
        backbone: path or Hub id of the SB (`SynthForgeForFaceAnalysis`); loaded by reference when the
            LF model is loaded, never copied into the LF checkpoint.
        backbone_config: the SB's configuration (a dict), so the LF model can be built before the SB
            weights are loaded.
        task: "keypoints" (SB heatmaps -> ``num_outputs`` landmarks, e.g. 68 for 300W), "segmentation"
            (SB class probabilities -> ``num_outputs`` classes, 11 for LaPa, 19 for CelebAMask-HQ) or
            "depth".
        use_features: also feed the SB's shared features.
        hidden_channels: widths of the LF network.
        label_names: the benchmark's class names (segmentation) for ``id2label``.
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
