"""Per-sample parameter sampling: each sample is a pure function of its own seed."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...head.model import POSE_DIM

MAX_SEED = 2**63 - 1


@dataclass
class SamplingRanges:
    """How widely `SynthForgePipeline` samples each parameter that a call does not give.

    Each sample draws its parameters from its own seed (`sample_parameters`), uniformly within these
    ranges. Defaults follow the SynthForge paper: iid U(-2,2) shape and expression coefficients, zero
    pose, camera yaw and pitch offsets U(-0.8,0.8) rad, FOV U(12,27) degrees. A pipeline keeps its ranges
    in its configuration (``sampling_ranges`` in model_index.json), so a saved pipeline samples the same.

    Args:
        shape (`float`, *optional*, defaults to 2.0):
            Shape coefficients are U(-shape, shape).
        expression (`float`, *optional*, defaults to 2.0):
            Expression coefficients are U(-expression, expression), intersected with the head's
            ``expression_bounds`` when it has them (ICT-FaceKit's blendshape weights: U(0, min(r, 1))).
        yaw (`float`, *optional*, defaults to 0.8):
            Camera yaw offsets are U(-yaw, yaw) radians.
        pitch (`float`, *optional*, defaults to 0.8):
            Camera pitch offsets are U(-pitch, pitch) radians.
        fov (`tuple[float, float]`, *optional*, defaults to (12.0, 27.0)):
            The field of view is U(fov[0], fov[1]) degrees.
        jaw_open (`float`, *optional*, defaults to 0.0):
            The jaw's opening rotation (axis-angle x of the jaw joint, ``pose[6]``) is U(0, jaw_open)
            radians; 0 leaves the jaw joint at rest (the expression still shapes the mouth).
        roll (`float`, *optional*, defaults to 0.0):
            The head's in-plane roll (axis-angle z of the global rotation, ``pose[2]``) is U(-roll, roll)
            radians, as heads tilt in photos; 0 keeps heads upright and draws no number for it (so the
            other parameters are those of a pipeline without roll).

    Example:

    ```python
    >>> from synthforge_hf import SamplingRanges, SynthForgePipeline
    >>> SamplingRanges()
    SamplingRanges(shape=2.0, expression=2.0, yaw=0.8, pitch=0.8, fov=(12.0, 27.0), jaw_open=0.0, roll=0.0)
    >>> pipe = SynthForgePipeline.from_default_head(yaw=0.0, pitch=0.0)  # frontal cameras only
    >>> pipe.sampling_ranges.yaw, pipe.sampling_ranges.fov
    (0.0, (12.0, 27.0))
    >>> yaw = pipe(seeds=[0, 1], resolution=32, output_type="np").parameters["yaw"]
    >>> yaw.shape, bool((yaw == 0).all())
    ((2,), True)

    ```
    """

    shape: float = 2.0
    expression: float = 2.0
    yaw: float = 0.8
    pitch: float = 0.8
    fov: tuple[float, float] = (12.0, 27.0)
    jaw_open: float = 0.0
    roll: float = 0.0


@dataclass
class SampleParameters:
    seed: torch.Tensor
    shape: torch.Tensor
    expression: torch.Tensor
    pose: torch.Tensor
    yaw: torch.Tensor
    pitch: torch.Tensor
    fov: torch.Tensor


def seeds_from_generator(
    generator: torch.Generator | list[torch.Generator] | None, num_samples: int
) -> list[int]:
    """One seed per sample: drawn from each generator of a list, or in turn from a single generator."""
    if isinstance(generator, list):
        if len(generator) != num_samples:
            raise ValueError(f"got {len(generator)} generators for {num_samples} samples")
        return [int(torch.randint(0, MAX_SEED, (1,), generator=g)) for g in generator]
    return [int(s) for s in torch.randint(0, MAX_SEED, (num_samples,), generator=generator)]


def control_names(num_shape: int, num_expression: int) -> list[str]:
    """The names of the control space's dimensions, in the order `sample_parameters` draws them: each
    shape and expression coefficient, then yaw, pitch, FOV, jaw opening and roll."""
    return [
        *(f"shape_{i}" for i in range(num_shape)),
        *(f"expression_{i}" for i in range(num_expression)),
        *CAMERA_AND_POSE_CONTROLS,
    ]


CAMERA_AND_POSE_CONTROLS = ("yaw", "pitch", "fov", "jaw_open", "roll")


def parameters_from_units(
    units: torch.Tensor,
    num_shape: int,
    ranges: SamplingRanges,
    expression_bounds: tuple[float, float] | None = None,
) -> dict[str, torch.Tensor]:
    """Map points of the control space's unit cube (B, D) (dimensions as `control_names`) to the
    pipeline's explicit parameters (``shape``, ``expression``, ``pose``, ``yaw``, ``pitch``, ``fov``): the
    same affine maps `sample_parameters` applies to its uniform draws, so a sample's own draws map to its
    own parameters bit for bit."""
    low, high = expression_range(ranges, expression_bounds)
    units = units.float()
    shape, expression = units[:, :num_shape], units[:, num_shape:-5]
    yaw, pitch, fov01, jaw01, roll01 = units[:, -5:].unbind(1)
    pose = torch.zeros(units.shape[0], POSE_DIM)
    pose[:, 6] = jaw01 * ranges.jaw_open
    if ranges.roll:
        pose[:, 2] = (roll01 * 2 - 1) * ranges.roll
    return {
        "shape": (shape * 2 - 1) * ranges.shape,
        "expression": low + expression * (high - low),
        "pose": pose,
        "yaw": (yaw * 2 - 1) * ranges.yaw,
        "pitch": (pitch * 2 - 1) * ranges.pitch,
        "fov": ranges.fov[0] + fov01 * (ranges.fov[1] - ranges.fov[0]),
    }


def expression_range(
    ranges: SamplingRanges, expression_bounds: tuple[float, float] | None
) -> tuple[float, float]:
    """Expression coefficients are U(-r, r) for r = ``ranges.expression``, intersected with the head's
    ``expression_bounds`` when it has them (ICT-FaceKit's blendshape weights: U(0, min(r, 1)))."""
    low, high = -ranges.expression, ranges.expression
    if expression_bounds is not None:
        low, high = max(low, expression_bounds[0]), min(high, expression_bounds[1])
    return low, high


def draw_units(
    seeds: list[int], num_shape: int, num_expression: int, ranges: SamplingRanges
) -> tuple[torch.Tensor, list[torch.Generator]]:
    """Each seed's point of the control space's unit cube (B, D), drawn from
    ``torch.Generator().manual_seed(seed)`` always in the same order (roll only when ``ranges.roll``,
    else 0.5), and the generators positioned after these draws (for the backend's latents)."""
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    rows = []
    for g in generators:
        shape = torch.rand(num_shape, generator=g)
        expression = torch.rand(num_expression, generator=g)
        camera_and_jaw = torch.rand(4, generator=g)
        roll = torch.rand(1, generator=g) if ranges.roll else torch.full((1,), 0.5)
        rows.append(torch.cat([shape, expression, camera_and_jaw, roll]))
    return torch.stack(rows), generators


def sample_parameters(
    seeds: list[int],
    num_shape: int,
    num_expression: int,
    ranges: SamplingRanges,
    expression_bounds: tuple[float, float] | None = None,
) -> tuple[SampleParameters, list[torch.Generator]]:
    """Draw each sample's parameters from ``torch.Generator().manual_seed(seed)`` (`draw_units`, mapped
    by `parameters_from_units`) and return the generators (positioned after these draws) for the
    backend's latents."""
    units, generators = draw_units(seeds, num_shape, num_expression, ranges)
    parameters = parameters_from_units(units, num_shape, ranges, expression_bounds)
    return SampleParameters(seed=torch.tensor(seeds, dtype=torch.int64), **parameters), generators
