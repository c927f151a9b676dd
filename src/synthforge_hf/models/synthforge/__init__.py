"""SynthForge synthetic backbone, registered with the transformers Auto classes on import."""

import functools

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForDepthEstimation,
    AutoModelForSemanticSegmentation,
)

from .configuration_synthforge import SynthForgeConfig
from .image_processing_synthforge import SynthForgeImageProcessor
from .modeling_synthforge import (
    SynthForgeFaceAnalysisOutput,
    SynthForgeForFaceAnalysis,
    SynthForgeModel,
    SynthForgePreTrainedModel,
)

# The SB serves both of transformers' image-segmentation and depth-estimation pipelines.
SB_AUTO_CLASSES = ("AutoModelForSemanticSegmentation", "AutoModelForDepthEstimation")

AutoConfig.register(SynthForgeConfig.model_type, SynthForgeConfig, exist_ok=True)
AutoModel.register(SynthForgeConfig, SynthForgeModel, exist_ok=True)
AutoModelForSemanticSegmentation.register(SynthForgeConfig, SynthForgeForFaceAnalysis, exist_ok=True)
AutoModelForDepthEstimation.register(SynthForgeConfig, SynthForgeForFaceAnalysis, exist_ok=True)
AutoImageProcessor.register(
    SynthForgeConfig, slow_image_processor_class=SynthForgeImageProcessor, exist_ok=True
)
# `save_pretrained` also writes the code and an `auto_map`, so a saved folder or Hub repo loads with
# trust_remote_code=True without synthforge-hf installed.
SynthForgeConfig.register_for_auto_class()
SynthForgeModel.register_for_auto_class("AutoModel")
SynthForgeForFaceAnalysis.register_for_auto_class(SB_AUTO_CLASSES[0])  # the others: see below
SynthForgeImageProcessor.register_for_auto_class("AutoImageProcessor")


def _saving_every_auto_class(save_pretrained, auto_classes: tuple[str, ...]):
    """`register_for_auto_class` keeps one Auto class per model class and `save_pretrained` writes only
    that one into config.json's ``auto_map``: this adds the others to the config before each save."""

    @functools.wraps(save_pretrained)
    def wrapper(self, *args, **kwargs):
        reference = f"{type(self).__module__.rsplit('.', 1)[-1]}.{type(self).__name__}"
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        self.config.auto_map = {**auto_map, **dict.fromkeys(auto_classes, reference)}
        return save_pretrained(self, *args, **kwargs)

    wrapper.saves_auto_classes = auto_classes
    return wrapper


if getattr(SynthForgeForFaceAnalysis.save_pretrained, "saves_auto_classes", None) != SB_AUTO_CLASSES:
    SynthForgeForFaceAnalysis.save_pretrained = _saving_every_auto_class(
        SynthForgeForFaceAnalysis.save_pretrained, SB_AUTO_CLASSES
    )

__all__ = [
    "SynthForgeConfig",
    "SynthForgeFaceAnalysisOutput",
    "SynthForgeForFaceAnalysis",
    "SynthForgeImageProcessor",
    "SynthForgeModel",
    "SynthForgePreTrainedModel",
]
