"""Where training samples come from: the generator's control space and the samplers that search it."""

from .control import ControlSpace, Proposals
from .samplers import ROW_BLOCK, GuidedSampler, PoolSampler, TargetSampler, UniformSampler, reflect_into_unit

__all__ = [
    "ROW_BLOCK",
    "ControlSpace",
    "GuidedSampler",
    "PoolSampler",
    "Proposals",
    "TargetSampler",
    "UniformSampler",
    "reflect_into_unit",
]
