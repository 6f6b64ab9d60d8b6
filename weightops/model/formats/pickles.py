"""PyTorch's pickles, read without executing anything.

Two passes, each enough on its own:
1. `scan_one` reads the opcodes (pickletools.genops) with the stack simulated by opaque
   values, so module/name strings are tracked through the memo, and refuses a pickle naming a
   global outside the allowed set (INST/OBJ/EXT opcodes and computed names are refused).
2. `RestrictedUnpickler.find_class` hands out weightops' own inert stand-ins for the allowed
   names only (the rule `torch.load(weights_only=True)` follows, torch/_weights_only_unpickler.py):
   tensors become `TensorRef` records pointing into their storage's bytes; TorchScript module
   classes (`__torch__.*`, allowed only inside a TorchScript archive) become attribute bags.
"""

from __future__ import annotations

import collections
import pickle
import pickletools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from weightops.errors import FormatError, RefusedError

# Storage classes and dtypes torch names in its pickles -> weightops' dtype spelling.
STORAGE_DTYPES = {
    "Float": "F32", "Double": "F64", "Half": "F16", "BFloat16": "BF16", "Long": "I64", "Int": "I32",
    "Short": "I16", "Char": "I8", "Byte": "U8", "Bool": "BOOL", "ComplexFloat": "C64", "ComplexDouble": "C128",
}
TORCH_DTYPES = {
    "float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int64": "I64", "int32": "I32",
    "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "complex64": "C64", "complex128": "C128",
    "uint16": "U16", "uint32": "U32", "uint64": "U64", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
    "float8_e4m3fnuz": "F8_E4M3FNUZ", "float8_e5m2fnuz": "F8_E5M2FNUZ", "float8_e8m0fnu": "F8_E8M0",
    "complex32": "C32", "float4_e2m1fn_x2": "F4_X2", "half": "F16", "float": "F32", "double": "F64", "long": "I64",
    "int": "I32", "short": "I16",
}
# Bytes per element of every dtype above (sub-byte and quantised dtypes are never decoded).
ELEMENT_BYTES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                 "BOOL": 1, "C64": 8, "C128": 16, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1,
                 "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1, "F8_E8M0": 1, "C32": 4, "F4_X2": 1}
REBUILDERS = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
              "_rebuild_parameter_with_state")
STATE_DICT_GLOBALS = {
    "collections.OrderedDict", "collections.Counter", "torch.Size", "torch.device", "torch.Tensor",
    "torch.nn.parameter.Parameter", "builtins.set", "builtins.bytearray", "builtins.complex", "_codecs.encode",
    "torch._tensor._rebuild_from_type_v2", "torch.serialization._get_layout", "torch.UntypedStorage",
    "torch.storage.UntypedStorage",
    *(f"torch._utils.{n}" for n in REBUILDERS),
    *(f"torch.{n}Storage" for n in STORAGE_DTYPES), *(f"torch.{n}" for n in TORCH_DTYPES),
}
# TorchScript's data.pkl also rebuilds lists and the module classes its code defines.
TORCHSCRIPT_GLOBALS = {"torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
                       "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
                       "torch.jit._pickle.build_genericlist", "torch.jit._pickle.restore_type_tag"}


# The opcodes torch's weights_only unpickler implements (torch/_weights_only_unpickler.py);
# any other opcode makes it refuse the file, so weightops refuses it too.
TORCH_OPCODES = {
    "GLOBAL", "NEWOBJ", "REDUCE", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "MARK", "TUPLE",
    "TUPLE1", "TUPLE2", "TUPLE3", "NONE", "NEWFALSE", "NEWTRUE", "EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT",
    "EMPTY_SET", "BININT", "BININT1", "BININT2", "BINFLOAT", "BINUNICODE", "SHORT_BINSTRING", "BINPERSID",
    "BINGET", "LONG_BINGET", "BINPUT", "LONG_BINPUT", "LONG1", "PROTO", "STOP",
}


def allowed(name: str, torchscript: bool) -> bool:
    """Is the global `name` (`module.qualname`) one a weights pickle may reference: the state-dict
    set torch's weights_only unpickler allows, plus, inside a TorchScript archive, its rebuild
    helpers and `__torch__.*` classes?"""
    return name in STATE_DICT_GLOBALS or (torchscript and (
        name in TORCHSCRIPT_GLOBALS or name.startswith("__torch__.")))


# ---------------------------------------------------------------- pass 1: opcodes only
def scan_one(stream: BinaryIO, where: str, torchscript: bool = False,
             allow: Callable[[str], str | None] | None = None) -> bool:
    """Scan exactly one pickle from the stream's position up to its STOP, without unpickling;
    `where` names the file in messages. RefusedError (5) for a global outside `allowed`, a computed
    global name, or INST/OBJ/EXT opcodes; outside TorchScript, FormatError (5) for an opcode torch's
    weights_only unpickler does not implement (checked after the globals: a named global is the more
    useful reason); FormatError (5) for a damaged pickle.

    `allow(name)` replaces the torch rules (for other pickles: scikit-learn's, tabular.py): it
    returns None for an allowed global and the reason for refusing any other, and every opcode
    is read. A name it answers with `INLINE` is allowed and announces raw bytes after the object
    (joblib's array wrapper): the scan stops there and returns False (the unpickler, restricted
    the same way, reads on). A name it answers with `VALUE` may be held as data (an estimator's
    `score_func=f_classif`) but RefusedError (5) when the pickle calls it (REDUCE, NEWOBJ) or
    builds on it. True when the scan reached STOP."""
    mark, unknown = object(), object()
    stack: list = []
    memo: dict = {}
    unsupported = None
    try:
        for op, arg, _pos in pickletools.genops(stream):
            name, before = op.name, op.stack_before
            if allow is None and not torchscript and name not in TORCH_OPCODES and unsupported is None:
                unsupported = name
            if name in ("INST", "OBJ", "EXT1", "EXT2", "EXT4"):
                raise RefusedError(f"{where} builds objects with {name}: not a plain state dict, refused without unpickling")
            if name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
                continue
            if name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
                continue
            value = None
            if name == "GLOBAL":
                value = _allow(arg.replace(" ", "."), where, torchscript, allow)
                if value is INLINE:
                    return False
            popped: list = []
            if pickletools.markobject in before:
                while stack and stack[-1] is not mark:
                    popped.append(stack.pop())
                if not stack:
                    raise ValueError("MARK missing")
                stack.pop()
                extra = before.index(pickletools.markobject)
            else:
                extra = len(before)
            for _ in range(extra):
                popped.append(stack.pop())
            if name == "STACK_GLOBAL":
                qual, module = popped[0], popped[1]
                if not (isinstance(module, str) and isinstance(qual, str)):
                    raise RefusedError(f"{where} computes the name of a global: not a plain state dict, refused without unpickling")
                value = _allow(f"{module}.{qual}", where, torchscript, allow)
                if value is INLINE:
                    return False
            if name in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"):
                called = popped[-1]   # the callable, class or object: deepest of what the opcode took
                if isinstance(called, _Value):
                    raise RefusedError(f"{where} calls {called.name}: a function a pickle may hold as a value, "
                                       "not call; refused without unpickling")
            if name == "MARK":
                stack.append(mark)
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, unknown))
            elif name == "DUP":
                stack.extend(popped * 2)
            elif "UNICODE" in name:
                stack.extend([arg] * len(op.stack_after))
            elif value is VALUE:
                stack.append(_Value(_global_name(name, arg, popped)))
            else:
                stack.extend([unknown] * len(op.stack_after))
            if name == "STOP":
                if unsupported:
                    raise FormatError(f"{where} uses the pickle opcode {unsupported}, which "
                                     "torch.load(weights_only=True) does not read either")
                return True
    except (ValueError, IndexError, struct.error) as exc:
        raise FormatError(f"{where} is not a readable pickle ({exc})") from None
    raise FormatError(f"{where} is not a readable pickle (no STOP)")


INLINE = "inline data follows"
VALUE = "allowed as a value, never called"


@dataclass(frozen=True)
class _Value:
    name: str   # a global the pickle may hold but not call


def _global_name(opcode: str, arg: object, popped: list) -> str:
    return str(arg).replace(" ", ".") if opcode == "GLOBAL" else f"{popped[1]}.{popped[0]}"


def _allow(name: str, where: str, torchscript: bool, allow: Callable[[str], str | None] | None) -> str | None:
    if allow is not None:
        why = allow(name)
        if why is INLINE or why is VALUE:
            return why
        if why:
            raise RefusedError(f"{where} references {name}: {why}; refused without unpickling")
        return None
    if not allowed(name, torchscript):
        raise RefusedError(f"{where} references {name}: not a plain state dict, refused without unpickling "
                           "(save `model.state_dict()`, or better, safetensors)")


# ---------------------------------------------------------------- pass 2: inert stand-ins
@dataclass(frozen=True)
class StorageRef:
    """Stands for one torch storage: its record `key` in the archive, weightops dtype code, element
    count, and element offset into the root storage (legacy views)."""
    key: str
    dtype: str
    numel: int          # elements of the storage's dtype (bytes for an untyped storage)
    offset: int = 0     # elements into the root storage (legacy storage views)


@dataclass(frozen=True)
class TensorRef:
    """Stands for one torch tensor: its storage, element offset, shape and stride (elements), and
    dtype code."""
    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str


class _Dtype(str):
    """Stands for torch.<dtype> / torch.<X>Storage: just the weightops spelling."""


class ModuleState:
    """Stands for a TorchScript module object: its attributes, nothing callable."""

    @property
    def attrs(self) -> dict:
        """The object's attributes as set by its pickled state ({} until then)."""
        return self.__dict__.setdefault("_attrs", {})

    def __setstate__(self, state: object) -> None:
        if isinstance(state, dict):
            self.attrs.update(state)
        elif isinstance(state, tuple) and state and isinstance(state[0], dict):
            self.attrs.update(state[0])


def _module_class(qualname: str) -> type:
    return type(qualname.rsplit(".", 1)[-1], (ModuleState,), {"qualname": qualname})


def _tensor(storage, offset, size, stride, *rest) -> TensorRef:
    if not isinstance(storage, StorageRef):
        raise FormatError("a tensor's storage is not a storage record")
    dtype = storage.dtype
    if len(rest) >= 3 and isinstance(rest[2], _Dtype):   # _rebuild_tensor_v3 carries the dtype
        dtype = str(rest[2])
    return TensorRef(storage, int(offset), tuple(int(d) for d in size), tuple(int(s) for s in stride), dtype)


def _parameter(data, *rest):
    return data


def _from_type(func, new_type, args, state):
    return func(*args)


def _size(*args):
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


def _bytearray(*args: object) -> bytearray:
    # Only a copy of given bytes: bytearray(N) would let a few pickle bytes allocate N.
    if args and not isinstance(args[0], (bytes, bytearray)):
        raise FormatError("bytearray() of something other than bytes")
    return bytearray(*args[:1])


def _device(*parts: object) -> str:
    return ":".join(map(str, parts))


def _encode(text: str, encoding: str = "latin1") -> bytes:
    return str(text).encode(encoding)


def _stand_in(full: str, torchscript: bool) -> object:
    module, _, name = full.rpartition(".")
    if module == "torch._utils" and name in REBUILDERS:
        return _parameter if name.startswith("_rebuild_parameter") else _tensor
    if full == "torch._tensor._rebuild_from_type_v2":
        return _from_type
    if module == "torch" and name.endswith("Storage") and name[:-7] in STORAGE_DTYPES:
        return _Dtype(STORAGE_DTYPES[name[:-7]])
    if full in ("torch.UntypedStorage", "torch.storage.UntypedStorage"):
        return _Dtype("U8")
    if module == "torch" and name in TORCH_DTYPES:
        return _Dtype(TORCH_DTYPES[name])
    table: dict[str, object] = {
        "collections.OrderedDict": collections.OrderedDict, "collections.Counter": collections.Counter,
        "torch.Size": _size, "torch.device": _device, "torch.Tensor": object, "builtins.set": set,
        "torch.nn.parameter.Parameter": object, "builtins.bytearray": _bytearray, "builtins.complex": complex,
        "_codecs.encode": _encode, "torch.serialization._get_layout": str,
    }
    if full in table:
        return table[full]
    if torchscript and full in TORCHSCRIPT_GLOBALS:
        return _parameter if name == "restore_type_tag" else list
    if torchscript and full.startswith("__torch__."):
        return _module_class(full)
    return None


class RestrictedUnpickler(pickle.Unpickler):
    """`find_class` returns inert stand-ins for allowed names and refuses every other name;
    `storage(saved_id)` turns a persistent id into a StorageRef."""

    def __init__(self, stream: BinaryIO, where: str, storage: Callable[[tuple], StorageRef],
                 torchscript: bool = False) -> None:
        super().__init__(stream)
        self.where, self.storage, self.torchscript = where, storage, torchscript

    def find_class(self, module: str, name: str) -> object:
        """The inert stand-in for `module.name` when `allowed`; RefusedError (5) for any other name."""
        full = f"{module}.{name}"
        found = _stand_in(full, self.torchscript) if allowed(full, self.torchscript) else None
        if found is None:
            raise RefusedError(f"{self.where} references {full}: not a plain state dict, refused without unpickling")
        return found

    def persistent_load(self, pid: object) -> object:
        """A persistent id `('storage', type, key, location, numel, ...)` -> the StorageRef the
        `storage` callback makes. RefusedError (5) for any other persistent object."""
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise RefusedError(f"{self.where} holds a persistent object other than a storage ({str(pid)[:40]}); refused")
        return self.storage(pid)


def load(stream: BinaryIO, where: str, storage: Callable[[tuple], StorageRef] | None = None,
         torchscript: bool = False) -> object:
    """Unpickle one pickle with the stand-ins (call after `scan_one` approved it); `storage` turns a
    persistent id into a StorageRef (none expected when None). RefusedError (5) for a name outside
    the allowed set; FormatError (5) for anything unreadable, naming `where`."""
    def no_storage(pid: tuple) -> StorageRef:
        raise FormatError(f"{where} refers to a storage where none is expected")
    try:
        return RestrictedUnpickler(stream, where, storage or no_storage, torchscript).load()
    except FormatError as exc:   # before RefusedError, its base class
        if where in exc.message:
            raise
        raise FormatError(f"{where} is not a readable PyTorch pickle ({exc.message})") from None
    except RefusedError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged pickle raises anything from the C unpickler
        raise FormatError(f"{where} is not a readable pickle ({type(exc).__name__}: {exc})") from None


def storage_from_pid(pid: tuple, where: str) -> tuple[str, str, int]:
    """(key, dtype, numel) of ('storage', type, key, location, numel[, view_metadata]). FormatError
    (5) for a malformed record."""
    if len(pid) < 5 or not isinstance(pid[1], _Dtype) or not isinstance(pid[4], int):
        raise FormatError(f"{where} has a malformed storage record")
    return str(pid[2]), str(pid[1]), int(pid[4])
