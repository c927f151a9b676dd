"""SynthForge synthetic backbone, registered with the transformers Auto classes on import."""

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
    AUTO_CLASSES,
    SynthForgeFaceAnalysisOutput,
    SynthForgeForFaceAnalysis,
    SynthForgeModel,
    SynthForgePreTrainedModel,
)

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
SynthForgeForFaceAnalysis.register_for_auto_class(AUTO_CLASSES[0])  # all of them: its save_pretrained
SynthForgeImageProcessor.register_for_auto_class("AutoImageProcessor")


__all__ = [
    "SynthForgeConfig",
    "SynthForgeFaceAnalysisOutput",
    "SynthForgeForFaceAnalysis",
    "SynthForgeImageProcessor",
    "SynthForgeModel",
    "SynthForgePreTrainedModel",
]
