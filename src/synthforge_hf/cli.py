"""The `synthforge` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

MIN_RESOLUTION = 8  # pixels: below this no face part is resolved


class _DefaultsShown(argparse.HelpFormatter):
    """Help that names each option's default, where it has one worth naming (not None or False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" not in text and action.default not in (None, False, argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def command_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The parser of one `synthforge` command: its help shows the defaults."""
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=_DefaultsShown)


def _add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--head",
        choices=("default", "flame", "ict-facekit"),
        default="default",
        help="the parametric head: the embedded default, FLAME or ICT-FaceKit (the last two need --head-dir)",
    )
    parser.add_argument("--head-dir", type=Path, help="folder with the FLAME or ICT-FaceKit files")
    parser.add_argument(
        "--generator",
        choices=("mesh", "next3d"),
        default="mesh",
        help="image backend (next3d needs --head flame)",
    )
    parser.add_argument(
        "--generator-dir", type=Path, help="a converted Next3D component (synthforge convert-next3d)"
    )
    parser.add_argument("--pipeline", help="a saved pipeline folder or Hub id (overrides --head)")
    parser.add_argument("--resolution", type=int, default=256, help="image side in pixels (square)")
    parser.add_argument(
        "--seed", type=int, default=0, help="base seed; sample i of a split depends only on it and i"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="samples rendered together")
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda, ..."
    )


def _check_pipeline_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.head != "default" and not args.pipeline and args.head_dir is None:
        parser.error(f"--head {args.head} needs --head-dir")
    if args.head == "default" and args.head_dir is not None:
        parser.error("--head-dir is for --head flame or ict-facekit; the default head is built in")
    if (
        args.generator == "next3d"
        and not args.pipeline
        and (args.head != "flame" or args.generator_dir is None)
    ):
        parser.error("--generator next3d needs --head flame --head-dir DIR --generator-dir DIR")
    if args.resolution < MIN_RESOLUTION:
        parser.error(f"--resolution must be at least {MIN_RESOLUTION} pixels, got {args.resolution}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be positive, got {args.batch_size}")


def _load_pipeline(args: argparse.Namespace):
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
    parser = command_parser(prog="synthforge generate", description=generate_main.__doc__)
    parser.add_argument("--num-samples", type=int, default=8, help="how many samples to generate")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for the images, labels and a contact sheet"
    )
    _add_pipeline_arguments(parser)
    parser.add_argument("--sheet-rows", type=int, default=8, help="samples shown in contact_sheet.png")
    args = parser.parse_args(argv)
    _check_pipeline_arguments(parser, args)
    if args.num_samples < 1:
        parser.error("--num-samples must be positive")

    import torch

    from .data.features import mask_png_bytes
    from .visualization import contact_sheet

    pipe = _load_pipeline(args)
    out = pipe(
        num_samples=args.num_samples,
        resolution=args.resolution,
        generator=torch.Generator().manual_seed(args.seed),
        batch_size=args.batch_size,
        output_type="pil",
    )
    for sub in ("images", "segmentation", "depth", "annotations"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(out.images):
        name = f"{i:05d}"
        image.save(args.out / "images" / f"{name}.png")
        (args.out / "segmentation" / f"{name}.png").write_bytes(mask_png_bytes(out.segmentation[i]))
        np.save(args.out / "depth" / f"{name}.npy", out.depth[i].astype(np.float32))
        record = {
            "landmarks_2d": out.landmarks_2d[i].tolist(),
            "landmarks_3d": out.landmarks_3d[i].tolist(),
            "landmark_visibility": out.landmark_visibility[i].tolist(),
            **{key: np.asarray(value[i]).tolist() for key, value in out.parameters.items()},
        }
        (args.out / "annotations" / f"{name}.json").write_text(json.dumps(record))
    rows = min(args.sheet_rows, args.num_samples)
    sheet = contact_sheet(
        out.images[:rows],
        out.segmentation[:rows],
        out.landmarks_2d[:rows],
        out.depth[:rows],
        out.landmark_visibility[:rows],
    )
    sheet.save(args.out / "contact_sheet.png")
    print(f"wrote {args.num_samples} samples and contact_sheet.png to {args.out}")
    return 0


def make_dataset_main(argv: list[str] | None = None) -> int:
    """`synthforge make-dataset`: generate (or resume) a sharded parquet dataset with its card."""
    parser = command_parser(prog="synthforge make-dataset", description=make_dataset_main.__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="dataset folder (parquet shards, card, generation.json); an existing one is resumed",
    )
    parser.add_argument("--num-train", type=int, default=100_000, help="samples in the train split")
    parser.add_argument("--num-validation", type=int, default=10_000, help="samples in the validation split")
    parser.add_argument("--limit", type=int, help="cap every split at this many samples (a quick, small run)")
    parser.add_argument("--shard-size", type=int, default=1000, help="samples per parquet shard")
    parser.add_argument("--shards", help="this machine's part of the global shard list, as 'a:b'")
    parser.add_argument(
        "--min-visible-landmarks",
        type=int,
        default=0,
        help="reject samples with fewer visible landmarks than this",
    )
    parser.add_argument(
        "--max-landmark-depth-error",
        type=float,
        help="metres; reject Next3D samples whose rendered surface misses the visible landmarks by more",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_pipeline_arguments(parser)
    args = parser.parse_args(argv)
    _check_pipeline_arguments(parser, args)
    for option in ("num_train", "num_validation", "limit"):
        if (getattr(args, option) or 0) < 0:
            parser.error(f"--{option.replace('_', '-')} must not be negative, got {getattr(args, option)}")
    if args.shard_size < 1:
        parser.error(f"--shard-size must be positive, got {args.shard_size}")
    sizes = {"train": args.num_train, "validation": args.num_validation}
    if args.limit is not None:
        sizes = {split: min(size, args.limit) for split, size in sizes.items()}
    sizes = {split: size for split, size in sizes.items() if size > 0}
    if not sizes:
        parser.error("nothing to generate: every split is empty")

    from accelerate import PartialState

    from .data.generate import generate_dataset, is_complete
    from .data.shards import parse_shard_range, plan_shards
    from .hub.dataset_card import write_dataset_card

    shard_range = None
    if args.shards:
        try:
            shard_range = parse_shard_range(args.shards, len(plan_shards(sizes, args.shard_size)))
        except ValueError as err:
            parser.error(f"--shards: {err}")
    args.device = resolve_device(args.device)
    state = PartialState(cpu=args.device == "cpu")
    if args.device == "cuda":
        args.device = str(state.device)  # under `accelerate launch`, each process uses its own GPU
    pipe = _load_pipeline(args)
    summary = generate_dataset(
        pipe,
        args.out,
        sizes,
        shard_size=args.shard_size,
        base_seed=args.seed,
        resolution=args.resolution,
        batch_size=args.batch_size,
        min_visible_landmarks=args.min_visible_landmarks,
        max_landmark_depth_error=args.max_landmark_depth_error,
        shard_range=shard_range,
        progress=not args.no_progress,
    )
    print(f"process {state.process_index}: {summary}")
    state.wait_for_everyone()
    if state.is_main_process:
        if is_complete(args.out):
            print(f"dataset complete; wrote {write_dataset_card(args.out)}")
        else:
            print(
                "some shards are still missing (other machines, or a later run); "
                "the card is written once all are present"
            )
    return 0


def import_official_main(argv: list[str] | None = None) -> int:
    """`synthforge import-official`: convert the official SynthForge release layout to parquet shards."""
    parser = command_parser(prog="synthforge import-official", description=import_official_main.__doc__)
    parser.add_argument("source", type=Path, help="folder with images/, seg/, depth/, annotations/")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    parser.add_argument(
        "--split",
        default="train",
        choices=("train", "validation", "test"),
        help="the split the official files are stored as",
    )
    parser.add_argument("--shard-size", type=int, default=1000, help="samples per parquet shard")
    args = parser.parse_args(argv)

    from .data.official import import_official_release

    count = import_official_release(args.source, args.out, split=args.split, shard_size=args.shard_size)
    print(f"imported {count} samples into {args.out / 'data'}")
    return 0


def push_dataset_main(argv: list[str] | None = None) -> int:
    """`synthforge push-dataset`: upload a generated dataset (shards + card) to the Hub, changes only."""
    parser = command_parser(prog="synthforge push-dataset", description=push_dataset_main.__doc__)
    parser.add_argument("folder", type=Path, help="the dataset folder (from make-dataset)")
    parser.add_argument("repo_id", help="the Hub dataset repo, user/name")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", help="branch or tag to push to")
    parser.add_argument("--message", default="Upload SynthForge dataset", help="commit message")
    args = parser.parse_args(argv)

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
    parser = command_parser(prog="synthforge convert-next3d", description=convert_next3d_main.__doc__)
    parser.add_argument("checkpoint", type=Path, help="the official Next3D FFHQ-512 .pkl")
    parser.add_argument(
        "out", type=Path, help="folder for the converted generator (or, with --flame-dir, a whole pipeline)"
    )
    parser.add_argument(
        "--flame-dir",
        type=Path,
        help="FLAME files (generic_model.pkl, landmark embedding, optionally head_template.obj, "
        "flame_seg_tex.png, uv_face_eye_mask.png): write a whole pipeline, not only the generator",
    )
    parser.add_argument("--uv-mask", type=Path, help="uv_face_eye_mask.png (default: in --flame-dir)")
    parser.add_argument(
        "--fit-alignment", type=int, default=0, metavar="N", help="fit the alignment on N generated samples"
    )
    parser.add_argument(
        "--alignment-iterations", type=int, default=30, help="optimiser iterations of the alignment fit"
    )
    parser.add_argument(
        "--network",
        default="G_ema",
        help="which network of the checkpoint to convert (G_ema, as the official code renders with)",
    )
    parser.add_argument("--depth-resolution", type=int, default=128, help="size of the separate depth pass")
    parser.add_argument(
        "--blend",
        choices=("front", "all"),
        default="front",
        help="where the neural texture goes: the front tri-plane only (the released code) or all three",
    )
    parser.add_argument(
        "--device", default="auto", help="where the alignment samples are generated (auto: CUDA when present)"
    )
    args = parser.parse_args(argv)
    if args.fit_alignment and args.flame_dir is None:
        parser.error("--fit-alignment needs --flame-dir")

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


def _parse_training_arguments(prog: str, description: str, cls, argv: list[str] | None):
    """The options of a training-arguments dataclass, with help and defaults from its fields."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(cls, prog=prog, description=description)
    (args,) = parser.parse_args_into_dataclasses(argv)
    return args


def train_sb_main(argv: list[str] | None = None) -> int:
    """`synthforge train-sb`: train the synthetic backbone on a generated dataset (Accelerate)."""
    from .training.sb import SBTrainingArguments, train_sb

    args = _parse_training_arguments("synthforge train-sb", train_sb_main.__doc__, SBTrainingArguments, argv)
    metrics = train_sb(args)
    print(json.dumps({"output_dir": args.output_dir, "validation": metrics}))
    return 0


def train_lf_main(argv: list[str] | None = None) -> int:
    """`synthforge train-lf`: train a label fine-tuning network on a benchmark over a frozen SB."""
    from .training.lf import LFTrainingArguments, train_lf

    args = _parse_training_arguments("synthforge train-lf", train_lf_main.__doc__, LFTrainingArguments, argv)
    print(f"saved {train_lf(args)}")
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """`synthforge evaluate`: benchmark metrics of an SB (300W landmarks) or an LF model, on crops around
    each face as the benchmarks' protocols make them (LaPa and 300W), mapped back into the images."""
    parser = command_parser(prog="synthforge evaluate", description=evaluate_main.__doc__)
    parser.add_argument("--model", required=True, help="a saved SB or LF model folder (or Hub id)")
    parser.add_argument(
        "--benchmark",
        required=True,
        choices=("300w", "lapa", "celebamask-hq"),
        help="which benchmark's readers, splits and metrics",
    )
    parser.add_argument("--data", required=True, help="the benchmark's folder")
    parser.add_argument(
        "--split",
        help="300W: common, challenge, full (default), test (300W/01_Indoor + 02_Outdoor), train; "
        "LaPa: test (default), val, train; CelebAMask-HQ: test (default), val, train",
    )
    parser.add_argument(
        "--boxes",
        choices=("landmarks", "detector", "ground-truth"),
        default="landmarks",
        help="300W: crop around the box of the annotated points, or the bb_detector / "
        "bb_ground_truth box of 'Bounding Boxes/bounding_boxes_*.mat'",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    parser.add_argument(
        "--out",
        type=Path,
        help="write the metrics as JSON here (300W: with per-image errors and OUT.ced.png)",
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be positive")
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
    parser = command_parser(prog="synthforge push", description=push_main.__doc__)
    parser.add_argument("--dataset", help="FOLDER:user/name of a generated dataset")
    parser.add_argument("--model", action="append", default=[], help="FOLDER:user/name of an SB or LF model")
    parser.add_argument("--space", help="FOLDER:user/name of the Space (spaces_app/)")
    parser.add_argument(
        "--eval", action="append", default=[], help="MODEL_FOLDER=eval.json from synthforge evaluate"
    )
    parser.add_argument("--private", action="store_true", help="create the repos as private")
    parser.add_argument("--revision", help="branch or tag to push to")
    parser.add_argument("--message", default="Upload with synthforge-hf", help="commit message")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    args = parser.parse_args(argv)

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
    parser = command_parser(prog="synthforge model-card", description=model_card_main.__doc__)
    parser.add_argument("model", type=Path, help="the saved SB or LF model folder; its README.md is written")
    parser.add_argument("--repo-id", required=True, help="the Hub repo the card names, user/name")
    parser.add_argument("--dataset", help="the training dataset's repo id")
    parser.add_argument(
        "--eval", action="append", default=[], type=Path, help="eval.json from synthforge evaluate"
    )
    parser.add_argument(
        "--training-data", help="what the SB was trained on: 'default-head' or a sentence for the card"
    )
    args = parser.parse_args(argv)

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
    parser = command_parser(prog="synthforge analyse", description=analyse_main.__doc__)
    parser.add_argument("photos", nargs="+", type=Path, help="image files")
    parser.add_argument("--model", required=True, help="a saved SB folder or Hub id")
    parser.add_argument("--out", required=True, type=Path, help="folder for PHOTO.png and PHOTO.json")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
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
