"""Infer a model signature (MLflow's format) from an ONNX graph's declared inputs and outputs.

Kept apart from model/signature.py because it reads the graph through model/formats/onnx.py,
which itself builds its Signature records from model/signature.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from weightops.errors import NotFoundError, UsageError
from weightops.model import mlflow_schema as rules
from weightops.model.formats.onnx import graph_signature
from weightops.model.signature import Signature


def infer_signature(path: str | os.PathLike) -> Signature:
    """From an ONNX graph's inputs and outputs. Other formats hold weights, not a graph: the first
    and last tensors are not a signature, so this asks for a file instead of guessing. A graph value
    MLflow's tensor spec cannot describe (an input of unknown rank, a sequence of maps) is named in
    the refusal (UsageError, exit 2) rather than guessed; a file that is not `.onnx` is UsageError
    (2) too, a missing one NotFoundError (3)."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"weights file '{path}' does not exist")
    if path.suffix.lower() != ".onnx":
        raise UsageError(f"'{path.name}' holds weights, not a graph: its inputs and outputs cannot be read from it; "
                         "write them in MLflow's format and pass `weightops card --signature FILE`")
    sig = graph_signature(path)
    for side, specs in (("input", sig.inputs), ("output", sig.outputs)):
        for s in specs:
            why = None
            if s.kind == "other":
                why = f"is {s.type}, not a tensor"
            elif s.shape is None:
                why = "has no shape in the graph (unknown rank)"
            else:
                try:
                    rules.tensor_dtype(s.type, "dtype")
                except UsageError:
                    why = f"has element type {s.type}, which numpy does not name"
            if why:
                raise UsageError(f"cannot infer a signature from '{path.name}': {side} '{s.name}' {why}, and MLflow's "
                                 "tensor spec cannot describe it; write the signature in MLflow's format "
                                 "and pass `weightops card --signature FILE`")
    return sig
