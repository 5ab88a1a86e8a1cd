"""What every pylstm module shares: parameters held in NumPy arrays under
torch's names, gradients beside them, and the state-dict round trip."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _config
from ._checks import as_array, float_dtype, shape_error, to_numpy

_M = TypeVar("_M", bound="Module")
_R = TypeVar("_R")


class _Sync:
    """The locks that make one model safe to use from several threads.

    - A readers-writer lock on the parameters: pylstm's own code that reads
      them while computing (training forward and backward, inference once
      the arrays escaped, copying them into a handle or a stream) holds it
      shared; code that writes them (optimizers' step, load_state_dict,
      parameter assignment) holds it alone, so no call sees a half-applied
      update. Neither side starves: a waiting writer keeps new readers out,
      and the readers that waited for a writer go in before the next writer
      (a thread calling load_state_dict in a loop cannot lock out
      inference). Not reentrant: pylstm never takes it twice in one thread.
    - ``grads``: a plain lock around every write of the gradients (backward
      adding a call's gradients, zero_grad, clipping), taken after the
      parameter lock when both are needed.

    Writes that user code makes to escaped arrays are outside these locks.
    """

    __slots__ = ("cond", "readers", "writers", "writing", "waiting", "owed", "grads")

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.readers = 0     # threads holding the lock shared
        self.writers = 0     # threads writing or waiting to
        self.writing = False
        self.waiting = 0     # readers waiting for writers
        self.owed = 0        # readers let in ahead of the next writer
        self.grads = threading.Lock()

    def __reduce__(self) -> tuple[type[_Sync], tuple[()]]:  # copies get locks of their own
        return (_Sync, ())

    def read(self) -> _Held:
        return _Held(self, False)

    def write(self) -> _Held:
        return _Held(self, True)


class _Held:
    """``with sync.read():`` / ``with sync.write():``."""

    __slots__ = ("sync", "exclusive")

    def __init__(self, sync: _Sync, exclusive: bool) -> None:
        self.sync, self.exclusive = sync, exclusive

    def __enter__(self) -> None:
        s = self.sync
        with s.cond:
            if self.exclusive:
                s.writers += 1
                while s.readers or s.writing or s.owed:
                    s.cond.wait()
                s.writing = True
            else:
                if s.writing or (s.writers and not s.owed):
                    s.waiting += 1
                    while s.writing or (s.writers and not s.owed):
                        s.cond.wait()
                    s.waiting -= 1
                    if s.owed:  # one of the readers a writer let in
                        s.owed -= 1
                        if not s.owed:
                            s.cond.notify_all()  # a writer may wait for the last one
                s.readers += 1

    def __exit__(self, *exc: object) -> None:
        s = self.sync
        with s.cond:
            if self.exclusive:
                s.writers -= 1
                s.writing = False
                # the readers that waited for this writer go in before the next
                # one, even one that arrives before they wake up
                s.owed = s.waiting
                s.cond.notify_all()
            else:
                s.readers -= 1
                if not s.readers:
                    s.cond.notify_all()


class Module:
    """Base of LSTM, LSTMCell and Linear. Subclasses fill ``self._params``
    (name -> array, in torch's state-dict order), ``self.grads`` (same names
    and shapes) and ``self.dtype``.

    A model may keep a prepared copy of its parameters (LSTM keeps the C
    library's handle). Two counters keep such a copy honest, since NumPy
    cannot report a write to an array:

    - ``_version`` grows whenever pylstm itself changes the parameters
      (load_state_dict, assigning a parameter attribute, pylstm's optimizers),
      so a copy made at another version is stale;
    - ``_escaped`` turns true, for good, once a live parameter array has been
      handed to user code (parameters(), named_parameters(), reading a
      parameter attribute), which may then write it at any time: such a model
      must read its arrays on every call.

    pylstm's own code reaches the arrays through ``_live_parameters()``, which
    does not mark them escaped.
    """

    _version = 0
    _escaped = False
    _sync: _Sync
    _params: dict[str, NDArray[Any]]
    grads: dict[str, NDArray[Any]]
    dtype: np.dtype[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("pylstm.") and not cls.__name__.startswith("_"):
            _config.register(cls)  # so that _config.from_config finds it by name

    def __new__(cls: type[_M], *args: Any, **kwargs: Any) -> _M:
        self = super().__new__(cls)
        object.__setattr__(self, "_sync", _Sync())  # before any __init__ runs
        return self

    def __repr__(self) -> str:
        return _config.describe(self)  # LSTM(8, 16, num_layers=2, dtype=float32)

    def parameters(self) -> list[NDArray[Any]]:
        """The live parameter arrays, in state-dict order (update them in place)."""
        self._escaped = True
        return list(self._params.values())

    def named_parameters(self) -> list[tuple[str, NDArray[Any]]]:
        """(name, live array) pairs in state-dict order."""
        self._escaped = True
        return list(self._params.items())

    def _live_parameters(self) -> list[tuple[str, NDArray[Any]]]:
        """named_parameters() for pylstm's own code: call _params_changed()
        after writing any of them."""
        return list(self._params.items())

    def _params_changed(self) -> None:
        self._version += 1

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            self._escaped = True
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            # Parameters are never replaced (the C pointers to them are
            # collected once): assigning one copies the values in.
            arr = as_array(name, value, self.dtype)
            if arr.shape != params[name].shape:
                raise shape_error(name, params[name].shape, arr.shape)
            with self._sync.write():
                np.copyto(params[name], arr)
                self._params_changed()
            return
        object.__setattr__(self, name, value)

    def state_dict(self) -> dict[str, NDArray[Any]]:
        """Copies of the parameters under torch's names (of one version: an
        optimizer step in another thread is wholly in or out)."""
        with self._sync.read():
            return {name: p.copy() for name, p in self._params.items()}

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike], strict: bool = True) -> None:
        """Copies arrays into the parameters, checking names and shapes first.

        Nothing is changed unless every entry is valid."""
        missing = [n for n in self._params if n not in state_dict]
        unexpected = [n for n in state_dict if n not in self._params]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        staged: dict[str, NDArray[Any]] = {}
        for name, value in state_dict.items():
            if name not in self._params:
                continue
            arr = as_array(f"state_dict[{name!r}]", value, self.dtype)
            if arr.shape != self._params[name].shape:
                raise shape_error(f"state_dict[{name!r}]", self._params[name].shape, arr.shape)
            staged[name] = arr
        with self._sync.write():
            for name, arr in staged.items():
                np.copyto(self._params[name], arr)
            self._params_changed()

    def to_torch_state_dict(self) -> dict[str, NDArray[Any]]:
        """The parameters as NumPy arrays that the torch module's
        load_state_dict accepts: fresh copies under torch's names (the state
        dict; ``{k: torch.from_numpy(v) for k, v in d.items()}`` for torch)."""
        return self.state_dict()

    def zero_grad(self) -> None:
        """Sets every gradient to zero (they accumulate, like torch's .grad)."""
        with self._sync.grads:
            for g in self.grads.values():
                g[...] = 0

    def _add_grads(self, compute: Callable[[dict[str, NDArray[Any]]], _R]) -> _R:
        """Runs compute(grads), which adds one call's parameter gradients into
        the arrays of the dict it is given, so that calls from several threads
        sum exactly: when no other thread is adding, into self.grads directly
        under the gradient lock; otherwise into zeroed arrays of this call,
        added to self.grads under the lock afterwards."""
        lock = self._sync.grads
        if lock.acquire(blocking=False):
            try:
                return compute(self.grads)
            finally:
                lock.release()
        own = {name: np.zeros_like(g) for name, g in self.grads.items()}
        result = compute(own)
        with lock:
            for name, g in own.items():
                self.grads[name] += g
        return result

    @classmethod
    def _from_torch(cls: type[_M], module: Any) -> _M:
        """A model with a torch module's constructor arguments (the fields of
        pylstm._config, read off its attributes) and weights; the dtype is
        the parameters'. Reads the module duck-typed: torch is not imported."""
        state = {k: to_numpy(v) for k, v in module.state_dict().items()}
        dtype = float_dtype(state.values(), "module")
        model = cls(**_config.from_attributes(cls, module), dtype=dtype)
        model.load_state_dict(state)
        return model
