"""The Next3D checkpoint reader on a pickle in the official structure (persistent-object records)."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from torch import nn

from synthforge_hf.errors import MalformedAssetError
from synthforge_hf.generators.next3d.checkpoint import read_checkpoint, read_network
from synthforge_hf.io.safe_pickle import UnsafePickleError

from .next3d_files import PAYLOAD_FILE, EasyDict, PersistentRecord, dump_official_snapshot, module_source


class _Persistent:
    """Pickles like an EG3D `persistent_class` object: a call of the persistence hook with meta (the bare
    class name, a module source defining it)."""

    def __reduce__(self):
        return PersistentRecord(type(self).__name__, dict(self.__dict__)).__reduce__()


class Mapping(_Persistent, nn.Module):
    def __init__(self, z_dim):
        super().__init__()
        self._init_args, self._init_kwargs = (z_dim,), {"num_layers": 2}
        self.fc0 = nn.Linear(z_dim, 8)
        self.register_buffer("w_avg", torch.randn(8))


class Generator(_Persistent, nn.Module):
    def __init__(self):
        super().__init__()
        self._init_args = ()
        self._init_kwargs = EasyDict(
            z_dim=4, rendering_kwargs=EasyDict(ray_start=2.25, depth_resolution=48), channels=(32, 64)
        )
        self.mapping = Mapping(4)
        self.blocks = nn.ModuleList([nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1, bias=False)])
        self.register_buffer("faces", torch.randint(0, 100, (1, 7, 3)))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)
        self.empty = None
        self.neural_rendering_resolution = 64
        self.orth_scale = torch.tensor([[5.0]])  # a plain tensor attribute, not in the state dict


def _write_snapshot(path, extra=None):
    torch.manual_seed(0)
    generator = Generator()
    snapshot = {
        "G_ema": generator,
        "G": generator,
        "D": None,
        "training_set_kwargs": EasyDict(resolution=512, path="ffhq.zip"),
        **(extra or {}),
    }
    dump_official_snapshot(snapshot, path)
    return generator


def test_conversion_reproduces_the_state_dict_and_never_runs_the_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    original = _write_snapshot(tmp_path / "network-snapshot.pkl")
    data = read_checkpoint(tmp_path / "network-snapshot.pkl")
    assert data["training_set_kwargs"] == {"resolution": 512, "path": "ffhq.zip"}
    expected = original.state_dict()
    network = read_network(data["G_ema"])
    converted = network.state_dict
    assert list(converted) == list(expected)  # same names, same order; no non-persistent buffer
    for name, tensor in expected.items():
        assert torch.equal(converted[name], tensor) and converted[name].dtype == tensor.dtype, name
    fresh = Generator()
    fresh.load_state_dict(converted, strict=True)
    for name, tensor in expected.items():
        assert torch.equal(fresh.state_dict()[name], tensor)
    assert network.class_name == "Generator" and "class Generator(torch.nn.Module):" in network.module_src
    assert json.loads(json.dumps([network.init_args, network.init_kwargs, network.attributes])) == [
        [],
        {"z_dim": 4, "rendering_kwargs": {"ray_start": 2.25, "depth_resolution": 48}, "channels": [32, 64]},
        {"empty": None, "neural_rendering_resolution": 64},  # JSON values only; torch's own left out
    ]
    assert not (tmp_path / PAYLOAD_FILE).exists()


def test_the_saved_module_source_would_run_its_payload(tmp_path, monkeypatch):
    """The fixtures' module sources are real payloads: the tests that find no payload file mean it."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImportError, match="torch_utils"):  # the payload runs before the imports fail
        exec(module_source("Generator"), {})
    assert (tmp_path / PAYLOAD_FILE).exists()


def test_plain_torch_modules_are_read_by_their_torch_class(tmp_path):
    _write_snapshot(tmp_path / "network-snapshot.pkl")
    record = read_checkpoint(tmp_path / "network-snapshot.pkl")["G_ema"]
    blocks = record.args[0]["state"]["_modules"]["blocks"]
    network = read_network(blocks)
    assert network.class_name == "torch.nn.modules.container.ModuleList" and network.module_src == ""
    assert list(network.state_dict) == ["0.weight", "0.bias", "1.weight"]
    assert network.init_args == [] and network.init_kwargs == {}


def test_a_module_that_contains_itself_is_refused(tmp_path):
    looped = nn.ModuleList()
    looped.__dict__["_modules"]["again"] = looped  # a cycle, as a hostile file can write one
    dump_official_snapshot({"G_ema": looped}, tmp_path / "loop.pkl")
    with pytest.raises(ValueError, match="nest too deeply"):
        read_network(read_checkpoint(tmp_path / "loop.pkl")["G_ema"])


def test_code_in_the_pickle_is_refused(tmp_path, monkeypatch):
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch reduce_payload_ran",))

    monkeypatch.chdir(tmp_path)
    _write_snapshot(tmp_path / "evil.pkl", extra={"augment_pipe": Payload()})
    with pytest.raises(UnsafePickleError, match="system"):
        read_checkpoint(tmp_path / "evil.pkl")
    assert not (tmp_path / "reduce_payload_ran").exists()


def test_not_a_snapshot(tmp_path):
    (tmp_path / "other.pkl").write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(MalformedAssetError, match="G_ema"):
        read_checkpoint(tmp_path / "other.pkl")
    with pytest.raises(FileNotFoundError, match="Next3D"):
        read_checkpoint(tmp_path / "missing.pkl")
