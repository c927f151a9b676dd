"""`synthforge error-map`."""

from __future__ import annotations

import json

from .arguments import ErrorMapArguments
from .common import model_source, parse, resolve_device

FILES = ("error_map.json", "error_map.png")


def error_map_main(argv: list[str] | None = None) -> int:
    """`synthforge error-map`: where an SB errs over the generator's controls.

    Measures the model's landmark NME, segmentation error and depth MAE on fresh generated faces
    (`synthforge_hf.evaluation.error_map`) and writes ``OUT/error_map.json`` (the bins: yaw x pitch as the
    camera sees the head, expression strength, jaw opening, field of view and, for the mesh renderer, skin
    tone, hair density and light intensity) and ``OUT/error_map.png`` (the same as heat maps). Existing
    files of those names are left alone: the command stops and names them.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once both files are written.

    Example:

    ```bash
    synthforge error-map --out outputs/error-map --num-samples 400   # the reference model; --model DIR
    ```
    """
    (args,) = parse("error-map", error_map_main, argv, ErrorMapArguments)
    taken = [args.out / name for name in FILES if (args.out / name).exists()]
    if taken:
        raise FileExistsError(f"{taken[0]} exists; choose another --out (nothing was replaced)")
    model_path = model_source(args.model, "--model") if args.model else None
    pipeline_path = model_source(args.pipeline, "--pipeline") if args.pipeline else None
    device = resolve_device(args.device)

    from ..constants import REFERENCE_MODEL
    from ..evaluation.error_map import error_map_picture, measure_error_map
    from ..io.safe_write import atomic_write_bytes
    from ..models.synthforge import SynthForgeForFaceAnalysis
    from ..pipelines.synthforge import SynthForgePipeline

    model = SynthForgeForFaceAnalysis.from_pretrained(model_path or REFERENCE_MODEL).to(device).eval()
    pipe = (
        SynthForgePipeline.from_pretrained(pipeline_path)
        if pipeline_path
        else SynthForgePipeline.from_default_head()
    ).to(device)
    pipe.set_progress_bar_config(disable=True)
    report = measure_error_map(
        model, pipe, args.num_samples, args.seed, args.batch_size, progress=not args.no_progress
    ).to_dict()
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / FILES[0], (json.dumps(report, indent=1) + "\n").encode())
    error_map_picture(report).save(args.out / FILES[1])
    print(f"mean NME {100 * report['nme']:.2f}% over {report['samples']} faces; wrote {' and '.join(FILES)}")
    return 0
