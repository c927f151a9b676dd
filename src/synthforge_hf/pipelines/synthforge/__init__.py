from .pipeline_output import SynthForgePipelineOutput
from .pipeline_synthforge import SynthForgePipeline
from .sampling import SamplingRanges

__all__ = ["SamplingRanges", "SynthForgePipeline", "SynthForgePipelineOutput"]
