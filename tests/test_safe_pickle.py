import copyreg
import io
import os
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from synthforge_hf.errors import MalformedAssetError
from synthforge_hf.io.safe_pickle import InertObject, UnsafePickleError, inert_state, load_pickle


class _Payload:
    """Pickles to a call of os.system: loading it the ordinary way would run a command."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/synthforge_payload_ran",))


class _FakeChumpy:
    """Pickles like a chumpy array: class chumpy.ch.Ch rebuilt by copyreg, state holding 'x'."""

    def __init__(self, x):
        self.x = x

    def __reduce_ex__(self, protocol):
        return (copyreg._reconstructor, (_FakeChumpy, object, None), {"x": self.x})


_FakeChumpy.__module__ = "chumpy.ch"
_FakeChumpy.__qualname__ = "Ch"


def _dump(obj, path):
    import sys
    import types

    fake = types.ModuleType("chumpy.ch")
    fake.Ch = _FakeChumpy
    sys.modules["chumpy"] = types.ModuleType("chumpy")
    sys.modules["chumpy.ch"] = fake
    try:
        path.write_bytes(pickle.dumps(obj, protocol=2))
    finally:
        del sys.modules["chumpy.ch"], sys.modules["chumpy"]


def test_arrays_sparse_matrices_and_tensors_load(tmp_path):
    data = {
        "a": np.arange(6, dtype=np.float64).reshape(2, 3),
        "s": sp.csc_matrix(np.eye(3)),
        "t": torch.tensor([1.5, 2.5]),
        "n": np.float32(3.0),
    }
    _dump(data, tmp_path / "x.pkl")
    out = load_pickle(tmp_path / "x.pkl")
    assert np.array_equal(out["a"], data["a"])
    assert np.array_equal(out["s"].toarray(), np.eye(3))
    assert torch.equal(out["t"], data["t"])
    assert out["n"] == 3.0


def test_chumpy_objects_become_inert_records(tmp_path):
    _dump({"v": _FakeChumpy(np.ones((2, 3)))}, tmp_path / "c.pkl")
    with pytest.raises(UnsafePickleError, match="chumpy.ch.Ch"):
        load_pickle(tmp_path / "c.pkl")
    out = load_pickle(tmp_path / "c.pkl", inert_prefixes=("chumpy",))
    assert isinstance(out["v"], InertObject) and out["v"].module == "chumpy.ch"
    assert np.array_equal(inert_state(out["v"])["x"], np.ones((2, 3)))


def test_code_payload_is_refused_and_never_runs(tmp_path):
    marker = "/tmp/synthforge_payload_ran"
    if os.path.exists(marker):
        os.remove(marker)
    (tmp_path / "p.pkl").write_bytes(pickle.dumps({"x": _Payload()}))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        load_pickle(tmp_path / "p.pkl", inert_prefixes=("chumpy",))
    assert not os.path.exists(marker)


def test_truncated_pickle_is_reported_as_malformed(tmp_path):
    blob = pickle.dumps({"a": np.zeros(100)})
    (tmp_path / "t.pkl").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(MalformedAssetError, match="t.pkl"):
        load_pickle(tmp_path / "t.pkl")


def test_npy_files_plain_and_pickled(tmp_path):
    np.save(tmp_path / "plain.npy", np.arange(4))
    assert np.array_equal(load_pickle(tmp_path / "plain.npy"), np.arange(4))
    np.save(tmp_path / "obj.npy", np.array({"k": np.ones(2)}, dtype=object), allow_pickle=True)
    assert np.array_equal(load_pickle(tmp_path / "obj.npy")["k"], np.ones(2))


def test_real_deca_landmark_embedding_loads_with_tensors(assets_dir):
    emb = load_pickle(assets_dir / "flame" / "landmark_embedding.npy")
    assert emb["full_lmk_faces_idx"].shape == (1, 68)
    assert isinstance(emb["dynamic_lmk_faces_idx"], torch.Tensor)
    assert tuple(emb["dynamic_lmk_bary_coords"].shape) == (79, 17, 3)


def test_inert_objects_cannot_be_pickled_again():
    with pytest.raises(TypeError):
        pickle.dumps(InertObject())
    assert io  # io is used by pickle round trips above
