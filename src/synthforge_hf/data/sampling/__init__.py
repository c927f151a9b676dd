"""Where training samples come from: the generator's control space and the samplers that search it."""

from .control import ControlSpace, Proposals
from .samplers import GuidedSampler, PoolSampler, TargetSampler, UniformSampler, reflect_into_unit

__all__ = [
    "ControlSpace",
    "GuidedSampler",
    "PoolSampler",
    "Proposals",
    "TargetSampler",
    "UniformSampler",
    "reflect_into_unit",
]
