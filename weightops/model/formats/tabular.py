"""scikit-learn pickles and joblib files, judged the way the field's pickle scanners judge them,
without executing anything from the file.

A pickle is a program: loading one calls whatever globals it names. The scanners the field
uses (picklescan, modelscan, fickling) read the globals a pickle names and refuse the dangerous
ones; fickling's ML allow-list and `torch.load(weights_only=True)` go further and allow only
a known set. weightops does the latter, in two passes (pickles.py):

1. the opcode scan (`pickles.scan_one` with `allow_global` below) refuses, by name, any global
   outside the allow-list: `os.system`, `builtins.eval`, `subprocess.Popen`, any function a
   REDUCE would call, before a byte is unpickled;
2. a restricted unpickler, whose `find_class` applies the same allow-list and hands out inert
   stand-ins (estimators become attribute bags; numpy's own array/dtype rebuilders build plain
   arrays), yields the arrays the model holds as tensors, named by their attribute path
   (`coef_`, `estimators_.0.tree_.nodes.threshold`).

Allowed: scikit-learn classes (`sklearn.*` names in CapWords, `_BinMapper` too) and the
reconstructors Cython generates for them (`__pyx_unpickle_*`, the neighbors trees' `newObj`);
scipy's sparse matrices and B-splines (data an estimator holds); numpy's array, dtype and scalar
rebuilders and its random-state constructors (SeedSequence too);
joblib's array wrappers; a few builtins that build plain data (set, frozenset, slice, complex,
OrderedDict, defaultdict). Any other scikit-learn or numpy name (`f_classif`, `numpy.mean`,
`numpy.float64`) may be held as a parameter's value, never called: a pickle whose REDUCE, NEWOBJ
or BUILD applies one is refused.
joblib files (`joblib.dump`, uncompressed) keep each array's bytes inline after its
`NumpyArrayWrapper`; they are read as joblib's own `NumpyUnpickler` reads them
(joblib/numpy_pickle.py: `NumpyArrayWrapper.read_array`, the optional alignment padding).
"""

from __future__ import annotations

import importlib
import io
import pickle
import re
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from weightops.errors import FormatError, RefusedError
import weightops.model.formats.pickles as pickles  # the module itself, not via the package namespace
from weightops.model.formats.base import BIAS, CONSTANT, NUMPY_NAMES, TREE, WEIGHT, Tensor

MAX_NESTING = 64
JOBLIB_WRAPPERS = {"joblib.numpy_pickle.NumpyArrayWrapper"}
_NP = ("numpy.core", "numpy._core")
NUMPY_GLOBALS = {
    **{f"{m}.multiarray._reconstruct": np.ndarray.__reduce__(np.zeros(0))[0] for m in _NP},
    **{f"{m}.multiarray.scalar": np.float64(0).__reduce__()[0] for m in _NP},
    **{f"{m}.numeric._frombuffer": np.zeros(1).__reduce_ex__(5)[0] for m in _NP},   # protocol 5
    "numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype,
}
# numpy 2 pickles dtypes of builtin types by their class (numpy.dtypes.Float64DType): harmless.
_NUMPY_DTYPE_CLASS = re.compile(r"numpy\.dtypes\.[A-Z]\w*DType")
RANDOM_GLOBALS = ("numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
                  "numpy.random._pickle.__generator_ctor", "numpy.random.mtrand.RandomState",
                  "numpy.random._generator.Generator", "numpy.random._mt19937.MT19937", "numpy.random._pcg64.PCG64",
                  "numpy.random._pcg64.PCG64DXSM", "numpy.random._philox.Philox", "numpy.random._sfc64.SFC64",
                  "numpy.random.bit_generator.SeedSequence", "numpy.random.bit_generator.__pyx_unpickle_SeedSequence")
PLAIN_GLOBALS = {
    "builtins.set": set, "builtins.frozenset": frozenset, "builtins.slice": slice, "builtins.complex": complex,
    "collections.OrderedDict": OrderedDict, "collections.defaultdict": defaultdict,
    "_codecs.encode": pickles._encode, "builtins.object": object, "copyreg._reconstructor": None,   # None: resolved below
}
_SKLEARN_CLASS = re.compile(r"sklearn(\.\w+)*\._?[A-Z]\w*")   # public and private (_BinMapper) classes
# Cython's generated reconstructor for a class without __reduce__ (sklearn's loss objects in a
# fitted GradientBoosting): called as (class, checksum, state); a stand-in keeps the state.
_CYTHON_RECONSTRUCTOR = re.compile(r"sklearn(\.\w+)*\.__pyx_unpickle_[A-Za-z]\w*")
# The Cython reconstructor of the neighbors trees and distance metrics: newObj(cls) is
# cls.__new__(cls) (sklearn/neighbors/_binary_tree.pxi, sklearn/metrics/_dist_metrics.pyx).
_NEW_OBJECT = re.compile(r"sklearn(\.\w+)*\.newObj")
# Functions an estimator holds as parameters (SelectKBest's score_func=f_classif,
# FeatureAgglomeration's pooling_func=numpy.mean) and numpy's scalar types (dtype=numpy.float64):
# a pickle may hold them as values; the scan refuses a pickle that calls one. numpy's are named
# one by one: a held function runs later (FunctionTransformer.transform), and numpy has some
# that read files or run commands.
_VALUE_GLOBAL = re.compile(
    r"sklearn(\.\w+)+"
    r"|numpy\.(float(16|32|64|128)|u?int(8|16|32|64)|complex(64|128)|bool_?|intc|uintc|longlong|ulonglong"
    r"|half|single|double|longdouble|str_|bytes_|object_|datetime64|timedelta64)"
    r"|numpy\.(nan)?(mean|median|average|max|min|amax|amin|sum|prod|std|var|percentile|quantile)"
    r"|numpy\.(log|log1p|log2|log10|exp|expm1|sqrt|abs|absolute|square|tanh|sign|clip|round)"
    r"|scipy\._lib\.array_api_compat(\.\w+)*\.asarray")   # a BSpline keeps its namespace's asarray
# scipy's data classes an estimator holds (an SVC fitted on sparse input keeps csr_matrix support
# vectors; SplineTransformer keeps BSpline objects): state dicts of arrays, read by stand-ins.
# dok (a dict subclass) is left out: its items are set by calls on the object.
_SCIPY_DATA_CLASS = re.compile(r"scipy\.sparse(\._\w+)?\.(csr|csc|coo|bsr|dia|lil)_(matrix|array)"
                               r"|scipy\.interpolate\._bsplines\.BSpline")
# Test helpers and vendored code are not estimators.
_SKLEARN_EXCLUDED = ("sklearn.utils._testing.", "sklearn.externals.")


def allow_global(name: str) -> str | None:
    """None when a pickle may name `name` (`module.qualname`); otherwise why not. `pickles.INLINE`
    for joblib's array wrapper (raw bytes follow it in the file); `pickles.VALUE` for a scikit-learn
    or numpy function or type the pickle may hold but not call."""
    if name in JOBLIB_WRAPPERS:
        return pickles.INLINE
    if name in NUMPY_GLOBALS or name in PLAIN_GLOBALS or name in RANDOM_GLOBALS or _NUMPY_DTYPE_CLASS.fullmatch(name):
        return None
    if (_SKLEARN_CLASS.fullmatch(name) or _CYTHON_RECONSTRUCTOR.fullmatch(name)) and not name.startswith(_SKLEARN_EXCLUDED):
        return None
    if _NEW_OBJECT.fullmatch(name) or _SCIPY_DATA_CLASS.fullmatch(name):
        return None
    if _VALUE_GLOBAL.fullmatch(name) and not name.startswith(_SKLEARN_EXCLUDED):
        return pickles.VALUE
    return "not on the allow-list of scikit-learn estimators, numpy arrays and joblib wrappers (loading would call it)"


class Estimator:
    """Stands for a scikit-learn object: the attributes its pickled state sets, nothing callable."""

    qualname = "?"

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.__dict__["_args"] = args   # a Cython class's REDUCE arguments (Tree's n_features, ...)

    def __setstate__(self, state: object) -> None:
        if isinstance(state, tuple) and len(state) == 2 and all(isinstance(s, (dict, type(None))) for s in state):
            state = {**(state[0] or {}), **(state[1] or {})}   # (dict, slots)
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:   # a Cython or C type's own state tuple (a SeedSequence's entropy): kept as it is
            self.__dict__["_state"] = state

    @property
    def attrs(self) -> dict:
        """The object's attributes (its pickled state)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_args", "_state")}


class ArrayWrapper:
    """Stands for joblib's NumpyArrayWrapper: its state (shape, dtype, order, alignment) only."""

    def __setstate__(self, state: object) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {})


def _class(full: str) -> type:
    return type(full.rsplit(".", 1)[-1], (Estimator,), {"qualname": full})


class Held:
    """Stands for a function or type an estimator holds as a parameter: its name, nothing callable."""

    def __init__(self, name: str, where: str) -> None:
        self.name, self.where = name, where

    def __repr__(self) -> str:
        return self.name

    def __call__(self, *args: object, **kwargs: object) -> object:
        raise RefusedError(f"{self.where} calls {self.name}: a function a pickle may hold as a value, "
                           "not call; refused without running it")


def _new_object(cls: object) -> object:
    return cls() if isinstance(cls, type) and issubclass(cls, Estimator) else Estimator()


def _cython_object(cls: object, checksum: object = None, state: object = None) -> object:
    # `cls` is whatever find_class answered (a stand-in); the state tuple is kept, never run.
    return cls(state) if isinstance(cls, type) and issubclass(cls, Estimator) else Estimator(state)


def _random(*args: object) -> object:
    return Estimator(*args)   # a RandomState's bit-generator state: kept, never seeded


class TabularUnpickler(pickle._Unpickler):
    """Python's own unpickler (the pure-Python one, so BUILD can be hooked as joblib's
    NumpyUnpickler does) whose `find_class` answers only allow-listed names, with stand-ins."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, stream, where: str) -> None:
        super().__init__(stream)
        self.where, self.stream = where, stream

    def find_class(self, module: str, name: str) -> object:
        """The stand-in for `module.name`; RefusedError (5) for a name outside the allow-list."""
        full = f"{module}.{name}"
        why = allow_global(full)
        if why is pickles.INLINE:
            return ArrayWrapper
        if why is pickles.VALUE:
            return Held(full, self.where)
        if _NEW_OBJECT.fullmatch(full):
            return _new_object
        if why:
            raise RefusedError(f"{self.where} references {full}: {why}; refused without unpickling")
        if full in NUMPY_GLOBALS:
            return NUMPY_GLOBALS[full]
        if full == "copyreg._reconstructor":
            import copyreg
            return copyreg._reconstructor   # cls.__new__ of an allow-listed class: a stand-in
        if full in PLAIN_GLOBALS:
            return PLAIN_GLOBALS[full]
        if full in RANDOM_GLOBALS:
            return _cython_object if "__pyx_unpickle_" in full else _random
        if _NUMPY_DTYPE_CLASS.fullmatch(full):
            return _dtype_class(name)
        if _CYTHON_RECONSTRUCTOR.fullmatch(full):
            return _cython_object
        return _class(full)

    def load_build(self) -> None:
        """BUILD, then, for a joblib array wrapper, the array's bytes that follow it in the file."""
        pickle._Unpickler.load_build(self)
        top = self.stack[-1]
        if isinstance(top, ArrayWrapper):
            self.stack[-1] = _joblib_array(top, self.stream, self.where, self)

    dispatch[pickle.BUILD[0]] = load_build


def _dtype_class(name: str):
    def make(*args: object) -> np.dtype:
        return np.dtype(name[:-len("DType")].lower())
    return make


def _joblib_array(w: ArrayWrapper, stream, where: str, unpickler: TabularUnpickler) -> np.ndarray:
    state = w.__dict__
    dtype, shape, order = state.get("dtype"), state.get("shape"), state.get("order", "C")
    if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple) or order not in ("C", "F"):
        raise FormatError(f"{where} has a malformed joblib array record")
    if dtype.hasobject:   # joblib pickles object arrays in place: through the same restrictions
        return TabularUnpickler(stream, where).load()
    if state.get("numpy_array_alignment_bytes") is not None:
        (pad,) = stream.read(1) or b"\0"
        stream.read(pad)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    data = stream.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise FormatError(f"{where} is truncated (a joblib array of {count} {dtype} values)")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order)


# joblib.dump(..., compress=...) wraps the pickle in one of these (joblib/compressor.py magics).
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ", "lzma"), (b"\x5d\x00", "lzma"),
               (b"\x78", "zlib"))


class _Inflate(io.RawIOBase):
    """A zlib stream (joblib's BinaryZlibFile) read in bounded pieces."""

    def __init__(self, raw) -> None:
        self.raw, self.z, self.left, self.pos = raw, zlib.decompressobj(), b"", 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def close(self) -> None:
        self.raw.close()
        super().close()

    def readinto(self, buf) -> int:
        while not self.left:
            if self.z.eof:
                return 0
            chunk = self.z.unconsumed_tail or self.raw.read(1 << 16)
            if not chunk:
                return 0
            self.left = self.z.decompress(chunk, 1 << 20)
        n = min(len(buf), len(self.left))
        buf[:n], self.left = self.left[:n], self.left[n:]
        self.pos += n
        return n


def _open(path: Path):
    """The pickle's bytes: the file, or its decompressed stream for a compressed joblib file."""
    with open(path, "rb") as f:
        head = f.read(6)
    kind = next((k for magic, k in _COMPRESSED if head.startswith(magic)), None)
    if kind == "zlib":
        return io.BufferedReader(_Inflate(open(path, "rb")))
    if kind:
        return importlib.import_module(kind).open(path, "rb")
    return open(path, "rb")


def load(path: Path) -> object:
    """The pickled object with inert stand-ins, after the opcode scan approved its globals.
    RefusedError (5) for a global outside the allow-list; FormatError (5) for a damaged pickle."""
    where = f"'{path}'"
    with _open(path) as f:
        try:
            pickles.scan_one(f, where, allow=allow_global)
        except (OSError, EOFError, zlib.error) as exc:
            raise FormatError(f"{where} is not a readable compressed pickle ({exc})") from None
    with _open(path) as f:
        try:
            return TabularUnpickler(f, where).load()
        except (RefusedError, FormatError):
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged pickle raises anything
            raise FormatError(f"{where} is not a readable pickle ({type(exc).__name__}: {exc})") from None


def read_pickle(path: Path) -> Iterator[Tensor]:
    """The numeric arrays of a scikit-learn pickle or joblib file as tensors, named by attribute
    path; a structured array (a tree's node table) gives one tensor per numeric field. Nothing is
    executed; errors as `load`."""
    path = Path(path)
    seen: set[str] = set()
    for name, arr in walk_arrays(load(path), "", 0):
        if name in seen:
            continue
        seen.add(name)
        yield array_tensor(name, arr)


def walk_arrays(obj: object, prefix: str, depth: int) -> Iterator[tuple[str, np.ndarray]]:
    """(dotted attribute path, numeric array) for every array inside `obj` (stand-ins, dicts,
    lists, object arrays; a structured array by field), `depth` levels below the file's top.
    Breadth first, and each object once, as pickle's memo holds it once: a shared object is named
    by its shortest path, and linked structures (Birch's chain of leaves, a cycle) end.
    FormatError past MAX_NESTING levels."""
    seen: set[int] = set()
    level = [(obj, prefix)]
    while level:
        if depth > MAX_NESTING:
            raise FormatError(f"objects nested deeper than {MAX_NESTING} levels")
        below: list[tuple[object, str]] = []
        for o, path in level:
            if isinstance(o, (np.ndarray, Estimator, dict, list, tuple)):
                if id(o) in seen:
                    continue
                seen.add(id(o))
            join = (lambda k, path=path: f"{path}.{k}" if path else str(k))
            if isinstance(o, np.ndarray):
                if o.dtype.names:
                    below += [(o[field], join(field)) for field in o.dtype.names]
                elif o.dtype.hasobject:
                    below += [(v, join(i)) for i, v in enumerate(o.reshape(-1))]
                elif o.dtype.name in NUMPY_NAMES:
                    yield path or "array", o
            elif isinstance(o, np.floating):
                yield path or "value", np.asarray(o)
            elif isinstance(o, Estimator):
                below += [(v, join(k)) for k, v in o.attrs.items()]
            elif isinstance(o, dict):
                below += [(v, join(k)) for k, v in o.items() if isinstance(k, (str, int))]
            elif isinstance(o, (list, tuple)):
                below += [(v, join(i)) for i, v in enumerate(o)]
        level, depth = below, depth + 1


# What a fit sets but does not learn is a constant (severity.constants: equal values, zeros and
# a distance's inf are ordinary): the training data's statistics (class priors and counts,
# document frequencies, target means, OPTICS's per-sample distances, whose first is inf by
# definition), echoed or selected hyperparameters (class weights, LogisticRegressionCV's C_),
# random states. Those are vectors or scalars, constants by rank in `_role`; named here are the
# 2-D ones: naive Bayes' counts and log-probabilities, BernoulliRBM's chain, Birch's buffers,
# HistGradientBoosting's baseline. Measured: every default-fitted estimator on iris/wine/diabetes.
_NOT_TRAINED = {"feature_count_", "category_count_", "feature_log_prob_", "h_samples_", "init_centroids_",
                "_baseline_prediction"}
# Intercepts are biases (zero without fit_intercept). A linear model's coef_ is its weights at
# any rank; any other vector or scalar a fit sets (scales, variances, importances) is a constant.
_BIASES = {"intercept_", "intercepts_"}
_LINEAR = {"coef_", "coefs_"}


# Tree tables, whose lengths follow the data: a fitted tree's node table (sklearn.tree._tree.Tree),
# HistGradientBoosting's TreePredictor node records and the bin edges its trees split on (as
# many as the feature has distinct values, up to max_bins).
_TREE_TABLE = re.compile(r"(.*\.)?(tree_\..*|_predictors\.\d+\.\d+\.nodes\..*|_bin_mapper\.bin_thresholds_\.\d+)")


def _role(name: str, ndim: int) -> str:
    if _TREE_TABLE.fullmatch(name):
        return TREE
    attr = next((p for p in reversed(name.split(".")) if not p.isdigit()), name)   # coefs_.0 -> coefs_
    if attr in _NOT_TRAINED:
        return CONSTANT
    if attr in _BIASES:
        return BIAS
    return WEIGHT if ndim >= 2 or attr in _LINEAR else CONSTANT


def array_tensor(name: str, arr: np.ndarray) -> Tensor:
    """Tensor `name` over numeric array `arr` (little-endian; complex viewed as its floats), with
    its role (`_role`): `tree` in a fitted tree, `bias` for intercepts, `constant` for what a fit
    sets but does not learn and for vectors other than a linear model's coef_, else `weight`."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.dtype.byteorder == ">":
        flat = flat.astype(flat.dtype.newbyteorder("<"))
    code = NUMPY_NAMES[arr.dtype.name]
    role = _role(name, arr.ndim)
    view = flat.view(np.float32 if code == "C64" else np.float64) if code in ("C64", "C128") else flat
    return Tensor(name, code, tuple(int(d) for d in arr.shape), lambda: iter((view,)), role)
