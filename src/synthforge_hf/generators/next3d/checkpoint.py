"""Reading the official Next3D checkpoint (`*.pkl`) without running anything in it.

The checkpoint is a pickle of `torch_utils.persistence` objects: each network is stored as a call of
``_reconstruct_persistent_obj(meta)`` whose ``meta`` holds the bare class name, the whole source text of
the module that defined the class, and the object's ``__dict__``. Unpickled the ordinary way, that source
is executed. Here the restricted unpickler turns the call into an inert record, `dnnlib.util.EasyDict`
into a dict, and ordinary torch modules into inert records; only tensor-rebuild functions are resolved.
`read_network` then reads a network's record once into a `NetworkRecord` (its class, constructor
arguments, settings and flat state dict; `convert` turns it into a diffusers component).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
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


@dataclass(frozen=True)
class NetworkRecord:
    """One network of the checkpoint, read once, without its code.

    Attributes:
        class_name: the saved class name: for a persistent network the bare ``__name__`` (e.g.
            ``TriPlaneGenerator``), for a plain torch module ``<module>.<class>``.
        module_src: the whole source text of the module that defined a persistent network's class ("" for
            a plain torch module); only ever read as text.
        init_args, init_kwargs: the constructor's arguments as JSON values.
        attributes: the other saved ``__dict__`` entries that are JSON values (``rendering_kwargs``,
            ``neural_rendering_resolution`` ...); torch's own (``training``, ``_*``) and tensors are left out.
        state_dict: what `torch.nn.Module.state_dict()` would give: copies of the parameters and the
            persistent buffers of the network and all its submodules, by their flat names.
    """

    class_name: str
    module_src: str
    init_args: list[Any]
    init_kwargs: dict[str, Any]
    attributes: dict[str, Any]
    state_dict: OrderedDict[str, torch.Tensor]


def read_network(record: Any, max_elements: int = DEFAULT_MAX_ELEMENTS) -> NetworkRecord:
    """The `NetworkRecord` of a network of `read_checkpoint`'s dict; tensors are copied only when they hold
    at most ``max_elements`` in all (a pickle can name one tensor many times)."""
    class_name, module_src, state = _unpack(record)
    try:
        found = _tensors(state, "")
        init_args = _json_value(list(state.get("_init_args") or ()))
        init_kwargs = _json_value(dict(state.get("_init_kwargs") or {}))
        attributes = _json_attributes(state)
    except RecursionError:
        raise ValueError("the network's records nest too deeply (or in a cycle)") from None
    total = sum(tensor.numel() for tensor in found.values())
    if total > max_elements:
        raise ValueError(f"the network's tensors hold {total} elements, over the limit of {max_elements}")
    return NetworkRecord(
        class_name=class_name,
        module_src=module_src,
        init_args=init_args,
        init_kwargs=init_kwargs,
        attributes=attributes,
        state_dict=OrderedDict((name, tensor.detach().clone()) for name, tensor in found.items()),
    )


def _unpack(record: Any) -> tuple[str, str, dict[str, Any]]:
    """Class name, module source and saved ``__dict__`` of a persistent network or a plain torch module."""
    if isinstance(record, InertObject) and record.name == PERSISTENT_HOOK:
        meta = record.args[0] if len(record.args) == 1 else None
        if (
            not isinstance(meta, dict)
            or meta.get("type") != "class"
            or not isinstance(meta.get("class_name"), str)
            or not isinstance(meta.get("module_src"), str)
            or not isinstance(meta.get("state"), dict)
        ):
            keys = sorted(map(str, meta)) if isinstance(meta, dict) else meta
            raise ValueError(f"not a persistent-object record: {keys}")
        return meta["class_name"], meta["module_src"], meta["state"]
    if isinstance(record, InertObject) and isinstance(record.state, dict) and "_modules" in record.state:
        return f"{record.module}.{record.name}", "", record.state
    raise ValueError(f"not a network record: {record!r}")


def _tensors(state: dict[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """The parameters and persistent buffers of a saved ``__dict__`` and its submodules (not copied)."""
    skipped = set(state.get("_non_persistent_buffers_set") or ())
    buffers = {name: value for name, value in (state.get("_buffers") or {}).items() if name not in skipped}
    out = {}
    for name, value in {**(state.get("_parameters") or {}), **buffers}.items():
        if not isinstance(value, torch.Tensor | None):
            raise ValueError(f"'{prefix}{name}' is a {type(value).__name__}, not a tensor")
        if value is not None:
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(_tensors(_unpack(child)[2], f"{prefix}{name}."))
    return out


def _json_attributes(state: dict[str, Any]) -> dict[str, Any]:
    """The saved ``__dict__`` entries that are not torch's own and are JSON values, as JSON values."""
    out = {}
    for name, value in state.items():
        if not name.startswith("_") and name != "training":
            try:
                out[name] = _json_value(value)
            except ValueError:  # a tensor or a module: not a setting
                pass
    return out


def _json_value(value: Any) -> Any:
    """A saved argument as a JSON value (EasyDicts -> dicts, tuples -> lists); anything else is refused."""
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"cannot store constructor argument of type {type(value).__name__}")
