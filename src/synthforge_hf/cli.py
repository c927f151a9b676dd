"""The `synthforge` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import get_args, get_origin, get_type_hints

import numpy as np
from transformers import HfArgumentParser

from .cli_arguments import (
    AnalyseArguments,
    ConvertNext3DArguments,
    EvaluateArguments,
    GenerateArguments,
    ImportOfficialArguments,
    MakeDatasetArguments,
    ModelCardArguments,
    PipelineArguments,
    PushArguments,
    PushDatasetArguments,
)


class _DefaultsShown(argparse.HelpFormatter):
    """Help that names each option's default, where it has one worth naming (not None, False or [])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" not in text and action.default not in (None, False, [], argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


class CommandLine(HfArgumentParser):
    """One command's parser, built by `transformers.HfArgumentParser` from option dataclasses (help from
    field metadata, `Literal` choices, defaults shown); fields made with `positional()` are positionals."""

    def __init__(self, prog: str, description: str | None, *dataclass_types: type) -> None:
        super().__init__(dataclass_types, prog=prog, description=description, formatter_class=_DefaultsShown)
        for dtype in dataclass_types:
            hints = get_type_hints(dtype)
            for item in _positional_fields(dtype):
                hint = hints[item.name]
                self.add_argument(
                    item.name,
                    type=get_args(hint)[0] if get_origin(hint) is list else hint,
                    help=item.metadata["help"],
                    nargs=item.metadata.get("nargs"),
                    metavar=item.name.upper(),
                )

    def parse(self, argv: list[str] | None) -> list:
        """The dataclass instances (positionals set on them); a refused value exits as a usage error."""
        try:
            *parsed, remaining = self.parse_args_into_dataclasses(
                argv, return_remaining_strings=True, look_for_args_file=False
            )
        except ValueError as err:  # an option dataclass's __post_init__ refused a value
            self.error(str(err))
        if remaining:
            self.error(f"unrecognized arguments: {' '.join(remaining)}")
        if len(parsed) > len(self.dataclass_types):  # HfArgumentParser's namespace of the positionals
            namespace = parsed.pop()
            for options in parsed:
                for item in _positional_fields(type(options)):
                    setattr(options, item.name, getattr(namespace, item.name))
        return parsed


def _positional_fields(dtype: type) -> list[dataclasses.Field]:
    return [item for item in dataclasses.fields(dtype) if item.metadata.get("positional")]


def _parse(prog: str, function, argv: list[str] | None, *dataclass_types: type) -> list:
    return CommandLine(f"synthforge {prog}", function.__doc__, *dataclass_types).parse(argv)


def _load_pipeline(args: PipelineArguments):
    import torch

    from .pipelines.synthforge import SynthForgePipeline

    if args.pipeline:
        pipe = SynthForgePipeline.from_pretrained(args.pipeline)
    else:
        pipe = SynthForgePipeline.from_assets(
            args.head, args.generator, head_dir=args.head_dir, generator_dir=args.generator_dir
        )
    return pipe.to(torch.device(resolve_device(args.device)))


def resolve_device(name: str) -> str:
    """``--device auto``: CUDA when present, else the CPU; any other name as given."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def generate_main(argv: list[str] | None = None) -> int:
    """`synthforge generate`: write annotated samples and a contact sheet to a folder."""
    options, pipeline = _parse("generate", generate_main, argv, GenerateArguments, PipelineArguments)

    import torch

    from .data.features import mask_png_bytes
    from .visualization import contact_sheet

    pipe = _load_pipeline(pipeline)
    out = pipe(
        num_samples=options.num_samples,
        resolution=pipeline.resolution,
        generator=torch.Generator().manual_seed(pipeline.seed),
        batch_size=pipeline.batch_size,
        output_type="pil",
    )
    for sub in ("images", "segmentation", "depth", "annotations"):
        (options.out / sub).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(out.images):
        name = f"{i:05d}"
        image.save(options.out / "images" / f"{name}.png")
        (options.out / "segmentation" / f"{name}.png").write_bytes(mask_png_bytes(out.segmentation[i]))
        np.save(options.out / "depth" / f"{name}.npy", out.depth[i].astype(np.float32))
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
    """`synthforge make-dataset`: generate (or resume) a sharded parquet dataset with its card."""
    parser = CommandLine(
        "synthforge make-dataset", make_dataset_main.__doc__, MakeDatasetArguments, PipelineArguments
    )
    options, pipeline = parser.parse(argv)
    sizes = options.split_sizes()
    if not sizes:
        parser.error("nothing to generate: every split is empty")

    from accelerate import PartialState

    from .data.generate import generate_dataset, is_complete
    from .data.shards import parse_shard_range, plan_shards
    from .hub.dataset_card import write_dataset_card

    shard_range = None
    if options.shards:
        try:
            shard_range = parse_shard_range(options.shards, len(plan_shards(sizes, options.shard_size)))
        except ValueError as err:
            parser.error(f"--shards: {err}")
    pipeline.device = resolve_device(pipeline.device)
    state = PartialState(cpu=pipeline.device == "cpu")
    if pipeline.device == "cuda":
        pipeline.device = str(state.device)  # under `accelerate launch`, each process uses its own GPU
    pipe = _load_pipeline(pipeline)
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


def import_official_main(argv: list[str] | None = None) -> int:
    """`synthforge import-official`: convert the official SynthForge release layout to parquet shards."""
    (args,) = _parse("import-official", import_official_main, argv, ImportOfficialArguments)

    from .data.official import import_official_release

    count = import_official_release(args.source, args.out, split=args.split, shard_size=args.shard_size)
    print(f"imported {count} samples into {args.out / 'data'}")
    return 0


def push_dataset_main(argv: list[str] | None = None) -> int:
    """`synthforge push-dataset`: upload a generated dataset (shards + card) to the Hub, changes only."""
    (args,) = _parse("push-dataset", push_dataset_main, argv, PushDatasetArguments)

    from .hub.publish import push_dataset

    result = push_dataset(
        args.folder,
        args.repo_id,
        private=args.private or None,
        revision=args.revision,
        commit_message=args.message,
    )
    print(_push_line(args.repo_id, result))
    return 0


def _push_line(repo_id: str, result) -> str:
    """What a push did, in one line."""
    where = f": {result.commit_url}" if result.commit_url else ""
    return f"{repo_id}: {len(result.files)} files checked in (the Hub skips unchanged ones){where}"


def convert_next3d_main(argv: list[str] | None = None) -> int:
    """`synthforge convert-next3d`: convert the official Next3D checkpoint (safely) into a pipeline folder."""
    (args,) = _parse("convert-next3d", convert_next3d_main, argv, ConvertNext3DArguments)

    from .pipelines.synthforge.next3d_conversion import convert_next3d

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


def train_sb_main(argv: list[str] | None = None) -> int:
    """`synthforge train-sb`: train the synthetic backbone on a generated dataset (Accelerate)."""
    from .training.sb import SBTrainingArguments, train_sb

    (args,) = _parse("train-sb", train_sb_main, argv, SBTrainingArguments)
    metrics = train_sb(args)
    print(json.dumps({"output_dir": args.output_dir, "validation": metrics}))
    return 0


def train_lf_main(argv: list[str] | None = None) -> int:
    """`synthforge train-lf`: train a label fine-tuning network on a benchmark over a frozen SB."""
    from .training.lf import LFTrainingArguments, train_lf

    (args,) = _parse("train-lf", train_lf_main, argv, LFTrainingArguments)
    print(f"saved {train_lf(args)}")
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """`synthforge evaluate`: benchmark metrics of an SB (300W landmarks) or an LF model, on crops around
    each face as the benchmarks' protocols make them (LaPa and 300W), mapped back into the images."""
    (args,) = _parse("evaluate", evaluate_main, argv, EvaluateArguments)
    model, processor = _load_evaluated_model(args.model, args.benchmark)

    from .evaluation.benchmarks import DEFAULT_SPLITS, evaluate, open_benchmark

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

    from .models.synthforge import SynthForgeForFaceAnalysis, SynthForgeImageProcessor
    from .models.synthforge_lf import SynthForgeLabelFinetuneModel

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
    from .evaluation.metrics import save_ced_plot

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, allow_nan=False))
    if "per_image" in result:
        plot = save_ced_plot(
            {name: np.array([row["nme"] for row in result["per_image"]])}, out.with_suffix(".ced.png")
        )
        print(f"wrote {out} (with per-image errors) and {plot}")
    else:
        print(f"wrote {out}")


def push_main(argv: list[str] | None = None) -> int:
    """`synthforge push`: publish the dataset, the SB and LF models (with cards) and the Space."""
    (args,) = _parse("push", push_main, argv, PushArguments)

    from huggingface_hub import HfApi

    from .hub.publish import Target, publish

    eval_runs: dict[str, list[Path]] = {}
    for item in args.eval:
        folder, _, path = item.partition("=")
        eval_runs.setdefault(str(Path(folder)), []).append(Path(path))
    results = publish(
        dataset=Target.parse(args.dataset) if args.dataset else None,
        models=[Target.parse(m) for m in args.model],
        space=Target.parse(args.space) if args.space else None,
        eval_runs=eval_runs,
        private=args.private or None,
        revision=args.revision,
        commit_message=args.message,
        api=HfApi(token=args.token),
    )
    for repo_id, result in results.items():
        print(_push_line(repo_id, result))
    return 0


def model_card_main(argv: list[str] | None = None) -> int:
    """`synthforge model-card`: write a model folder's README.md, model-index from evaluation runs."""
    (args,) = _parse("model-card", model_card_main, argv, ModelCardArguments)

    from .hub.model_card import render_model_card

    card = render_model_card(
        args.model, args.repo_id, args.dataset, args.eval, training_data=args.training_data
    )
    from .io.safe_write import atomic_write_bytes

    atomic_write_bytes(args.model / "README.md", str(card).encode())
    print(f"wrote {args.model / 'README.md'}")
    return 0


def analyse_main(argv: list[str] | None = None) -> int:
    """`synthforge analyse`: every face in every photo (detected, cropped as the training data framed
    faces): a picture (landmarks, parsing, depth side by side) and a JSON per photo."""
    parser = CommandLine("synthforge analyse", analyse_main.__doc__, AnalyseArguments)
    (args,) = parser.parse(argv)
    stems = [photo.stem for photo in args.photos]
    if len(set(stems)) < len(stems):
        parser.error("two photos share a file name; their results would overwrite each other")

    import io
    import json

    from PIL import Image, UnidentifiedImageError
    from tqdm.auto import tqdm

    from .analysis import PhotoAnalyser
    from .io.images import as_rgb8
    from .io.safe_write import atomic_write_bytes

    analyser = PhotoAnalyser.from_pretrained(args.model)
    analyser.model.to(resolve_device(args.device))
    args.out.mkdir(parents=True, exist_ok=True)
    faces = 0
    for path in tqdm(args.photos, desc="analyse", disable=args.no_progress):
        try:
            with Image.open(path) as image:
                photo = as_rgb8(image)
        except (OSError, UnidentifiedImageError) as error:
            raise SystemExit(f"{path}: not a readable image ({error})") from None
        result = analyser(photo)
        faces += len(result.faces)
        record = {"photo": str(path), **result.to_json()}
        atomic_write_bytes(args.out / f"{path.stem}.json", json.dumps(record, indent=1).encode())
        png = io.BytesIO()
        Image.fromarray(result.picture(photo)).save(png, format="PNG")
        atomic_write_bytes(args.out / f"{path.stem}.png", png.getvalue())
    print(f"{faces} faces in {len(args.photos)} photos; wrote {args.out}")
    return 0


COMMANDS = {
    "generate": ("synthforge_hf.cli", "generate_main"),
    "make-dataset": ("synthforge_hf.cli", "make_dataset_main"),
    "import-official": ("synthforge_hf.cli", "import_official_main"),
    "push-dataset": ("synthforge_hf.cli", "push_dataset_main"),
    "convert-next3d": ("synthforge_hf.cli", "convert_next3d_main"),
    "train-sb": ("synthforge_hf.cli", "train_sb_main"),
    "train-lf": ("synthforge_hf.cli", "train_lf_main"),
    "evaluate": ("synthforge_hf.cli", "evaluate_main"),
    "model-card": ("synthforge_hf.cli", "model_card_main"),
    "push": ("synthforge_hf.cli", "push_main"),
    "analyse": ("synthforge_hf.cli", "analyse_main"),
}


TRACEBACK_VARIABLE = "SYNTHFORGE_TRACEBACK"


def _one_line(err: BaseException) -> str:
    """The error's message on one line (the project's errors name the file or option they are about;
    library errors, e.g. from from_pretrained, mostly name the folder too)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        from importlib.metadata import version

        print(f"synthforge-hf {version('synthforge-hf')}")
        return 0
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        names = ", ".join(sorted(COMMANDS))
        print(
            f"usage: synthforge COMMAND [options]\ncommands: {names}\n"
            "run 'synthforge COMMAND --help' for a command's options, 'synthforge --version' for the version"
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    import importlib

    # OpenMP threads that wait passively leave the cores to the PNG encoder thread of make-dataset
    # (measured: +13% instead of +23% over generation alone, 2 cores). Takes effect before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from .errors import AssetError, FolderError
    from .models.synthforge.checked_loading import DamagedCheckpointError

    module, function = COMMANDS[argv[0]]
    try:
        return getattr(importlib.import_module(module), function)(argv[1:])
    except (AssetError, OSError, ValueError) as err:  # a missing, unreadable or wrong file, folder or value
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        ours = isinstance(err, (AssetError, FolderError, DamagedCheckpointError))  # they say what to fix
        hint = "" if ours else f" ({TRACEBACK_VARIABLE}=1 shows where)"
        raise SystemExit(f"synthforge {argv[0]}: {_one_line(err)}{hint}") from None


if __name__ == "__main__":
    raise SystemExit(main())
