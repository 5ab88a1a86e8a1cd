"""pylstm.LSTM: torch.nn.LSTM's model, names and numbers, NumPy in and out."""

from __future__ import annotations

import math
import numbers
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _core
from ._checks import (as_array, as_dtype, as_lengths, check_param_count, check_size,
                      shape_error)
from ._module import Module

if TYPE_CHECKING:
    from .stream import Stream

_Array = NDArray[Any]
_State = tuple[_Array, _Array]

# More layers than anyone stacks, but few enough that building the model's
# Python objects stays quick: LSTM(1, 1, num_layers=2**62) is refused at once
# instead of allocating parameters one layer at a time until memory runs out.
MAX_LAYERS = 10_000


def param_shapes(input_size: int, hidden_size: int, num_layers: int, bias: bool,
                 bidirectional: bool, proj_size: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every parameter of such an LSTM, in torch's state-dict
    order (a generator: pylstm.load checks a file's tensors against it without
    building the model)."""
    H, R, D = hidden_size, proj_size or hidden_size, 2 if bidirectional else 1
    for layer in range(num_layers):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            in_size = input_size if layer == 0 else R * D
            yield "weight_ih" + sfx, (4 * H, in_size)
            yield "weight_hh" + sfx, (4 * H, R)
            if bias:
                yield "bias_ih" + sfx, (4 * H,)
                yield "bias_hh" + sfx, (4 * H,)
            if proj_size:
                yield "weight_hr" + sfx, (proj_size, H)


class _Cache:
    """What LSTM.backward needs from LSTM.forward_train. Opaque to users."""

    __slots__ = ("owner", "x", "lengths", "reserve", "T", "B", "unbatched", "batch_first",
                 "out_shape")
    owner: LSTM
    x: _Array
    lengths: _Array | None
    reserve: _Array
    T: int
    B: int
    unbatched: bool
    batch_first: bool
    out_shape: tuple[int, ...]

    def __del__(self) -> None:
        # The reserve goes back to its model for the next forward_train, so a
        # training loop does not take (and fault in) fresh pages every step,
        # unless something still refers to it: the slot, the local name and
        # getrefcount's argument are the three references counted here.
        try:
            reserve, owner = self.reserve, self.owner
        except AttributeError:  # forward_train failed before filling the cache
            return
        if sys.getrefcount(reserve) == 3:
            owner._reserves.give(reserve)


class _WorkPool:
    """Scratch buffers reused across calls, so large calls do not pay for fresh
    pages every time. Safe under threads: a buffer is taken out of the list
    (list.pop is atomic under the GIL) while the core uses it."""

    __slots__ = ("free",)

    def __init__(self) -> None:
        self.free: list[_Array] = []

    def take(self, nbytes: int) -> _Array:
        try:
            buf = self.free.pop()
        except IndexError:
            return np.empty(nbytes, np.uint8)
        return buf if buf.nbytes >= nbytes else np.empty(nbytes, np.uint8)

    def give(self, buf: _Array) -> None:
        if len(self.free) < 2:
            self.free.append(buf)

    def __reduce__(self) -> tuple[type[_WorkPool], tuple[()]]:  # copies start empty
        return (_WorkPool, ())


class LSTM(Module):
    """A multi-layer LSTM with the constructor, names and results of torch.nn.LSTM.

    For each element of the input sequence each layer computes (gate order
    i, f, g, o; sigma is the logistic function)::

        i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)              (times W_hr when proj_size > 0)

    Parameters
    ----------
    input_size, hidden_size : int
        I and H.
    num_layers : int, default 1
        Stacked layers; layer l > 0 reads layer l-1's output.
    bias : bool, default True
        Whether b_ih and b_hh exist.
    batch_first : bool, default False
        Input and output as (B, T, feature) instead of (T, B, feature).
    dropout : float, default 0
        Dropout probability on every layer's output but the last, in
        forward_train only.
    bidirectional : bool, default False
        Adds a reverse direction to every layer; outputs are [forward, reverse].
    proj_size : int, default 0
        If > 0, h_t is projected to this size by W_hr (LSTMP).
    dtype : float32 or float64
        Element type of parameters, inputs and results.
    seed : int or None
        Seeds the initialisation U(-1/sqrt(H), 1/sqrt(H)) of every parameter
        (torch's) and the dropout masks.
    forget_bias : float or None
        If given, the forget-gate slice of every b_ih is set to this value and
        that of b_hh to 0, so the forget gate starts open (1.0 is the value
        Jozefowicz et al., 2015, recommend). None keeps torch's initialisation.
    """

    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    proj_size: int
    _rng: np.random.Generator
    _work: _WorkPool
    _reserves: _WorkPool
    _weights: Any  # _core.weights(...): the C pointers of the parameter arrays
    _sizes: dict[tuple[int, int, int], tuple[int, int, int, int]]
    _handle: tuple[int, _core.Handle] | None
    _handle_lock: threading.Lock
    _call_work: _core.WorkBuffer
    _retired_runs: int

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, *, dtype: DTypeLike = np.float32, seed: int | None = None,
                 forget_bias: float | None = None) -> None:
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.num_layers = check_size("num_layers", num_layers, maximum=MAX_LAYERS)
        self.proj_size = check_size("proj_size", proj_size, minimum=0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size: has to be smaller than hidden_size={self.hidden_size}, "
                             f"got {self.proj_size}")
        if (isinstance(dropout, bool) or not isinstance(dropout, numbers.Real)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout: should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and self.num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={self.num_layers}", stacklevel=2)
        self.dropout = float(dropout)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.dtype = as_dtype(dtype)
        check_param_count(f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
                          f"proj_size={self.proj_size}, num_layers={self.num_layers}",
                          self._param_count(), self.dtype)
        self._rng = np.random.default_rng(seed)
        self._params = {}
        k = 1.0 / math.sqrt(self.hidden_size)
        for name, shape in self._param_shapes():
            self._params[name] = self._rng.uniform(-k, k, size=shape).astype(self.dtype)
        if forget_bias is not None:
            if not self.bias:
                raise ValueError("forget_bias: needs bias=True")
            if isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real):
                raise TypeError(f"forget_bias: expected a number, got {forget_bias!r}")
            H = self.hidden_size
            for name, p in self._params.items():
                if name.startswith("bias_ih"):
                    p[H:2 * H] = forget_bias
                elif name.startswith("bias_hh"):
                    p[H:2 * H] = 0
        self.grads = {name: np.zeros_like(p) for name, p in self._params.items()}
        self._work = _WorkPool()
        self._reserves = _WorkPool()  # the reserves of dead forward_train caches
        # The parameter arrays are never replaced (load_state_dict copies into
        # them), so their C pointers are collected once.
        self._weights = _core.weights(*self._dims(), self._groups(self._params))
        self._sizes = {}
        self._init_prepared()

    # ---- parameters -------------------------------------------------------

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _R(self) -> int:
        return self.proj_size or self.hidden_size

    def _param_count(self) -> int:
        """The number of parameter values, from the sizes alone (exact for any size)."""
        H, R, D, P = self.hidden_size, self._R, self.num_directions, self.proj_size
        rest = 4 * H * R + (8 * H if self.bias else 0) + P * H  # all but W_ih
        first = D * (4 * H * self.input_size + rest)
        return first + (self.num_layers - 1) * D * (4 * H * D * R + rest)

    def _param_shapes(self) -> Iterator[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter in torch's state-dict order."""
        return param_shapes(self.input_size, self.hidden_size, self.num_layers, self.bias,
                            self.bidirectional, self.proj_size)

    def _groups(self, d: Mapping[str, _Array]) -> list[tuple[_Array | None, ...]]:
        """Per (layer, direction): (W_ih, W_hh, b_ih, b_hh, W_hr) from dict d."""
        out = []
        for layer in range(self.num_layers):
            for di in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if di else "")
                out.append(tuple(d.get(n + sfx) for n in
                                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")))
        return out

    # ---- forward and backward --------------------------------------------

    def _shapes_in(self, x: ArrayLike, hx: Sequence[ArrayLike] | None, lengths: ArrayLike | None
                   ) -> tuple[_Array, _Array | None, _Array | None, _Array | None, bool]:
        """Time-major contiguous x, h0, c0 and lengths; and the user's layout."""
        x = as_array("x", x, self.dtype)
        if x.ndim not in (2, 3):
            raise ValueError(f"x: expected 2-D (unbatched) or 3-D input, got {x.ndim}-D")
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None, :]
        elif self.batch_first:
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        T, B, I = x.shape
        if I != self.input_size:
            raise ValueError(f"x: expected last dimension input_size={self.input_size}, "
                             f"got shape {x.shape if not unbatched else x.shape[::2]}")
        if T < 1 or B < 1:
            raise ValueError(f"x: expected a non-empty sequence and batch, got T={T}, B={B}")
        LD = self.num_layers * self.num_directions
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("hx: expected a tuple (h_0, c_0)")
            want_h = (LD, self._R) if unbatched else (LD, B, self._R)
            want_c = (LD, self.hidden_size) if unbatched else (LD, B, self.hidden_size)
            h0 = as_array("h_0", hx[0], self.dtype)
            c0 = as_array("c_0", hx[1], self.dtype)
            if h0.shape != want_h:
                raise shape_error("h_0", want_h, h0.shape)
            if c0.shape != want_c:
                raise shape_error("c_0", want_c, c0.shape)
        if lengths is not None:
            if unbatched:
                raise ValueError("lengths: only for batched (3-D) input")
            lengths = as_lengths(lengths, T, B)
        return x, h0, c0, lengths, unbatched

    def _outputs(self, T: int, B: int) -> tuple[_Array, _Array, _Array]:
        D, R, LD = self.num_directions, self._R, self.num_layers * self.num_directions
        return (np.empty((T, B, D * R), self.dtype), np.empty((LD, B, R), self.dtype),
                np.empty((LD, B, self.hidden_size), self.dtype))

    def _user_layout(self, y: _Array, h_n: _Array, c_n: _Array, unbatched: bool
                     ) -> tuple[_Array, _State]:
        if unbatched:
            return y[:, 0, :], (h_n[:, 0, :], c_n[:, 0, :])
        if self.batch_first:
            y = np.ascontiguousarray(y.transpose(1, 0, 2))
        return y, (h_n, c_n)

    def __getstate__(self) -> dict[str, Any]:  # pickle and deepcopy rebuild the C pointers
        state = self.__dict__.copy()
        for name in ("_weights", "_handle", "_handle_lock", "_call_work"):
            del state[name]
        state["_sizes"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._weights = _core.weights(*self._dims(), self._groups(self._params))
        self._init_prepared()

    def __copy__(self) -> LSTM:
        # A shallow copy shares the parameter arrays: a write through either
        # model is one the other's prepared handle would not see.
        self._escaped = True
        new = type(self).__new__(type(self))
        new.__setstate__(self.__getstate__())
        return new

    # ---- the prepared handle ------------------------------------------------
    #
    # Inference runs from a C handle (pylstm_model) holding its own copy of
    # the parameters, made once per parameter version instead of reading the
    # arrays on every call. The copy must never be stale, and NumPy cannot
    # report writes, so (see pylstm._module.Module): every pylstm code path
    # that writes parameters bumps _version, and the handle is remade on the
    # next call; once a live array has been handed to user code (_escaped),
    # inference reads the arrays on every call, as before.

    def _init_prepared(self) -> None:
        self._handle = None  # (version, _core.Handle)
        self._handle_lock = threading.Lock()
        self._call_work = _core.WorkBuffer()  # the work of __call__'s fast path
        self._retired_runs = 0  # calls served by handles made before the current one

    @property
    def _prepared_runs(self) -> int:
        """Calls served by the prepared handles (for tests)."""
        entry = self._handle
        return self._retired_runs + (entry[1].runs if entry is not None else 0)

    def _prepared(self) -> _core.Handle | None:
        """The handle for the current parameters, or None when they escaped."""
        if self._escaped:
            return None
        entry = self._handle
        if entry is not None and entry[0] == self._version:
            return entry[1]
        with self._handle_lock:  # one thread remakes it; the others wait for it
            entry = self._handle
            version = self._version  # read before copying: a later write bumps it again
            if entry is None or entry[0] != version:
                with self._sync.read():  # a copy of one version, never half-updated
                    version = self._version
                    handle = _core.handle_create(*self._dims(), self._weights)
                if entry is not None:
                    self._retired_runs += entry[1].runs
                entry = self._handle = (version, handle)
        return entry[1]

    def _sizes_for(self, T: int, B: int) -> tuple[int, int, int, int]:
        """(work_forward, work_train, reserve, work_backward) bytes, cached."""
        key = (T, B, _core.get_num_threads())
        s = self._sizes.get(key)
        if s is None:
            if len(self._sizes) > 16:
                self._sizes.clear()
            s = self._sizes[key] = _core.model_sizes(*self._dims(), T, B)
        return s

    def _dims(self) -> tuple[bool, int, int, int, int, bool]:
        return (self.dtype == np.float64, self.input_size, self.hidden_size, self.proj_size,
                self.num_layers, self.bidirectional)

    def __call__(self, x: ArrayLike, hx: Sequence[ArrayLike] | None = None, *,
                 lengths: ArrayLike | None = None) -> tuple[_Array, _State]:
        """Inference forward.

        Parameters
        ----------
        x : array, shape (T, B, input_size), (B, T, input_size) if batch_first,
            or (T, input_size) unbatched
        hx : tuple (h_0, c_0), optional
            h_0 of shape (num_layers*D, B, R), c_0 of shape (num_layers*D, B, H)
            (without the B axis for unbatched input); zeros when omitted.
        lengths : array of int, shape (B,), optional
            Each sequence's length in 1..T, any order: steps past it are padding
            (zero output; h_n, c_n taken at the last real step).

        Returns
        -------
        output : ndarray, shape (T, B, D*R) (batch_first: (B, T, D*R))
        (h_n, c_n) : ndarrays shaped like h_0 and c_0
        """
        # The fast path: the current handle, and arrays the core takes as they
        # are (Handle.call checks them in C, else returns None).
        entry = self._handle
        if (lengths is None and entry is not None and entry[0] == self._version
                and not self._escaped):
            out = entry[1].call(x, hx, self.batch_first, self._call_work)
            if out is not None:
                return out
        x, h0, c0, lengths, unbatched = self._shapes_in(x, hx, lengths)
        T, B, _ = x.shape
        y, h_n, c_n = self._outputs(T, B)
        handle = self._prepared()
        if handle is not None:
            work = self._work.take(handle.run_size(T, B))
            try:
                handle.run(T, B, x, h0, c0, lengths, y, h_n, c_n, work)
            finally:
                self._work.give(work)
            return self._user_layout(y, h_n, c_n, unbatched)
        f64, I, H, P, L, bidir = self._dims()
        work = self._work.take(self._sizes_for(T, B)[0])
        try:
            with self._sync.read():
                _core.model_forward(f64, I, H, P, L, bidir, self._weights, T, B, x, h0, c0,
                                    lengths, y, h_n, c_n, work)
        finally:
            self._work.give(work)
        return self._user_layout(y, h_n, c_n, unbatched)

    forward = __call__

    def forward_train(self, x: ArrayLike, hx: Sequence[ArrayLike] | None = None, *,
                      lengths: ArrayLike | None = None) -> tuple[_Array, _State, _Cache]:
        """Training forward: as calling the model, with dropout, and a cache.

        Returns
        -------
        output, (h_n, c_n) : as from calling the model
        cache : opaque object for backward; it holds every step's gates and
            states, and once it is garbage the model keeps that memory (up
            to two caches' worth) for its next forward_train
        """
        x, h0, c0, lengths, unbatched = self._shapes_in(x, hx, lengths)
        T, B, _ = x.shape
        y, h_n, c_n = self._outputs(T, B)
        f64, I, H, P, L, bidir = self._dims()
        _, work_size, reserve_size, _ = self._sizes_for(T, B)
        reserve = self._reserves.take(reserve_size)
        seed = int(self._rng.integers(0, 2**63)) if self.dropout > 0 else 0
        work = self._work.take(work_size)
        try:
            with self._sync.read():
                _core.model_forward(f64, I, H, P, L, bidir, self._weights, T, B, x, h0, c0,
                                    lengths, y, h_n, c_n, work, reserve, self.dropout, seed)
        finally:
            self._work.give(work)
        cache = _Cache()
        cache.owner, cache.x, cache.lengths, cache.reserve = self, x, lengths, reserve
        cache.T, cache.B, cache.unbatched, cache.batch_first = T, B, unbatched, self.batch_first
        out, state = self._user_layout(y, h_n, c_n, unbatched)
        cache.out_shape = out.shape
        return out, state, cache

    def backward(self, cache: _Cache, d_output: ArrayLike | None, d_h_n: ArrayLike | None = None,
                 d_c_n: ArrayLike | None = None) -> tuple[_Array, _State]:
        """Back-propagation through time from a forward_train cache.

        Parameter gradients are added into self.grads (like torch's .grad).

        Parameters
        ----------
        cache : the third result of forward_train on this model
        d_output : array shaped like that call's output (None: zeros)
        d_h_n, d_c_n : arrays shaped like h_n and c_n, optional

        Returns
        -------
        dx : ndarray shaped like x
        (dh_0, dc_0) : ndarrays shaped like h_0 and c_0
        """
        if not isinstance(cache, _Cache) or cache.owner is not self:
            raise ValueError("cache: expected the cache of a forward_train call on this model")
        T, B, LD = cache.T, cache.B, self.num_layers * self.num_directions
        R, H = self._R, self.hidden_size
        dy = None
        if d_output is not None:
            dy = as_array("d_output", d_output, self.dtype)
            if dy.shape != cache.out_shape:
                raise shape_error("d_output", cache.out_shape, dy.shape)
            if cache.unbatched:
                dy = dy[:, None, :]
            elif cache.batch_first:
                dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
        states = []
        for name, value, width in (("d_h_n", d_h_n, R), ("d_c_n", d_c_n, H)):
            if value is not None:
                want = (LD, width) if cache.unbatched else (LD, B, width)
                value = as_array(name, value, self.dtype)
                if value.shape != want:
                    raise shape_error(name, want, value.shape)
                value = value.reshape(LD, B, width)
            states.append(value)
        dx = np.empty((T, B, self.input_size), self.dtype)
        dh0 = np.empty((LD, B, R), self.dtype)
        dc0 = np.empty((LD, B, H), self.dtype)
        f64, I, H, P, L, bidir = self._dims()
        work = self._work.take(self._sizes_for(T, B)[3])

        def run(grads: dict[str, _Array]) -> None:
            _core.model_backward(f64, I, H, P, L, bidir, self._weights, self._groups(grads),
                                 T, B, cache.x, cache.lengths, cache.reserve, dy, states[0],
                                 states[1], dx, dh0, dc0, work)

        try:
            with self._sync.read():
                self._add_grads(run)
        finally:
            self._work.give(work)
        if cache.unbatched:
            return dx[:, 0, :], (dh0[:, 0, :], dc0[:, 0, :])
        if cache.batch_first:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        return dx, (dh0, dc0)

    def stream(self, batch: int | None = None) -> Stream:
        """A pylstm.stream.Stream: one step per call with weights packed once.

        For real-time inference; see Stream. batch=None steps one unbatched
        sequence."""
        from .stream import Stream

        return Stream(self, batch)

    def gates(self, x: ArrayLike, hx: Sequence[ArrayLike] | None = None, *,
              lengths: ArrayLike | None = None) -> list[dict[str, _Array]]:
        """The activations inside every layer direction for input x.

        Runs the training forward without dropout and reads what it saves for
        backward (no second implementation of the equations).

        Returns
        -------
        list of dict, one per (layer, direction) in order layer*D + direction,
            each with "i", "f", "g", "o", "c" of shape (T, B, H) and "h" of
            shape (T, B, R), time-major whatever batch_first says (B = 1 for
            unbatched input). Padding steps (past a sequence's length) are 0.
        """
        x, h0, c0, lengths, _ = self._shapes_in(x, hx, lengths)
        T, B, _ = x.shape
        y, h_n, c_n = self._outputs(T, B)
        f64, I, H, P, L, bidir = self._dims()
        _, work_size, reserve_size, _ = _core.model_sizes(f64, I, H, P, L, bidir, T, B)
        reserve = np.empty(reserve_size, np.uint8)
        with self._sync.read():
            _core.model_forward(f64, I, H, P, L, bidir, self._groups(self._params), T, B, x, h0,
                                c0, lengths, y, h_n, c_n, np.empty(work_size, np.uint8), reserve,
                                0.0, 0)
        pad = None
        if lengths is not None:
            pad = np.arange(T)[:, None] >= lengths[None, :]  # (T, B)
        out = []
        for layer in range(L):
            for d in range(self.num_directions):
                g, c, h = _core.model_trace(f64, I, H, P, L, bidir, T, B, reserve, layer, d)
                entry = {"i": g[..., :H], "f": g[..., H:2 * H], "g": g[..., 2 * H:3 * H],
                         "o": g[..., 3 * H:], "c": c, "h": h}
                for k in entry:
                    entry[k] = np.ascontiguousarray(entry[k])
                    if pad is not None:
                        entry[k][pad] = 0
                out.append(entry)
        return out

    @classmethod
    def from_torch(cls, module: Any) -> LSTM:
        """An LSTM with a torch.nn.LSTM's arguments and weights.

        The arguments (input_size, hidden_size, num_layers, bias, batch_first,
        dropout, bidirectional, proj_size) are read off the module's
        attributes and the dtype is its parameters' (float32 or float64);
        torch itself is not imported. pylstm.interop.from_torch takes an
        LSTM or an LSTMCell alike."""
        if not hasattr(module, "num_layers"):
            raise TypeError(f"module: expected a torch.nn.LSTM, got {type(module).__name__}")
        return cls._from_torch(module)
