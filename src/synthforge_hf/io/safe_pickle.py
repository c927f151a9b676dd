"""Read pickles from untrusted checkpoints and asset files without running code from them.

`RestrictedUnpickler` resolves only an allow-list of globals (numpy/scipy array rebuilders,
torch tensor rebuilders, plain containers). Classes from packages that users should not need
(``chumpy`` in FLAME's `generic_model.pkl`, ``torch_utils.persistence`` in StyleGAN-family
checkpoints) are replaced by `InertObject`, which only records the arguments and state it was
given. Anything else stops loading with `UnsafePickleError`.

Beyond the names, the unpickler restricts what the pickle may do with them:

- it calls only checked rebuilders (each refuses arguments that would allocate memory the file does
  not hold, such as a tensor larger than its storage or with overlapping strides), inert classes,
  and plain containers;
- it sets state (BUILD) and adds items (SETITEM(S), APPEND(S), ADDITEMS) only on objects it made
  itself, never on a global, a function or a class (a pickle could otherwise rewrite, say, the
  defaults of torch's tensor rebuilder for the rest of the process);
- the arrays and tensors of one file may hold at most ``max_elements`` elements in all.

It is built on the pure-Python `pickle._Unpickler`, whose per-opcode dispatch table can be checked.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import math
import pickle
import struct
import types
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import MalformedAssetError

DEFAULT_MAX_ELEMENTS = 2**28  # far above any of the supported files (FLAME ~7e6, Next3D ~1e8)


class UnsafePickleError(MalformedAssetError, pickle.UnpicklingError):
    """The pickle asks for a global outside the allow-list, or for an operation that data never needs."""


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


def _scipy_sparse_classes() -> dict[tuple[str, str], Any]:
    import scipy.sparse as sp

    found: dict[tuple[str, str], Any] = {}
    for fmt in ("csc", "csr", "coo"):
        cls = getattr(sp, f"{fmt}_matrix")
        for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}", "scipy.sparse"):
            found[(module, f"{fmt}_matrix")] = cls
    return found


def _plain_values() -> dict[tuple[str, str], Any]:
    """Globals a pickle may pass as arguments but never call."""
    values: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("torch", "float32"): torch.float32,
        ("torch", "float16"): torch.float16,
    }
    for name in ("Float", "Half", "Double", "Long", "Int", "Byte", "Bool", "BFloat16"):
        values[("torch", f"{name}Storage")] = getattr(torch, f"{name}Storage")
    values.update(_scipy_sparse_classes())
    return values


_CONSTRUCTORS = (object.__new__, dict.__new__, list.__new__, set.__new__)
_CODE_TYPES = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType)
_MADE_BY_OPCODE = (pickle.EMPTY_DICT, pickle.DICT, pickle.EMPTY_LIST, pickle.LIST, pickle.EMPTY_SET)
_MUTATION_TARGET: dict[bytes, Callable[[Any], Any]] = {
    pickle.SETITEM: lambda u: u.stack[-3],
    pickle.APPEND: lambda u: u.stack[-2],
    pickle.SETITEMS: lambda u: u.metastack[-1][-1],
    pickle.APPENDS: lambda u: u.metastack[-1][-1],
    pickle.ADDITEMS: lambda u: u.metastack[-1][-1],
}


def _recording(loader: Callable[[Any], None]) -> Callable[[Any], None]:
    """An opcode loader that marks the container it pushes as made by the unpickler."""

    def load(self: RestrictedUnpickler) -> None:
        loader(self)
        self._mark_made(self.stack[-1])

    return load


def _mutating(opcode: bytes, loader: Callable[[Any], None]) -> Callable[[Any], None]:
    """An opcode loader that adds items only to a container the unpickler made."""

    def load(self: RestrictedUnpickler) -> None:
        self._require_made(_MUTATION_TARGET[opcode](self), "add items to")
        loader(self)

    return load


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(n, int) and n >= 0 for n in value):
        raise _Refusal(f"{what} is not a tuple of non-negative integers: {value!r}")
    return tuple(value)


def _items(value: Any = ()) -> list | tuple:
    if not isinstance(value, (list, tuple)):
        raise _Refusal(f"a container is built from a {type(value).__name__}, not from a list of items")
    return value


class _Refusal(pickle.UnpicklingError):
    """Raised inside the unpickler; `RestrictedUnpickler.load` adds the file's name."""


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickler that resolves only allow-listed globals and never changes objects it did not make.

    Args:
        file: binary file object (its ``name``, if any, is the path named in errors).
        inert_prefixes: module prefixes whose classes become `InertObject` subclasses.
        extra_allowed: additional ``(module, name) -> object`` entries, passed as values or, when
            classes, built empty by NEWOBJ (e.g. a dict subclass).
        max_elements: the most array and tensor elements the file may hold in all.
    """

    dispatch = dict(pickle._Unpickler.dispatch)
    for _op in _MADE_BY_OPCODE:
        dispatch[_op[0]] = _recording(pickle._Unpickler.dispatch[_op[0]])
    for _op in _MUTATION_TARGET:
        dispatch[_op[0]] = _mutating(_op, pickle._Unpickler.dispatch[_op[0]])
    del _op

    def __init__(
        self,
        file: io.BufferedIOBase,
        inert_prefixes: tuple[str, ...] = (),
        extra_allowed: dict[tuple[str, str], Any] | None = None,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
    ):
        super().__init__(file, encoding="latin1")
        self.path = Path(getattr(file, "name", "<pickle>"))
        self.inert_prefixes = inert_prefixes
        self.max_elements = max_elements
        self.elements = 0
        self.callables = self._callables()
        self.allowed = {**_plain_values(), **self.callables, **(extra_allowed or {})}
        self._found: dict[int, Any] = {}  # globals handed out, by id
        self._made: dict[int, Any] = {}  # objects this unpickler built, by id (kept alive: ids stay unique)

    def _callables(self) -> dict[tuple[str, str], Callable[..., Any]]:
        from numpy._core import multiarray

        checked: dict[tuple[str, str], Callable[..., Any]] = {
            ("copyreg", "_reconstructor"): self._reconstructor,
            ("copyreg", "__newobj__"): self._newobj,
            ("_codecs", "encode"): _latin1_bytes,  # protocol-2 pickles store bytes as latin-1 text
            ("numpy", "dtype"): _dtype,
            ("builtins", "object"): object,
            ("builtins", "slice"): slice,
            ("builtins", "set"): lambda items=(): set(_items(items)),
            ("builtins", "frozenset"): lambda items=(): frozenset(_items(items)),
            ("collections", "OrderedDict"): lambda items=(): OrderedDict(_items(items)),
            ("torch", "Size"): lambda items=(): torch.Size(_items(items)),
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): self._rebuild_parameter,
            ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
        }
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            checked[(module, "_reconstruct")] = _empty_array
            checked[(module, "scalar")] = lambda dtype, data=b"": _scalar(multiarray.scalar, dtype, data)
        return checked

    def load(self) -> Any:
        try:
            return super().load()
        except _Refusal as err:
            raise UnsafePickleError(self.path, str(err)) from None

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (copy_reg, __builtin__, ...), as pickles written by Python 2 use them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in self.allowed:
            found = self.allowed[(module, name)]
        elif any(module == p or module.startswith(p + ".") for p in self.inert_prefixes):
            found = _inert_class(module, name)
        else:
            raise _Refusal(f"refusing to load global '{module}.{name}' (not on the allow-list)")
        self._found[id(found)] = found
        return found

    # Calls: REDUCE, NEWOBJ(_EX), INST and OBJ build objects only through checked callables.

    def load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self._newobj(self.stack[-1], *args)

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        self.stack[-1] = self._newobj(self.stack[-1], *args, **kwargs)

    def _instantiate(self, klass: Any, args: tuple) -> None:
        self.append(self._call(klass, args))

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _call(self, func: Any, args: Any) -> Any:
        inert = isinstance(func, type) and issubclass(func, InertObject)
        if not inert and not any(func is c for c in self.callables.values()):
            raise _Refusal(f"refusing to call {_describe(func)} (only allow-listed rebuilders are called)")
        if not isinstance(args, tuple):
            raise _Refusal(f"the arguments of a call are a {type(args).__name__}, not a tuple")
        return self._mark_made(func(*args))

    def _newobj(self, cls: Any, *args: Any, **kwargs: Any) -> Any:
        """``cls.__new__(cls)`` for inert classes and classes whose instances start empty."""
        if not isinstance(cls, type) or not (
            issubclass(cls, InertObject) or any(cls.__new__ is c for c in _CONSTRUCTORS)
        ):
            raise _Refusal(f"refusing to create an object of {_describe(cls)}")
        return self._mark_made(cls.__new__(cls) if cls.__new__ is object.__new__ else cls.__new__(cls, *args))

    def _reconstructor(self, cls: Any, base: Any, state: Any) -> Any:
        """``copyreg._reconstructor`` as protocols 0 and 1 use it for plain classes."""
        if base is not object or state is not None:
            raise _Refusal(f"refusing copyreg._reconstructor with base {_describe(base)}")
        return self._newobj(cls)

    def _mark_made(self, obj: Any) -> Any:
        if isinstance(obj, _CODE_TYPES) or id(obj) in self._found:
            raise _Refusal(f"a call returned {_describe(obj)}, not new data")
        self._made[id(obj)] = obj
        return obj

    def _require_made(self, obj: Any, action: str) -> None:
        if self._made.get(id(obj)) is not obj:
            raise _Refusal(f"refusing to {action} {_describe(obj)}, which the pickle did not create")

    def _count(self, elements: int, what: str) -> None:
        self.elements += elements
        if self.elements > self.max_elements:
            raise _Refusal(
                f"{what} brings the file to {self.elements} array elements, over the limit of "
                f"{self.max_elements}"
            )

    # State: BUILD only on objects this unpickler made, and only in the forms data takes.

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        self._require_made(inst, "set the state of")
        if isinstance(inst, np.ndarray):
            self._check_array_state(state)
            inst.__setstate__(state)
        elif isinstance(inst, (np.dtype, InertObject)):
            inst.__setstate__(state)
        elif (
            isinstance(state, dict)
            and all(isinstance(k, str) for k in state)
            and hasattr(inst, "__dict__")
            and not isinstance(inst, torch.Tensor)
        ):
            inst.__dict__.update(state)
        else:
            raise _Refusal(f"refusing to set the state of {_describe(inst)} from a {type(state).__name__}")

    dispatch[pickle.BUILD[0]] = load_build

    def _check_array_state(self, state: Any) -> None:
        """numpy's array state ``(version, shape, dtype, is_fortran, data)``: the data must fill the shape."""
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Refusal(f"an array's state is {type(state).__name__}, not numpy's 5-tuple")
        shape, dtype, data = _shape(state[-4], "an array's shape"), state[-3], state[-1]
        if not isinstance(dtype, np.dtype):
            raise _Refusal(f"an array's dtype is a {type(dtype).__name__}")
        count = math.prod(shape)
        self._count(count, f"an array of shape {shape}")
        if dtype.hasobject:
            fills = isinstance(data, list) and len(data) == count
        else:
            fills = isinstance(data, (bytes, bytearray, str)) and len(data) == count * dtype.itemsize
        if not fills:
            raise _Refusal(f"the data of an array of shape {shape} and dtype {dtype} does not fill it")

    # Tensors: the storage must hold every element the tensor declares.

    def _rebuild_tensor(
        self,
        storage: Any,
        offset: Any,
        size: Any,
        stride: Any,
        requires_grad: bool = False,
        backward_hooks: Any = None,
        metadata: Any = None,
    ) -> torch.Tensor:
        """``torch._utils._rebuild_tensor(_v2)`` after checking (size, stride, offset) against the storage."""
        self._require_made(storage, "build a tensor on")
        if not isinstance(storage, torch.TypedStorage):
            raise _Refusal(f"a tensor is built on {_describe(storage)}, not on a storage")
        if backward_hooks or metadata or not isinstance(requires_grad, bool):
            raise _Refusal("a tensor comes with backward hooks or metadata (data files have none)")
        size, stride = _shape(size, "a tensor's size"), _shape(stride, "a tensor's stride")
        if not isinstance(offset, int) or offset < 0 or len(size) != len(stride):
            raise _Refusal(f"a tensor has offset {offset!r}, size {size} and stride {stride}")
        count, held = math.prod(size), storage._size()
        self._count(count, f"a tensor of size {size}")
        end = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1 if count else 0
        if end > held or count > held:
            raise _Refusal(
                f"a tensor of size {size}, stride {stride} and offset {offset} needs "
                f"{max(end, count)} elements of a storage that holds {held}"
            )
        return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())

    def _rebuild_parameter(self, data: Any, requires_grad: Any, backward_hooks: Any) -> torch.Tensor:
        self._require_made(data, "make a parameter of")
        if not isinstance(data, torch.Tensor) or backward_hooks or not isinstance(requires_grad, bool):
            raise _Refusal("a parameter is not a tensor without backward hooks")
        return torch._utils._rebuild_parameter(data, requires_grad, OrderedDict())


def _describe(obj: Any) -> str:
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
        return f"{type(obj).__name__} '{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}'"
    return f"a {type(obj).__name__}"


def _latin1_bytes(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refusal(f"_codecs.encode is called with encoding {encoding!r} (pickles use latin1)")
    return codecs.encode(text, "latin1")


def _dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """A new dtype (always a copy: the builtin dtype objects are shared by the whole process)."""
    if not isinstance(spec, str):
        raise _Refusal(f"a dtype is described by a {type(spec).__name__}, not by its type string")
    return np.dtype(spec, bool(align), True)


def _empty_array(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct``, as numpy pickles use it: an empty array that BUILD then fills."""
    if cls is not np.ndarray or math.prod(_shape(shape, "an array's shape")) != 0:
        raise _Refusal(f"numpy's _reconstruct is asked for a {_describe(cls)} of shape {shape!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype=dtype)


def _scalar(rebuild: Callable[..., Any], dtype: Any, data: Any) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, str)):
        raise _Refusal(f"a numpy scalar of {dtype!r} is not plain data")
    if len(data) != dtype.itemsize:
        raise _Refusal(f"a numpy scalar of {dtype} comes with {len(data)} bytes")
    return rebuild(dtype, data)


def _storage_from_bytes(data: Any) -> Any:
    """Replacement for ``torch.storage._load_from_bytes`` that refuses code (weights_only)."""
    if not isinstance(data, bytes):
        raise _Refusal(f"a tensor storage is stored as a {type(data).__name__}, not as bytes")
    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise _Refusal(f"unreadable tensor storage ({_first_line(err)})") from err


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def load_pickle(
    path: str | Path,
    inert_prefixes: tuple[str, ...] = (),
    extra_allowed: dict[tuple[str, str], Any] | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Any:
    """Load a pickle (or a pickled object inside an ``.npy``) with `RestrictedUnpickler`; any problem
    is raised as a `MalformedAssetError` (`UnsafePickleError` for refused content) naming ``path``."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(6)
        handle.seek(0)
        try:
            if head == b"\x93NUMPY":
                return _load_npy(handle, path, inert_prefixes, extra_allowed, max_elements)
            return RestrictedUnpickler(handle, inert_prefixes, extra_allowed, max_elements).load()
        except MalformedAssetError:
            raise
        except (
            pickle.UnpicklingError,
            EOFError,
            ValueError,
            AttributeError,
            TypeError,
            IndexError,
            KeyError,
            RuntimeError,
            OverflowError,
            struct.error,
        ) as err:
            raise MalformedAssetError(path, f"not a readable pickle ({_first_line(err)})") from err


def _load_npy(handle, path: Path, inert_prefixes, extra_allowed, max_elements: int) -> Any:
    """An ``.npy`` file: plain arrays load directly (after checking the header against the file's size);
    object arrays go through the unpickler."""
    major, _ = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(handle)
    if not dtype.hasobject:
        count, available = math.prod(shape), path.stat().st_size - handle.tell()
        if count > max_elements or count * dtype.itemsize > available:
            raise UnsafePickleError(
                path, f"the header declares {count} elements of {dtype} but the file holds {available} bytes"
            )
        handle.seek(0)
        return np.load(handle, allow_pickle=False)
    obj = RestrictedUnpickler(handle, inert_prefixes, extra_allowed, max_elements).load()
    if isinstance(obj, np.ndarray) and obj.shape == () and obj.dtype == object:
        return obj.item()
    return obj


def inert_state(obj: Any) -> Any:
    """The recorded state of an `InertObject` (e.g. a chumpy array's ``x``), else ``obj``."""
    return obj.state if isinstance(obj, InertObject) else obj
