"""Reading the official Next3D checkpoint (`*.pkl`) without running anything in it.

The checkpoint is a pickle of `torch_utils.persistence` objects: each network is stored as a call of
``_reconstruct_persistent_obj(meta)`` whose ``meta`` holds the class's source code and the module's
``__dict__``. Unpickled the ordinary way, that source is executed. Here the restricted unpickler turns
the call into an inert record, `dnnlib.util.EasyDict` into a dict, and ordinary torch modules into
inert records; only tensor-rebuild functions are resolved. The records are then walked into a flat
state dict and the networks' constructor arguments (`convert` turns them into a diffusers component).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from ...errors import MalformedAssetError, require_file
from ...io.safe_pickle import DEFAULT_MAX_ELEMENTS, InertObject, load_pickle

WHERE = "Download the Next3D FFHQ-512 checkpoint from the Next3D release (NVIDIA non-commercial licence)."
INERT_PREFIXES = (
    "torch_utils",
    "training",
    "training_avatar_texture",
    "torch.nn",
    "dnnlib",
    "legacy",
    "metrics",
)
PERSISTENT_HOOK = "_reconstruct_persistent_obj"


class EasyDict(dict):
    """What `dnnlib.util.EasyDict` becomes: a plain dict with attribute access to nothing."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's top-level dict (``G_ema``, ``G``, ``D``, ``training_set_kwargs`` ...) with
    networks as inert records."""
    path = require_file(path, "Next3D checkpoint", WHERE)
    data = load_pickle(
        path,
        inert_prefixes=INERT_PREFIXES,
        extra_allowed={("dnnlib.util", "EasyDict"): EasyDict},
    )
    if not isinstance(data, dict) or "G_ema" not in data:
        raise MalformedAssetError(
            path, "expected a dict with a 'G_ema' network (a Next3D / EG3D training snapshot)"
        )
    return data


def module_state(record: Any) -> dict[str, Any]:
    """The saved ``__dict__`` of a network record (persistent or an ordinary torch module)."""
    if isinstance(record, InertObject) and record.name == PERSISTENT_HOOK:
        meta = record.args[0] if record.args else {}
        if (
            not isinstance(meta, dict)
            or meta.get("type") != "class"
            or not isinstance(meta.get("state"), dict)
        ):
            raise ValueError(
                f"not a persistent-object record: {sorted(meta) if isinstance(meta, dict) else meta}"
            )
        return meta["state"]
    if isinstance(record, InertObject) and isinstance(record.state, dict) and "_modules" in record.state:
        return record.state
    raise ValueError(f"not a network record: {record!r}")


def class_name(record: Any) -> str:
    if isinstance(record, InertObject) and record.name == PERSISTENT_HOOK:
        return record.args[0]["class_name"]
    return f"{record.module}.{record.name}"


def state_dict(record: Any, max_elements: int = DEFAULT_MAX_ELEMENTS) -> OrderedDict[str, torch.Tensor]:
    """The flat state dict a `torch.nn.Module.state_dict()` would give, from the records alone: copies
    of the tensors, made only when they hold at most ``max_elements`` in all (a pickle can name one
    tensor many times)."""
    found = _tensors(record, "")
    total = sum(v.numel() for v in found.values() if isinstance(v, torch.Tensor))
    if total > max_elements:
        raise ValueError(f"the network's tensors hold {total} elements, over the limit of {max_elements}")
    return OrderedDict(
        (name, value.detach().clone() if isinstance(value, torch.Tensor) else value)
        for name, value in found.items()
    )


def _tensors(record: Any, prefix: str) -> dict[str, Any]:
    """The record's parameters and persistent buffers by state-dict name (not copied)."""
    state = module_state(record)
    out = {
        prefix + name: value for name, value in (state.get("_parameters") or {}).items() if value is not None
    }
    skipped = set(state.get("_non_persistent_buffers_set") or ())
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skipped:
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(_tensors(child, f"{prefix}{name}."))
    return out


def json_value(value: Any) -> Any:
    """A saved argument or attribute as a JSON value (EasyDicts -> dicts, tuples -> lists); anything else
    is refused."""
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"cannot store constructor argument of type {type(value).__name__}")


def init_arguments(record: Any) -> dict[str, Any]:
    """``{"class_name", "init_args", "init_kwargs"}`` of a persistent network."""
    state = module_state(record)
    return {
        "class_name": class_name(record),
        "init_args": json_value(list(state.get("_init_args") or ())),
        "init_kwargs": json_value(dict(state.get("_init_kwargs") or {})),
    }
