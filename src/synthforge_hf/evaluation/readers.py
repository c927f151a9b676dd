"""Readers of the benchmark folders as users download them: 300W, LaPa, CelebAMask-HQ.

Each reader is a sequence of samples (dicts); a missing or malformed file raises an error that
names it and says what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.framing import landmark_box
from ..io.images import to_rgb8
from ..models.synthforge.face_detection import BoxConversion
from .metrics import CELEBAMASK_CLASSES

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _open_image(path: Path, kind: str = "image") -> Image.Image:
    """An ``image`` (8-bit RGB), a ``mask`` (8-bit grey; both scale 16-bit files to 8 bits) or ``labels``
    (8-bit grey holding the class ids as stored)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        with Image.open(path) as image:
            if kind == "labels":
                return image.convert("L")
            rgb = to_rgb8(image)
            return rgb.convert("L") if kind == "mask" else rgb
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path} is not a readable image ({err})") from err


def read_pts(path: str | Path) -> np.ndarray:
    """Points of an iBUG ``.pts`` file (``version: 1``, ``n_points: N``, ``{``, N lines ``x y``, ``}``),
    as written: the iBUG convention is 1-based (see `Face300W` for 0-based pixels)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected an iBUG .pts landmark file)")
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    try:
        header = dict(line.split(":", 1) for line in lines[: lines.index("{")])
        count = int(header["n_points"])
        body = lines[lines.index("{") + 1 : lines.index("}")]
        points = np.array([[float(v) for v in line.split()] for line in body], dtype=np.float32)
    except (ValueError, KeyError) as err:
        raise ValueError(f"{path} is not an iBUG .pts file ({err})") from err
    if points.shape != (count, 2):
        raise ValueError(f"{path} declares n_points: {count} but holds {len(points)} points")
    return points


BOX_SOURCES = ("landmarks", "detector", "ground-truth")
# Where ibug's "Bounding Boxes" download unpacks (and the name many tools rename it to).
BOUNDING_BOX_FOLDERS = ("Bounding Boxes", "Bounding_Boxes")
TRAIN_300W = ("afw", "helen/trainset", "lfpw/trainset")


def read_300w_bounding_boxes(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """The boxes of an ibug ``bounding_boxes_*.mat`` file by image name: ``detector`` (``bb_detector``)
    and ``ground-truth`` (``bb_ground_truth``, the box of the annotated points), each (left, top, right,
    bottom) with pixel centres at i + 0.5 (the file's MATLAB pixels are 1-based)."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected one of 300W's bounding-box files)")
    try:
        cells = loadmat(path, simplify_cells=True)["bounding_boxes"]
        cells = [cells] if isinstance(cells, dict) else list(cells)
        return {
            str(cell["imgName"]): {
                "detector": np.asarray(cell["bb_detector"], dtype=np.float64).reshape(4) - 0.5,
                "ground-truth": np.asarray(cell["bb_ground_truth"], dtype=np.float64).reshape(4) - 0.5,
            }
            for cell in cells
        }
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is not a 300W bounding-box file (bounding_boxes: imgName, bb_detector, "
            f"bb_ground_truth): {err}"
        ) from err


class Face300W(Sequence):
    """300W: ``common`` (helen/testset + lfpw/testset, 554 faces), ``challenge`` (ibug, 135 faces),
    ``full`` (both), ``train`` (afw + helen/trainset + lfpw/trainset, 3148 faces) and ``test`` (the
    private test set, 300W/01_Indoor + 300W/02_Outdoor, 600 faces; ``root`` may also be that 300W
    folder). Samples: ``image`` (RGB), ``landmarks`` (68,2) float32 with pixel centres at integers
    (the .pts values minus 1), ``box`` (left, top, right, bottom; pixel centres at i + 0.5), ``path``.

    ``boxes`` chooses the face box the crop is framed on: ``landmarks``, the box of the annotated
    points (the common protocol); ``ground-truth`` or ``detector``, the ``bb_ground_truth`` or
    ``bb_detector`` of ibug's ``Bounding Boxes/bounding_boxes_*.mat``. Detector boxes are mapped to the
    landmark-box convention the models' framing is measured in by the median scale and offset between
    the two boxes of the train split's files (`BoxConversion.fit`), never from the evaluated faces."""

    SPLITS = {
        "common": ("helen/testset", "lfpw/testset"),
        "challenge": ("ibug",),
        "full": ("helen/testset", "lfpw/testset", "ibug"),
        "train": TRAIN_300W,
        "test": ("300W/01_Indoor", "300W/02_Outdoor"),
    }

    def __init__(self, root: str | Path, split: str = "full", boxes: str = "landmarks"):
        if split not in self.SPLITS:
            raise ValueError(f"unknown 300W split {split!r}; use one of {list(self.SPLITS)}")
        if boxes not in BOX_SOURCES:
            raise ValueError(f"unknown 300W box source {boxes!r}; use one of {list(BOX_SOURCES)}")
        self.root = Path(root)
        self.images, self.folders = [], {}
        for folder in self.SPLITS[split]:
            directory = self._folder(folder)
            found = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            self.images += found
            self.folders.update(dict.fromkeys(found, folder))
        if not self.images:
            raise FileNotFoundError(f"no images in the 300W {split} folders under {self.root}")
        self.file_boxes = None if boxes == "landmarks" else self._file_boxes(boxes)

    def _folder(self, folder: str) -> Path:
        candidates = [self.root / folder]
        if folder.startswith("300W/"):  # the private test set: ROOT/300W/01_Indoor, or ROOT is that 300W
            candidates.append(self.root / folder.split("/", 1)[1])
        for candidate in candidates:
            if candidate.is_dir():
                return candidate
        raise FileNotFoundError(
            f"{candidates[0]} not found: expected the 300W layout (helen/, lfpw/, ibug/, afw/; the test "
            "set's 300W/01_Indoor, 300W/02_Outdoor)"
        )

    def _box_file(self, folder: str) -> Path:
        if folder.startswith("300W/"):
            raise ValueError("300W's test set has no bounding-box files: use --boxes landmarks")
        name = f"bounding_boxes_{folder.replace('/', '_')}.mat"
        for directory in BOUNDING_BOX_FOLDERS:
            if (self.root / directory).is_dir():
                return self.root / directory / name
        raise FileNotFoundError(
            f"{self.root / BOUNDING_BOX_FOLDERS[0] / name} not found: box sources other than the landmarks "
            "need ibug's 300W 'Bounding Boxes' download unpacked in the 300W folder"
        )

    def _file_boxes(self, source: str) -> dict[Path, np.ndarray]:
        """The chosen file box of each image (detector boxes in the landmark-box convention)."""
        tables = {
            folder: read_300w_bounding_boxes(self._box_file(folder)) for folder in set(self.folders.values())
        }
        convert = self._detector_conversion() if source == "detector" else None
        boxes = {}
        for path, folder in self.folders.items():
            entry = tables[folder].get(path.name)
            if entry is None:
                raise ValueError(f"{self._box_file(folder)} has no box for {path.name}")
            boxes[path] = convert(entry[source])[0] if convert else entry[source]
        return boxes

    def _detector_conversion(self) -> BoxConversion:
        pairs = [
            entry
            for folder in TRAIN_300W
            for entry in read_300w_bounding_boxes(self._box_file(folder)).values()
        ]
        if not pairs:
            raise ValueError(
                f"the train split's files in {self._box_file(TRAIN_300W[0]).parent} hold no boxes "
                "to map detector boxes to landmark boxes by"
            )
        return BoxConversion.fit(
            np.stack([e["detector"] for e in pairs]), np.stack([e["ground-truth"] for e in pairs])
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        path = self.images[index]
        points = read_pts(path.with_suffix(".pts"))
        if points.shape != (68, 2):
            raise ValueError(f"{path.with_suffix('.pts')} has {len(points)} points, expected 68")
        points = points - 1.0
        box = landmark_box(points + 0.5) if self.file_boxes is None else self.file_boxes[path]
        return {"image": _open_image(path), "landmarks": points, "box": box, "path": str(path)}


class LaPa(Sequence):
    """LaPa ``train``/``val``/``test``: ``images/*.jpg``, ``labels/*.png`` (ids 0..10, see
    `LAPA_CLASSES`), ``landmarks/*.txt`` (the count, then 106 lines ``x y``, pixel centres at
    integers). Samples: ``image``, ``segmentation``, ``landmarks`` (106,2), ``box`` (the box of the 106
    points; pixel centres at i + 0.5), ``path``."""

    def __init__(self, root: str | Path, split: str = "test"):
        self.directory = Path(root) / split
        images = self.directory / "images"
        if not images.is_dir():
            raise FileNotFoundError(f"{images} not found: expected LaPa's {split}/images, labels, landmarks")
        self.names = sorted(p.stem for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.suffix = {p.stem: p.suffix for p in images.iterdir()}
        if not self.names:
            raise FileNotFoundError(f"no images in {images}")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        image = _open_image(self.directory / "images" / f"{name}{self.suffix[name]}")
        labels = np.asarray(_open_image(self.directory / "labels" / f"{name}.png", "labels"))
        if labels.shape != (image.height, image.width):
            raise ValueError(f"labels/{name}.png is {labels.shape}, the image {image.height}x{image.width}")
        points = self._landmarks(name)
        return {
            "image": image,
            "segmentation": labels,
            "landmarks": points,
            "box": landmark_box(points + 0.5),
            "path": str(self.directory / "images" / f"{name}{self.suffix[name]}"),
        }

    def _landmarks(self, name: str) -> np.ndarray:
        path = self.directory / "landmarks" / f"{name}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (expected LaPa's 106-point landmarks)")
        rows = path.read_text().split("\n")
        try:
            count = int(rows[0])
            points = np.array(
                [[float(v) for v in row.split()] for row in rows[1 : count + 1]], dtype=np.float32
            )
        except ValueError as err:
            raise ValueError(f"{path} is not a LaPa landmark file ({err})") from err
        if points.shape != (count, 2):
            raise ValueError(f"{path} declares {count} points but holds {len(points)}")
        return points


CELEBAMASK_SPLITS = {"train": 0, "val": 1, "test": 2}  # CelebA's list_eval_partition.txt values
CELEBAMASK_MAPPING = "CelebA-HQ-to-CelebA-mapping.txt"
CELEBA_PARTITION = "list_eval_partition.txt"


def _celeba_partition(root: Path) -> dict[str, int]:
    """CelebA's partition (file name -> 0 train, 1 val, 2 test), from ROOT/list_eval_partition.txt or
    ROOT/Eval/list_eval_partition.txt."""
    for path in (root / CELEBA_PARTITION, root / "Eval" / CELEBA_PARTITION):
        if path.is_file():
            break
    else:
        raise FileNotFoundError(
            f"{root / CELEBA_PARTITION} not found: CelebAMask-HQ's train/val/test split is CelebA's; copy "
            f"{CELEBA_PARTITION} (Eval/ of the CelebA download, mmlab.ie.cuhk.edu.hk/projects/CelebA.html) "
            "into the CelebAMask-HQ folder"
        )
    partition = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].isdigit():
            raise ValueError(f"{path}:{number} is not 'FILE PARTITION' ({line!r})")
        partition[fields[0]] = int(fields[1])
    return partition


def celebamask_split_indices(root: str | Path, split: str) -> list[int]:
    """The CelebA-HQ image indices of a CelebAMask-HQ split: ``CelebA-HQ-to-CelebA-mapping.txt`` (shipped
    with CelebAMask-HQ) gives each image's CelebA index ``orig_idx`` (CelebA file ``orig_idx + 1``,
    6 digits), whose partition CelebA's ``list_eval_partition.txt`` gives (24,183 / 2,993 / 2,824)."""
    if split not in CELEBAMASK_SPLITS:
        raise ValueError(f"unknown CelebAMask-HQ split {split!r}; use one of {list(CELEBAMASK_SPLITS)}")
    root = Path(root)
    mapping = root / CELEBAMASK_MAPPING
    if not mapping.is_file():
        raise FileNotFoundError(
            f"{mapping} not found: it ships with CelebAMask-HQ and maps each image to its CelebA image, "
            "whose partition gives the split"
        )
    partition = _celeba_partition(root)
    lines = mapping.read_text().splitlines()
    header = lines[0].split() if lines else []
    if header[:2] != ["idx", "orig_idx"]:
        raise ValueError(f"{mapping} does not start with the header 'idx orig_idx orig_file'")
    indices = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or not (fields[0].isdigit() and fields[1].isdigit()):
            raise ValueError(f"{mapping}:{number} is not 'idx orig_idx orig_file' ({line!r})")
        celeba_file = f"{int(fields[1]) + 1:06d}.jpg"
        if celeba_file not in partition:
            raise ValueError(f"{mapping}:{number}: CelebA image {celeba_file} is not in {CELEBA_PARTITION}")
        if partition[celeba_file] == CELEBAMASK_SPLITS[split]:
            indices.append(int(fields[0]))
    return sorted(indices)


class CelebAMaskHQ(Sequence):
    """CelebAMask-HQ: ``CelebA-HQ-img/{i}.jpg`` (1024 px) with part masks
    ``CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png`` (512 px) merged into one id map of
    `CELEBAMASK_CLASSES` (parts painted in id order, later ids on top). The segmentation stays at
    512 px: resize the image (or the prediction) to compare. The images of ``split`` (train, val,
    test: `celebamask_split_indices`), or those of ``indices``. No ``box``: the images are face crops,
    taken whole."""

    def __init__(self, root: str | Path, split: str = "test", indices: Sequence[int] | None = None):
        self.root = Path(root)
        images = self.root / "CelebA-HQ-img"
        if not images.is_dir():
            raise FileNotFoundError(
                f"{images} not found: expected CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/"
            )
        self.indices = list(indices) if indices is not None else celebamask_split_indices(self.root, split)
        if not self.indices:
            raise ValueError(f"the CelebAMask-HQ {split} split under {self.root} has no images")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        i = self.indices[index]
        path = self.root / "CelebA-HQ-img" / f"{i}.jpg"
        return {"image": _open_image(path), "segmentation": self.merged_mask(i), "path": str(path)}

    def merged_mask(self, i: int) -> np.ndarray:
        folder = self.root / "CelebAMask-HQ-mask-anno" / str(i // 2000)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} not found (part masks of image {i})")
        merged = None
        for class_id, part in enumerate(CELEBAMASK_CLASSES):
            path = folder / f"{i:05d}_{part}.png"
            if class_id == 0 or not path.exists():
                continue
            mask = np.asarray(_open_image(path, "mask")) > 127
            merged = np.zeros(mask.shape, dtype=np.uint8) if merged is None else merged
            if mask.shape != merged.shape:
                raise ValueError(f"{path} is {mask.shape}, other parts of image {i} are {merged.shape}")
            merged[mask] = class_id
        if merged is None:
            raise FileNotFoundError(f"no part masks for image {i} in {folder}")
        return merged


class DlibLandmarkXML(Sequence):
    """Faces of a dlib imglab XML file (``<image file=...><box top left width height><part name x y/>``),
    one sample per labelled face: ``image`` (RGB), ``box`` (left, top, right, bottom), ``landmarks``
    (68,2) float32 with pixel centres at integers (as dlib writes them), ``path``. Images are
    resolved relative to the XML file."""

    def __init__(self, path: str | Path):
        import xml.etree.ElementTree as ElementTree

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} not found (expected a dlib imglab XML file)")
        try:
            root = ElementTree.parse(self.path).getroot()
        except ElementTree.ParseError as err:
            raise ValueError(f"{self.path} is not an XML file ({err})") from err
        self.faces = []
        for image in root.iter("image"):
            for box in image.iter("box"):
                try:
                    left, top = float(box.get("left")), float(box.get("top"))
                    right, bottom = left + float(box.get("width")), top + float(box.get("height"))
                    parts = {
                        int(p.get("name")): (float(p.get("x")), float(p.get("y"))) for p in box.iter("part")
                    }
                except (TypeError, ValueError) as err:
                    raise ValueError(
                        f"{self.path}: a box of {image.get('file')} is malformed ({err})"
                    ) from err
                if sorted(parts) != list(range(68)):
                    raise ValueError(
                        f"{self.path}: a box of {image.get('file')} has {len(parts)} of 68 parts"
                    )
                points = np.array([parts[k] for k in range(68)], dtype=np.float32)
                self.faces.append((self.path.parent / image.get("file"), (left, top, right, bottom), points))

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> dict:
        path, box, points = self.faces[index]
        return {"image": _open_image(path), "box": np.array(box), "landmarks": points, "path": str(path)}
