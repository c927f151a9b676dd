"""Next3D test material: a tiny generator on the real FLAME topology, a FLAME folder, and checkpoints
pickled in the official structure (``torch_utils.persistence`` records whose source would run code)."""

from __future__ import annotations

import pickle
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

from synthforge_hf.generators.next3d.convert import read_uv_face_mask
from synthforge_hf.generators.next3d.generator import Next3DFaceGenerator

from .flame_files import flame_model_arrays, write_flame_model

NUM_EXPRESSION = 50  # as many as load_flame uses by default (the released file has 100)
# A CPU-sized configuration: 32 px tri-planes, 16 px neural rendering, 64 px output, 12 + 12 samples.
TINY = dict(
    z_dim=16,
    w_dim=16,
    img_resolution=64,
    sr_num_fp16_res=4,
    mapping_kwargs={"num_layers": 1},
    synthesis_kwargs={"channel_base": 512, "channel_max": 32, "num_fp16_res": 0, "conv_clamp": None},
    plane_resolution=32,
    mouth_resolution=16,
    sr_block_channels=(16, 8),
    neural_rendering_resolution=16,
    depth_image_resolution=32,
    rendering_kwargs={"depth_resolution": 12, "depth_resolution_importance": 12},
)
PAYLOAD_FILE = "next3d_payload_ran"  # what the saved module sources would create in the working folder
NEXT3D_CLASS = "TriPlaneGenerator"


def random_next3d(template, uv_mask_path: Path, config: dict = TINY, seed: int = 0) -> Next3DFaceGenerator:
    """A random `Next3DFaceGenerator` (``config``: `TINY` by default, ``{}`` for the released size) on
    FLAME's topology, with small random biases and noise strengths (zero at initialisation) so that
    every path of the network matters."""
    torch.manual_seed(seed)
    generator = Next3DFaceGenerator(**config).eval()
    generator.next3d.set_topology(
        torch.from_numpy(template.faces), torch.from_numpy(template.uvs), torch.from_numpy(template.uv_faces)
    )
    generator.uv_face_mask.copy_(read_uv_face_mask(uv_mask_path, generator.config.plane_resolution))
    with torch.no_grad():
        for name, parameter in generator.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                parameter.add_(0.1 * torch.randn_like(parameter))
    return generator


def flame_folder(folder: Path, template, assets_dir: Path) -> Path:
    """A FLAME folder as users lay it out: a FLAME-format model on the real template (FLAME frame: the
    DECA template sits 1.5 m higher) and the real landmark embedding, UV template, texture and mask."""
    folder.mkdir(parents=True, exist_ok=True)
    vertices = template.vertices - np.array([0.0, 1.5, 0.0])
    arrays = flame_model_arrays(vertices, template.faces, num_expression=NUM_EXPRESSION)
    write_flame_model(folder / "generic_model.pkl", arrays)
    for name in ("landmark_embedding.npy", "head_template.obj", "flame_seg_tex.jpg", "uv_face_eye_mask.png"):
        shutil.copy(assets_dir / "flame" / name, folder / name)
    return folder


def _reconstruct_persistent_obj(meta):  # stands in for torch_utils.persistence's hook when dumping
    raise AssertionError("never called while dumping")


class EasyDict(dict):
    pass


def module_source(class_name: str) -> str:
    """A module's source as `torch_utils.persistence` saves it whole: it defines ``class_name`` and, at
    import, runs a payload (creates `PAYLOAD_FILE`) that a safe reader never runs."""
    return f"""\"\"\"Networks of the official release (test stand-in).\"\"\"

import os

os.system("touch {PAYLOAD_FILE}")

import torch
from torch_utils import persistence


@persistence.persistent_class
class {class_name}(torch.nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, *args, **kwargs):
        raise NotImplementedError
"""


class PersistentRecord:
    """Pickles like an object of an EG3D `persistent_class`: a call of the persistence hook with meta
    holding the bare class name, the source of the module that defined it and the object's ``__dict__``."""

    def __init__(self, class_name: str, state: dict, module_src: str | None = None):
        self.class_name, self.state = class_name, state
        self.module_src = module_source(class_name) if module_src is None else module_src

    def __reduce__(self):
        meta = dict(
            type="class", version=6, module_src=self.module_src, class_name=self.class_name, state=self.state
        )
        return (_reconstruct_persistent_obj, (meta,))


def as_official_records(
    module: nn.Module, class_name: str | None = None, module_src: str | None = None, **attributes
) -> PersistentRecord | nn.Module:
    """``module`` and all its submodules as the persistence format pickles them: each network a persistent
    record named by its class's bare ``__name__`` (``class_name`` and ``module_src`` at the top when
    given), plain torch modules (``ModuleList``, ``Softplus`` ...) the ordinary way, as their torch class
    and ``__dict__``; ``attributes`` are added to the top's saved ``__dict__``."""
    state = {k: v for k, v in module.__dict__.items() if not k.startswith("_") or k in _MODULE_STATE}
    state["_modules"] = {
        name: None if child is None else as_official_records(child) for name, child in module._modules.items()
    }
    state.update(attributes)
    if class_name is None and type(module).__module__.startswith("torch.nn."):
        plain = type(module).__new__(type(module))  # pickles its __dict__: the records of its children
        plain.__dict__.update(state)
        return plain
    return PersistentRecord(class_name or type(module).__name__, state, module_src)


_MODULE_STATE = ("_parameters", "_buffers", "_non_persistent_buffers_set", "_modules", "training")


def dump_official_snapshot(snapshot: dict, path: Path) -> Path:
    """Pickle ``snapshot`` with the persistence hook and EasyDict in the modules the official code uses."""
    persistence, dnnlib = types.ModuleType("torch_utils.persistence"), types.ModuleType("dnnlib.util")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    dnnlib.EasyDict = EasyDict
    names = {
        "torch_utils": types.ModuleType("torch_utils"),
        "torch_utils.persistence": persistence,
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.util": dnnlib,
    }
    originals = (_reconstruct_persistent_obj.__module__, EasyDict.__module__)
    saved = {name: sys.modules.get(name) for name in names}
    _reconstruct_persistent_obj.__module__, EasyDict.__module__ = "torch_utils.persistence", "dnnlib.util"
    sys.modules.update(names)
    try:
        path.write_bytes(pickle.dumps(snapshot, protocol=4))
    finally:
        _reconstruct_persistent_obj.__module__, EasyDict.__module__ = originals
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return path


def write_official_next3d(
    path: Path,
    generator: Next3DFaceGenerator,
    extra: dict | None = None,
    class_name: str = NEXT3D_CLASS,
    module_src: str | None = None,
) -> Path:
    """A snapshot in the layout of the official Next3D release: ``G_ema`` a persistent ``class_name``
    (Next3D's bare ``TriPlaneGenerator``, its module source defining it, unless ``module_src`` is given)
    built by keyword (as the training script does), its rendering settings and neural rendering resolution
    saved as attributes."""
    config = generator.config
    init_kwargs = EasyDict(
        z_dim=config.z_dim,
        c_dim=config.c_dim,
        w_dim=config.w_dim,
        img_resolution=config.img_resolution,
        img_channels=3,
        topology_path="data/ffhq/head_template.obj",
        sr_num_fp16_res=config.sr_num_fp16_res,
        mapping_kwargs=EasyDict(config.mapping_kwargs),
        rendering_kwargs=EasyDict(generator.next3d.rendering_kwargs),
        sr_kwargs=EasyDict(channel_base=512, channel_max=32, fused_modconv_default="inference_only"),
        fused_modconv_default="inference_only",
        **config.synthesis_kwargs,
    )
    record = as_official_records(
        generator.next3d,
        class_name,
        module_src,
        _init_args=(),
        _init_kwargs=init_kwargs,
        rendering_kwargs=EasyDict(generator.next3d.rendering_kwargs),
        neural_rendering_resolution=config.neural_rendering_resolution,
    )
    snapshot = {
        "G_ema": record,
        "G": record,
        "D": None,
        "training_set_kwargs": EasyDict(resolution=512),
        **(extra or {}),
    }
    return dump_official_snapshot(snapshot, path)
