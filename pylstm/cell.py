"""pylstm.LSTMCell: one step of torch.nn.LSTMCell, NumPy in and out."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _core
from ._checks import as_array, as_dtype, check_param_count, check_size, shape_error
from ._module import Module

_Array = NDArray[Any]


def param_shapes(input_size: int, hidden_size: int, bias: bool
                 ) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every parameter of such a cell, in torch's order."""
    H = hidden_size
    yield "weight_ih", (4 * H, input_size)
    yield "weight_hh", (4 * H, H)
    if bias:
        yield "bias_ih", (4 * H,)
        yield "bias_hh", (4 * H,)


class _CellCache:
    """What LSTMCell.backward needs from LSTMCell.forward_train. Opaque."""

    __slots__ = ("owner", "x", "reserve", "B", "unbatched")
    owner: LSTMCell
    x: _Array
    reserve: _Array
    B: int
    unbatched: bool


class LSTMCell(Module):
    """One LSTM step with torch.nn.LSTMCell's names and results.

    Parameters
    ----------
    input_size, hidden_size : int
    bias : bool, default True
    dtype : float32 or float64
    seed : int or None
        Seeds the initialisation U(-1/sqrt(H), 1/sqrt(H)) (torch's).
    """

    _NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    input_size: int
    hidden_size: int
    bias: bool

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 dtype: DTypeLike = np.float32, seed: int | None = None) -> None:
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.dtype = as_dtype(dtype)
        H, I = self.hidden_size, self.input_size
        check_param_count(f"input_size={I}, hidden_size={H}",
                          4 * H * (I + H) + (8 * H if self.bias else 0), self.dtype)
        rng = np.random.default_rng(seed)
        k = 1.0 / math.sqrt(self.hidden_size)
        shapes = param_shapes(self.input_size, self.hidden_size, self.bias)
        self._params = {n: rng.uniform(-k, k, size=s).astype(self.dtype) for n, s in shapes}
        self.grads = {n: np.zeros_like(p) for n, p in self._params.items()}

    def _group(self, d: Mapping[str, _Array]) -> tuple[_Array | None, ...]:
        return tuple(d.get(n) for n in self._NAMES) + (None,)

    def _inputs(self, x: ArrayLike, hx: Sequence[ArrayLike] | None
                ) -> tuple[_Array, _Array | None, _Array | None, bool]:
        x = as_array("input", x, self.dtype)
        if x.ndim not in (1, 2):
            raise ValueError(f"input: expected 1-D (unbatched) or 2-D input, got {x.ndim}-D")
        unbatched = x.ndim == 1
        x2 = x[None, :] if unbatched else x
        B, I = x2.shape
        if I != self.input_size or B < 1:
            raise shape_error("input", ("B", self.input_size) if not unbatched
                              else (self.input_size,), x.shape)
        h = c = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("hx: expected a tuple (h, c)")
            want = (self.hidden_size,) if unbatched else (B, self.hidden_size)
            h = as_array("h", hx[0], self.dtype)
            c = as_array("c", hx[1], self.dtype)
            if h.shape != want:
                raise shape_error("h", want, h.shape)
            if c.shape != want:
                raise shape_error("c", want, c.shape)
        return np.ascontiguousarray(x2), h, c, unbatched

    def __call__(self, x: ArrayLike, hx: Sequence[ArrayLike] | None = None
                 ) -> tuple[_Array, _Array]:
        """One step.

        Parameters
        ----------
        x : array, shape (B, input_size) or (input_size,)
        hx : tuple (h, c) of shape (B, hidden_size) each (or (hidden_size,)), optional

        Returns
        -------
        (h', c') : ndarrays shaped like h and c
        """
        x, h, c, unbatched = self._inputs(x, hx)
        B = x.shape[0]
        h_out = np.empty((B, self.hidden_size), self.dtype)
        c_out = np.empty((B, self.hidden_size), self.dtype)
        f64 = self.dtype == np.float64
        work = np.empty(_core.cell_sizes(f64, self.input_size, self.hidden_size, B)[0], np.uint8)
        with self._sync.read():
            _core.cell_forward(f64, self.input_size, self.hidden_size, B,
                               self._group(self._params), x, h, c, h_out, c_out, work)
        if unbatched:
            return h_out[0], c_out[0]
        return h_out, c_out

    forward = __call__

    def forward_train(self, x: ArrayLike, hx: Sequence[ArrayLike] | None = None
                      ) -> tuple[_Array, _Array, _CellCache]:
        """As calling the cell, plus a cache for backward: (h', c', cache)."""
        x, h, c, unbatched = self._inputs(x, hx)
        B = x.shape[0]
        h_out = np.empty((B, self.hidden_size), self.dtype)
        c_out = np.empty((B, self.hidden_size), self.dtype)
        f64 = self.dtype == np.float64
        _, work_size, reserve_size, _ = _core.cell_sizes(f64, self.input_size, self.hidden_size, B)
        reserve = np.empty(reserve_size, np.uint8)
        with self._sync.read():
            _core.cell_forward(f64, self.input_size, self.hidden_size, B,
                               self._group(self._params), x, h, c, h_out, c_out,
                               np.empty(work_size, np.uint8), reserve)
        cache = _CellCache()
        cache.owner, cache.x, cache.reserve = self, x, reserve
        cache.B, cache.unbatched = B, unbatched
        if unbatched:
            return h_out[0], c_out[0], cache
        return h_out, c_out, cache

    def backward(self, cache: _CellCache, d_h: ArrayLike | None, d_c: ArrayLike | None = None
                 ) -> tuple[_Array, tuple[_Array, _Array]]:
        """Gradients of one step; parameter gradients are added into self.grads.

        Returns
        -------
        dx : ndarray shaped like x
        (dh, dc) : gradients with respect to the h and c that went in
        """
        if not isinstance(cache, _CellCache) or cache.owner is not self:
            raise ValueError("cache: expected the cache of a forward_train call on this cell")
        B, H = cache.B, self.hidden_size
        want = (H,) if cache.unbatched else (B, H)
        grads_in = []
        for name, value in (("d_h", d_h), ("d_c", d_c)):
            if value is not None:
                value = as_array(name, value, self.dtype)
                if value.shape != want:
                    raise shape_error(name, want, value.shape)
                value = value.reshape(B, H)
            grads_in.append(value)
        dx = np.empty((B, self.input_size), self.dtype)
        dh = np.empty((B, H), self.dtype)
        dc = np.empty((B, H), self.dtype)
        f64 = self.dtype == np.float64
        work = np.empty(_core.cell_sizes(f64, self.input_size, H, B)[3], np.uint8)

        def run(grads: dict[str, _Array]) -> None:
            _core.cell_backward(f64, self.input_size, H, B, self._group(self._params),
                                self._group(grads), cache.x, cache.reserve, grads_in[0],
                                grads_in[1], dx, dh, dc, work)

        with self._sync.read():
            self._add_grads(run)
        if cache.unbatched:
            return dx[0], (dh[0], dc[0])
        return dx, (dh, dc)

    @classmethod
    def from_torch(cls, module: Any) -> LSTMCell:
        """An LSTMCell with a torch.nn.LSTMCell's arguments (input_size,
        hidden_size, bias) and weights; the dtype is its parameters'."""
        if hasattr(module, "num_layers") or not hasattr(module, "hidden_size"):
            raise TypeError(f"module: expected a torch.nn.LSTMCell, got {type(module).__name__}")
        return cls._from_torch(module)
