"""The options of each `synthforge` command, as dataclasses (`synthforge_hf.cli.parser` reads them).

A field's help is its ``metadata["help"]``, a `Literal` type gives the choices, and the default is
the field's. `positional(...)` marks an argument given without an option name (a file, a repo id);
`__post_init__` refuses values no run could use, with the message `synthforge CMD: error:` shows.
The training commands' options are in `synthforge_hf.training.arguments`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..options import (
    option,
    positional,
    refuse_negative,
    require_finite,
    require_fraction,
    require_positive,
    require_seed,
)

MIN_RESOLUTION = 8  # pixels: below this no face part is resolved


@dataclass(kw_only=True)
class PipelineArguments:
    """Which pipeline renders the faces, where, and how (generate, make-dataset)."""

    head: Literal["default", "flame", "ict-facekit"] = option(
        "the parametric head: the embedded default, FLAME or ICT-FaceKit (the last two need --head-dir)",
        default="default",
    )
    head_dir: Path | None = option("folder with the FLAME or ICT-FaceKit files", default=None)
    generator: Literal["mesh", "next3d"] = option("image backend (next3d needs --head flame)", default="mesh")
    generator_dir: Path | None = option(
        "a converted Next3D component (synthforge convert-next3d)", default=None
    )
    pipeline: str | None = option("a saved pipeline folder or Hub id (overrides --head)", default=None)
    appearance: list[str] | None = option(
        "optional parts of the mesh renderer's appearance: clothing, lids_follow_landmarks, teeth, glasses, "
        "hair_volume, hair_styles, scenes, occluders, skin_detail, hats (docs/generation.md)",
        default=None,
    )
    resolution: int = option("image side in pixels (square)", default=256)
    seed: int = option("base seed; sample i of a split depends only on it and i", default=0)
    batch_size: int = option("samples rendered together", default=16)
    device: str = option("auto (CUDA when present, else the CPU), cpu, cuda, ...", default="auto")

    def __post_init__(self) -> None:
        if self.head != "default" and not self.pipeline and self.head_dir is None:
            raise ValueError(f"--head {self.head} needs --head-dir")
        if self.head == "default" and self.head_dir is not None:
            raise ValueError("--head-dir is for --head flame or ict-facekit; the default head is built in")
        if (
            self.generator == "next3d"
            and not self.pipeline
            and (self.head != "flame" or self.generator_dir is None)
        ):
            raise ValueError("--generator next3d needs --head flame --head-dir DIR --generator-dir DIR")
        if self.appearance and (self.generator != "mesh" or self.pipeline):
            raise ValueError("--appearance is for the mesh renderer (--generator mesh), not with --pipeline")
        if self.resolution < MIN_RESOLUTION:
            raise ValueError(f"--resolution must be at least {MIN_RESOLUTION} pixels, got {self.resolution}")
        require_positive(self, "batch_size")
        require_seed(self)


@dataclass(kw_only=True)
class GenerateArguments:
    """`synthforge generate`."""

    out: Path = option("folder for the images, labels and a contact sheet")
    num_samples: int = option("how many samples to generate", default=8)
    sheet_rows: int = option("samples shown in contact_sheet.png", default=8)

    def __post_init__(self) -> None:
        require_positive(self, "num_samples", "sheet_rows")


@dataclass(kw_only=True)
class MakeDatasetArguments:
    """`synthforge make-dataset`."""

    out: Path = option("dataset folder (parquet shards, card, generation.json); an existing one is resumed")
    num_train: int = option("samples in the train split", default=100_000)
    num_validation: int = option("samples in the validation split", default=10_000)
    limit: int | None = option("cap every split at this many samples (a quick, small run)", default=None)
    shard_size: int = option("samples per parquet shard", default=1000)
    shards: str | None = option("this machine's part of the global shard list, as 'a:b'", default=None)
    min_visible_landmarks: int = option("reject samples with fewer visible landmarks than this", default=0)
    max_landmark_depth_error: float | None = option(
        "metres; reject Next3D samples whose rendered surface misses the visible landmarks by more",
        default=None,
    )
    no_progress: bool = option("no progress bars", default=False)
    guided_by: str | None = option(
        "an SB (folder or Hub id): concentrate the faces where it errs (scored on --guided-faces faces)",
        default=None,
    )
    guided_faces: int = option("--guided-by: how many uniform faces the model is scored on", default=400)
    uniform_share: float = option(
        "--guided-by: the share of the faces sampled uniformly (coverage never falls below it)", default=0.25
    )

    def __post_init__(self) -> None:
        require_positive(self, "guided_faces")
        require_fraction(self, "uniform_share")
        refuse_negative(self, "num_train", "num_validation", "limit", "min_visible_landmarks")
        require_finite(self, "max_landmark_depth_error")
        refuse_negative(self, "max_landmark_depth_error")
        require_positive(self, "shard_size")

    def split_sizes(self) -> dict[str, int]:
        """The samples of each non-empty split, capped by --limit."""
        sizes = {"train": self.num_train, "validation": self.num_validation}
        if self.limit is not None:
            sizes = {split: min(size, self.limit) for split, size in sizes.items()}
        return {split: size for split, size in sizes.items() if size > 0}


@dataclass(kw_only=True)
class ImportOfficialArguments:
    """`synthforge import-official`."""

    source: Path = positional("folder with images/, seg/, depth/, annotations/")
    out: Path = option("dataset folder to write")
    split: Literal["train", "validation", "test"] = option(
        "the split the official files are stored as", default="train"
    )
    shard_size: int = option("samples per parquet shard", default=1000)
    no_progress: bool = option("no progress bar", default=False)

    def __post_init__(self) -> None:
        require_positive(self, "shard_size")


@dataclass(kw_only=True)
class PushDatasetArguments:
    """`synthforge push-dataset`."""

    folder: Path = positional("the dataset folder (from make-dataset)")
    repo_id: str = positional("the Hub dataset repo, user/name")
    private: bool = option("create the repo as private", default=False)
    revision: str | None = option("branch or tag to push to", default=None)
    message: str = option("commit message", default="Upload SynthForge dataset")


@dataclass(kw_only=True)
class ConvertNext3DArguments:
    """`synthforge convert-next3d`."""

    checkpoint: Path = positional("the official Next3D FFHQ-512 .pkl")
    out: Path = positional("folder for the converted generator (or, with --flame-dir, a whole pipeline)")
    flame_dir: Path | None = option(
        "FLAME files (generic_model.pkl, landmark embedding, optionally head_template.obj, "
        "flame_seg_tex.png, uv_face_eye_mask.png): write a whole pipeline, not only the generator",
        default=None,
    )
    uv_mask: Path | None = option("uv_face_eye_mask.png (default: in --flame-dir)", default=None)
    fit_alignment: int = option("fit the alignment on this many generated samples (0: no fit)", default=0)
    alignment_iterations: int = option("optimiser iterations of the alignment fit", default=30)
    network: str = option(
        "which network of the checkpoint to convert (G_ema, as the official code renders with)",
        default="G_ema",
    )
    depth_resolution: int = option("size of the separate depth pass", default=128)
    blend: Literal["front", "all"] = option(
        "where the neural texture is blended: front (SynthForge's released fix: the front tri-plane only) "
        "or all (every plane, as the official Next3D renderer does)",
        default="front",
    )
    device: str = option(
        "where the alignment samples are generated (auto: CUDA when present)", default="auto"
    )

    def __post_init__(self) -> None:
        refuse_negative(self, "fit_alignment")
        require_positive(self, "alignment_iterations")
        if self.depth_resolution < MIN_RESOLUTION:
            raise ValueError(
                f"--depth-resolution must be at least {MIN_RESOLUTION} pixels, got {self.depth_resolution}"
            )
        if self.fit_alignment and self.flame_dir is None:
            raise ValueError("--fit-alignment needs --flame-dir")


@dataclass(kw_only=True)
class EvaluateArguments:
    """`synthforge evaluate`."""

    model: str = option("a saved SB or LF model folder (or Hub id)")
    benchmark: Literal["300w", "lapa", "celebamask-hq"] = option(
        "which benchmark's readers, splits and metrics"
    )
    data: str = option("the benchmark's folder")
    split: str | None = option(
        "300W: common, challenge, full (default), test (300W/01_Indoor + 02_Outdoor), train; "
        "LaPa: test (default), val, train; CelebAMask-HQ: test (default), val, train",
        default=None,
    )
    boxes: Literal["landmarks", "detector", "ground-truth"] = option(
        "300W: crop around the box of the annotated points, or the bb_detector / "
        "bb_ground_truth box of 'Bounding Boxes/bounding_boxes_*.mat'",
        default="landmarks",
    )
    batch_size: int = option("images per forward pass", default=8)
    out: Path | None = option(
        "write the metrics as JSON here (300W: with per-image errors and OUT.ced.png)", default=None
    )

    def __post_init__(self) -> None:
        require_positive(self, "batch_size")


@dataclass(kw_only=True)
class PushArguments:
    """`synthforge push`."""

    dataset: str | None = option("FOLDER:user/name of a generated dataset", default=None)
    model: list[str] = field(
        default_factory=list,
        metadata={"help": "FOLDER:user/name of an SB or LF model (repeatable)", "action": "extend"},
    )
    space: str | None = option("FOLDER:user/name of the Space (spaces_app/)", default=None)
    eval: list[str] = field(
        default_factory=list,
        metadata={"help": "MODEL_FOLDER=eval.json from synthforge evaluate (repeatable)", "action": "extend"},
    )
    private: bool = option("create the repos as private", default=False)
    revision: str | None = option("branch or tag to push to", default=None)
    message: str = option("commit message", default="Upload with synthforge-hf")
    token: str | None = option("Hub token (default: HF_TOKEN or the saved login)", default=None)

    def __post_init__(self) -> None:
        for item in self.eval:
            if "=" not in item:
                raise ValueError(f"--eval takes MODEL_FOLDER=eval.json, got {item!r}")


@dataclass(kw_only=True)
class ModelCardArguments:
    """`synthforge model-card`."""

    model: Path = positional("the saved SB or LF model folder; its README.md is written")
    repo_id: str = option("the Hub repo the card names, user/name")
    dataset: str | None = option("the training dataset's repo id", default=None)
    eval: list[Path] = field(
        default_factory=list,
        metadata={"help": "eval.json from synthforge evaluate (repeatable)", "action": "extend"},
    )
    training_data: str | None = option(
        "what the SB was trained on: 'default-head' or a sentence for the card", default=None
    )


@dataclass(kw_only=True)
class AnalyseArguments:
    """`synthforge analyse`."""

    photos: list[str] = positional("photo files, folders (their image files) or glob patterns", nargs="+")
    model: str | None = option(
        "a saved SB folder or Hub id (default: the reference model shipped with synthforge-hf)", default=None
    )
    out: Path = option(
        "folder for the table (faces.jsonl, faces.parquet) and the pictures", default=Path("analysis")
    )
    pictures: bool = option(
        "also write PHOTO.png (landmarks, parsing, depth) and PHOTO.json per photo", default=False
    )
    batch_size: int = option("faces the model runs on at once (across photos)", default=16)
    detector: Literal["hog", "cnn"] = option(
        "hog: dlib's HOG detector (fast; frontal and slightly turned faces); cnn: dlib's CNN detector "
        "(seconds a photo; finds faces turned far away; needs face-recognition-models)",
        default="hog",
    )
    device: str = option("auto (CUDA when present, else the CPU), cpu, cuda", default="auto")
    no_progress: bool = option("no progress bar", default=False)

    def __post_init__(self) -> None:
        require_positive(self, "batch_size")


@dataclass(kw_only=True)
class ExportOnnxArguments:
    """`synthforge export-onnx`."""

    model: str | None = option(
        "a saved SB folder or Hub id (default: the reference model shipped with synthforge-hf)", default=None
    )
    out: Path = option("the .onnx file to write (config.json and preprocessor_config.json go beside it)")
    opset: int = option("the ONNX opset", default=18)

    def __post_init__(self) -> None:
        require_positive(self, "opset")


@dataclass(kw_only=True)
class ErrorMapArguments:
    """`synthforge error-map`."""

    model: str | None = option(
        "a saved SB folder or Hub id (default: the reference model shipped with synthforge-hf)", default=None
    )
    out: Path = option("folder for error_map.json and error_map.png (files of those names are not replaced)")
    pipeline: str | None = option(
        "a saved pipeline whose faces to measure on (default: the embedded head's, its default sampling)",
        default=None,
    )
    num_samples: int = option("generated faces", default=400)
    batch_size: int = option("faces rendered and predicted together", default=25)
    seed: int = option("base seed; face i depends only on it and i", default=0)
    device: str = option("auto (CUDA when present, else the CPU), cpu, cuda, ...", default="auto")
    no_progress: bool = option("no progress bar", default=False)

    def __post_init__(self) -> None:
        require_positive(self, "num_samples", "batch_size")
        require_seed(self)
