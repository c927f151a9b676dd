"""Read pickles from untrusted checkpoints and asset files without running code from them.

`RestrictedUnpickler` resolves only an allow-list of globals (numpy/scipy array rebuilders,
torch tensor rebuilders, plain containers). Classes from packages that users should not need
(``chumpy`` in FLAME's `generic_model.pkl`, ``torch_utils.persistence`` in StyleGAN-family
checkpoints) are replaced by `InertObject`, which only records the arguments and state it was
given. Anything else stops loading with `UnsafePickleError`.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import MalformedAssetError


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside the allow-list."""


class InertObject:
    """Stand-in for an object of a disallowed class: keeps its data, runs none of its code."""

    module: str = ""
    name: str = ""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __reduce__(self):  # an inert record is never pickled back into the original class
        raise TypeError(f"InertObject({self.module}.{self.name}) cannot be pickled")

    def __repr__(self) -> str:
        return f"InertObject({self.module}.{self.name})"


def _inert_class(module: str, name: str) -> type[InertObject]:
    return type(name, (InertObject,), {"module": module, "name": name})


def _storage_from_bytes(data: bytes) -> Any:
    """Replacement for ``torch.storage._load_from_bytes`` that refuses code (weights_only)."""
    return torch.load(io.BytesIO(data), weights_only=True)


def _scipy_sparse_globals() -> dict[tuple[str, str], Any]:
    import scipy.sparse as sp

    found: dict[tuple[str, str], Any] = {}
    for fmt in ("csc", "csr", "coo"):
        cls = getattr(sp, f"{fmt}_matrix")
        for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}", "scipy.sparse"):
            found[(module, f"{fmt}_matrix")] = cls
    return found


def _default_allowed() -> dict[tuple[str, str], Any]:
    import copyreg
    from collections import OrderedDict

    from numpy._core import multiarray

    allowed: dict[tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
        ("numpy.core.multiarray", "scalar"): multiarray.scalar,
        ("numpy._core.multiarray", "scalar"): multiarray.scalar,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
        ("_codecs", "encode"): codecs.encode,  # protocol-2 pickles store bytes as latin-1 text
        ("builtins", "object"): object,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
        ("torch", "Size"): torch.Size,
        ("torch", "float32"): torch.float32,
        ("torch", "float16"): torch.float16,
    }
    for name in ("Float", "Half", "Double", "Long", "Int", "Byte", "Bool", "BFloat16"):
        allowed[("torch", f"{name}Storage")] = getattr(torch, f"{name}Storage")
    allowed.update(_scipy_sparse_globals())
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals.

    Args:
        file: binary file object.
        inert_prefixes: module prefixes whose classes become `InertObject` subclasses.
        extra_allowed: additional ``(module, name) -> object`` entries.
    """

    def __init__(
        self,
        file: io.BufferedIOBase,
        inert_prefixes: tuple[str, ...] = (),
        extra_allowed: dict[tuple[str, str], Any] | None = None,
    ):
        super().__init__(file, encoding="latin1")
        self.allowed = _default_allowed()
        self.allowed.update(extra_allowed or {})
        self.inert_prefixes = inert_prefixes

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (copy_reg, __builtin__, ...), as pickles written by Python 2 use them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if any(module == p or module.startswith(p + ".") for p in self.inert_prefixes):
            return _inert_class(module, name)
        raise UnsafePickleError(f"refusing to load global '{module}.{name}' (not on the allow-list)")


def load_pickle(
    path: str | Path,
    inert_prefixes: tuple[str, ...] = (),
    extra_allowed: dict[tuple[str, str], Any] | None = None,
) -> Any:
    """Load a pickle (or a pickled object inside an ``.npy``) with `RestrictedUnpickler`."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(6)
        handle.seek(0)
        try:
            if head == b"\x93NUMPY":
                return _load_npy_object(handle, inert_prefixes, extra_allowed)
            return RestrictedUnpickler(handle, inert_prefixes, extra_allowed).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, TypeError) as err:
            raise MalformedAssetError(path, f"not a readable pickle ({err})") from err


def _load_npy_object(handle, inert_prefixes, extra_allowed) -> Any:
    """An ``.npy`` file: plain arrays load directly; object arrays go through the unpickler."""
    major, _ = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    _, _, dtype = read_header(handle)
    if not dtype.hasobject:
        handle.seek(0)
        return np.load(handle, allow_pickle=False)
    obj = RestrictedUnpickler(handle, inert_prefixes, extra_allowed).load()
    if isinstance(obj, np.ndarray) and obj.shape == () and obj.dtype == object:
        return obj.item()
    return obj


def inert_state(obj: Any) -> Any:
    """The recorded state of an `InertObject` (e.g. a chumpy array's ``x``), else ``obj``."""
    return obj.state if isinstance(obj, InertObject) else obj
