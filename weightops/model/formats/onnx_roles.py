"""Which role an ONNX initializer has, from the operator inputs it feeds (ONNX operator specs,
input indices): a learned `weight`, a `bias`, a normalisation's `norm` scale/shift or its running
statistics (`buffer`), a PReLU `slope`, a `quant` scale or zero point, a `constant` (shapes,
axes, pads, initial states, masks) or `unused`. Pure tables and functions; formats/onnx.py reads
the graph.
"""

from __future__ import annotations

# Inputs that hold learned parameters, by operator (ONNX operator specs, input indices).
WEIGHT_SLOTS = {
    "Conv": {1, 2}, "ConvTranspose": {1, 2}, "ConvInteger": {1}, "QLinearConv": {3, 8}, "DeformConv": {1, 3},
    "Gemm": {0, 1, 2}, "MatMul": {0, 1}, "MatMulInteger": {0, 1}, "QLinearMatMul": {0, 3},
    "Gather": {0}, "LSTM": {1, 2, 3, 7}, "GRU": {1, 2, 3}, "RNN": {1, 2, 3},
    "BatchNormalization": {1, 2, 3, 4}, "InstanceNormalization": {1, 2}, "LayerNormalization": {1, 2},
    "GroupNormalization": {1, 2}, "RMSNormalization": {1}, "PRelu": {1}, "Einsum": set(range(16)),
}
# Learned inputs whose initial values (zeros, ones, one constant) are legitimate in a working
# model, by operator and input index (ONNX operator specs): biases, normalisation scale/shift
# and running statistics, PReLU slopes, quantisation scales and zero points.
_Q = "quant"
ROLE_SLOTS = {
    "Conv": {2: "bias"}, "ConvTranspose": {2: "bias"}, "Gemm": {2: "bias"}, "DeformConv": {3: "bias"},
    "LSTM": {3: "bias"}, "GRU": {3: "bias"}, "RNN": {3: "bias"},
    "BatchNormalization": {1: "norm", 2: "norm", 3: "buffer", 4: "buffer"},
    "InstanceNormalization": {1: "norm", 2: "norm"}, "LayerNormalization": {1: "norm", 2: "norm"},
    "GroupNormalization": {1: "norm", 2: "norm"}, "RMSNormalization": {1: "norm"},
    "PRelu": {1: "slope"},
    "QuantizeLinear": {1: _Q, 2: _Q}, "DequantizeLinear": {1: _Q, 2: _Q},
    "ConvInteger": {2: _Q, 3: _Q}, "MatMulInteger": {2: _Q, 3: _Q},
    "QLinearConv": {1: _Q, 2: _Q, 4: _Q, 5: _Q, 6: _Q, 7: _Q, 8: "bias"},
    "QLinearMatMul": {1: _Q, 2: _Q, 4: _Q, 5: _Q, 6: _Q, 7: _Q},
}
# Exporters write a linear layer as MatMul then Add: an Add's initializer input beside a
# product's output is that layer's bias.
_PRODUCTS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "MatMulInteger", "ConvInteger"}
# Inputs that are not learned: shapes, axes, indices, pads, scales, quantization parameters,
# initial recurrent states, sequence lengths, thresholds.
_AXES = {"Squeeze", "Unsqueeze", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
         "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "CumSum", "Trilu", "Split"}
CONSTANT_SLOTS = {
    **{op: {1} for op in _AXES},
    "Reshape": {1}, "Expand": {1}, "Tile": {1}, "Pad": {1, 2, 3}, "Slice": {1, 2, 3, 4},
    "Gather": {1}, "GatherElements": {1}, "GatherND": {1}, "ScatterElements": {1}, "ScatterND": {1},
    "ConstantOfShape": {0}, "Range": {0, 1, 2}, "TopK": {1}, "Resize": {1, 2, 3}, "Upsample": {1},
    "OneHot": {1, 2}, "LSTM": {4, 5, 6}, "GRU": {4, 5}, "RNN": {4, 5}, "Clip": {1, 2}, "Pow": {1},
    "DynamicQuantizeLinear": set(),
    "Dropout": {1, 2}, "If": {0}, "Loop": {0, 1}, "Where": {0}, "NonMaxSuppression": {2, 3, 4},
    "Equal": {0, 1}, "Less": {0, 1}, "LessOrEqual": {0, 1}, "Greater": {0, 1}, "GreaterOrEqual": {0, 1},
    "And": {0, 1}, "Or": {0, 1}, "Xor": {0, 1}, "Not": {0}, "Shape": {0}, "Size": {0}, "CenterCropPad": {1},
    "Concat": set(range(64)),  # padding and fixed prefixes concatenated to the data
}


def product_outputs(graph) -> set[str]:
    """Outputs of a graph's products (MatMul, Gemm, Conv, ...): an Add beside one adds a bias."""
    return {o for n in graph.node if n.op_type in _PRODUCTS for o in n.output}


def is_bias_add(op: str, node, idx: int, products: set[str]) -> bool:
    """Is input `idx` of `node` (operator `op`) the bias of a linear layer: an Add whose other
    input is a product's output (`products`, see `product_outputs`)?"""
    return op == "Add" and len(node.input) == 2 and node.input[1 - idx] in products


def slot_role(slots: list[tuple[str, int]], is_float: bool) -> str:
    """The role of a tensor read at `slots` ((operator, input index) pairs; operator `Add:bias`
    for an Add beside a product's output): `unused` when none; `weight` when any slot is a plain
    learned one; else the role of its role slots (`bias`, `norm`, ...); `constant` for a
    non-float tensor or one read only at constant slots; `weight` otherwise."""
    if not slots:
        return "unused"
    special = ["bias" if op == "Add:bias" else ROLE_SLOTS[op][i] for op, i in slots
               if op == "Add:bias" or i in ROLE_SLOTS.get(op, {})]
    plain = [(op, i) for op, i in slots if i not in ROLE_SLOTS.get(op, {}) and op != "Add:bias"]
    if any(i in WEIGHT_SLOTS.get(op, ()) for op, i in plain):
        return "weight"
    if special and not plain:
        return special[0]
    if not is_float or all(i in CONSTANT_SLOTS.get(op, ()) for op, i in plain):
        return special[0] if special else "constant"
    return "weight"
