"""`synthforge train-sb`, `train-lf` and `evaluate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..training.arguments import LFTrainingArguments, SBTrainingArguments
from .arguments import EvaluateArguments
from .common import model_source, parse


def train_sb_main(argv: list[str] | None = None) -> int:
    """`synthforge train-sb`: train the synthetic backbone on generated faces (Accelerate).

    Runs `synthforge_hf.training.sb.train_sb` with the options of `SBTrainingArguments` and prints the
    output folder and the last validation metrics as JSON. The faces come from a make-dataset folder
    (``--data``) or are rendered while training, where ``--sampling`` puts them (uniform, guided by the
    losses, or aimed at ``--target-photos``). ``accelerate launch -m synthforge_hf.cli train-sb ...``
    trains on many GPUs.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once training ends, the model saved in ``--output-dir``.

    Example:

    ```bash
    synthforge train-sb --data outputs/faces --output-dir runs/sb --config small --max-steps 2600
    synthforge train-sb --sampling guided --output-dir runs/sb-guided --config tiny --max-steps 600
    ```
    """
    (args,) = parse("train-sb", train_sb_main, argv, SBTrainingArguments)

    from ..training.sb import train_sb

    metrics = train_sb(args)
    print(json.dumps({"output_dir": args.output_dir, "validation": metrics}))
    return 0


def train_lf_main(argv: list[str] | None = None) -> int:
    """`synthforge train-lf`: train a label fine-tuning network on a benchmark over a frozen SB.

    Runs `synthforge_hf.training.lf.train_lf` with the options of `LFTrainingArguments`; ``--backbone``
    is an SB folder or Hub id. Prints where the LF model was saved.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once the LF model is saved.

    Example:

    ```bash
    synthforge train-lf --backbone runs/sb --benchmark 300w --data /data/300W --output-dir runs/lf-300w
    ```
    """
    (args,) = parse("train-lf", train_lf_main, argv, LFTrainingArguments)
    args.backbone = model_source(args.backbone, "--backbone")

    from ..training.lf import train_lf

    print(f"saved {train_lf(args)}")
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """`synthforge evaluate`: benchmark metrics of an SB (300W landmarks) or an LF model, on crops around
    each face as the benchmarks' protocols make them (LaPa and 300W), mapped back into the images.

    Prints the summary as JSON (and the skipped images with their reasons); with ``--out`` writes the
    whole result (per-image errors included) and, with per-image errors, a CED plot next to it. An SB
    is evaluated on 300W only: LaPa and CelebAMask-HQ need an LF model.

    Args:
        argv (`list[str]`, *optional*):
            The command's arguments, after its name (None: ``sys.argv[1:]``, as argparse reads them).

    Returns:
        `int`: the exit status, 0 once the metrics are printed (and written with ``--out``).

    Example:

    ```bash
    synthforge evaluate --model runs/lf-300w --benchmark 300w --data /data/300W --split common --out eval.json
    ```
    """
    (args,) = parse("evaluate", evaluate_main, argv, EvaluateArguments)
    model, processor = _load_evaluated_model(model_source(args.model, "--model"), args.benchmark)

    from ..evaluation.benchmarks import DEFAULT_SPLITS, evaluate, open_benchmark

    args.split = args.split or DEFAULT_SPLITS[args.benchmark]
    try:
        dataset = open_benchmark(args.benchmark, args.data, args.split, args.boxes)
        result = evaluate(model, processor, args.benchmark, dataset, batch_size=args.batch_size)
    except (OSError, ValueError) as err:  # a missing or malformed benchmark file, nothing to score
        raise SystemExit(f"synthforge evaluate: {err}") from None
    result = {"model": str(args.model), "split": args.split, "boxes": args.boxes, **result}
    if args.out:
        _write_evaluation(result, args.out, Path(args.model).name)
    summary = {k: v for k, v in result.items() if k not in ("per_image", "skipped")}
    summary["skipped"] = len(result["skipped"])
    print(json.dumps(summary, indent=2, allow_nan=False))
    for row in result["skipped"]:
        print(f"skipped {row['path']}: {row['reason']}", file=sys.stderr)
    return 0


def _load_evaluated_model(model_id: str, benchmark: str):
    """The SB or LF model of a folder or Hub id, with its image processor."""
    from transformers import AutoConfig

    from ..models.synthforge import SynthForgeForFaceAnalysis, SynthForgeImageProcessor
    from ..models.synthforge_lf import SynthForgeLabelFinetuneModel

    if AutoConfig.from_pretrained(model_id).model_type == "synthforge":
        if benchmark != "300w":
            raise SystemExit(
                "an SB predicts the SynthForge classes: evaluate an LF model on LaPa / CelebAMask-HQ"
            )
        model = SynthForgeForFaceAnalysis.from_pretrained(model_id)
    else:
        model = SynthForgeLabelFinetuneModel.from_pretrained(model_id)
    return model, SynthForgeImageProcessor.from_pretrained(model_id)


def _write_evaluation(result: dict, out: Path, name: str) -> None:
    """The whole result as JSON (never NaN or Infinity) and, with per-image errors, OUT.ced.png."""
    import numpy as np

    from ..evaluation.metrics import save_ced_plot

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, allow_nan=False))
    if "per_image" in result:
        plot = save_ced_plot(
            {name: np.array([row["nme"] for row in result["per_image"]])}, out.with_suffix(".ced.png")
        )
        print(f"wrote {out} (with per-image errors) and {plot}")
    else:
        print(f"wrote {out}")
