"""The control space a sampler searches, and the proposals it makes.

A pipeline's sample is a pure function of its seed: the seed draws a point of the unit cube (one
dimension per shape and expression coefficient, then yaw, pitch, field of view, jaw opening and roll;
`control_names`) that the pipeline's `SamplingRanges` map to parameters, and then the image backend's
appearance latents. A `Proposals` batch names each sample by a seed (its appearance) and a point of
that cube (its geometry and camera), so a sampler can move the geometry while keeping an appearance,
and every proposal can be rendered again from those two numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...pipelines.synthforge.sampling import (
    control_names,
    draw_units,
    parameters_from_units,
)
from ..shards import sample_seed


@dataclass
class Proposals:
    """Samples to render: ``seeds`` (B,) int64 (each sample's appearance latents) and ``units`` (B, D)
    float32 in [0, 1] (its point of the control space, dimensions as `control_names`)."""

    seeds: torch.Tensor
    units: torch.Tensor

    def __len__(self) -> int:
        return self.seeds.shape[0]

    def __getitem__(self, rows) -> Proposals:
        return Proposals(self.seeds[rows], self.units[rows])

    @staticmethod
    def cat(parts: list[Proposals]) -> Proposals:
        return Proposals(torch.cat([p.seeds for p in parts]), torch.cat([p.units for p in parts]))


class ControlSpace:
    """The control space of a `SynthForgePipeline`: its dimensions, the points its seeds draw, and the
    rendering of proposals.

    Args:
        pipe (`SynthForgePipeline`):
            The pipeline whose head and sampling ranges define the space.

    Example:

    ```python
    >>> from synthforge_hf import SynthForgePipeline
    >>> from synthforge_hf.data.sampling import ControlSpace
    >>> pipe = SynthForgePipeline.from_default_head()
    >>> space = ControlSpace(pipe)
    >>> space.names[-5:]
    ['yaw', 'pitch', 'fov', 'jaw_open', 'roll']
    >>> proposals = space.of_seeds([3, 4])
    >>> proposals.units.shape == (2, space.dim)
    True
    >>> a = space.render(pipe, proposals, resolution=32)  # the seeds' own samples, bit for bit
    >>> b = pipe(seeds=[3, 4], resolution=32, output_type="pt")
    >>> bool((a.images == b.images).all())
    True

    ```
    """

    def __init__(self, pipe):
        head = pipe.head_model
        self.num_shape, self.num_expression = head.num_shape, head.num_expression
        self.ranges = pipe.sampling_ranges
        self.expression_bounds = head.config.expression_bounds
        self.names = control_names(self.num_shape, self.num_expression)

    @property
    def dim(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The dimension of control ``name`` (e.g. "yaw")."""
        return self.names.index(name)

    def of_seeds(self, seeds: list[int]) -> Proposals:
        """The proposals that render exactly the seeds' own samples."""
        units, _ = draw_units(seeds, self.num_shape, self.num_expression, self.ranges)
        return Proposals(torch.tensor(seeds, dtype=torch.int64), units)

    def of_split(self, base_seed: int, split: str, start: int, count: int) -> Proposals:
        """Samples ``start .. start + count - 1`` of a make-dataset split (`sample_seed`)."""
        return self.of_seeds([sample_seed(base_seed, split, i) for i in range(start, start + count)])

    def parameters(self, units: torch.Tensor) -> dict[str, torch.Tensor]:
        """The pipeline's explicit parameters at the points ``units`` (B, D)."""
        return parameters_from_units(units, self.num_shape, self.ranges, self.expression_bounds)

    def degrees(self, units: torch.Tensor, name: str) -> torch.Tensor:
        """The camera's yaw or pitch offset (degrees) of the points ``units``."""
        radians = self.parameters(units)[name]
        return radians * (180.0 / math.pi)

    def render(self, pipe, proposals: Proposals, resolution: int, output_type: str = "pt"):
        """Render ``proposals`` with ``pipe`` (one batch): the `SynthForgePipelineOutput`."""
        return pipe(
            seeds=proposals.seeds.tolist(),
            resolution=resolution,
            batch_size=max(len(proposals), 1),
            output_type=output_type,
            **self.parameters(proposals.units),
        )
