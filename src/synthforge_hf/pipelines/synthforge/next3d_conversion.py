"""The official Next3D checkpoint as a whole `SynthForgePipeline`, with the FLAME -> Next3D alignment fitted
on the pipeline's own samples (the checkpoint reader and the pure fit are in `generators.next3d`)."""

from __future__ import annotations

from pathlib import Path

import torch

from ...generators.next3d.alignment import (
    AlignmentFit,
    AlignmentObservation,
    fit_alignment,
    optical_axis_depth,
)
from ...generators.next3d.convert import UV_MASK_NAME, load_next3d_checkpoint
from ...generators.next3d.generator import Next3DFaceGenerator
from ...rendering.cameras import Cameras, head_to_world
from .pipeline_synthforge import SynthForgePipeline


@torch.no_grad()
def collect_observations(
    pipe: SynthForgePipeline, seeds: list[int], batch_size: int = 4
) -> list[AlignmentObservation]:
    """Generate samples with ``pipe`` (a `SynthForgePipeline` with a `Next3DFaceGenerator`) from its own
    sampling of FLAME parameters and cameras, and keep what the fit needs."""
    params, latents = pipe.sample(seeds)
    observations = []
    for start in range(0, len(seeds), batch_size):
        rows = slice(start, start + batch_size)
        cameras, posed = pipe.pose(params, rows)
        flame = torch.cat([posed.vertices, posed.landmarks_3d], dim=1)
        out = pipe.face_generator.synthesize(latents[rows], cameras, flame)
        depth = optical_axis_depth(out.image_depth.float(), cameras)
        nominal = head_to_world(posed.vertices.float())
        for i in range(len(nominal)):
            observations.append(
                AlignmentObservation(
                    vertices=nominal[i],
                    cameras=Cameras(cameras.cam2world[i : i + 1], cameras.intrinsics[i : i + 1]),
                    nerf_points=out.coarse_points[i].float(),
                    nerf_sigma=out.coarse_sigma[i, :, 0].float(),
                    nerf_depth=depth[i],
                )
            )
    return observations


def fit_pipeline_alignment(
    pipe: SynthForgePipeline, num_samples: int = 16, iterations: int = 30, seed: int = 0
) -> AlignmentFit:
    """Fit the FLAME -> Next3D correction of ``pipe``'s generator on ``num_samples`` generated samples."""
    seeds = torch.randint(0, 2**62, (num_samples,), generator=torch.Generator().manual_seed(seed)).tolist()
    observations = collect_observations(pipe, seeds)
    return fit_alignment(observations, pipe.head_model.faces, pipe.annotator.rasterize, iterations=iterations)


def convert_next3d(
    checkpoint: str | Path,
    output_dir: str | Path,
    uv_face_mask: str | Path | None = None,
    flame_dir: str | Path | None = None,
    alignment_samples: int = 0,
    alignment_iterations: int = 30,
    device: str | torch.device = "cpu",
    network: str = "G_ema",
    **options,
) -> SynthForgePipeline | Next3DFaceGenerator:
    """Convert the official checkpoint into ``output_dir``.

    With ``flame_dir`` (FLAME's ``generic_model.pkl`` and landmark embedding, and optionally
    ``head_template.obj`` and ``flame_seg_tex.png``) a whole `SynthForgePipeline` is written, loadable by
    ``SynthForgePipeline.from_pretrained(output_dir)``; ``alignment_samples > 0`` first fits the
    FLAME -> Next3D correction on that many samples generated on ``device``. Without it only the component
    is written (``output_dir/face_generator``). ``uv_face_mask`` defaults to
    ``flame_dir/uv_face_eye_mask.png``; ``options`` override the generator's config values
    (`load_next3d_checkpoint`). Returns the pipeline (or the component)."""
    output_dir = Path(output_dir)
    if uv_face_mask is None:
        uv_face_mask = Path(flame_dir or ".").expanduser() / UV_MASK_NAME
    generator = load_next3d_checkpoint(checkpoint, uv_face_mask, network, **options)
    if flame_dir is None:
        if alignment_samples:
            raise ValueError("fitting the alignment needs the FLAME model: pass flame_dir")
        generator.save_pretrained(output_dir / "face_generator")
        return generator
    pipe = SynthForgePipeline.from_assets("flame", generator, head_dir=flame_dir)
    if alignment_samples:
        pipe.to(torch.device(device))
        fit = fit_pipeline_alignment(pipe, alignment_samples, iterations=alignment_iterations)
        generator.set_alignment(fit.matrix, fit.translation, (fit.initial_loss, fit.final_loss))
        pipe.to("cpu")
    pipe.save_pretrained(output_dir)
    return pipe
