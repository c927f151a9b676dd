"""`synthforge generate`, `make-dataset`, `import-official` and `convert-next3d`."""

from __future__ import annotations

import json

from .arguments import (
    ConvertNext3DArguments,
    GenerateArguments,
    ImportOfficialArguments,
    MakeDatasetArguments,
    PipelineArguments,
)
from .common import description, model_source, parse, resolve_device
from .parser import CommandLine


def load_pipeline(args: PipelineArguments, device: str):
    """The pipeline the options name (a saved one, or one built from named assets), on ``device``."""
    import torch

    from ..pipelines.synthforge import SynthForgePipeline

    if args.pipeline:
        pipe = SynthForgePipeline.from_pretrained(model_source(args.pipeline, "--pipeline"))
    else:
        generator = args.generator
        if args.appearance:
            from ..generators.mesh import APPEARANCE_PARTS, MeshFaceGenerator

            unknown = sorted(set(args.appearance) - set(APPEARANCE_PARTS))
            if unknown:
                raise ValueError(
                    f"--appearance: unknown part {unknown[0]!r}; choose from {', '.join(APPEARANCE_PARTS)}"
                )
            generator = MeshFaceGenerator(**dict.fromkeys(args.appearance, True))
        pipe = SynthForgePipeline.from_assets(
            args.head, generator, head_dir=args.head_dir, generator_dir=args.generator_dir
        )
    return pipe.to(torch.device(device))


def generate_main(argv: list[str] | None = None) -> int:
    """`synthforge generate`: write annotated samples and a contact sheet to a folder.

    Writes ``OUT/images/NNNNN.png``, ``OUT/segmentation/NNNNN.png`` (palette PNG whose values are the
    class ids), ``OUT/depth/NNNNN.npy`` (metres), ``OUT/annotations/NNNNN.json`` (landmarks, their
    visibility and every parameter of the sample) and ``OUT/contact_sheet.png`` (image | mask |
    landmarks | depth); with a part drawn in front of the head (``--appearance``), also
    ``OUT/parts/NNNNN.png`` (palette PNG of `synthforge_hf.constants.PART_CLASSES` ids). The pipeline
    is the embedded default head's, one built from ``--head`` and ``--generator`` with their folders, or
    a saved one (``--pipeline``).

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once the samples and the contact sheet are written.

    Example:

    ```bash
    synthforge generate --num-samples 8 --resolution 128 --out outputs/demo
    synthforge generate --head flame --head-dir ~/flame --num-samples 8 --out out/
    ```
    """
    options, pipeline = parse("generate", generate_main, argv, GenerateArguments, PipelineArguments)

    import numpy as np
    import torch

    from ..data.features import PART_PALETTE, mask_png_bytes
    from ..visualization import contact_sheet

    pipe = load_pipeline(pipeline, resolve_device(pipeline.device))
    out = pipe(
        num_samples=options.num_samples,
        resolution=pipeline.resolution,
        generator=torch.Generator().manual_seed(pipeline.seed),
        batch_size=pipeline.batch_size,
        output_type="pil",
    )
    parts = out.generator_outputs.get("parts")
    for sub in ("images", "segmentation", "depth", "annotations") + (() if parts is None else ("parts",)):
        (options.out / sub).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(out.images):
        name = f"{i:05d}"
        image.save(options.out / "images" / f"{name}.png")
        (options.out / "segmentation" / f"{name}.png").write_bytes(mask_png_bytes(out.segmentation[i]))
        np.save(options.out / "depth" / f"{name}.npy", out.depth[i].astype(np.float32))
        if parts is not None:
            (options.out / "parts" / f"{name}.png").write_bytes(mask_png_bytes(parts[i], PART_PALETTE))
        record = {
            "landmarks_2d": out.landmarks_2d[i].tolist(),
            "landmarks_3d": out.landmarks_3d[i].tolist(),
            "landmark_visibility": out.landmark_visibility[i].tolist(),
            **{key: np.asarray(value[i]).tolist() for key, value in out.parameters.items()},
        }
        (options.out / "annotations" / f"{name}.json").write_text(json.dumps(record))
    rows = min(options.sheet_rows, options.num_samples)
    sheet = contact_sheet(
        out.images[:rows],
        out.segmentation[:rows],
        out.landmarks_2d[:rows],
        out.depth[:rows],
        out.landmark_visibility[:rows],
    )
    sheet.save(options.out / "contact_sheet.png")
    print(f"wrote {options.num_samples} samples and contact_sheet.png to {options.out}")
    return 0


def make_dataset_main(argv: list[str] | None = None) -> int:
    """`synthforge make-dataset`: generate (or resume) a sharded parquet dataset with its card.

    Runs `synthforge_hf.data.generate.generate_dataset` on the pipeline the options name, then, once
    every shard is present, writes the dataset card (`synthforge_hf.hub.dataset_card`). A README.md in
    ``--out`` that is not a SynthForge card is refused before generation starts. Under
    ``accelerate launch`` each process makes its share of the shards on its own device; ``--shards a:b``
    gives one machine a range of the global shard list.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once this process's shards are made (and the card, once all are).

    Example:

    ```bash
    synthforge make-dataset --out outputs/faces-small --limit 64
    synthforge make-dataset --out /data/faces --num-train 100000 --num-validation 10000 --shards 0:50
    synthforge make-dataset --out outputs/hard-faces --limit 64 --guided-by runs/sb  # where runs/sb errs
    ```
    """
    parser = CommandLine(
        "synthforge make-dataset", description(make_dataset_main), MakeDatasetArguments, PipelineArguments
    )
    options, pipeline = parser.parse(argv)
    sizes = options.split_sizes()
    if not sizes:
        parser.error("nothing to generate: every split is empty")

    from ..data.shards import parse_shard_range, plan_shards

    shard_range = None
    if options.shards:
        try:
            shard_range = parse_shard_range(options.shards, len(plan_shards(sizes, options.shard_size)))
        except ValueError as err:
            parser.error(f"--shards: {err}")

    from accelerate import PartialState

    from ..data.generate import generate_dataset, is_complete
    from ..hub.dataset_card import refuse_foreign_card, write_dataset_card

    refuse_foreign_card(options.out)  # before hours of generation, not when the card is due
    device = resolve_device(pipeline.device)
    state = PartialState(cpu=device == "cpu")
    if device == "cuda":
        device = str(state.device)  # under `accelerate launch`, each process uses its own GPU
    pipe = load_pipeline(pipeline, device)
    guidance = None
    if options.guided_by is not None:
        guidance = guidance_for(options, pipe, pipeline.seed, device)
    summary = generate_dataset(
        pipe,
        options.out,
        sizes,
        shard_size=options.shard_size,
        base_seed=pipeline.seed,
        resolution=pipeline.resolution,
        batch_size=pipeline.batch_size,
        min_visible_landmarks=options.min_visible_landmarks,
        max_landmark_depth_error=options.max_landmark_depth_error,
        shard_range=shard_range,
        progress=not options.no_progress,
        guidance=guidance,
    )
    print(f"process {state.process_index}: {summary}")
    state.wait_for_everyone()
    if state.is_main_process:
        if is_complete(options.out):
            print(f"dataset complete; wrote {write_dataset_card(options.out)}")
        else:
            print(
                "some shards are still missing (other machines, or a later run); "
                "the card is written once all are present"
            )
    return 0


def guidance_for(options, pipe, base_seed: int, device: str) -> dict:
    """``--guided-by``'s guidance: the one recorded in ``--out`` when it names the same model and options (a
    resumed job keeps its parents), else scored anew (`guidance_from`)."""
    from ..data.generate import CONFIG_FILE
    from ..evaluation.error_map import guidance_from
    from ..models.synthforge import SynthForgeForFaceAnalysis

    recorded_path = options.out / CONFIG_FILE
    recorded = json.loads(recorded_path.read_text()).get("guidance") if recorded_path.is_file() else None
    wanted = {"model": options.guided_by, "scored_faces": options.guided_faces}
    if recorded and all(recorded.get(k) == v for k, v in wanted.items()):
        if recorded.get("uniform_share") == options.uniform_share:
            return recorded
    model = SynthForgeForFaceAnalysis.from_pretrained(model_source(options.guided_by, "--guided-by"))
    return guidance_from(
        model.to(device).eval(),
        pipe,
        options.guided_faces,
        base_seed,
        uniform_share=options.uniform_share,
        model_name=options.guided_by,
        progress=not options.no_progress,
    )


def import_official_main(argv: list[str] | None = None) -> int:
    """`synthforge import-official`: convert the official SynthForge release layout to parquet shards.

    Runs `synthforge_hf.data.official.import_official_release`: ``SOURCE`` holds ``images/``, ``seg/``,
    ``depth/`` and ``annotations/``; the shards go to ``OUT/data/`` with this project's features, and an
    interrupted import resumes.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 when every sample of the release is in the shards.

    Example:

    ```bash
    synthforge import-official /data/synthforge-release --out outputs/official --split train
    ```
    """
    (args,) = parse("import-official", import_official_main, argv, ImportOfficialArguments)

    from ..data.official import import_official_release

    count = import_official_release(
        args.source, args.out, split=args.split, shard_size=args.shard_size, progress=not args.no_progress
    )
    print(f"imported {count} samples into {args.out / 'data'}")
    return 0


def convert_next3d_main(argv: list[str] | None = None) -> int:
    """`synthforge convert-next3d`: convert the official Next3D checkpoint (safely) into a pipeline folder.

    Reads the official FFHQ-512 checkpoint without running its pickled code
    (`synthforge_hf.pipelines.synthforge.next3d_conversion.convert_next3d`) and writes the image backend
    component, or with ``--flame-dir`` a whole pipeline (FLAME head + Next3D); ``--fit-alignment N``
    first fits the alignment of its rendering to the head on N generated samples.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once the component (or pipeline) folder is written.

    Example:

    ```bash
    synthforge convert-next3d next3d_ffhq_512.pkl next3d-pipeline --flame-dir ~/flame \
        --fit-alignment 16 --device cuda
    ```
    """
    (args,) = parse("convert-next3d", convert_next3d_main, argv, ConvertNext3DArguments)

    from ..pipelines.synthforge.next3d_conversion import convert_next3d

    result = convert_next3d(
        args.checkpoint,
        args.out,
        uv_face_mask=args.uv_mask,
        flame_dir=args.flame_dir,
        alignment_samples=args.fit_alignment,
        alignment_iterations=args.alignment_iterations,
        device=resolve_device(args.device),
        network=args.network,
        depth_image_resolution=args.depth_resolution,
        blend=args.blend,
    )
    if args.fit_alignment:
        before, after = result.face_generator.alignment_loss.tolist()
        print(f"alignment loss {before:.4g} -> {after:.4g}")
    what = "pipeline" if args.flame_dir else "generator component (face_generator/)"
    print(f"wrote the Next3D {what} to {args.out}")
    return 0
