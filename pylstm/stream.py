"""Step-by-step inference with weights packed once: LSTM.stream()."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike, NDArray

from . import _core
from ._checks import as_array, check_size, shape_error

if TYPE_CHECKING:
    from .lstm import LSTM


class Stream:
    """One time step per call, for real-time use (audio, control, sensors).

    Made by ``LSTM.stream(batch=None)``. The weights are packed for the
    matrix kernels once, at creation; call :meth:`refresh` after changing the
    model's parameters. The state (h, c) lives inside the stream and carries
    from step to step, exactly as if the steps were one sequence given to the
    model (``lstm(x_seq, hx)``). A step allocates nothing: it returns the same
    output array each time, overwritten by the next step (copy it to keep it).

    Parameters
    ----------
    model : LSTM, unidirectional (the reverse direction needs the whole sequence)
    batch : int or None
        B sequences stepped together; None for one unbatched sequence.

    Threads: a stream is one sequence of steps, so it may be used by one
    thread at a time; a call while another thread is inside a call on the
    same stream raises RuntimeError. Streams of one model are independent
    (one per thread is fine), and the model may be trained meanwhile: the
    stream keeps the packed copy it made until refresh().
    """

    def __init__(self, model: LSTM, batch: int | None = None) -> None:
        if model.bidirectional:
            raise ValueError("stream: needs a unidirectional model; the reverse direction "
                             "reads the whole sequence")
        self.model = model
        self.unbatched = batch is None
        B = 1 if batch is None else check_size("batch", batch)
        f64, I, H, P, L, _ = model._dims()
        with model._sync.read():  # pack one version of the parameters
            self._stepper = _core.Stepper(f64, I, H, P, L, model._groups(model._params), B,
                                          self.unbatched)
        self._in_shape = (I,) if self.unbatched else (B, I)
        y = self._stepper.y
        self._out = y[0] if self.unbatched else y

    def step(self, x: ArrayLike) -> NDArray[Any]:
        """Advances every sequence by one step.

        Parameters
        ----------
        x : array, shape (B, input_size), or (input_size,) unbatched

        Returns
        -------
        ndarray, shape (B, R) or (R,): the last layer's h_t (a buffer reused by
        the next step)
        """
        if self._stepper.step(x) is None:  # not yet an array of the shape and dtype
            x = as_array("x", x, self.model.dtype)
            if x.shape != self._in_shape:
                raise shape_error("x", self._in_shape, x.shape)
            self._stepper.step(x)
        return self._out

    __call__ = step

    @property
    def state(self) -> tuple[NDArray[Any], NDArray[Any]]:
        """Copies of (h, c), shaped like LSTM's h_n and c_n."""
        h, c = self._stepper.get_state()
        if self.unbatched:
            return h[:, 0], c[:, 0]
        return h, c

    def reset(self, hx: Sequence[ArrayLike] | None = None) -> None:
        """Sets the state to hx = (h_0, c_0) (shaped like LSTM's), or zeros."""
        h, c = self._stepper.h, self._stepper.c
        if hx is None:
            self._stepper.set_state(None, None)
            return
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError("hx: expected a tuple (h_0, c_0)")
        want_h = h.shape[::2] if self.unbatched else h.shape
        want_c = c.shape[::2] if self.unbatched else c.shape
        h0 = as_array("h_0", hx[0], self.model.dtype)
        c0 = as_array("c_0", hx[1], self.model.dtype)
        if h0.shape != want_h:
            raise shape_error("h_0", want_h, h0.shape)
        if c0.shape != want_c:
            raise shape_error("c_0", want_c, c0.shape)
        self._stepper.set_state(h0, c0)

    def __repr__(self) -> str:
        batch = None if self.unbatched else self._in_shape[0]
        return f"Stream({self.model!r}, batch={batch})"

    def refresh(self) -> None:
        """Re-packs the model's current parameters (after training steps)."""
        with self.model._sync.read():
            self._stepper.pack(self.model._groups(self.model._params))
