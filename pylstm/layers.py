"""pylstm.Linear: torch.nn.Linear's layer, NumPy in and out, with its backward.

A read-out for an LSTM's hidden states: y = x W^T + b on the last axis, so it
takes (B, in_features) and (T, B, in_features) alike. It follows the module
pattern of pylstm.LSTM: calling it is inference, ``forward_train`` returns a
cache for ``backward``, which adds the parameter gradients into ``grads``.
"""

import math

import numpy as np

from ._checks import as_array, as_dtype, check_param_count, check_size, shape_error
from ._module import Module


class _LinearCache:
    """What Linear.backward needs from Linear.forward_train. Opaque to users."""

    __slots__ = ("owner", "shape", "x")


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

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, seed=None):
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

    def __getattr__(self, name):
        if name == "bias" and "_params" in self.__dict__:
            return self._params.get("bias")  # torch's bias=False gives .bias None
        return super().__getattr__(name)

    # ---- forward and backward ---------------------------------------------

    def _input(self, x):
        x = as_array("input", x, self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"input: expected last dimension in_features={self.in_features}, "
                             f"got shape {x.shape}")
        return x

    def _apply(self, x):
        with self._sync.read():
            y = x @ self._params["weight"].T
            if "bias" in self._params:
                y += self._params["bias"]
        return y

    def __call__(self, x):
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

    def forward_train(self, x):
        """As calling the layer, plus a cache for backward: (y, cache)."""
        x = self._input(x)
        cache = _LinearCache()
        cache.owner, cache.x, cache.shape = self, x, x.shape[:-1] + (self.out_features,)
        return self._apply(x), cache

    def backward(self, cache, d_out):
        """Adds dW = d_out^T x and db = sum(d_out) into grads; returns d_x.

        Parameters
        ----------
        cache : the second result of forward_train on this layer
        d_out : array shaped like that call's output

        Returns
        -------
        d_x : ndarray shaped like x
        """
        if not isinstance(cache, _LinearCache) or cache.owner is not self:
            raise ValueError("cache: expected the cache of a forward_train call on this layer")
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

    def __repr__(self):
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={'bias' in self._params}, dtype={self.dtype.name})")
