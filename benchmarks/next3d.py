"""Next3D backend: images/s with all annotations against the bare generator forward.

    python benchmarks/next3d.py                                # tiny configuration, CPU
    python benchmarks/next3d.py --config released --num-samples 2
    python benchmarks/next3d.py --config released --device cuda --num-samples 32 --batch-size 8 [--compile]

"bare": Next3D's own forward (mapping, texture rasterization, mouth and blending networks, one 64 px
volume rendering pass, super-resolution), as the official sampling script runs it.
"annotated": `SynthForgePipeline` with the same generator at the generator's output size: FLAME forward,
the SynthForge depth pass (128 px), mesh rasterization into segmentation / depth / landmarks /
visibility, alignment residuals, outputs as numpy. Weights are random (the timings do not depend on
them); FLAME is a FLAME-format model built on ``head_template.obj`` unless ``--flame-dir`` is given.
Goal: annotations cost <= 25% on top of the bare forward on a GPU.

Writes benchmarks/results/next3d.json.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from recording import write_result

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthforge_hf.io.obj import read_obj  # noqa: E402
from synthforge_hf.pipelines.synthforge import SynthForgePipeline  # noqa: E402
from synthforge_hf.rendering.cameras import Cameras  # noqa: E402
from tests.next3d_files import TINY, flame_folder, random_next3d  # noqa: E402

ASSETS = ROOT.parent / "shared" / "assets"


def build_pipeline(config: str, flame_dir: Path | None, device: str) -> SynthForgePipeline:
    template = read_obj((flame_dir or ASSETS / "flame") / "head_template.obj")
    if flame_dir is None:
        flame_dir = flame_folder(Path(tempfile.mkdtemp()) / "flame", template, ASSETS)
    generator = random_next3d(template, flame_dir / "uv_face_eye_mask.png", TINY if config == "tiny" else {})
    pipe = SynthForgePipeline.from_assets("flame", generator, head_dir=flame_dir)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(torch.device(device))


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_forward(pipe: SynthForgePipeline, seeds: list[int]) -> None:
    """The official forward: no depth pass, no annotations, one batch."""
    generator, head = pipe.face_generator, pipe.head_model
    count = len(seeds)
    cameras = Cameras.orbit(torch.zeros(count), torch.zeros(count), torch.full((count,), 18.837))
    posed = head(batch_size=count)
    flame = torch.cat([posed.vertices, posed.landmarks_3d], 1)
    z = torch.randn(count, generator.config.z_dim, generator=torch.Generator().manual_seed(seeds[0]))
    ws = generator.next3d.mapping(z.to(generator.device), cameras.conditioning.to(generator.device), 0.7, 14)
    generator.next3d.synthesis(
        ws,
        cameras.conditioning.to(generator.device),
        flame,
        generator.uv_face_mask,
        neural_rendering_resolution=generator.config.neural_rendering_resolution,
        texture_rasterizer=generator.config.texture_rasterizer,
        ray_chunk_size=generator.config.ray_chunk_size,
    )


@torch.no_grad()
def time_runs(run, batches: list[list[int]], device: str) -> float:
    run(batches[0])  # warm-up (and compilation)
    synchronize(device)
    start = time.perf_counter()
    for seeds in batches:
        run(seeds)
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", choices=("tiny", "released"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num-samples", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--flame-dir", type=Path, help="a real FLAME folder (default: built on the template)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks first")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "next3d.json")
    args = parser.parse_args()

    pipe = build_pipeline(args.config, args.flame_dir, args.device)
    if args.compile:
        pipe.face_generator.compile_networks()
    resolution = pipe.face_generator.config.img_resolution
    seeds = list(range(args.num_samples))
    batches = [seeds[i : i + args.batch_size] for i in range(0, len(seeds), args.batch_size)]
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    bare = time_runs(lambda s: bare_forward(pipe, s), batches, args.device)
    annotated = time_runs(
        lambda s: pipe(seeds=s, resolution=resolution, batch_size=args.batch_size, output_type="np"),
        batches,
        args.device,
    )
    row = {
        "config": args.config,
        "resolution": resolution,
        "samples": args.num_samples,
        "batch_size": args.batch_size,
        "bare_images_per_second": round(args.num_samples / bare, 3),
        "annotated_images_per_second": round(args.num_samples / annotated, 3),
        "annotation_overhead_percent": round(100 * (annotated / bare - 1), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }
    if args.device.startswith("cuda"):
        row["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    report = {
        "benchmark": "Next3D: bare forward vs pipeline with all annotations",
        "device": args.device,
        "threads": torch.get_num_threads(),
        "compiled": args.compile,
        "results": [row],
    }
    print(
        f"{args.config} {resolution} px on {args.device}: bare {row['bare_images_per_second']} img/s, "
        f"annotated {row['annotated_images_per_second']} img/s, "
        f"annotation overhead {row['annotation_overhead_percent']}%"
    )
    write_result(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
