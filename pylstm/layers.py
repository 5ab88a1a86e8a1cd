"""The layers around an LSTM, with torch.nn's names and numbers, NumPy in and out.

- ``Linear``: a read-out for an LSTM's hidden states, y = x W^T + b on the
  last axis, so it takes (B, in_features) and (T, B, in_features) alike.
- ``Embedding``: token ids to vectors, the usual input of a text model.
- ``Dropout``: zeroes elements with probability p while training.

Each follows the module pattern of pylstm.LSTM: calling it is inference,
``forward_train`` returns a cache for ``backward``, which adds the parameter
gradients into ``grads`` (and returns the gradient of its input, where the
input is real-valued).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import (as_array, as_dtype, as_float_array, check_param_count, check_size,
                      shape_error)
from ._module import Module


def _check_cache(layer: Module, cache: Any, kind: type) -> None:
    """Refuses a cache that is not from forward_train on this very layer."""
    if not isinstance(cache, kind) or getattr(cache, "owner", None) is not layer:
        raise ValueError("cache: expected the cache of a forward_train call on this layer")


class _LinearCache:
    """What Linear.backward needs from Linear.forward_train. Opaque to users."""

    __slots__ = ("owner", "shape", "x")
    owner: Linear
    shape: tuple[int, ...]
    x: NDArray[Any]


class Linear(Module):
    """y = x W^T + b over the last axis, with torch.nn.Linear's names and init.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    dtype : float32 or float64
    seed : int or None
        Seeds torch's initialisation: kaiming_uniform_(a=sqrt(5)) for the
        weight, which is U(-1/sqrt(in_features), 1/sqrt(in_features)), and the
        same bound for the bias.

    Attributes
    ----------
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,) (absent when bias=False)
    grads : dict of ndarrays shaped like the parameters
    """

    in_features: int
    out_features: int

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: DTypeLike = np.float32, seed: int | None = None) -> None:
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        self.dtype = as_dtype(dtype)
        check_param_count(f"in_features={self.in_features}, out_features={self.out_features}",
                          self.out_features * (self.in_features + 1), self.dtype)
        rng = np.random.default_rng(seed)
        # kaiming_uniform_ with a=sqrt(5): gain sqrt(2/(1+a^2)) = sqrt(1/3), bound
        # gain*sqrt(3/fan_in) = 1/sqrt(fan_in); torch draws the bias with that bound too.
        k = 1.0 / math.sqrt(self.in_features)
        self._params = {"weight": rng.uniform(-k, k, (self.out_features, self.in_features))
                        .astype(self.dtype)}
        if bias:
            self._params["bias"] = rng.uniform(-k, k, self.out_features).astype(self.dtype)
        self.grads = {n: np.zeros_like(p) for n, p in self._params.items()}

    def __getattr__(self, name: str) -> Any:
        if name == "bias" and "_params" in self.__dict__:
            return self._params.get("bias")  # torch's bias=False gives .bias None
        return super().__getattr__(name)

    def _config_value(self, name: str) -> Any:
        """A constructor argument's value (see pylstm._config): bias is a flag
        there, while the attribute is the array (torch's)."""
        return "bias" in self._params if name == "bias" else getattr(self, name)

    # ---- forward and backward ---------------------------------------------

    def _input(self, x: ArrayLike) -> NDArray[Any]:
        x = as_array("input", x, self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"input: expected last dimension in_features={self.in_features}, "
                             f"got shape {x.shape}")
        return x

    def _apply(self, x: NDArray[Any]) -> NDArray[Any]:
        with self._sync.read():
            y = x @ self._params["weight"].T
            if "bias" in self._params:
                y += self._params["bias"]
        return y

    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        """y = x W^T + b.

        Parameters
        ----------
        x : array, shape (..., in_features)

        Returns
        -------
        y : ndarray, shape (..., out_features)
        """
        return self._apply(self._input(x))

    forward = __call__

    def forward_train(self, x: ArrayLike) -> tuple[NDArray[Any], _LinearCache]:
        """As calling the layer, plus a cache for backward: (y, cache)."""
        x = self._input(x)
        cache = _LinearCache()
        cache.owner, cache.x, cache.shape = self, x, x.shape[:-1] + (self.out_features,)
        return self._apply(x), cache

    def backward(self, cache: _LinearCache, d_out: ArrayLike) -> NDArray[Any]:
        """Adds dW = d_out^T x and db = sum(d_out) into grads; returns d_x.

        Parameters
        ----------
        cache : the second result of forward_train on this layer
        d_out : array shaped like that call's output

        Returns
        -------
        d_x : ndarray shaped like x
        """
        _check_cache(self, cache, _LinearCache)
        dy = as_array("d_out", d_out, self.dtype)
        if dy.shape != cache.shape:
            raise shape_error("d_out", cache.shape, dy.shape)
        dy2 = dy.reshape(-1, self.out_features)
        dw = dy2.T @ cache.x.reshape(-1, self.in_features)
        db = dy2.sum(axis=0) if "bias" in self._params else None
        with self._sync.read():
            with self._sync.grads:
                self.grads["weight"] += dw
                if db is not None:
                    self.grads["bias"] += db
            return dy @ self._params["weight"]

    def __repr__(self) -> str:
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={'bias' in self._params}, dtype={self.dtype.name})")


class _EmbeddingCache:
    """What Embedding.backward needs from Embedding.forward_train. Opaque to users."""

    __slots__ = ("owner", "indices", "shape")
    owner: Embedding
    indices: NDArray[np.intp]
    shape: tuple[int, ...]


class Embedding(Module):
    """A lookup table of vectors, one per token id, with torch.nn.Embedding's
    names, initialisation and gradients.

    Parameters
    ----------
    num_embeddings : int
        The vocabulary size: valid ids are 0..num_embeddings-1.
    embedding_dim : int
        D, the length of each vector.
    padding_idx : int or None
        An id whose row starts at zero and never receives a gradient (so
        padding positions stay zero vectors under training). Negative values
        count from the end, as in torch.
    dtype : float32 or float64
    seed : int or None
        Seeds torch's initialisation: every weight drawn from N(0, 1), then
        the padding_idx row set to zero.

    Attributes
    ----------
    weight : ndarray, shape (num_embeddings, embedding_dim)
    grads : dict with "weight", shaped like it

    Notes
    -----
    torch's ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` options are
    not offered; the gradient is always the dense table torch computes
    without them.
    """

    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None, *, dtype: DTypeLike = np.float32,
                 seed: int | None = None) -> None:
        self.num_embeddings = check_size("num_embeddings", num_embeddings)
        self.embedding_dim = check_size("embedding_dim", embedding_dim)
        n = self.num_embeddings
        if padding_idx is not None:
            padding_idx = check_size("padding_idx", padding_idx, minimum=-n, maximum=n - 1)
            padding_idx += n if padding_idx < 0 else 0
        self.padding_idx = padding_idx
        self.dtype = as_dtype(dtype)
        check_param_count(f"num_embeddings={n}, embedding_dim={self.embedding_dim}",
                          n * self.embedding_dim, self.dtype)
        rng = np.random.default_rng(seed)
        weight = rng.standard_normal((n, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self._params = {"weight": weight}
        self.grads = {"weight": np.zeros_like(weight)}

    def _indices(self, indices: ArrayLike) -> NDArray[np.intp]:
        """The ids as an integer array, each checked to be in range."""
        try:
            arr = np.asarray(indices)
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"input: expected an array of integer token ids, "
                            f"got {type(indices).__name__}") from e
        if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind in "biuf"):
            raise TypeError(f"input: expected integer token ids, got dtype {arr.dtype}")
        if arr.size:
            low, high = arr.min(), arr.max()
            if low < 0 or high >= self.num_embeddings:
                bad = low if low < 0 else high
                raise IndexError(f"input: expected token ids in 0..{self.num_embeddings - 1} "
                                 f"(num_embeddings={self.num_embeddings}), got {bad}")
        return arr.astype(np.intp, copy=False)

    def __call__(self, indices: ArrayLike) -> NDArray[Any]:
        """The rows of the table for the ids.

        Parameters
        ----------
        indices : array of int, any shape (...)
            Token ids in 0..num_embeddings-1.

        Returns
        -------
        ndarray, shape (..., embedding_dim): a new array (writing it leaves
        the table unchanged)
        """
        idx = self._indices(indices)
        with self._sync.read():
            return self._params["weight"].take(idx, axis=0)

    forward = __call__

    def forward_train(self, indices: ArrayLike) -> tuple[NDArray[Any], _EmbeddingCache]:
        """As calling the layer, plus a cache for backward: (vectors, cache)."""
        idx = self._indices(indices)
        cache = _EmbeddingCache()
        cache.owner, cache.indices = self, idx
        cache.shape = idx.shape + (self.embedding_dim,)
        with self._sync.read():
            return self._params["weight"].take(idx, axis=0), cache

    def backward(self, cache: _EmbeddingCache, d_out: ArrayLike) -> None:
        """Adds the gradient of the table into grads["weight"].

        Row k receives the sum of d_out over every position holding id k
        (repeated ids add up); the padding_idx row receives nothing. Token
        ids have no gradient, so nothing is returned.

        Parameters
        ----------
        cache : the second result of forward_train on this layer
        d_out : array, shape (..., embedding_dim), shaped like that call's output
        """
        _check_cache(self, cache, _EmbeddingCache)
        dy = as_array("d_out", d_out, self.dtype)
        if dy.shape != cache.shape:
            raise shape_error("d_out", cache.shape, dy.shape)
        ids = cache.indices.reshape(-1)
        rows = dy.reshape(-1, self.embedding_dim)
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids, rows = ids[keep], rows[keep]

        def add(grads: dict[str, NDArray[Any]]) -> None:
            np.add.at(grads["weight"], ids, rows)  # unbuffered: repeated ids accumulate

        self._add_grads(add)


class _DropoutCache:
    """What Dropout.backward needs from Dropout.forward_train.

    ``mask`` (bool, shaped like the input) is True where an element was kept."""

    __slots__ = ("owner", "mask", "scale", "shape")
    owner: Dropout
    mask: NDArray[np.bool_]
    scale: float
    shape: tuple[int, ...]


class Dropout(Module):
    """torch.nn.Dropout: while training, zeroes each element with probability
    p and scales the others by 1/(1-p); inference passes the input through.

    Parameters
    ----------
    p : float in [0, 1], default 0.5
        The probability of an element being zeroed. p=1 zeroes everything.
    seed : int or None
        Seeds the generator of the masks (one draw per forward_train call).

    A layer without parameters: ``state_dict()`` is empty, and it may sit in
    the module list given to an optimiser.
    """

    p: float
    _rng: np.random.Generator

    def __init__(self, p: float = 0.5, *, seed: int | None = None) -> None:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError("p: dropout probability has to be between 0 and 1, "
                             f"got {p!r}")
        self.p = float(p)
        self._rng = np.random.default_rng(seed)
        self._params = {}
        self.grads = {}

    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        """Inference: the input itself (as an array), as torch's eval mode.

        Parameters
        ----------
        x : array, any shape

        Returns
        -------
        ndarray, x as given (integer input as float64)
        """
        return as_float_array("input", x)

    forward = __call__

    def forward_train(self, x: ArrayLike) -> tuple[NDArray[Any], _DropoutCache]:
        """Training: (x * mask / (1 - p), cache), a fresh mask per call.

        Each element is kept with probability 1 - p, independently; the
        cache's ``mask`` holds which were kept."""
        arr = as_float_array("input", x)
        cache = _DropoutCache()
        cache.owner, cache.shape = self, arr.shape
        # rng.random is in [0, 1): p=0 keeps everything and p=1 nothing, exactly.
        cache.mask = self._rng.random(arr.shape) >= self.p
        cache.scale = 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)
        return arr * (cache.mask * arr.dtype.type(cache.scale)), cache

    def backward(self, cache: _DropoutCache, d_out: ArrayLike) -> NDArray[Any]:
        """d_x = mask * d_out / (1 - p) (zeros for p=1).

        Parameters
        ----------
        cache : the second result of forward_train on this layer
        d_out : array shaped like that call's output

        Returns
        -------
        d_x : ndarray shaped like x
        """
        _check_cache(self, cache, _DropoutCache)
        dy = as_float_array("d_out", d_out)
        if dy.shape != cache.shape:
            raise shape_error("d_out", cache.shape, dy.shape)
        return dy * (cache.mask * dy.dtype.type(cache.scale))

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
