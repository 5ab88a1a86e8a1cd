"""Argument checks shared by the modules: turn what a user passes into the arrays
the core expects, or raise an exception naming the argument."""

from __future__ import annotations

import importlib
import operator
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray


def as_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    """The model dtype (float32 or float64) from anything np.dtype accepts."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from e
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def as_int(name: str, value: Any) -> int:
    """A Python int from anything operator.index takes (NumPy integers too);
    bools and floats are refused, even integral ones."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {value!r}") from None


def check_size(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer in minimum..maximum (see as_int), as a Python int."""
    value = as_int(name, value)
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected an integer <= {maximum}, got {value}")
    return value


def check_param_count(sizes: str, count: int, dtype: DTypeLike) -> None:
    """Refuses a model whose parameters NumPy could not even describe.

    sizes: "input_size=3, hidden_size=..." naming the arguments; count: the
    number of parameter values (an exact Python int, however large). Sizes
    that fit but exceed the memory at hand still fail when allocated, with
    NumPy's MemoryError saying how much was asked."""
    limit = sys.maxsize // np.dtype(dtype).itemsize
    if count > limit:
        raise ValueError(f"{sizes}: the parameters would hold {count} values of "
                         f"{np.dtype(dtype).name}, more than the {limit} an array can hold")


def as_array(name: str, a: ArrayLike, dtype: DTypeLike) -> NDArray[Any]:
    """A C-contiguous array of the model dtype from anything np.asarray takes.

    Integer and boolean arrays are cast; non-contiguous or Fortran-ordered
    arrays are copied once. Complex, object and string data are refused."""
    if type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous:
        return a  # the common case, checked cheaply (a.dtype == dtype is false
        #           for the other byte order, which is converted below)
    return np.ascontiguousarray(_real_array(name, a), dtype=dtype)


def _real_array(name: str, a: ArrayLike) -> NDArray[Any]:
    """np.asarray(a), refusing complex, object and string data."""
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{name}: expected a numeric array, got {type(a).__name__}") from e
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    return arr


def as_float_array(name: str, a: ArrayLike) -> NDArray[np.floating[Any]]:
    """An array of real numbers in its own floating dtype (integers and
    booleans as float64), for code that has no model dtype to cast to."""
    arr = _real_array(name, a)
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def to_numpy(t: Any) -> NDArray[Any]:
    """A NumPy copy of a torch tensor (or of anything array-like)."""
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    return np.array(t)


def float_dtype(arrays: Iterable[NDArray[Any]], what: str) -> np.dtype[Any]:
    """The one float32 or float64 dtype of the arrays, or ValueError naming `what`."""
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
        raise ValueError(f"{what}: expected float32 or float64 parameters, got "
                         f"{sorted(str(d) for d in dtypes)}; convert the module first "
                         "(e.g. module.float())")
    return dtypes.pop()


def shape_error(name: str, expected: tuple[Any, ...], got: tuple[int, ...]) -> ValueError:
    return ValueError(f"{name}: expected shape {expected}, got {tuple(got)}")


def as_lengths(lengths: ArrayLike, T: int, B: int) -> NDArray[np.int64]:
    """Sequence lengths as int64 of shape (B,), each in 1..T."""
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise TypeError(f"lengths: expected integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise shape_error("lengths", (B,), arr.shape)
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if B and (arr.min() < 1 or arr.max() > T):
        raise ValueError(f"lengths: expected every length in 1..{T} (the sequence length), "
                         f"got min {arr.min()}, max {arr.max()}")
    return arr


def import_optional(module: str, hint: str) -> Any:
    """An optional package's module (torch, keras, onnx, mpi4py, ...), imported
    when a function first needs it; without it, ImportError saying `hint`
    (which package or extra to install)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(hint) from e
