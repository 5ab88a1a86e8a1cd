"""Moving weights between pylstm and PyTorch or Keras.

Nothing here imports torch or keras: modules and layers are read through
their public attributes (duck typing), and tensors become NumPy arrays.

PyTorch and pylstm share one layout (W_ih (4H, I), W_hh (4H, R), b_ih, b_hh
(4H), W_hr (P, H), gates i, f, g, o), so conversion is a copy. Keras stores
``kernel`` (I, 4H) and ``recurrent_kernel`` (H, 4H) with gates i, f, c, o
(Keras' c is torch's g) and one ``bias`` (4H); so W_ih = kernel.T,
W_hh = recurrent_kernel.T, b_ih = bias, b_hh = 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._checks import float_dtype as _float_dtype
from .cell import LSTMCell
from .lstm import LSTM


def from_torch(module: Any) -> LSTM | LSTMCell:
    """A pylstm.LSTM or pylstm.LSTMCell with a torch module's configuration and weights.

    Parameters
    ----------
    module : torch.nn.LSTM or torch.nn.LSTMCell (or anything with their
        attributes and a ``state_dict()``)
        Modules with num_layers become an LSTM (input_size, hidden_size,
        num_layers, bias, batch_first, dropout, bidirectional, proj_size are
        copied), others an LSTMCell. The dtype (float32/float64) is the
        parameters'.

    Returns
    -------
    pylstm.LSTM or pylstm.LSTMCell, computing what the module computes.
    """
    cls = LSTM if hasattr(module, "num_layers") else LSTMCell
    return cls.from_torch(module)


def to_torch_state_dict(model: LSTM | LSTMCell) -> dict[str, NDArray[Any]]:
    """The parameters as a dict of NumPy arrays under torch's names.

    ``torch.nn.LSTM(...).load_state_dict({k: torch.from_numpy(v) for k, v in d.items()})``
    accepts it (the arrays are fresh, writable copies), for a torch module
    built with the same arguments and dtype.
    """
    if not isinstance(model, (LSTM, LSTMCell)):
        raise TypeError(f"model: expected a pylstm.LSTM or pylstm.LSTMCell, "
                        f"got {type(model).__name__}")
    return model.to_torch_state_dict()


def _keras_lstm_parts(layer: Any) -> tuple[int, bool, list[NDArray[Any]]]:
    """(units, use_bias, weights list) of a keras LSTM layer, after checking it."""
    for attr, want in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        fn = getattr(layer, attr, None)
        name = getattr(fn, "__name__", str(fn))
        if name != want:
            raise ValueError(f"layer: {attr}={name!r} is not what torch/pylstm compute "
                             f"({want!r})")
    return int(layer.units), bool(layer.use_bias), [np.array(w) for w in layer.get_weights()]


def _keras_direction(weights: list[NDArray[Any]], use_bias: bool, what: str
                     ) -> dict[str, NDArray[Any]]:
    """torch (W_ih, W_hh, b_ih, b_hh) from Keras (kernel, recurrent_kernel[, bias])."""
    n = 3 if use_bias else 2
    if len(weights) != n:
        raise ValueError(f"{what}: expected {n} arrays (kernel, recurrent_kernel"
                         f"{', bias' if use_bias else ''}), got {len(weights)}")
    kernel, recurrent = weights[0], weights[1]
    if kernel.ndim != 2 or recurrent.ndim != 2 or recurrent.shape[1] != 4 * recurrent.shape[0] \
            or kernel.shape[1] != recurrent.shape[1]:
        raise ValueError(f"{what}: expected kernel (I, 4H) and recurrent_kernel (H, 4H), "
                         f"got {kernel.shape} and {recurrent.shape}")
    out = {"weight_ih": kernel.T, "weight_hh": recurrent.T}
    if use_bias:
        if weights[2].shape != (kernel.shape[1],):
            raise ValueError(f"{what}: expected bias ({kernel.shape[1]},), "
                             f"got {weights[2].shape}")
        out["bias_ih"] = weights[2]
        out["bias_hh"] = np.zeros_like(weights[2])
    return out


def from_keras(layer_or_weights: Any, *, bidirectional: bool = False, use_bias: bool = True,
               dtype: DTypeLike | None = None, batch_first: bool = True) -> LSTM:
    """A pylstm.LSTM with the weights of Keras LSTM layers.

    Parameters
    ----------
    layer_or_weights : one of
        - a ``keras.layers.LSTM``;
        - a ``keras.layers.Bidirectional`` wrapping one (merge_mode "concat",
          Keras' default, is pylstm's output layout [forward, reverse]);
        - a list of such layers, stacked: layer l reads layer l-1's output
          (all unidirectional or all bidirectional, same units);
        - the list ``layer.get_weights()`` returns: [kernel, recurrent_kernel,
          bias] (or without bias when use_bias=False), twice (forward then
          backward) when bidirectional=True.
    bidirectional, use_bias : bool
        Only for a list of arrays; read from the layers otherwise.
    dtype : float32 or float64, optional
        Default: the weights' dtype.
    batch_first : bool, default True
        Keras sequences are (B, T, features), hence the default.

    Returns
    -------
    pylstm.LSTM

    Notes
    -----
    Only the weights are converted; how the layers were called is up to the
    caller. ``model(x)`` gives, for x of shape (B, T, I): the output of
    ``return_sequences=True`` (take ``output[:, -1]`` for Keras' default
    return_sequences=False) and, as ``(h_n, c_n)``, Keras' ``return_state``
    states (for Bidirectional: forward h, c are ``h_n[0], c_n[0]``, backward
    ``h_n[1], c_n[1]``). A unidirectional layer with ``go_backwards=True``
    reads the sequence reversed: pass ``x[:, ::-1]`` (its outputs then come
    in that reversed order too, as in Keras). Masking is pylstm's
    ``lengths=`` argument. Keras' ``dropout`` / ``recurrent_dropout`` and
    ``stateful`` have no equivalent and are not carried over.
    """
    items = layer_or_weights
    if isinstance(items, (list, tuple)) and items and all(
            hasattr(x, "get_weights") for x in items):
        layers = list(items)
    elif hasattr(items, "get_weights"):
        layers = [items]
    else:
        layers = None
    directions = []  # per layer: list of per-direction dicts
    if layers is None:
        weights = [np.array(w) for w in items]
        per = 3 if use_bias else 2
        if bidirectional:
            directions.append([_keras_direction(weights[:per], use_bias, "forward weights"),
                               _keras_direction(weights[per:], use_bias, "backward weights")])
        else:
            directions.append([_keras_direction(weights, use_bias, "weights")])
    else:
        kinds = set()
        for k, layer in enumerate(layers):
            if hasattr(layer, "forward_layer") and hasattr(layer, "backward_layer"):
                if getattr(layer, "merge_mode", "concat") != "concat":
                    raise ValueError(f"layers[{k}]: Bidirectional merge_mode="
                                     f"{layer.merge_mode!r}; pylstm concatenates [forward, "
                                     "reverse] (merge_mode='concat')")
                fwd, bwd = layer.forward_layer, layer.backward_layer
                if getattr(fwd, "go_backwards", False) or not getattr(bwd, "go_backwards", True):
                    raise ValueError(f"layers[{k}]: expected a forward and a go_backwards layer")
                u1, b1, w1 = _keras_lstm_parts(fwd)
                u2, b2, w2 = _keras_lstm_parts(bwd)
                if (u1, b1) != (u2, b2):
                    raise ValueError(f"layers[{k}]: directions differ in units or use_bias")
                directions.append([_keras_direction(w1, b1, f"layers[{k}].forward_layer"),
                                   _keras_direction(w2, b2, f"layers[{k}].backward_layer")])
                kinds.add((True, u1, b1))
            else:
                u, b, w = _keras_lstm_parts(layer)
                directions.append([_keras_direction(w, b, f"layers[{k}]")])
                kinds.add((False, u, b))
        if len(kinds) != 1:
            raise ValueError("layers: stacked layers must share units, use_bias and "
                             "directionality")
        bidirectional, _, use_bias = kinds.pop()
    first = directions[0][0]
    H, I = first["weight_hh"].shape[1], first["weight_ih"].shape[1]
    if dtype is None:
        dtype = _float_dtype([first["weight_ih"]], "weights")
    model = LSTM(I, H, num_layers=len(directions), bias=use_bias, batch_first=batch_first,
                 bidirectional=bidirectional, dtype=dtype)
    state = {}
    for layer, dirs in enumerate(directions):
        for d, params in enumerate(dirs):
            for name, value in params.items():
                state[f"{name}_l{layer}" + ("_reverse" if d else "")] = value
    model.load_state_dict(state)  # checks every shape (e.g. layer l's input size)
    return model
