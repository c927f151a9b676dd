"""A strict Wavefront OBJ reader for triangle and quad meshes with optional UVs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MalformedAssetError, require_file


@dataclass
class ObjMesh:
    """Vertices (V,3), triangle faces (F,3), and optional UVs (T,2) with UV faces (F,3)."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray | None = None
    uv_faces: np.ndarray | None = None


def _parse_index(token: str, count: int, path: Path, line_no: int) -> int:
    try:
        idx = int(token)
    except ValueError as err:
        raise MalformedAssetError(path, f"line {line_no}: bad index {token!r}") from err
    idx = idx - 1 if idx > 0 else count + idx
    if not 0 <= idx < count:
        raise MalformedAssetError(path, f"line {line_no}: index {token} out of range (have {count})")
    return idx


def read_obj(path: str | Path, what: str = "OBJ mesh", where: str = "") -> ObjMesh:
    """Read ``path``; polygons are fan-triangulated. Raises a clear error on malformed lines."""
    path = require_file(path, what, where)
    vertices: list[list[float]] = []
    uvs: list[list[float]] = []
    faces: list[list[int]] = []
    uv_faces: list[list[int]] = []
    polys: list[tuple[int, list[str]]] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            tag = parts[0]
            try:
                if tag == "v":
                    vertices.append([float(x) for x in parts[1:4]])
                    if len(parts) < 4:
                        raise ValueError
                elif tag == "vt":
                    uvs.append([float(x) for x in parts[1:3]])
                    if len(parts) < 3:
                        raise ValueError
            except ValueError as err:
                raise MalformedAssetError(path, f"line {line_no}: cannot parse {line.strip()!r}") from err
            if tag == "f":
                if len(parts) < 4:
                    raise MalformedAssetError(path, f"line {line_no}: a face needs 3+ vertices")
                polys.append((line_no, parts[1:]))
    if not vertices or not polys:
        raise MalformedAssetError(path, "no vertices or no faces: not an OBJ mesh")
    has_uv = all(len(c.split("/")) > 1 and c.split("/")[1] for _, p in polys for c in p)
    for line_no, corners in polys:
        vids = [_parse_index(c.split("/")[0], len(vertices), path, line_no) for c in corners]
        tids = [_parse_index(c.split("/")[1], len(uvs), path, line_no) for c in corners] if has_uv else None
        for k in range(1, len(corners) - 1):
            faces.append([vids[0], vids[k], vids[k + 1]])
            if tids is not None:
                uv_faces.append([tids[0], tids[k], tids[k + 1]])
    return ObjMesh(
        vertices=np.asarray(vertices, dtype=np.float32),
        faces=np.asarray(faces, dtype=np.int64),
        uvs=np.asarray(uvs, dtype=np.float32) if has_uv else None,
        uv_faces=np.asarray(uv_faces, dtype=np.int64) if has_uv else None,
    )


def read_obj_vertices(path: str | Path, what: str = "OBJ mesh", where: str = "") -> np.ndarray:
    """Only the vertex positions (V,3) of an OBJ: a fast path for blendshape targets."""
    path = require_file(path, what, where)
    rows = [line[2:] for line in path.read_bytes().splitlines() if line.startswith(b"v ")]
    try:
        values = np.array(b" ".join(rows).split(), dtype=np.float32)
        vertices = values.reshape(len(rows), 3) if rows else None
    except ValueError:  # extra per-vertex values (colours) or a bad number: parse strictly
        vertices = None
    if vertices is None:
        vertices = read_obj(path, what, where).vertices
    return vertices
