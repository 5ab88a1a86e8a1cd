"""Loss functions that return the loss and its gradient, NumPy in and out.

Each returns ``(loss, d_input)``: ``loss`` a Python float with the value of the
matching torch loss under its default ``reduction="mean"``, ``d_input`` the
gradient of that loss with respect to the first argument, ready for a
module's ``backward``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, shape_error


def _float_array(name: str, a: ArrayLike) -> NDArray[Any]:
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _broadcast(name: str, a: ArrayLike, shape: tuple[int, ...]) -> NDArray[Any]:
    try:
        return np.broadcast_to(a, shape)
    except ValueError as e:
        raise ValueError(f"{name}: expected a shape broadcastable to {shape}, "
                         f"got {np.shape(a)}") from e


def _weights(sample_weight: ArrayLike, mask: ArrayLike | None,
             shape: tuple[int, ...]) -> NDArray[np.float64]:
    """sample_weight (zeroed where mask is False) broadcast to shape, float64."""
    w = _float_array("sample_weight", sample_weight).astype(np.float64, copy=False)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight: expected finite non-negative numbers")
    w = _broadcast("sample_weight", w, shape)
    if mask is not None:
        w = w * _broadcast("mask", np.asarray(mask, bool), shape)
    return w


def mse(pred: ArrayLike, target: ArrayLike, *, mask: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None) -> tuple[float, NDArray[np.floating[Any]]]:
    """Mean squared error over all elements (torch.nn.MSELoss()).

    Parameters
    ----------
    pred : array, any shape
    target : array, the same shape
    mask : array of bool, broadcastable to pred's shape, optional
        True where an element counts (e.g. real steps of padded sequences,
        shape (T, B, 1) for pred (T, B, k)); the mean is over those only.
    sample_weight : array of non-negative numbers, broadcastable to pred's shape, optional
        Weights w of the elements (e.g. shape (B, 1) for pred (B, k): one per
        sequence); the loss becomes the weighted mean
        sum(w (pred - target)^2) / sum(w) over the counted elements, which
        integer weights make equal to repeating elements.

    Returns
    -------
    loss : float
        mean((pred - target)^2) over the counted elements (0.0 if none).
    d_pred : ndarray shaped like pred
        2 (pred - target) / n_counted at counted elements, 0 elsewhere
        (2 w (pred - target) / sum(w) with sample_weight).
    """
    pred = as_float_array("pred", pred)
    target = np.asarray(target)
    if target.shape != pred.shape:
        raise shape_error("target", pred.shape, target.shape)
    if pred.size == 0:
        raise ValueError("pred: expected at least one element")
    diff = pred - target.astype(pred.dtype, copy=False)
    if sample_weight is not None:
        w = _weights(sample_weight, mask, pred.shape)
        total = float(np.sum(w, dtype=np.float64))
        if total == 0:
            return 0.0, np.zeros_like(diff)
        wd = w.astype(diff.dtype, copy=False) * diff
        return float(np.sum(wd * diff, dtype=np.float64) / total), wd * (2.0 / total)
    if mask is None:
        return float(np.mean(diff * diff, dtype=np.float64)), diff * (2.0 / diff.size)
    counted = _broadcast("mask", np.asarray(mask, bool), pred.shape)
    n = int(counted.sum())
    if n == 0:
        return 0.0, np.zeros_like(diff)
    diff *= counted
    return float(np.sum(diff * diff, dtype=np.float64) / n), diff * (2.0 / n)


def cross_entropy(logits: ArrayLike, labels: ArrayLike, *, mask: ArrayLike | None = None,
                  ignore_index: int | None = None, sample_weight: ArrayLike | None = None
                  ) -> tuple[float, NDArray[np.floating[Any]]]:
    """Softmax cross-entropy over the last axis (torch.nn.CrossEntropyLoss()).

    The mean of -log softmax(logits)[label] over the positions that count:
    those where ``mask`` is True and ``labels != ignore_index``.

    Parameters
    ----------
    logits : array, shape (..., C)
        Unnormalised scores; C classes on the last axis (torch puts them on
        axis 1, so (T, B, C) here is torch's (T, C, B) or a permutation).
    labels : array of int, shape (...)
        Class indices in 0..C-1 (any value at positions that do not count).
    mask : array of bool, shape (...), optional
        True where the position counts (e.g. real steps of padded sequences).
    ignore_index : int, optional
        Label value whose positions do not count, as in torch.
    sample_weight : array of non-negative numbers, broadcastable to labels' shape, optional
        Weights w of the positions; the loss becomes the weighted mean
        sum(w l) / sum(w) over the counted positions (torch's
        ``(F.cross_entropy(..., reduction="none") * w).sum() / w.sum()``).

    Returns
    -------
    loss : float
        The mean; 0.0 when no position counts (torch gives nan there, which
        would poison a training run over an all-padding batch).
    d_logits : ndarray shaped like logits
        (softmax - onehot) / n_counted at counted positions, 0 elsewhere.
    """
    logits = as_float_array("logits", logits)
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits: expected shape (..., C) with C >= 1, got {logits.shape}")
    C = logits.shape[-1]
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise TypeError(f"labels: expected integer class indices, got dtype {labels.dtype}")
    if labels.shape != logits.shape[:-1]:
        raise shape_error("labels", logits.shape[:-1], labels.shape)
    counted = np.ones(labels.shape, bool)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != labels.shape:
            raise shape_error("mask", labels.shape, mask.shape)
        counted &= mask.astype(bool)
    if ignore_index is not None:
        counted &= labels != ignore_index
    bad = counted & ((labels < 0) | (labels >= C))
    if bad.any():
        raise ValueError(f"labels: expected class indices in 0..{C - 1}, "
                         f"got {labels[bad].flat[0]}")
    n = int(counted.sum())
    safe = np.where(counted, labels, 0)
    # log-softmax with the max subtracted first, so exp never overflows.
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=-1, keepdims=True)
    log_p = shifted - np.log(sum_exp)
    picked = np.take_along_axis(log_p, safe[..., None], axis=-1)[..., 0]
    d = exp / sum_exp
    np.put_along_axis(d, safe[..., None],
                      np.take_along_axis(d, safe[..., None], axis=-1) - 1, axis=-1)
    if sample_weight is not None:
        w = _weights(sample_weight, counted, labels.shape)
        total = float(np.sum(w, dtype=np.float64))
        if total == 0:
            return 0.0, np.zeros_like(logits)
        d *= (w / total)[..., None].astype(d.dtype)
        return float(-np.sum(w * picked, dtype=np.float64) / total), d
    if n == 0:
        return 0.0, np.zeros_like(logits)
    d *= (counted / n)[..., None].astype(d.dtype)
    return float(-np.sum(picked[counted], dtype=np.float64) / n), d
