"""Renders of the same samples without and with one optional part of the mesh appearance, for tests."""

from __future__ import annotations

from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline


def without_and_with(part: str, seeds: list[int], resolution: int, ranges: dict | None = None, **call):
    """The default head's samples ``seeds`` rendered as numpy outputs with ``MeshFaceGenerator(part=False)``
    and then ``part=True``, the pipeline built with the `SamplingRanges` fields ``ranges`` and called with
    ``call`` (frontal, level views unless it says otherwise)."""
    call = {"yaw": 0.0, "pitch": 0.0, **call}
    return tuple(
        SynthForgePipeline.from_assets("default", MeshFaceGenerator(**{part: on}), **(ranges or {}))(
            seeds=seeds, resolution=resolution, output_type="np", **call
        )
        for on in (False, True)
    )
