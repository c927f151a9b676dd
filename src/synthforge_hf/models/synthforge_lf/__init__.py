"""SynthForge label fine-tuning networks, registered with the transformers Auto classes on import."""

from transformers import AutoConfig, AutoModel

from .configuration_synthforge_lf import SynthForgeLabelFinetuneConfig
from .modeling_synthforge_lf import SynthForgeLabelFinetuneModel, SynthForgeLabelFinetuneOutput

AutoConfig.register(SynthForgeLabelFinetuneConfig.model_type, SynthForgeLabelFinetuneConfig, exist_ok=True)
AutoModel.register(SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel, exist_ok=True)

__all__ = ["SynthForgeLabelFinetuneConfig", "SynthForgeLabelFinetuneModel", "SynthForgeLabelFinetuneOutput"]
