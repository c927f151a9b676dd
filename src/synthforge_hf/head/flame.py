"""Loading FLAME from the official files into a `ParametricHeadModel`.

Reads FLAME 2020/2023 `generic_model.pkl` without chumpy and without running code from the pickle,
landmarks from DECA's `landmark_embedding.npy` or FLAME_PyTorch's static + dynamic embedding pair,
UVs from `head_template.obj`, and segmentation from the official colour-coded UV texture.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from PIL import Image

from ..errors import MalformedAssetError, MissingAssetError, require_file
from ..io.obj import read_obj
from ..io.safe_pickle import InertObject, load_pickle
from .model import POSE_JOINTS, ParametricHeadModel
from .segmentation_texture import decode_segmentation_texture, labels_at_uv

FLAME_SHAPE_COMPONENTS = 300  # FLAME's shapedirs: 300 identity columns, then the expression columns
DEFAULT_FLAME_DIR = Path("~/.cache/synthforge/flame")
UV_LABEL_MAP_SIZE = 1024
CONTOUR_INDEX_SHAPE = (None, 17)  # the dynamic contour table: one row of 17 faces per degree of yaw
CONTOUR_BARY_SHAPE = (None, 17, 3)

_WHERE = {
    "model": "Register and download FLAME 2020 or 2023 from https://flame.is.tue.mpg.de (MPI licence) and "
    "pass the path of generic_model.pkl (or put it in {dir}).",
    "landmarks": "Get DECA's landmark_embedding.npy (DECA release, data/) or FLAME_PyTorch's "
    "flame_static_embedding.pkl + flame_dynamic_embedding.npy (FLAME_PyTorch repository, model/).",
    "uv": "Get head_template.obj from the DECA or Next3D data folder (FLAME topology with UVs).",
    "texture": "Get flame_seg_tex.png from the SynthForge generator repository (synthforge-generate).",
}


def _where(kind: str) -> str:
    return _WHERE[kind].format(dir=DEFAULT_FLAME_DIR)


def _array(value: Any, key: str, path: Path, shape: tuple[int | None, ...] | int) -> np.ndarray:
    """A numpy array from a plain array, a tensor, a scipy sparse matrix or an inert chumpy record,
    refused unless it has ``shape`` (None: any length; an int: that many elements in any shape). The
    shape is checked before anything is copied or densified."""
    if isinstance(value, InertObject):
        state = value.state if isinstance(value.state, dict) else {}
        if "x" not in state:
            raise MalformedAssetError(path, f"'{key}' is a chumpy {value.name} without a stored array")
        value = state["x"]
    if not isinstance(value, (np.ndarray, torch.Tensor, list, tuple)) and not sp.issparse(value):
        raise MalformedAssetError(path, f"'{key}' is not an array ({type(value).__name__})")
    try:
        actual = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
    except ValueError as err:
        raise MalformedAssetError(path, f"'{key}' is not a rectangular array ({err})") from err
    if isinstance(shape, int):
        fits = math.prod(actual) == shape
    else:
        fits = len(actual) == len(shape) and all(
            s is None or s == a for s, a in zip(shape, actual, strict=True)
        )
    if not fits:
        wanted = f"{shape} elements" if isinstance(shape, int) else f"{shape} (None = any)"
        raise MalformedAssetError(path, f"'{key}' has shape {actual}, expected {wanted}")
    try:
        if sp.issparse(value):
            value.check_format(full_check=True)  # indices out of range would write outside the array
            value = value.toarray()
        if isinstance(value, torch.Tensor):
            value = value.numpy()
        return np.asarray(value, dtype=np.float64 if np.asarray(value).dtype.kind == "f" else None)
    except (TypeError, ValueError) as err:
        raise MalformedAssetError(path, f"'{key}' is not a valid array ({err})") from err


def _require_keys(data: Any, keys: tuple[str, ...], path: Path) -> dict:
    if not isinstance(data, dict):
        raise MalformedAssetError(path, f"expected a dict, found {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise MalformedAssetError(path, f"missing keys {missing}; is this the right file?")
    return data


def read_flame_model(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of `generic_model.pkl`: v_template, f, shapedirs, posedirs, J_regressor, weights,
    kintree_table, each checked for shape."""
    path = require_file(path, "FLAME model (generic_model.pkl)", _where("model"))
    raw = _require_keys(
        load_pickle(path, inert_prefixes=("chumpy",)),
        ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table"),
        path,
    )
    num_vertices = _array(raw["v_template"], "v_template", path, (None, 3)).shape[0]
    expected = {
        "v_template": (num_vertices, 3),
        "shapedirs": (num_vertices, 3, None),
        "posedirs": (num_vertices, 3, 9 * (len(POSE_JOINTS) - 1)),
        "J_regressor": (len(POSE_JOINTS), num_vertices),
        "weights": (num_vertices, len(POSE_JOINTS)),
        "kintree_table": (2, len(POSE_JOINTS)),
        "f": (None, 3),
    }
    data = {key: _array(raw[key], key, path, shape) for key, shape in expected.items()}
    data["f"] = data["f"].astype(np.int64)
    return data


def read_landmark_embedding(
    landmark_embedding_path: str | Path | None = None,
    static_embedding_path: str | Path | None = None,
    dynamic_embedding_path: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """68 static landmarks (face idx + barycentrics) and the 79-row dynamic contour table, from DECA's
    packed file or from FLAME_PyTorch's static (51 points, iBUG 17..67) + dynamic (17 contour) pair."""
    if landmark_embedding_path is not None:
        path = require_file(landmark_embedding_path, "landmark embedding", _where("landmarks"))
        data = _require_keys(
            load_pickle(path),
            (
                "full_lmk_faces_idx",
                "full_lmk_bary_coords",
                "dynamic_lmk_faces_idx",
                "dynamic_lmk_bary_coords",
            ),
            path,
        )
        out = {
            "face_idx": _array(data["full_lmk_faces_idx"], "full_lmk_faces_idx", path, 68)
            .reshape(68)
            .astype(np.int64),
            "bary": _array(data["full_lmk_bary_coords"], "full_lmk_bary_coords", path, 68 * 3).reshape(68, 3),
            "contour_face_idx": _array(
                data["dynamic_lmk_faces_idx"], "dynamic_lmk_faces_idx", path, CONTOUR_INDEX_SHAPE
            ).astype(np.int64),
            "contour_bary": _array(
                data["dynamic_lmk_bary_coords"], "dynamic_lmk_bary_coords", path, CONTOUR_BARY_SHAPE
            ),
        }
    elif static_embedding_path is not None and dynamic_embedding_path is not None:
        static_path = require_file(static_embedding_path, "static landmark embedding", _where("landmarks"))
        dynamic_path = require_file(dynamic_embedding_path, "dynamic landmark embedding", _where("landmarks"))
        static = _require_keys(load_pickle(static_path), ("lmk_face_idx", "lmk_b_coords"), static_path)
        dynamic = _require_keys(load_pickle(dynamic_path), ("lmk_face_idx", "lmk_b_coords"), dynamic_path)
        contour_idx = _array(dynamic["lmk_face_idx"], "lmk_face_idx", dynamic_path, CONTOUR_INDEX_SHAPE)
        contour_bary = _array(dynamic["lmk_b_coords"], "lmk_b_coords", dynamic_path, CONTOUR_BARY_SHAPE)
        static_idx = _array(static["lmk_face_idx"], "lmk_face_idx", static_path, 51).reshape(-1)
        static_bary = _array(static["lmk_b_coords"], "lmk_b_coords", static_path, 51 * 3).reshape(-1, 3)
        contour_idx, static_idx = contour_idx.astype(np.int64), static_idx.astype(np.int64)
        out = {
            "face_idx": np.concatenate([contour_idx[0], static_idx]),
            "bary": np.concatenate([contour_bary[0], static_bary]),
            "contour_face_idx": contour_idx,
            "contour_bary": contour_bary,
        }
    else:
        raise ValueError(
            "pass landmark_embedding_path (DECA) or both static_embedding_path and "
            "dynamic_embedding_path (FLAME_PyTorch)"
        )
    return out


def load_flame(
    model_path: str | Path,
    landmark_embedding_path: str | Path | None = None,
    static_embedding_path: str | Path | None = None,
    dynamic_embedding_path: str | Path | None = None,
    uv_template_path: str | Path | None = None,
    segmentation_texture_path: str | Path | None = None,
    num_shape: int = 100,
    num_expression: int = 50,
) -> ParametricHeadModel:
    """FLAME as a `ParametricHeadModel` ("flame"): ``num_shape`` identity and ``num_expression``
    expression components (SynthForge and DECA use 100 and 50), FLAME's 5-joint skeleton with pose
    correctives, 68 landmarks with the dynamic jaw contour, and segmentation from the official UV
    texture (needs ``uv_template_path``)."""
    model_path = Path(model_path)
    flame = read_flame_model(model_path)
    available = flame["shapedirs"].shape[2] - FLAME_SHAPE_COMPONENTS
    if not 0 < num_shape <= FLAME_SHAPE_COMPONENTS or not 0 < num_expression <= available:
        raise ValueError(
            f"num_shape must be in [1, {FLAME_SHAPE_COMPONENTS}] and num_expression in "
            f"[1, {available}] for this file"
        )
    landmarks = read_landmark_embedding(
        landmark_embedding_path, static_embedding_path, dynamic_embedding_path
    )
    if segmentation_texture_path is not None and uv_template_path is None:
        raise ValueError("segmentation_texture_path needs uv_template_path (the UVs it is painted on)")
    num_vertices, faces = flame["v_template"].shape[0], flame["f"]
    uv = _read_uv_template(uv_template_path, faces) if uv_template_path is not None else None
    label_map = _read_label_map(segmentation_texture_path) if segmentation_texture_path is not None else None

    head = ParametricHeadModel(
        num_vertices=num_vertices,
        num_faces=len(faces),
        num_shape=num_shape,
        num_expression=num_expression,
        num_pose_basis=9 * (len(POSE_JOINTS) - 1),
        num_uvs=0 if uv is None else len(uv[0]),
        uv_label_map_size=0 if label_map is None else UV_LABEL_MAP_SIZE,
        num_contour_rows=len(landmarks["contour_face_idx"]),
        segmentation_source="uv" if label_map is not None else "vertex",
        name="flame",
    )
    order = _joint_order(flame)
    f32 = torch.float32
    head.v_template.copy_(torch.tensor(flame["v_template"], dtype=f32))
    head.shapedirs.copy_(torch.tensor(flame["shapedirs"][:, :, :num_shape], dtype=f32))
    expression = flame["shapedirs"][:, :, FLAME_SHAPE_COMPONENTS : FLAME_SHAPE_COMPONENTS + num_expression]
    head.exprdirs.copy_(torch.tensor(expression, dtype=f32))
    # (V,3,36) -> (36, V*3): row k multiplies pose feature k, (R_j - I) flattened row-major for j = 1..4.
    posedirs = flame["posedirs"].reshape(num_vertices, 3, len(POSE_JOINTS) - 1, 9)[
        :, :, [o - 1 for o in order[1:]]
    ]
    head.posedirs.copy_(torch.tensor(posedirs.reshape(num_vertices * 3, -1).T, dtype=f32))
    head.joint_regressor.copy_(torch.tensor(flame["J_regressor"][order], dtype=f32))
    head.lbs_weights.copy_(torch.tensor(flame["weights"][:, order], dtype=f32))
    head.faces.copy_(torch.tensor(faces))
    head.landmark_face_idx.copy_(torch.tensor(landmarks["face_idx"]))
    head.landmark_bary.copy_(torch.tensor(landmarks["bary"], dtype=f32))
    head.contour_face_idx.copy_(torch.tensor(landmarks["contour_face_idx"]))
    head.contour_bary.copy_(torch.tensor(landmarks["contour_bary"], dtype=f32))
    if uv is not None:
        head.uvs.copy_(torch.tensor(uv[0], dtype=f32))
        head.uv_faces.copy_(torch.tensor(uv[1]))
    if label_map is not None:
        head.uv_label_map.copy_(torch.from_numpy(label_map))
        head.vertex_labels.copy_(_vertex_labels(head))
    return head


def _joint_order(flame: dict[str, np.ndarray]) -> list[int]:
    """FLAME joint indices in POSE_JOINTS order (global, neck, jaw, left_eye, right_eye): the two eye
    joints are told apart by the side of the head their regressed location lies on."""
    parents = flame["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    if parents.tolist() != [-1, 0, 1, 1, 1]:
        raise ValueError(f"unexpected FLAME kinematic tree {parents.tolist()}")
    joints = flame["J_regressor"] @ flame["v_template"]
    left, right = (3, 4) if joints[3, 0] > joints[4, 0] else (4, 3)
    return [0, 1, 2, left, right]


def _read_uv_template(path: str | Path, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mesh = read_obj(path, "FLAME UV template (head_template.obj)", _where("uv"))
    if mesh.uvs is None:
        raise MalformedAssetError(Path(path), "the OBJ has no texture coordinates (vt)")
    if mesh.faces.shape != faces.shape or not np.array_equal(mesh.faces, faces):
        raise MalformedAssetError(Path(path), "its faces differ from the FLAME model's: not FLAME topology")
    return mesh.uvs, mesh.uv_faces


def _read_label_map(path: str | Path) -> np.ndarray:
    path = require_file(path, "segmentation texture (flame_seg_tex)", _where("texture"))
    try:
        image = Image.open(path).convert("RGB")
    except OSError as err:
        raise MalformedAssetError(path, f"not a readable image ({err})") from err
    image = image.resize((UV_LABEL_MAP_SIZE, UV_LABEL_MAP_SIZE), Image.NEAREST)
    return decode_segmentation_texture(np.asarray(image))


def _vertex_labels(head: ParametricHeadModel) -> torch.Tensor:
    """Each vertex takes the label at its UV (a vertex on a UV seam takes its first UV)."""
    uv_of_vertex = torch.zeros(head.v_template.shape[0], 2)
    uv_of_vertex[head.faces.flip(0).reshape(-1)] = head.uvs[head.uv_faces.flip(0).reshape(-1)]
    return labels_at_uv(head.uv_label_map, uv_of_vertex)


_CONVENTIONAL_NAMES = {
    "model": ("generic_model.pkl", "flame2023.pkl", "FLAME2020/generic_model.pkl"),
    "landmark_embedding": ("landmark_embedding.npy",),
    "static": ("flame_static_embedding.pkl",),
    "dynamic": ("flame_dynamic_embedding.npy",),
    "uv": ("head_template.obj",),
    "texture": ("flame_seg_tex.png", "flame_seg_tex.jpg"),
}


def load_flame_from_dir(directory: str | Path = DEFAULT_FLAME_DIR, **kwargs) -> ParametricHeadModel:
    """`load_flame` with the files found by their conventional names in ``directory``."""
    directory = Path(directory).expanduser()

    def find(kind: str) -> Path | None:
        return next((directory / n for n in _CONVENTIONAL_NAMES[kind] if (directory / n).is_file()), None)

    model = find("model") or require_file(directory / "generic_model.pkl", "FLAME model", _where("model"))
    deca = find("landmark_embedding")
    if deca is None and (find("static") is None or find("dynamic") is None):
        raise MissingAssetError(
            directory / "landmark_embedding.npy", "FLAME landmark embedding", _where("landmarks")
        )
    return load_flame(
        model,
        landmark_embedding_path=deca,
        static_embedding_path=find("static"),
        dynamic_embedding_path=find("dynamic"),
        uv_template_path=find("uv"),
        segmentation_texture_path=find("texture"),
        **kwargs,
    )
