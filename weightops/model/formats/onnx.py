"""ONNX models (the `onnx` extra): initializers as tensors, the graph's declared signature, and
the external data files a model's weights may live in.

A model is first judged by ONNX's own loader and checker (`onnx.load`, `onnx.checker.check_model`);
what they refuse, weightops refuses. The protobuf is parsed without its weights' bytes
(onnx_wire.py) and the checker runs on that graph, the checks it makes on the values redone
here (see `_without_weights`). Initializers are then read one at a time: inline ones from the
model file, external ones
(`model.onnx` + `model.onnx.data`) streamed from their file in chunks, each location checked to
stay beside the model. Each initializer gets a role from the operator input it feeds: `weight`
(a learned parameter), `bias`, `norm` (a normalisation's scale or shift), `buffer` (its running
mean and variance), `slope` (PReLU), `quant` (quantisation scales and zero points), `constant`
(shapes, indices, pads, initial states, masks: graphs store these as initializers too) or
`unused` (no node reads it), so checks can tell trained weights from parameters that
legitimately keep their initial values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from weightops.errors import FormatError
from weightops.model.formats.onnx_roles import is_bias_add, product_outputs, slot_role

CHUNK_BYTES = 16 * 1024 * 1024

def _onnx():
    try:
        import onnx
    except ImportError:
        raise FormatError("reading ONNX needs onnx: pip install 'weightops[onnx]'") from None
    return onnx


def load_model(path: Path, check: bool = True):
    """The ModelProto without its top-level initializers' raw bytes (onnx_wire.py; external data
    left on disk too), after ONNX's own checker accepts the file. FormatError (5) when onnx is not
    installed or its checker refuses the file."""
    return open_model(path, check)[0]


def open_model(path: Path, check: bool = True):
    """(ModelProto without inline weight bytes, {initializer: (offset, length) of its raw data
    in the file}), after ONNX's own checker accepts the file (`check`). Raises FormatError
    (exit 5) with the first line of ONNX's reason."""
    from weightops.model.formats.onnx_wire import lazy_model

    onnx = _onnx()
    model, raw = lazy_model(path)
    if check:
        for side, values in (("input", model.graph.input), ("output", model.graph.output)):
            for v in values:
                if v.type.WhichOneof("value") == "tensor_type" and not v.type.tensor_type.HasField("shape"):
                    # onnx.checker's own reason ("Field 'shape' of 'type' is required") names no value.
                    raise FormatError(f"'{path}' is refused by onnx.checker: graph {side} '{v.name}' has no shape "
                                     "(unknown rank); export it with one (dimensions may be symbolic)")
        try:
            onnx.checker.check_model(_without_weights(model, raw, path))
        except Exception as exc:  # noqa: BLE001 - ValidationError, and C++ errors on odd files
            raise FormatError(f"'{path}' is refused by onnx.checker: {_first_line(exc)}") from None
    return model, raw


def _without_weights(model, raw: dict, path: Path):
    """A copy of `model` for onnx.checker whose top-level initializers hold no values (dims [0]),
    so checking costs memory for the graph only. What the checker would have checked on those
    values is checked here or when each is read: dims not negative (here), raw data of the
    declared size (onnx_wire.inline_reader), external data beside the model, a regular file
    that is not a link, long enough (_external_reader) — the checker, given a message and not
    a path, would look for external files relative to the working directory."""
    from onnx.external_data_helper import uses_external_data

    onnx = _onnx()
    skeleton = onnx.ModelProto()
    skeleton.CopyFrom(model)
    for init in skeleton.graph.initializer:
        if init.name in raw or uses_external_data(init):
            if any(d < 0 for d in init.dims):
                raise FormatError(f"'{path}' is refused by onnx.checker: tensor '{init.name}' has a negative dimension")
            del init.dims[:]
            init.dims.append(0)
            init.raw_data = b""
            init.data_location = onnx.TensorProto.DEFAULT
            del init.external_data[:]
    return skeleton


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n")[:1]).strip() or type(exc).__name__
    return text[:300]


# ---------------------------------------------------------------- graph signature
def describe_type(t) -> str:
    """An ONNX TypeProto in ONNX's own notation: `tensor(float)`, `seq(map(int64,tensor(float)))`."""
    onnx = _onnx()
    which = t.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        elem = getattr(t, which).elem_type
        name = onnx.TensorProto.DataType.Name(elem).lower() if elem else "undefined"
        return f"{'sparse_tensor' if which == 'sparse_tensor_type' else 'tensor'}({name})"
    if which == "sequence_type":
        return f"seq({describe_type(t.sequence_type.elem_type)})"
    if which == "map_type":
        key = onnx.TensorProto.DataType.Name(t.map_type.key_type).lower()
        return f"map({key},{describe_type(t.map_type.value_type)})"
    if which == "optional_type":
        return f"optional({describe_type(t.optional_type.elem_type)})"
    return "undefined"


def graph_signature(path: Path, model=None):
    """The inputs (minus initializers) and outputs an ONNX graph declares, as a Signature. A tensor
    without a shape has an unknown rank (`shape=None`, not a scalar); a value that is not a tensor
    (the sequence of maps scikit-learn's ZipMap outputs) is a Spec of kind "other" whose type is
    ONNX's description of it. `model` is an already-loaded ModelProto (read from `path` when None).
    FormatError (5) when onnx is not installed or the file does not parse."""
    from weightops.model.signature import Signature, Spec

    onnx = _onnx()
    # Not checked here: a graph onnx.checker refuses (an input without a shape) still has a
    # signature to describe; `validate` reads the file through the checker anyway.
    model = model if model is not None else load_model(path, check=False)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}

    def spec(value) -> Spec:
        t = value.type
        if t.WhichOneof("value") != "tensor_type" or not t.tensor_type.elem_type:
            return Spec(value.name, "other", describe_type(t))
        tt = t.tensor_type
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
        except (KeyError, ValueError, TypeError):
            dtype = describe_type(t)
        if dtype == "object":
            dtype = "str"
        if not tt.HasField("shape"):
            return Spec(value.name, "tensor", dtype, None)
        return Spec(value.name, "tensor", dtype,
                    tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim))

    return Signature(tuple(spec(v) for v in graph.input if v.name not in initializers),
                     tuple(spec(v) for v in graph.output))


# ---------------------------------------------------------------- initializers
def initializer_roles(model) -> dict[str, str]:
    """Role of each top-level initializer (see the module doc and `slot_role`). Uses inside
    subgraphs (If/Loop/Scan bodies) count; an input of an operator weightops does not know
    counts as a weight, so unknown graphs stay checked."""
    uses: dict[str, list[tuple[str, int]]] = {i.name: [] for i in model.graph.initializer}

    def walk(graph) -> None:
        products = product_outputs(graph)
        for node in graph.node:
            for idx, name in enumerate(node.input):
                if name in uses:
                    op = node.op_type if node.domain in ("", "ai.onnx") else ""
                    uses[name].append(("Add:bias" if is_bias_add(op, node, idx, products) else op, idx))
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    walk(sub)

    walk(model.graph)
    for fn in model.functions:  # a local function's body reads its own inputs, not initializers
        for node in fn.node:
            for idx, name in enumerate(node.input):
                if name in uses:
                    uses[name].append(("", idx))
    floats = _float_types()
    return {init.name: slot_role(uses[init.name], init.data_type in floats) for init in model.graph.initializer}


def _float_types() -> set[int]:
    onnx = _onnx()
    names = ("FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
             "FLOAT8E5M2FNUZ", "FLOAT4E2M1", "FLOAT8E8M0")
    return {getattr(onnx.TensorProto, n) for n in names if hasattr(onnx.TensorProto, n)}


def _initializers(path: Path, model, raw: dict) -> Iterator[tuple[str, str, tuple[int, ...], str, Callable | None]]:
    """(name, numpy dtype name, shape, role, chunk reader) per initializer of `model` (as
    `open_model` returned it with `raw`), sorted by name. The reader yields flat arrays; it is
    None for a type numpy cannot hold (reported, not decoded). FormatError (5) when external data
    is missing, outside the model's folder, a symlink, or too short."""
    onnx = _onnx()
    from onnx import numpy_helper
    from onnx.external_data_helper import uses_external_data

    from weightops.model.formats.onnx_wire import inline_reader

    roles = initializer_roles(model)
    for init in sorted(model.graph.initializer, key=lambda i: i.name):
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
        except (KeyError, ValueError, TypeError):
            dtype = None
        label = dtype.name if dtype is not None else onnx.TensorProto.DataType.Name(init.data_type).lower()
        shape = tuple(init.dims)
        if uses_external_data(init):
            reader = _external_reader(path, init, dtype)
        elif init.name in raw:
            reader = inline_reader(path, init, raw[init.name], dtype)
        elif dtype is None:
            reader = None
        else:
            def reader(init=init) -> Iterator[np.ndarray]:
                yield numpy_helper.to_array(init).reshape(-1)
        yield init.name, label, shape, roles.get(init.name, "weight"), reader


def _external_location(model_path: Path, location: str, tensor: str) -> Path:
    """The external data file, which must stay beside the model (no absolute path, no `..`,
    no symlink leading out of the model's folder)."""
    rel = Path(location)
    base = model_path.parent.resolve()
    if not location or rel.is_absolute() or ".." in rel.parts:
        raise FormatError(f"'{model_path}': tensor '{tensor}' keeps its data at {location!r}, outside the model's folder; refused")
    if (base / rel).is_symlink():   # as onnx.checker: the data file itself, not a link to it
        raise FormatError(f"'{model_path}': tensor '{tensor}' keeps its data in '{location}', a symbolic link; refused")
    full = (base / rel).resolve()
    if not full.is_relative_to(base):
        raise FormatError(f"'{model_path}': tensor '{tensor}' keeps its data at {location!r}, "
                         "a link leading out of the model's folder; refused")
    if not full.is_file():
        raise FormatError(f"'{model_path}': tensor '{tensor}' keeps its data in '{location}', which does not exist "
                         "beside the model; copy it with the model (track the folder with DVC)")
    return full


def _external_reader(path: Path, init, dtype: np.dtype | None) -> Callable | None:
    from onnx.external_data_helper import ExternalDataInfo

    info = ExternalDataInfo(init)
    data = _external_location(path, info.location, init.name)
    offset = info.offset or 0
    size = data.stat().st_size
    length = info.length if info.length is not None else size - offset
    count = int(np.prod(init.dims, dtype=np.int64)) if init.dims else 1
    if offset + length > size:
        raise FormatError(f"'{path}': tensor '{init.name}' reads bytes {offset}..{offset + length} of "
                         f"'{info.location}', which has {size}")
    if dtype is None:
        return None
    if length != count * dtype.itemsize:
        raise FormatError(f"'{path}': tensor '{init.name}' has {length} bytes in '{info.location}' "
                         f"for {count} {dtype.name} values ({count * dtype.itemsize} bytes)")
    from weightops.model.formats.onnx_wire import file_chunks

    return file_chunks(data, offset, length, dtype)


def external_data_files(path: Path) -> list[str]:
    """Locations (relative to the model's folder) of the external data files an .onnx file
    references, sorted; [] when it references none or when onnx is not installed. The graph is
    parsed without its inline weights (onnx_wire.py), so this costs little on a large file.
    FormatError (5) for a location outside the model's folder, a symlink, or a missing file."""
    try:
        from onnx.external_data_helper import ExternalDataInfo, uses_external_data
    except ImportError:
        return []
    try:
        model = load_model(Path(path), check=False)
    except FormatError:
        return []   # an unreadable model is reported by validate, not by card
    found = set()
    for t in _all_tensors(model.graph):
        if uses_external_data(t):
            location = ExternalDataInfo(t).location
            _external_location(Path(path), location, t.name)
            found.add(Path(location).as_posix())
    return sorted(found)


def _all_tensors(graph) -> Iterator:
    """Initializers and tensor attributes of a graph and of its subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _all_tensors(sub)


# ---------------------------------------------------------------- tensors for `validate`
def read(path: Path) -> Iterator:
    """Tensor records (formats/base.py) for the weight checks: the initializers above, then the
    tensors some exports keep elsewhere: initializers of subgraphs (If/Loop/Scan bodies) and
    `Constant` nodes' values (a whole model's weights, in exports that fold them into the graph).
    Each gets a role by the same operator tables as initializers. FormatError (5) as
    `open_model` and `_initializers`."""
    from weightops.model.formats.base import NUMPY_NAMES, Tensor

    model, raw = open_model(path)   # parsed and checked once, for both kinds of tensor
    names = set()
    for name, label, shape, role, reader in _initializers(path, model, raw):
        names.add(name)
        yield Tensor(name, NUMPY_NAMES.get(label, label), shape, reader, role)
    yield from _graph_constants(model, names)


def _graph_constants(model, seen: set[str]) -> Iterator:
    from onnx import numpy_helper

    from weightops.model.formats.base import NUMPY_NAMES, Tensor

    onnx = _onnx()
    found: dict[str, object] = {}
    uses: dict[str, list[tuple[str, int]]] = {}

    def walk(graph, top: bool) -> None:
        if not top:
            for init in graph.initializer:
                found.setdefault(init.name, init)
        products = product_outputs(graph)
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                value = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
                if value is not None:
                    found.setdefault(node.output[0], value)
            for idx, name in enumerate(node.input):
                op = "Add:bias" if is_bias_add(node.op_type, node, idx, products) else node.op_type
                uses.setdefault(name, []).append((op, idx))
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    walk(sub, False)

    walk(model.graph, True)
    floats = _float_types()
    for name in sorted(set(found) - seen):
        t = found[name]
        role = slot_role(uses.get(name, []), t.data_type in floats)
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
        except (KeyError, ValueError, TypeError):
            dtype = None
        # Subgraph tensors with external data are left to onnx.checker (main-graph ones are streamed).
        external = any(e.key == "location" for e in t.external_data)
        reader = None if dtype is None or external else (lambda t=t: iter([numpy_helper.to_array(t).reshape(-1)]))
        label = dtype.name if dtype is not None else onnx.TensorProto.DataType.Name(t.data_type).lower()
        yield Tensor(name, NUMPY_NAMES.get(label, label), tuple(t.dims), reader, role)
