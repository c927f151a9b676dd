"""Small files in the official FLAME formats, written by the tests.

`generic_model.pkl` is a protocol-2 pickle whose arrays are chumpy `Ch` records (class
``chumpy.ch.Ch`` rebuilt by ``copy_reg._reconstructor`` with the array in its state's ``x``) and whose
joint regressor is a scipy sparse matrix: the layout of the released FLAME 2020 file.
"""

from __future__ import annotations

import copyreg
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse as sp

FLAME_SHAPE_COMPONENTS = 300


class _ChumpyArray:
    """Pickles exactly like a basic chumpy array."""

    def __init__(self, x: np.ndarray):
        self.x = x

    def __reduce_ex__(self, protocol):
        return (copyreg._reconstructor, (type(self), object, None), {"x": self.x, "_dirty_vars": set()})


_ChumpyArray.__module__ = "chumpy.ch"
_ChumpyArray.__qualname__ = "Ch"
_ChumpyArray.__name__ = "Ch"


def dump_with_chumpy(obj, path: Path) -> None:
    """Pickle ``obj`` (protocol 2) with `_ChumpyArray` standing in for chumpy's module."""
    chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    ch.Ch = _ChumpyArray
    saved = {name: sys.modules.get(name) for name in ("chumpy", "chumpy.ch")}
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch})
    try:
        path.write_bytes(pickle.dumps(obj, protocol=2))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def flame_model_arrays(
    vertices: np.ndarray, faces: np.ndarray, num_expression: int = 10, seed: int = 0
) -> dict[str, np.ndarray]:
    """Arrays of a FLAME-like model: random small bases, a 5-joint skeleton with joints placed at the
    neck base, neck, jaw and two eyes (left eye at +x), and skinning weights by region."""
    rng = np.random.default_rng(seed)
    num_vertices = len(vertices)
    shapedirs = rng.normal(0, 1e-3, (num_vertices, 3, FLAME_SHAPE_COMPONENTS + num_expression))
    posedirs = rng.normal(0, 1e-4, (num_vertices, 3, 36))
    regressor = np.zeros((5, num_vertices))
    anchors = [
        np.array(a)
        for a in (
            (0, -0.15, -0.02),
            (0, -0.06, -0.02),
            (0, -0.02, 0.0),
            (0.03, 0.03, 0.03),
            (-0.03, 0.03, 0.03),
        )
    ]
    for j, anchor in enumerate(anchors):
        nearest = np.argsort(np.linalg.norm(vertices - anchor, axis=1))[:3]
        regressor[j, nearest] = 1 / 3
    weights = np.zeros((num_vertices, 5))
    weights[:, 1] = 1.0
    jaw = vertices[:, 1] < -0.04
    weights[jaw] = [0, 0, 1, 0, 0]
    return {
        "v_template": vertices.astype(np.float64),
        "f": faces.astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
    }


def write_flame_model(path: Path, arrays: dict[str, np.ndarray], extra: dict | None = None) -> Path:
    """Write ``arrays`` as a FLAME `generic_model.pkl` (chumpy arrays, sparse regressor)."""
    record = {
        "v_template": _ChumpyArray(arrays["v_template"]),
        "f": arrays["f"],
        "shapedirs": _ChumpyArray(arrays["shapedirs"]),
        "posedirs": arrays["posedirs"],
        "J_regressor": sp.csc_matrix(arrays["J_regressor"]),
        "weights": _ChumpyArray(arrays["weights"]),
        "kintree_table": arrays["kintree_table"],
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        **(extra or {}),
    }
    dump_with_chumpy(record, path)
    return path


def write_deca_embedding(
    path: Path, face_idx: np.ndarray, bary: np.ndarray, contour_idx, contour_bary
) -> Path:
    """A DECA-format `landmark_embedding.npy` (a pickled dict inside an object array)."""
    data = {
        "static_lmk_faces_idx": face_idx[17:],
        "static_lmk_bary_coords": bary[17:],
        "dynamic_lmk_faces_idx": contour_idx,
        "dynamic_lmk_bary_coords": contour_bary,
        "full_lmk_faces_idx": face_idx[None],
        "full_lmk_bary_coords": bary[None],
    }
    np.save(path, np.array(data, dtype=object), allow_pickle=True)
    return path
