"""Data-parallel training over MPI: every rank holds the whole model, computes
the gradients of its share of each batch, and the ranks average them before
the optimizer steps, so the weights stay identical everywhere.

    from mpi4py import MPI
    import pylstm, pylstm.distributed as dist

    lstm, head = pylstm.LSTM(2, 64, seed=0), pylstm.Linear(64, 1, seed=1)
    dist.broadcast_parameters([lstm, head])        # rank 0's initial weights everywhere
    opt = pylstm.Adam([lstm, head], lr=1e-2)
    for x, y in batches:                           # this rank's part of each batch
        opt.zero_grad()
        ...                                        # forward_train / backward
        dist.allreduce_grads([lstm, head])         # the mean over the ranks
        opt.step()

Run with ``mpirun -np 2 python train.py``. With equal shares and a loss that
is a mean over the batch, the averaged gradient is the gradient of the whole
batch, so N ranks take the steps one process would take on the whole batch
(to float rounding). mpi4py (``pip install pylstm[mpi]``, which needs an MPI
library such as Open MPI) is imported only when these functions are called.

Modules are enumerated as pylstm's optimizers enumerate them (see
pylstm.optim): pylstm.LSTM, LSTMCell, Linear or any object with
``named_parameters()`` and ``grads``, or a list of them. Every rank must pass
the same modules in the same order (the same architecture and dtype).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._checks import import_optional
from .optim import _changed, _locked, _modules, _named, _pairs

__all__ = ["allreduce_grads", "broadcast_parameters"]


def _mpi() -> Any:
    return import_optional("mpi4py.MPI", "pylstm.distributed needs mpi4py: pip install "
                           "pylstm[mpi] (it builds against an MPI library such as Open MPI)")


def _targets(model_or_params: Any, what: str) -> tuple[list[Any], list[np.ndarray]]:
    """(modules, arrays): the modules given and their gradients (what="grads")
    or parameters (what="parameters"); or no modules and the arrays given."""
    items = model_or_params
    if isinstance(items, np.ndarray):
        items = [items]
    if isinstance(items, (list, tuple)) and items and all(
            isinstance(a, np.ndarray) for a in items):
        for k, a in enumerate(items):
            if a.dtype not in (np.float32, np.float64) or not a.flags.writeable:
                raise TypeError(f"model_or_params[{k}]: expected a writable float32 or float64 "
                                f"array, got {'a read-only ' if not a.flags.writeable else ''}"
                                f"{a.dtype} array")
        return [], list(items)
    try:
        modules = _modules(items)
    except TypeError:
        raise TypeError("model_or_params: expected a pylstm module (LSTM, LSTMCell, Linear), "
                        "a list of modules or a list of float arrays, got "
                        f"{type(model_or_params).__name__}") from None
    if what == "grads":
        return modules, [g for _, g in _pairs(modules)]
    return modules, [p for m in modules for _, p in _named(m)]


def _by_dtype(arrays: Iterable[np.ndarray]) -> dict[np.dtype, list[np.ndarray]]:
    """The arrays grouped by dtype, in order: one buffer and one MPI call per group."""
    groups: dict[np.dtype, list[np.ndarray]] = {}
    for a in arrays:
        groups.setdefault(a.dtype, []).append(a)
    return groups


def _unflatten(buf: np.ndarray, arrays: Sequence[np.ndarray]) -> None:
    """Copies consecutive slices of buf back into the arrays."""
    start = 0
    for a in arrays:
        a[...] = buf[start:start + a.size].reshape(a.shape)
        start += a.size


def allreduce_grads(model_or_params: Any, comm: Any = None) -> None:
    """Replaces every gradient by its mean over the ranks, in place.

    Call it once per step, after backward and before the optimizer's step
    (and before clip_grad_norm, so every rank clips the same gradient).

    Parameters
    ----------
    model_or_params : module, list of modules, or list of arrays
        pylstm.LSTM, LSTMCell, Linear (or any object with
        ``named_parameters()`` and ``grads``), or a list of them: their
        ``grads`` are averaged. A list of float32/float64 NumPy arrays is
        averaged itself.
    comm : mpi4py.MPI.Comm, optional
        Default ``MPI.COMM_WORLD``.

    Notes
    -----
    The gradients are copied into one contiguous buffer per dtype, summed by
    one ``Allreduce`` and divided by the number of ranks, so a step costs one
    collective call, not one per tensor. Every rank must pass the same
    arrays (shapes, dtypes, order).
    """
    modules, arrays = _targets(model_or_params, "grads")
    MPI = _mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    size = comm.Get_size()
    with _locked(modules, parameters=False):
        for dtype, group in _by_dtype(arrays).items():
            buf = np.concatenate([a.ravel() for a in group])
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            if size > 1:
                buf /= dtype.type(size)
            _unflatten(buf, group)


def broadcast_parameters(model_or_params: Any, root: int = 0, comm: Any = None) -> None:
    """Copies rank ``root``'s parameters into every other rank's, in place.

    Call it once before training, so every rank starts from the same weights
    (models built with different seeds, or none, start apart).

    Parameters
    ----------
    model_or_params : module, list of modules, or list of arrays
        As for allreduce_grads; the modules' parameters (not their
        gradients) are broadcast.
    root : int, default 0
        The rank whose parameters win.
    comm : mpi4py.MPI.Comm, optional
        Default ``MPI.COMM_WORLD``.
    """
    modules, arrays = _targets(model_or_params, "parameters")
    MPI = _mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) \
            or not 0 <= root < comm.Get_size():
        raise ValueError(f"root: expected a rank in 0..{comm.Get_size() - 1}, got {root!r}")
    with _locked(modules):
        try:
            for group in _by_dtype(arrays).values():
                buf = np.concatenate([a.ravel() for a in group])
                comm.Bcast(buf, root=int(root))
                _unflatten(buf, group)
        finally:
            _changed(modules)
