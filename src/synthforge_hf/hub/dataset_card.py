"""The dataset card (README.md with YAML metadata) of a generated dataset, written from what the job
recorded: `generation.json` and the shard records, never from typed-in numbers.

The card names each shard file of each split, so `load_dataset` on the folder (or the Hub repo) reads
exactly the verified shards; a folder with a damaged shard or a file outside the plan gets no card.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from datasets import Dataset, DatasetInfo, SplitDict, SplitInfo
from datasets.table import InMemoryTable
from huggingface_hub import DatasetCard, DatasetCardData

from ..constants import LANDMARK_GROUPS, PART_CLASSES, PART_COLORS, SEGMENTATION_CLASSES, SEGMENTATION_COLORS
from ..data.features import DEPTH_SCALE, decode_depth
from ..data.generate import CONFIG_FILE, count_splits, verified_shards
from ..data.sampling import ROW_BLOCK
from ..errors import FolderError
from ..io.safe_write import atomic_write_bytes, real_folder, refuse_symlink

SAMPLES_IMAGE = "assets/samples.png"
# Licence of the samples by head model: the embedded head and ICT-FaceKit (MIT) allow any use;
# FLAME's licence is non-commercial research and its terms carry over to renders of it.
HEAD_LICENSES = {
    "default": ("apache-2.0", None),
    "ict-facekit": ("apache-2.0", None),
    "flame": ("other", "flame"),
}
# Image backends whose weights carry their own terms: Next3D's are NVIDIA's non-commercial licence.
GENERATOR_LICENSES = {"Next3DFaceGenerator": "nvidia-source-code-license-nc"}
HEAD_DESCRIPTIONS = {
    "default": "the embedded parametric head of synthforge-hf (built by code, no scanned data)",
    "flame": "FLAME (Li et al. 2017; MPI licence)",
    "ict-facekit": "ICT-FaceKit (USC ICT, MIT licence)",
}
TASKS = ["image-segmentation", "keypoint-detection", "depth-estimation"]
CARD_TAG = "synthforge"  # what tells this project's cards from a README.md of the user's
PRETTY_NAME = "SynthForge synthetic faces"


def samples_license(pipeline: dict) -> tuple[str, str | None]:
    """(licence id, licence name) of samples made by the pipeline `describe_pipeline` describes: the
    head's terms, joined by the image backend's where its weights carry their own."""
    head = pipeline["head"]
    license_id, license_name = HEAD_LICENSES.get(head, ("other", head))
    generator_license = GENERATOR_LICENSES.get(pipeline["generator"])
    if generator_license:
        license_id = "other"
        license_name = f"{license_name}-and-{generator_license}" if license_name else generator_license
    return license_id, license_name


def _template() -> str:
    return resources.files("synthforge_hf.hub").joinpath("templates/dataset_card.md").read_text()


def size_category(count: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if count < limit:
            return name
    return "1M<n<10M"


def _features_yaml(output_dir: Path, shards: dict[str, dict], counts: dict[str, dict[str, int]]) -> dict:
    # The features are stored in each shard's schema metadata; read them without loading rows.
    schema = pq.read_schema(output_dir / "data" / next(iter(shards)))
    features = DatasetInfo.from_dict(json.loads(schema.metadata[b"huggingface"])["info"]).features
    splits = SplitDict()
    for split, count in counts.items():
        splits.add(SplitInfo(name=split, num_examples=count["num_rows"]))
    # The shards' bytes: besides telling the size, they key `load_dataset(folder)`'s Arrow cache (it
    # hashes the card, whose file patterns stay the same when the folder is generated again).
    download_size = sum((output_dir / "data" / name).stat().st_size for name in shards)
    return DatasetInfo(features=features, splits=splits, download_size=download_size)._to_yaml_dict()


def render_dataset_card(output_dir: str | Path, pretty_name: str = PRETTY_NAME) -> DatasetCard:
    """Build the card of the dataset in ``output_dir`` (shards must exist and be whole)."""
    return _render(Path(output_dir), verified_shards(output_dir), pretty_name)


def _render(output_dir: Path, shards: dict[str, dict], pretty_name: str = PRETTY_NAME) -> DatasetCard:
    spec = json.loads((output_dir / CONFIG_FILE).read_text())
    counts = count_splits(shards)
    if not counts:
        raise FileNotFoundError(f"no complete shards in {output_dir / 'data'}: generate the dataset first")
    total = sum(c["num_rows"] for c in counts.values())
    license_id, license_name = samples_license(spec["pipeline"])
    data = DatasetCardData(
        pretty_name=pretty_name,
        license=license_id,
        license_name=license_name,
        task_categories=TASKS,
        size_categories=[size_category(total)],
        tags=["synthetic", "faces", "face-parsing", "facial-landmarks", "depth", CARD_TAG],
        configs=[
            {
                "config_name": "default",
                "data_files": [
                    {
                        "split": split,
                        "path": [f"data/{name}" for name in shards if name.startswith(f"{split}-")],
                    }
                    for split in counts
                ],
            }
        ],
        dataset_info=_features_yaml(output_dir, shards, counts),
    )
    return DatasetCard.from_template(data, template_str=_template(), **_body(spec, counts, len(shards)))


def refuse_foreign_card(output_dir: str | Path) -> None:
    """Raise `FolderError` if ``output_dir`` holds a README.md that is not a card of this project (one
    the user wrote): writing the dataset card would overwrite it."""
    path = Path(output_dir) / "README.md"
    if not path.exists():
        return
    try:
        tags = getattr(DatasetCard.load(path).data, "tags", None) or []
    except (OSError, ValueError, UnicodeDecodeError):
        tags = []
    if CARD_TAG not in tags:
        raise FolderError(
            f"{path} is not a SynthForge dataset card, and the card would overwrite it; "
            "move it away or use another --out"
        )


def write_dataset_card(output_dir: str | Path, sample_rows: int = 6, **kwargs) -> Path:
    """Write README.md and a contact sheet of the first samples to ``output_dir``.

    The card is written from what the job recorded (`generation.json` and the shard records): the
    features, each split's verified shards, sizes, licence and how the samples were made; the contact
    sheet (``assets/samples.png``) shows the first rows with their labels. Each file is written in one
    step; a README.md or assets/ that is a symbolic link is refused, not written through, and a
    README.md that is not a SynthForge card is refused, not overwritten. A folder with a damaged shard
    or a file outside the plan gets no card.

    Args:
        output_dir (`str` or `Path`):
            A complete dataset folder (what `generate_dataset` wrote).
        sample_rows (`int`, *optional*, defaults to 6):
            Rows of the contact sheet.
        kwargs (*optional*):
            ``pretty_name``, the card's title (default: "SynthForge synthetic faces").

    Returns:
        `Path`: the README.md written.

    Example:

    ```python
    >>> from huggingface_hub import DatasetCard
    >>> from synthforge_hf import SynthForgePipeline
    >>> from synthforge_hf.data.generate import generate_dataset
    >>> from synthforge_hf.hub.dataset_card import write_dataset_card
    >>> pipe = SynthForgePipeline.from_default_head()
    >>> summary = generate_dataset(pipe, "faces", {"train": 2}, resolution=32, progress=False)
    >>> write_dataset_card("faces", sample_rows=2, pretty_name="My faces")
    PosixPath('faces/README.md')
    >>> card = DatasetCard.load("faces/README.md")
    >>> card.data.pretty_name, card.data.license, "synthetic" in card.data.tags
    ('My faces', 'apache-2.0', True)

    ```
    """
    output_dir = Path(output_dir)
    for path in (output_dir / "README.md", output_dir / "assets", output_dir / SAMPLES_IMAGE):
        refuse_symlink(path)
    refuse_foreign_card(output_dir)
    shards = verified_shards(output_dir)
    card = _render(output_dir, shards, **kwargs)
    first = next((name for name, record in shards.items() if record["num_rows"]), next(iter(shards)))
    _write_samples_image(output_dir, output_dir / "data" / first, sample_rows)
    atomic_write_bytes(output_dir / "README.md", str(card).encode())
    return output_dir / "README.md"


def _write_samples_image(output_dir: Path, first: Path, rows: int) -> None:
    from ..visualization import contact_sheet

    samples = Dataset(InMemoryTable(pq.read_table(first).slice(0, rows)))  # no cache files
    sheet = contact_sheet(
        [s["image"] for s in samples],
        np.stack([np.asarray(s["segmentation"]) for s in samples]),
        np.stack([np.asarray(s["landmarks_2d"]) for s in samples]),
        np.stack([decode_depth(s["depth"], s["depth_scale"]) for s in samples]),
        np.stack([np.asarray(s["landmark_visibility"]) for s in samples]),
    )
    real_folder(output_dir / "assets")
    image = io.BytesIO()
    sheet.save(image, format="PNG")
    atomic_write_bytes(output_dir / SAMPLES_IMAGE, image.getvalue())


def rejection_sentence(spec: dict) -> str:
    """What the job rejected, in words."""
    rules = []
    if spec["min_visible_landmarks"]:
        rules.append(f"fewer than {spec['min_visible_landmarks']} visible landmarks")
    if spec.get("max_landmark_depth_error") is not None:
        millimetres = spec["max_landmark_depth_error"] * 1000
        rules.append(f"a rendered surface more than {millimetres:g} mm from the visible landmarks")
    return f"samples with {' or '.join(rules)} are rejected." if rules else "no sample is rejected."


def _appearance_phrase(parts: list[str]) -> str:
    """The mesh renderer's optional appearance parts a dataset was made with, as the card says them."""
    return f" with the appearance parts {', '.join(f'`{part}`' for part in parts)}" if parts else ""


def _pose_phrase(ranges: dict) -> str:
    """The head pose the sampler drew, as the card says it (ranges saved before roll existed have none)."""
    drawn = []
    if ranges.get("roll"):
        drawn.append(f"the head's roll U(-{ranges['roll']}, {ranges['roll']}) rad")
    if ranges.get("jaw_open"):
        drawn.append(f"the jaw's opening U(0, {ranges['jaw_open']}) rad")
    return f"zero pose but for {' and '.join(drawn)}" if drawn else "zero pose"


def guidance_sentence(spec: dict) -> str:
    """How ``make-dataset --guided-by`` placed the faces, in words (empty for uniform sampling)."""
    guidance = spec.get("guidance")
    if not guidance:
        return ""
    uniform = round(guidance["uniform_share"] * ROW_BLOCK)
    return (
        f"\n- Guided by the model `{guidance['model']}`: it was scored on {guidance['scored_faces']} uniform "
        f"faces (mean NME {100 * guidance['scored_nme']:.2f}%); in each block of {ROW_BLOCK} rows the first "
        f"{uniform} are the split's uniform samples and the others perturb the controls of its "
        f"{len(guidance['parent_seeds'])} hardest faces (standard deviation {guidance['spread']:g} of each "
        "range). A row's `seed` (its appearance) and parameter columns regenerate it."
    )


def _class_rows(classes: tuple[str, ...], colors: dict[str, tuple[int, int, int]]) -> str:
    """A markdown table's rows: each class's id, name and colour."""
    return "\n".join(
        f"| {i} | `{name}` | `#{''.join(f'{c:02X}' for c in colors[name])}` |"
        for i, name in enumerate(classes)
    )


def _part_map_text(pipeline: dict) -> tuple[str, str]:
    """The field row and the class table of the ``parts`` column (both empty without one)."""
    if not pipeline.get("part_map"):
        return "", ""
    row = (
        "\n| `parts` | PNG, 8-bit class ids | what the renderer drew in front of the head at each pixel "
        "(see the part classes); 0 = none |"
    )
    table = (
        "\n### Part classes\n\nThe `parts` column names the part that covers each pixel, beside the "
        "segmentation, which labels what the part covers as background (hair: scalp); CelebAMask-HQ's "
        "names where it has the class.\n\n| id | part | colour |\n| --- | --- | --- |\n"
        f"{_class_rows(PART_CLASSES, PART_COLORS)}\n"
    )
    return row, table


def _body(spec: dict, counts: dict, num_shards: int) -> dict[str, str]:
    pipeline = spec["pipeline"]
    ranges = pipeline["sampling_ranges"]
    class_rows = _class_rows(SEGMENTATION_CLASSES, SEGMENTATION_COLORS)
    part_row, part_classes = _part_map_text(pipeline)
    groups = ", ".join(f"{name} {r.start}-{r.stop - 1}" for name, r in LANDMARK_GROUPS.items())
    split_rows = "\n".join(f"| {split} | {c['num_rows']} | {c['rejected']} |" for split, c in counts.items())
    return {
        "head_description": HEAD_DESCRIPTIONS.get(pipeline["head"], pipeline["head"]),
        "generator": pipeline["generator"],
        "appearance": _appearance_phrase(pipeline.get("appearance", [])),
        "pose": _pose_phrase(ranges),
        "resolution": str(spec["resolution"]),
        "num_shape": str(pipeline["num_shape"]),
        "num_expression": str(pipeline["num_expression"]),
        "shape_range": str(ranges["shape"]),
        "expression_range": str(ranges["expression"]),
        "yaw_range": str(ranges["yaw"]),
        "pitch_range": str(ranges["pitch"]),
        "fov_range": f"{ranges['fov'][0]}-{ranges['fov'][1]}",
        "base_seed": str(spec["base_seed"]),
        "rejection": rejection_sentence(spec),
        "guidance": guidance_sentence(spec),
        "num_shards": str(num_shards),
        "split_rows": split_rows,
        "class_rows": class_rows,
        "part_row": part_row,
        "part_classes": part_classes,
        "landmark_groups": groups,
        "depth_scale": f"{DEPTH_SCALE:g}",
        "samples_image": SAMPLES_IMAGE,
    }
