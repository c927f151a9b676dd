"""Import of the official SynthForge release layout into this project's dataset features.

The official generator writes, for sample ``NNNNN``: ``images/NNNNN.png`` (RGB), ``seg/NNNNN.png``
(the FLAME mesh rendered with the colour-coded segmentation texture), ``depth/NNNNN.png`` (Next3D depth,
min-max normalised, near = 0) and ``annotations/NNNNN.json`` (``z``, ``camera_params`` (25),
``flame_shape``, ``flame_exp``, ``flame_pose``, ``2d_kps`` (68x2 px), and the detector check).

What the release does not record becomes explicit: ``landmarks_3d`` is NaN, ``depth_scale`` is NaN
(the depth is relative, not metric; the 16-bit image holds it scaled to [0, 65535]), ``seed`` is -1,
``landmark_visibility`` only says whether a point lies inside the image, and the pupils of the 70-point
layout are NaN.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ..constants import NUM_LANDMARKS
from ..errors import FolderError, MalformedAssetError
from ..head.lbs import head_rotation
from ..head.model import POSE_DIM
from ..head.segmentation_texture import decode_segmentation_texture
from ..io.images import as_rgb8
from ..io.safe_write import atomic_write_bytes, refuse_symlink
from ..rendering.cameras import head_pose_degrees, intrinsics_to_fov, orbit_angles
from .features import CAMERA_DIM, dataset_features, mask_png_bytes, png_bytes
from .folders import check_output_folder, refuse_unplanned_files
from .shard_file import read_shard_record, write_shard
from .shards import plan_shards

IMPORT_RECORD = "import.json"  # what an import is of; a resumed import must be of the same
FLAME_POSE_SLOTS = {6: [0, 1, 2, 6, 7, 8], 15: list(range(15))}  # FLAME_PyTorch (global, jaw) or full


def official_sample_ids(source: str | Path) -> list[str]:
    """Sample names (``NNNNN``) of an official release folder, in order."""
    annotations = Path(source) / "annotations"
    if not annotations.is_dir():
        raise FileNotFoundError(
            f"{annotations} not found: expected the official layout images/, seg/, depth/, annotations/"
        )
    return sorted(p.stem for p in annotations.glob("*.json"))


def read_official_sample(source: Path, name: str, index: int) -> dict:
    """One official sample as a row of this project's features (images PNG-encoded)."""
    try:
        record = json.loads((source / "annotations" / f"{name}.json").read_text())
        image = as_rgb8(Image.open(source / "images" / f"{name}.png"))
        seg_rgb = np.asarray(Image.open(source / "seg" / f"{name}.png").convert("RGB"))
        depth = np.asarray(Image.open(source / "depth" / f"{name}.png"), dtype=np.float64)
    except (OSError, UnidentifiedImageError, json.JSONDecodeError) as err:
        raise MalformedAssetError(
            source / "annotations" / f"{name}.json", f"sample {name} is unreadable ({err})"
        ) from err
    height, width = image.shape[:2]
    landmarks = np.asarray(record["2d_kps"], dtype=np.float32).reshape(NUM_LANDMARKS, 2)
    camera = torch.tensor(record["camera_params"], dtype=torch.float32).reshape(CAMERA_DIM)
    yaw, pitch = orbit_angles(camera[:16].reshape(4, 4))
    pose = np.zeros(POSE_DIM, dtype=np.float32)
    flame_pose = np.asarray(record.get("flame_pose", []), dtype=np.float32).reshape(-1)
    if flame_pose.size not in FLAME_POSE_SLOTS:
        raise MalformedAssetError(
            source / "annotations" / f"{name}.json", f"flame_pose has {flame_pose.size} values"
        )
    pose[FLAME_POSE_SLOTS[flame_pose.size]] = flame_pose
    if depth.ndim == 3:
        depth = depth[..., 0]
    depth_max = float(np.iinfo(np.uint16).max if depth.max() > 255 else 255)
    inside = (
        (landmarks[:, 0] >= 0)
        & (landmarks[:, 0] < width)
        & (landmarks[:, 1] >= 0)
        & (landmarks[:, 1] < height)
    )
    return {
        "index": index,
        "seed": -1,
        "image": {"bytes": png_bytes(image), "path": None},
        "segmentation": {"bytes": mask_png_bytes(decode_segmentation_texture(seg_rgb)), "path": None},
        "depth": {"bytes": png_bytes(np.round(depth / depth_max * 65535).astype(np.uint16)), "path": None},
        "depth_scale": math.nan,
        "landmarks_2d": landmarks,
        "landmarks_3d": np.full((NUM_LANDMARKS, 3), np.nan, dtype=np.float32),
        "landmark_visibility": inside.tolist(),
        "landmarks_70": np.concatenate([landmarks, np.full((2, 2), np.nan, dtype=np.float32)]),
        "landmark_visibility_70": [*inside.tolist(), False, False],
        "head_pose": head_pose_degrees(
            head_rotation(torch.from_numpy(pose)[None]), camera[:16].reshape(1, 4, 4)
        )[0].tolist(),
        "shape": [float(v) for v in record["flame_shape"]],
        "expression": [float(v) for v in record["flame_exp"]],
        "pose": pose.tolist(),
        "latents": [float(v) for v in record["z"]],
        "yaw": float(yaw),
        "pitch": float(pitch),
        "fov": float(intrinsics_to_fov(camera[16:].reshape(3, 3))),
        "camera": camera.tolist(),
    }


def import_official_release(
    source: str | Path,
    output_dir: str | Path,
    split: str = "train",
    shard_size: int = 1000,
    progress: bool = True,
) -> int:
    """Convert an official release folder into parquet shards of ``split`` in ``output_dir``.

    Sample ``i`` is the i-th annotation file in name order; its row has this project's features, with
    what the release does not record made explicit (see the module docstring: NaN ``landmarks_3d`` and
    ``depth_scale``, ``seed`` -1). An earlier import into ``output_dir`` (its ``import.json``) is
    resumed when it is of the same samples with the same settings: its whole shards are kept and the
    others made. A make-dataset folder, or a shard name taken by a file this project did not write, is
    refused (see `folders`). What ``synthforge import-official`` runs.

    Args:
        source (`str` or `Path`):
            The release folder: ``images/``, ``seg/``, ``depth/`` and ``annotations/`` (`FileNotFoundError`
            without annotations).
        output_dir (`str` or `Path`):
            The dataset folder to write (``data/{split}-*.parquet`` and ``import.json``).
        split (`str`, *optional*, defaults to `"train"`):
            The split the samples go to.
        shard_size (`int`, *optional*, defaults to 1000):
            Samples per parquet shard.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar.

    Returns:
        `int`: the number of samples.

    Example:

    ```python
    >>> import json
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from synthforge_hf.data.loading import load_split
    >>> from synthforge_hf.data.official import import_official_release
    >>> release = Path("release")  # one sample in the official layout
    >>> for folder in ("images", "seg", "depth", "annotations"):
    ...     (release / folder).mkdir(parents=True)
    >>> Image.new("RGB", (32, 32)).save(release / "images" / "00000.png")
    >>> Image.new("RGB", (32, 32)).save(release / "seg" / "00000.png")  # colour-coded classes
    >>> Image.new("L", (32, 32)).save(release / "depth" / "00000.png")  # min-max normalised
    >>> cam2world = [1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 2.7, 0, 0, 0, 1]  # EG3D's camera_params:
    >>> intrinsics = [4.26, 0, 0.5, 0, 4.26, 0.5, 0, 0, 1]  # 4x4 cam2world, 3x3 normalised intrinsics
    >>> record = {"z": [0.0] * 8, "camera_params": cam2world + intrinsics, "flame_shape": [0.0] * 4,
    ...           "flame_exp": [0.0] * 3, "flame_pose": [0.0] * 6, "2d_kps": [[16.0, 16.0]] * 68}
    >>> _ = (release / "annotations" / "00000.json").write_text(json.dumps(record))
    >>> import_official_release(release, "imported", progress=False)
    1
    >>> row = load_split("imported", "train")[0]
    >>> row["seed"], row["depth_scale"], row["image"].size, len(row["shape"])
    (-1, nan, (32, 32), 4)

    ```
    """
    source, output_dir = Path(source), Path(output_dir)
    names = official_sample_ids(source)
    if not names:
        raise FileNotFoundError(f"no annotations/*.json in {source}")
    shards = plan_shards({split: len(names)}, shard_size)
    check_output_folder(output_dir, "import-official", [shard.filename for shard in shards])
    _check_or_write_record(output_dir, source, names, split, shard_size)
    refuse_unplanned_files(output_dir, [shard.filename for shard in shards])
    first = json.loads((source / "annotations" / f"{names[0]}.json").read_text())
    features = dataset_features(len(first["flame_shape"]), len(first["flame_exp"]), len(first["z"]))
    (output_dir / "data").mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(names), unit="sample", disable=not progress, desc="importing")
    for shard in shards:
        record = {
            "split": split,
            "start": shard.start,
            "stop": shard.stop,
            "rejected": [],
            "source": "official",
        }
        path = output_dir / "data" / shard.filename
        found = read_shard_record(path)
        if found is None or any(found.get(key) != value for key, value in record.items()):
            rows = [read_official_sample(source, names[i], i) for i in shard.indices]
            write_shard(rows, features, path, record)
        bar.update(len(shard.indices))
    bar.close()
    return len(names)


def _check_or_write_record(
    output_dir: Path, source: Path, names: list[str], split: str, shard_size: int
) -> None:
    """Write ``import.json``, or check that the import it records is this one (the same sample names,
    split and shard size; the release may have moved)."""
    path = refuse_symlink(output_dir / IMPORT_RECORD)
    current = {
        "split": split,
        "shard_size": shard_size,
        "num_samples": len(names),
        "names_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
    }
    if path.exists():
        try:
            recorded = json.loads(path.read_text())
            recorded.pop("source")
        except (OSError, ValueError, KeyError, AttributeError) as err:
            raise FolderError(f"{path} is unreadable ({err}); use another --out") from None
        differing = sorted(key for key in current if recorded.get(key) != current[key])
        if differing:
            raise FolderError(
                f"{output_dir} holds an import of other samples or settings ({', '.join(differing)} differ "
                f"from {path}); resume it with the same release and options, or use another --out"
            )
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps({"source": str(source.resolve()), **current}, indent=2).encode())
