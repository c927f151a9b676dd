"""Hostile files: pickles that try to change loaded code or to make the loaders allocate gigabytes."""

from __future__ import annotations

import copyreg
import json
import pickle
import struct
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from synthforge_hf.io.safe_pickle import UnsafePickleError, load_pickle

from .flame_files import flame_model_arrays, write_flame_model
from .meshes import uv_sphere
from .next3d_files import PersistentRecord, dump_official_snapshot


def _text(value: str) -> bytes:
    return b"X" + struct.pack("<I", len(value)) + value.encode()


REBUILD = b"ctorch._utils\n_rebuild_tensor_v2\n"
NEG_DEFAULTS = (
    b"}" + _text("__defaults__") + b"}" + _text("neg") + b"\x88s\x85s"
)  # {"__defaults__": ({"neg": 1},)}
ATTACKS = {
    # BUILD with (None, slot state): setattr(torch._utils._rebuild_tensor_v2, "__defaults__", ...).
    "defaults_via_slot_state": REBUILD + b"N" + NEG_DEFAULTS + b"\x86b",
    "attribute_via_dict_state": REBUILD + b"}" + _text("marker") + b"\x88sb",
    # numpy.core.multiarray.scalar(dtype("O"), f) returns f itself, a global.
    "call_returning_a_global": b"cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\n"
    + _text("O")
    + b"\x89\x88\x87R"
    + REBUILD
    + b"\x86R}"
    + _text("marker")
    + b"\x88sb",
    "setitem_on_a_global": b"ccollections\nOrderedDict\n" + _text("k") + b"\x88s",
    "append_on_a_global": b"cbuiltins\nset\n(\x88e",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_pickles_cannot_change_globals(tmp_path, attack):
    path = tmp_path / "flame_static_embedding.pkl"
    path.write_bytes(b"\x80\x02" + ATTACKS[attack] + b".")
    with pytest.raises(UnsafePickleError) as caught:
        load_pickle(path)
    message = str(caught.value)
    assert message.startswith(f"'{path}': ") and "\n" not in message
    assert torch._utils._rebuild_tensor_v2.__defaults__ == (None,)
    assert not hasattr(torch._utils._rebuild_tensor_v2, "marker")
    assert np.dtype("f8").isnative
    torch.save({"w": torch.tensor([1.0, -2.0])}, tmp_path / "weights.pt")
    assert torch.load(tmp_path / "weights.pt", weights_only=True)["w"].tolist() == [1.0, -2.0]


def test_dtype_state_changes_a_copy_never_the_shared_dtype(tmp_path):
    # numpy.dtype("f8", align=False, copy=False) is the process-wide float64 dtype: BUILD makes it big-endian.
    path = tmp_path / "dtype.pkl"
    path.write_bytes(
        b"\x80\x02cnumpy\ndtype\n"
        + _text("f8")
        + b"\x89\x89\x87R(K\x03"
        + _text(">")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb."
    )
    assert load_pickle(path) == np.dtype(">f8")
    assert np.dtype("f8").isnative and np.zeros(1).dtype.isnative


class _Sparse:
    """Pickles like a scipy CSC matrix whose declared shape is (rows, columns), whatever it holds."""

    def __init__(self, matrix: sp.csc_matrix, shape: tuple[int, int]):
        self.state = {**matrix.__dict__, "_shape": shape}

    def __reduce__(self):
        return (copyreg._reconstructor, (sp.csc_matrix, object, None), self.state)


class _Tensor:
    """Pickles like a tensor of the given size, stride and offset over ``storage`` (a real tensor's)."""

    def __init__(self, storage: torch.Tensor, size, stride, offset=0):
        self.storage, self.size, self.stride, self.offset = storage, size, stride, offset

    def __reduce__(self):
        args = (self.storage.storage(), self.offset, self.size, self.stride, False, OrderedDict())
        return (torch._utils._rebuild_tensor_v2, args)


HUGE = 2**27  # 512 MB of float32, 1 GB of float64


def _write_hostile_files(folder):
    vertices, faces = uv_sphere(radius=0.1, rings=6, segments=8)
    arrays = flame_model_arrays(np.asarray(vertices, dtype=np.float64), np.asarray(faces), num_expression=2)
    files = {
        "zero_stride.pkl": ("flame", {"shapedirs": torch.zeros(1).expand(HUGE)}),
        "short_storage.pkl": ("flame", {"shapedirs": _Tensor(torch.zeros(10), (100_000,), (1,))}),
        "sparse_shape.pkl": (
            "flame",
            {"J_regressor": _Sparse(sp.csc_matrix(arrays["J_regressor"]), (5, HUGE))},
        ),
    }
    for name, (_, replace) in files.items():
        write_flame_model(folder / name, arrays, extra=replace)
    (folder / "object_array.npy").write_bytes(
        _npy_header("|O", (1,))
        + b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ"
        + struct.pack("<i", HUGE)
        + b"\x85"
        + _text("O")
        + b"\x87R."
    )
    (folder / "npy_header.npy").write_bytes(_npy_header("<f8", (HUGE, 3)))
    generator = {"_parameters": {"w": torch.zeros(1).expand(HUGE)}, "_buffers": {}, "_modules": {}}
    dump_official_snapshot({"G_ema": PersistentRecord("Generator", generator)}, folder / "next3d.pkl")
    return [*files, "object_array.npy", "npy_header.npy", "next3d.pkl"]


def _npy_header(descr: str, shape: tuple) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


LOAD_ALL = """
import json, resource, sys
from pathlib import Path
from synthforge_hf.errors import MalformedAssetError
from synthforge_hf.generators.next3d.checkpoint import read_checkpoint, read_network
from synthforge_hf.head.flame import read_flame_model, read_landmark_embedding
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
errors = {}
for path in map(Path, sys.argv[1:]):
    try:
        if path.name == "next3d.pkl":
            read_network(read_checkpoint(path)["G_ema"])
        elif path.suffix == ".npy":
            read_landmark_embedding(landmark_embedding_path=path)
        else:
            read_flame_model(path)
        errors[path.name] = None
    except (MalformedAssetError, ValueError) as err:
        errors[path.name] = str(err)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"errors": errors, "grew_mb": (peak - start) / 1024}))
"""


@pytest.mark.slow
def test_hostile_sizes_are_refused_before_allocating(tmp_path):
    names = _write_hostile_files(tmp_path)
    assert all((tmp_path / name).stat().st_size < 1_000_000 for name in names)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ALL, *(str(tmp_path / name) for name in names)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    errors = report["errors"]
    assert report["grew_mb"] < 200, report
    for name in names:
        assert errors[name] is not None and "\n" not in errors[name], (name, errors[name])
        assert name == "next3d.pkl" or errors[name].startswith(f"'{tmp_path / name}': "), errors[name]
    assert "needs 134217728 elements of a storage that holds 1" in errors["zero_stride.pkl"]
    assert "needs 100000 elements of a storage that holds 10" in errors["short_storage.pkl"]
    assert f"'J_regressor' has shape (5, {HUGE})" in errors["sparse_shape.pkl"]
    assert "_reconstruct is asked for" in errors["object_array.npy"]
    assert f"declares {HUGE * 3} elements" in errors["npy_header.npy"]
    assert "storage that holds 1" in errors["next3d.pkl"]


def test_element_limit_is_an_argument(tmp_path):
    (tmp_path / "t.pkl").write_bytes(pickle.dumps({"t": torch.zeros(1000)}))
    assert load_pickle(tmp_path / "t.pkl")["t"].shape == (1000,)
    with pytest.raises(UnsafePickleError, match=r"t.pkl'.*1000 array elements, over the limit of 999"):
        load_pickle(tmp_path / "t.pkl", max_elements=999)
