"""ONNX tensors (the `onnx` extra): initializers and `Constant` nodes of the main graph and of
every subgraph (If/Loop/Scan branches hold whole models' weights in some exports). External
data stays on disk until its tensor's turn comes (one tensor in memory at a time).

Roles: a tensor is a weight when some node consumes it in a parameter position (Conv's W and
B, Gemm/MatMul operands, LSTM/GRU/RNN's W, R and B, normalisation scales and biases, an
embedding table read by Gather, a float operand of Add/Sub/Mul/Div); everything
else (initial states, padding, masks, shapes, indices, unused initializers) is a constant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from weightops.errors import UsageError
from weightops.model.formats.base import CONSTANT, NUMPY_NAMES, WEIGHT, Tensor

# op type -> input positions that hold trained parameters (onnx.ai operator specs).
PARAMETER_INPUTS = {
    "Conv": {1, 2}, "ConvTranspose": {1, 2}, "ConvInteger": {1}, "Gemm": {0, 1, 2}, "MatMul": {0, 1},
    "MatMulInteger": {0, 1}, "LSTM": {1, 2, 3}, "GRU": {1, 2, 3}, "RNN": {1, 2, 3},
    "BatchNormalization": {1, 2, 3, 4}, "LayerNormalization": {1, 2}, "InstanceNormalization": {1, 2},
    "GroupNormalization": {1, 2}, "SimplifiedLayerNormalization": {1}, "PRelu": {1}, "Gather": {0},
    "Attention": {1, 2}, "EmbedLayerNormalization": {2, 3, 4, 5, 6},
}
ELEMENTWISE = {"Add", "Sub", "Mul", "Div"}


def _graphs(graph) -> Iterator:
    import onnx

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def read(path: Path) -> Iterator[Tensor]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise UsageError(f"reading ONNX file '{path}' needs onnx: pip install 'weightops[onnx]'") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise UsageError(f"'{path}' is not a readable ONNX model ({type(exc).__name__})") from None
    tensors: dict[str, object] = {}
    float_sized: dict[str, bool] = {}
    uses: dict[str, set[tuple[str, int]]] = {}
    for graph in _graphs(model.graph):
        for init in graph.initializer:
            tensors.setdefault(init.name, init)
        for node in graph.node:
            if node.op_type == "Constant":
                value = next((a.t for a in node.attribute if a.name == "value"), None)
                if value is not None and node.output:
                    value.name = node.output[0]
                    tensors.setdefault(node.output[0], value)
            for i, name in enumerate(node.input):
                uses.setdefault(name, set()).add((node.op_type, i))
    for name, init in tensors.items():
        float_sized[name] = init.data_type in (1, 10, 11, 16)
    for name in sorted(tensors):
        init = tensors[name]
        weight = any(i in PARAMETER_INPUTS.get(op, ()) or (op in ELEMENTWISE and float_sized[name])
                     for op, i in uses.get(name, ()))

        def gen(init=init) -> Iterator[np.ndarray]:
            yield numpy_helper.to_array(init, base_dir=str(path.parent)).reshape(-1)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
        yield Tensor(name, NUMPY_NAMES.get(dtype.name, dtype.name), tuple(init.dims), gen,
                     WEIGHT if weight else CONSTANT)
