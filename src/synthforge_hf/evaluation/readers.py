"""Readers of the benchmark folders as users download them: 300W, LaPa, CelebAMask-HQ.

Each reader is a sequence of samples (dicts); a missing or malformed file raises an error that
names it and says what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..io.images import to_rgb8
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


class Face300W(Sequence):
    """300W: ``common`` (helen/testset + lfpw/testset, 554 faces), ``challenge`` (ibug, 135 faces),
    ``full`` (both) and ``train`` (afw + helen/trainset + lfpw/trainset, 3148 faces). Samples:
    ``image`` (RGB), ``landmarks`` (68,2) float32 with pixel centres at integers (the .pts values
    minus 1), ``path``."""

    SPLITS = {
        "common": ("helen/testset", "lfpw/testset"),
        "challenge": ("ibug",),
        "full": ("helen/testset", "lfpw/testset", "ibug"),
        "train": ("afw", "helen/trainset", "lfpw/trainset"),
    }

    def __init__(self, root: str | Path, split: str = "full"):
        if split not in self.SPLITS:
            raise ValueError(f"unknown 300W split {split!r}; use one of {list(self.SPLITS)}")
        self.root = Path(root)
        self.images = []
        for folder in self.SPLITS[split]:
            directory = self.root / folder
            if not directory.is_dir():
                raise FileNotFoundError(
                    f"{directory} not found: expected the 300W layout (helen/, lfpw/, ibug/)"
                )
            self.images += sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.images:
            raise FileNotFoundError(f"no images in the 300W {split} folders under {self.root}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        path = self.images[index]
        points = read_pts(path.with_suffix(".pts"))
        if points.shape != (68, 2):
            raise ValueError(f"{path.with_suffix('.pts')} has {len(points)} points, expected 68")
        return {"image": _open_image(path), "landmarks": points - 1.0, "path": str(path)}


class LaPa(Sequence):
    """LaPa ``train``/``val``/``test``: ``images/*.jpg``, ``labels/*.png`` (ids 0..10, see
    `LAPA_CLASSES`), ``landmarks/*.txt`` (the count, then 106 lines ``x y``)."""

    def __init__(self, root: str | Path, split: str = "test"):
        self.directory = Path(root) / split
        images = self.directory / "images"
        if not images.is_dir():
            raise FileNotFoundError(f"{images} not found: expected LaPa's {split}/images, labels, landmarks")
        self.names = sorted(p.stem for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.suffix = {p.stem: p.suffix for p in images.iterdir()}

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        image = _open_image(self.directory / "images" / f"{name}{self.suffix[name]}")
        labels = np.asarray(_open_image(self.directory / "labels" / f"{name}.png", "labels"))
        if labels.shape != (image.height, image.width):
            raise ValueError(f"labels/{name}.png is {labels.shape}, the image {image.height}x{image.width}")
        return {
            "image": image,
            "segmentation": labels,
            "landmarks": self._landmarks(name),
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


class CelebAMaskHQ(Sequence):
    """CelebAMask-HQ: ``CelebA-HQ-img/{i}.jpg`` (1024 px) with part masks
    ``CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png`` (512 px) merged into one id map of
    `CELEBAMASK_CLASSES` (parts painted in id order, later ids on top). The segmentation stays at
    512 px: resize the image (or the prediction) to compare."""

    def __init__(self, root: str | Path, indices: Sequence[int] | None = None):
        self.root = Path(root)
        images = self.root / "CelebA-HQ-img"
        if not images.is_dir():
            raise FileNotFoundError(
                f"{images} not found: expected CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/"
            )
        self.indices = (
            list(indices)
            if indices is not None
            else sorted(int(p.stem) for p in images.glob("*.jpg") if p.stem.isdigit())
        )

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
