"""Photo files as cameras and phones write them, built from their formats' facts (not from the readers).

- EXIF orientation (TIFF 6.0 / Exif 2.3, tag 0x0112): value v says which side of the upright picture the
  stored image's row 0 and column 0 lie on: 1 (top, left), 2 (top, right), 3 (bottom, right),
  4 (bottom, left), 5 (left, top), 6 (right, top), 7 (right, bottom), 8 (left, bottom). A viewer turns
  the stored pixels so that those sides end up there.
- PNG (RFC 2083): signature, IHDR (width, height, bit depth, colour type 0 = greyscale), IDAT holding
  the zlib stream of the rows, each row a filter byte (0) and its samples, and IEND.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ORIENTATION_SIDES = {
    1: ("top", "left"),
    2: ("top", "right"),
    3: ("bottom", "right"),
    4: ("bottom", "left"),
    5: ("left", "top"),
    6: ("right", "top"),
    7: ("right", "bottom"),
    8: ("left", "bottom"),
}


def stored_pixels(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores, with ``orientation`` in the tag, for the picture ``upright``."""
    row_side, column_side = ORIENTATION_SIDES[orientation]
    if row_side in ("top", "bottom"):  # stored rows are picture rows
        stored = upright if row_side == "top" else upright[::-1]
        return np.ascontiguousarray(stored if column_side == "left" else stored[:, ::-1])
    # stored rows are picture columns, from the given side; stored columns run from the given side
    columns = upright.transpose(1, 0, *range(2, upright.ndim))
    stored = columns if row_side == "left" else columns[::-1]
    return np.ascontiguousarray(stored if column_side == "top" else stored[:, ::-1])


def save_with_orientation(upright: np.ndarray, orientation: int, path: Path, **options) -> Path:
    """``upright`` saved as a camera would store it with EXIF ``orientation`` (JPEG or PNG by suffix)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored_pixels(upright, orientation)).save(path, exif=exif.tobytes(), **options)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_blank_png(path: Path, width: int, height: int) -> Path:
    """An 8-bit greyscale PNG of ``width`` x ``height`` black pixels, written row by row: a file of a few
    hundred kilobytes that decodes to ``width * height`` bytes."""
    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter type 0, then the row's samples
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )
    return path
