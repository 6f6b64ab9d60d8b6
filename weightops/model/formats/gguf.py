"""GGUF (llama.cpp's format) through the `gguf` package's own reader (the `gguf` extra).

`GGUFReader` parses the header and maps the file without touching the tensor data; weightops
then streams each tensor's bytes with range reads (bounded memory). Float tensors (F32, F16,
BF16, F64) are decoded and checked; quantised ones (Q4_0, Q4_K, IQ2_XXS, ...) are checked for
structure only (block-aligned rows, data inside the file), reported as "present, not decoded".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from weightops.errors import FormatError
from weightops.model.formats.base import Tensor, range_reader

DECODED = {"F32": "F32", "F16": "F16", "BF16": "BF16", "F64": "F64", "I8": "I8", "I16": "I16",
           "I32": "I32", "I64": "I64"}


def read(path: Path) -> Iterator[Tensor]:
    """The tensors of a GGUF file (llama.cpp's format,
    https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), sorted by name, shapes slowest
    dimension first; float and integer types stream their values, quantised ones are present but not
    decoded. FormatError (5) when the `gguf` package is missing, the file does not parse, a row is
    not whole blocks of its quant type, or a tensor reaches past the end of the file."""
    try:
        import gguf
    except ImportError:
        raise FormatError(f"reading GGUF file '{path}' needs gguf: pip install 'weightops[gguf]'") from None
    size = Path(path).stat().st_size
    try:
        reader = gguf.GGUFReader(str(path), "r")
        tensors = [(t.name, t.tensor_type, [int(d) for d in t.shape], int(t.n_elements), int(t.n_bytes), int(t.data_offset))
                   for t in reader.tensors]
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, UnicodeDecodeError) as exc:
        raise FormatError(f"'{path}' is not a readable GGUF file ({exc})") from None
    for name, ttype, dims, count, nbytes, offset in sorted(tensors, key=lambda t: t[0]):
        block, _type_size = gguf.GGML_QUANT_SIZES[ttype]
        if dims and dims[0] % block:
            raise FormatError(f"'{path}': tensor '{name}' ({ttype.name}) has rows of {dims[0]} values, "
                             f"not a multiple of its block of {block}")
        if offset + nbytes > size:
            raise FormatError(f"'{path}': tensor '{name}' reaches past the end of the file")
        dtype = DECODED.get(ttype.name, ttype.name)
        shape = tuple(reversed(dims))   # GGUF lists the fastest-varying dimension first
        reader_fn = range_reader(Path(path), offset, offset + nbytes, dtype) if ttype.name in DECODED else None
        yield Tensor(name, dtype, shape, reader_fn)
