"""Batches of sequences as the estimators and SequenceScaler read them.

The input convention (one place for all of pylstm's scikit-learn style classes):

- a 3-D array ``(n_samples, T, n_features)``: n sequences of T steps;
- a list of ``(T_i, n_features)`` arrays or DataFrames: n sequences of their
  own lengths (padded here to the longest, with their lengths kept);
- a 2-D array or DataFrame ``(n_samples, n_features)``: n sequences of ONE
  step each, the usual scikit-learn table, so that ``n_features_in_`` and
  ``feature_names_in_`` are the columns and a table of another width is an
  error rather than silently another T. A univariate series of T steps is
  ``X[:, :, None]`` (or a list of ``(T_i, 1)`` arrays).

Errors use scikit-learn's wording where its checks look for it (sparse,
complex, empty and 1-D input, NaN, feature names), without importing it.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Sequences", "as_sequences", "as_fitted_input", "check_feature_names",
           "check_finite", "steps_mask", "unpad", "with_lengths", "restore_layout",
           "per_step_target", "not_fitted_error", "data_conversion_warning"]


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside pylstm, for warnings.warn called
    right here: warnings point at the user's call however deep the estimator's
    own calls go (Python 3.12's skip_file_prefixes, for 3.10 too)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


class Sequences(NamedTuple):
    """A batch of sequences, padded.

    X : ndarray, shape (n, T, F), real dtype (padding steps are 0)
    lengths : ndarray of int64, shape (n,), or None when every sequence has T steps
    layout : "list" (a list of sequences), "3d" or "2d" (a table, T = 1)
    feature_names : ndarray of str objects, shape (F,), or None
    """

    X: np.ndarray
    lengths: np.ndarray | None
    layout: str
    feature_names: np.ndarray | None


def not_fitted_error(estimator: object) -> Exception:
    """scikit-learn's NotFittedError when it is installed (its checks catch that
    class), else pylstm's own with the same bases (ValueError, AttributeError)."""
    msg = (f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
           "appropriate arguments before using this estimator.")
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:
        return _Fallback.NotFittedError(msg)
    return NotFittedError(msg)


class _Fallback:
    """scikit-learn's exception classes for when it is not installed (same names, bases)."""

    class NotFittedError(ValueError, AttributeError):
        """Raised by an unfitted estimator."""

    class DataConversionWarning(UserWarning):
        """Input data was converted (a column-vector y raveled)."""


def data_conversion_warning() -> type[Warning]:
    """scikit-learn's DataConversionWarning, or pylstm's own (a UserWarning) without it."""
    try:
        from sklearn.exceptions import DataConversionWarning
    except ImportError:
        return _Fallback.DataConversionWarning
    return DataConversionWarning


def _is_sparse(X: Any) -> bool:
    return type(X).__module__.startswith("scipy.sparse")


def _feature_names(X: Any) -> np.ndarray | None:
    """String column names of a DataFrame-like X (scikit-learn's rule), else None."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) == 0:
        return None
    types = sorted({type(v).__qualname__ for v in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. If you want "
            "feature names to be stored and validated, you must convert them all to strings, "
            "by using X.columns = X.columns.astype(str) for example. Otherwise you can remove "
            "feature / column names from your input data, or convert them all to a non-string "
            "data type.")
    return names if types == ["str"] else None


def _as_real(a: np.ndarray, name: str) -> np.ndarray:
    """a with a real dtype: object arrays of numbers become float64."""
    if a.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{name} has dtype {a.dtype}\n")
    if a.dtype.kind == "O":
        a = a.astype(np.float64)  # a TypeError names what is not a number
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers, got dtype {a.dtype}")
    return a


def check_finite(a: np.ndarray, name: str) -> None:
    """ValueError in scikit-learn's words if a float array holds NaN or infinity."""
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        what = "NaN" if np.isnan(a).any() else f"infinity or a value too large for {a.dtype!r}"
        raise ValueError(f"Input {name} contains {what}.")


def _empty_error(shape: tuple[int, ...]) -> ValueError | None:
    if shape[0] == 0:
        return ValueError(f"Found array with 0 sample(s) (shape={shape}) while a minimum of 1 "
                          "is required.")
    if shape[-1] == 0:
        return ValueError(f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 "
                          "is required.")
    if len(shape) == 3 and shape[1] == 0:
        return ValueError(f"Found array with 0 step(s) (shape={shape}) while a minimum of 1 "
                          "is required.")
    return None


def _ndim(v: Any) -> int:
    """v's number of dimensions, -1 for a ragged nested list."""
    try:
        return np.ndim(v)
    except ValueError:
        return -1


def _list_of_sequences(items: list[Any], name: str) -> Sequences:
    names = _feature_names(items[0])
    seqs = []
    for i, item in enumerate(items):
        item_names = _feature_names(item)
        same = (item_names is None and names is None) or (
            item_names is not None and names is not None and np.array_equal(item_names, names))
        if not same:
            raise ValueError(f"{name}[{i}]: its column names differ from {name}[0]'s")
        s = _as_real(np.asarray(item), f"{name}[{i}]")
        if s.ndim != 2:
            raise ValueError(f"{name}[{i}]: expected shape (T_i, n_features), got {s.shape}")
        seqs.append(s)
    widths = sorted({s.shape[1] for s in seqs})
    if len(widths) != 1:
        raise ValueError(f"{name}: every sequence needs the same number of features, "
                         f"got {widths}")
    lengths = np.array([len(s) for s in seqs], np.int64)
    if widths[0] == 0 or lengths.min() == 0:
        i = int(np.argmin(lengths)) if widths[0] else 0
        raise ValueError(f"Found array with 0 {'feature' if not widths[0] else 'step'}(s) "
                         f"(shape={seqs[i].shape}) in {name}[{i}] while a minimum of 1 "
                         "is required.")
    if lengths.min() == lengths.max():
        X = np.stack(seqs)
        check_finite(X, name)
        return Sequences(X, None, "list", names)
    dtype = np.result_type(*seqs)
    X = np.zeros((len(seqs), int(lengths.max()), widths[0]),
                 dtype if dtype.kind == "f" else np.float64)
    for i, s in enumerate(seqs):
        X[i, :len(s)] = s
    check_finite(X, name)
    return Sequences(X, lengths, "list", names)


def as_sequences(X: Any, name: str = "X") -> Sequences:
    """Reads X as a batch of sequences (see the module docstring for the layouts).

    Raises TypeError for sparse matrices and data that are not numbers, and
    ValueError for complex, empty, 1-D, NaN or infinite data, with
    scikit-learn's messages."""
    if X is None:
        raise ValueError(f"{name}: expected an array-like (array or non-string sequence), "
                         "got None")
    if _is_sparse(X):
        raise TypeError(f"Sparse data was passed for {name}, but dense data is required. "
                        "Use '.toarray()' to convert to a dense numpy array.")
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object
                                        and X.ndim == 1):
        items = list(X)
        if not items:
            raise ValueError("Found array with 0 sample(s) (shape=(0,)) while a minimum of 1 "
                             "is required.")
        if any(hasattr(v, "columns") or _ndim(v) == 2 for v in items):
            return _list_of_sequences(items, name)
        try:
            X = np.asarray(items)
        except ValueError:
            raise ValueError(
                f"{name}: rows of different lengths. A list of sequences holds 2-D (T_i, "
                "n_features) arrays; give a univariate sequence as a (T_i, 1) array") from None
    names = _feature_names(X)
    arr = _as_real(np.asarray(X), name)
    if arr.ndim < 2:
        raise ValueError(
            f"Expected 2D array, got {arr.ndim}D array instead:\narray={arr}.\nReshape your "
            "data either using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample; give sequences as a 3-D "
            "array (n_samples, T, n_features) or a list of (T_i, n_features) arrays.")
    if arr.ndim > 3:
        raise ValueError(f"{name}: expected shape (n_samples, T, n_features), (n_samples, "
                         f"n_features) or a list of (T_i, n_features) arrays, got {arr.shape}")
    err = _empty_error(arr.shape)
    if err is not None:
        raise err
    check_finite(arr, name)
    if arr.ndim == 2:
        return Sequences(arr[:, None, :], None, "2d", names)
    return Sequences(arr, None, "3d", names)


def check_feature_names(estimator: Any, names: np.ndarray | None, *, reset: bool) -> None:
    """Stores feature_names_in_ (reset) or checks names against it, as scikit-learn does.

    Its warnings point at the user's call of fit/predict/transform/score."""
    if reset:
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    cls = type(estimator).__name__
    if fitted is None and names is not None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names",
                      UserWarning, stacklevel=_caller_stacklevel())
    elif fitted is not None and names is None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with "
                      "feature names", UserWarning, stacklevel=_caller_stacklevel())
    elif fitted is not None and names is not None and (
            len(fitted) != len(names) or np.any(fitted != names)):
        unseen = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))

        def listed(values: list[Any]) -> str:
            return "".join(f"- {v}\n" for v in values[:5]) + ("- ...\n" if len(values) > 5
                                                                 else "")

        msg = "The feature names should match those that were passed during fit.\n"
        if unseen:
            msg += "Feature names unseen at fit time:\n" + listed(unseen)
        if missing:
            msg += "Feature names seen at fit time, yet now missing:\n" + listed(missing)
        if not unseen and not missing:
            msg += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(msg)


def as_fitted_input(estimator: Any, X: Any) -> Sequences:
    """X read as sequences for a fitted estimator's predict/transform/score: it
    must be fitted (NotFittedError), and X must have its n_features_in_ and,
    with feature names, the same names (scikit-learn's warnings and errors)."""
    if not estimator.__sklearn_is_fitted__():
        raise not_fitted_error(estimator)
    seqs = as_sequences(X)
    F = seqs.X.shape[2]
    if F != estimator.n_features_in_:
        raise ValueError(f"X has {F} features, but {type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input.")
    check_feature_names(estimator, seqs.feature_names, reset=False)
    return seqs


def steps_mask(n: int, T: int, lengths: np.ndarray | None) -> np.ndarray:
    """(n, T) bool, True at real steps."""
    if lengths is None:
        return np.ones((n, T), bool)
    return np.arange(T)[None, :] < lengths[:, None]


def unpad(arr: np.ndarray, lengths: np.ndarray | None, as_list: bool) -> Any:
    """Per-step results: a list of (T_i, ...) arrays when as_list, else arr."""
    if not as_list:
        return arr
    if lengths is None:
        return list(arr)
    return [arr[i, :int(L)] for i, L in enumerate(lengths)]


def with_lengths(seqs: Sequences, lengths: Any) -> Sequences:
    """seqs with the lengths of a padded 3-D X given by the caller (None: all T)."""
    if lengths is None:
        return seqs
    if seqs.layout != "3d":
        raise ValueError("lengths: only for a padded 3-D X (a list of sequences carries its "
                         "own lengths, a 2-D X has one step per row)")
    n, T = seqs.X.shape[:2]
    arr = np.asarray(lengths)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise ValueError(f"lengths: expected {n} integers (one per sequence), got "
                         f"{arr.dtype} array of shape {arr.shape}")
    if arr.min() < 1 or arr.max() > T:
        raise ValueError(f"lengths: expected values in 1..{T} (the padded length), got "
                         f"{arr.min()}..{arr.max()}")
    return seqs._replace(lengths=arr.astype(np.int64))


def restore_layout(arr: np.ndarray, lengths: np.ndarray | None, layout: str) -> Any:
    """Per-step results (n, T, ...) in the caller's layout: a list of (T_i, ...)
    arrays for a list, (n, ...) for a 2-D table, else arr."""
    if layout == "2d":
        return arr[:, 0]
    return unpad(arr, lengths, layout == "list")


def _pad_targets(parts: list[Any], n: int, T: int, lengths: np.ndarray | None) -> np.ndarray:
    if lengths is None:
        lengths = np.full(n, T)
    for i, p in enumerate(parts):
        if p.ndim == 0 or len(p) != lengths[i]:
            raise ValueError(f"y[{i}]: expected {lengths[i]} per-step targets (the length "
                             f"of X[{i}]), got shape {p.shape}")
    k_shapes = {p.shape[1:] for p in parts}
    if len(k_shapes) != 1:
        raise ValueError("y: every sequence's targets need the same trailing shape")
    out = np.zeros((n, T) + k_shapes.pop(), np.result_type(*parts))
    for i, p in enumerate(parts):
        out[i, :len(p)] = p
    return out


def per_step_target(y: Any, n: int, T: int, lengths: np.ndarray | None,
                    per_step: bool | None, classifier: bool,
                    estimator: str = "estimator") -> tuple[np.ndarray, bool]:
    """(y array, per_step): y (n,) / (n, k) per sequence or (n, T) / (n, T, k) per step.

    per_step=None infers it: per step when y has a second axis of length T > 1
    (or three axes, regressor). A classifier's (n, 1) column is raveled with
    scikit-learn's DataConversionWarning."""
    if y is None:
        raise ValueError(f"{estimator} requires y to be passed, but the target y is None.")
    if isinstance(y, (list, tuple)):
        parts = [np.asarray(v) for v in y]
        if len(parts) != n:
            raise ValueError(f"y: expected {n} targets (one per sequence), got {len(parts)}")
        if len({p.shape for p in parts}) > 1:
            if per_step is False:
                raise ValueError("y: sequences of different lengths need per_step targets")
            return _pad_targets(parts, n, T, lengths), True
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(f"y: expected {n} targets (one per sequence), got shape {y.shape}")
    if per_step is None:
        per_step = (y.ndim == 2 and y.shape[1] == T and T > 1) or (
            not classifier and y.ndim == 3)
    if per_step:
        if y.ndim < 2 or y.shape[1] != T:
            raise ValueError(f"y: per-step targets need shape (n, T={T}, ...), got {y.shape}")
        if y.ndim > (2 if classifier else 3):
            raise ValueError(f"y: expected at most {2 if classifier else 3} dimensions for "
                             f"per-step targets, got shape {y.shape}")
        return y, True
    if classifier and y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                      "change the shape of y to (n_samples, ), for example using ravel().",
                      data_conversion_warning(), stacklevel=_caller_stacklevel())
        y = y[:, 0]
    if y.ndim > (1 if classifier else 2):
        raise ValueError(f"y: expected shape (n,){'' if classifier else ' or (n, k)'} for "
                         f"one target per sequence, got {y.shape}")
    return y, False
