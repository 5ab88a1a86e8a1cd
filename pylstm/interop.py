"""Moving weights between pylstm and PyTorch or Keras.

Reading needs neither torch nor keras: modules and layers are read through
their public attributes (duck typing), and tensors become NumPy arrays. Only
to_keras imports keras (when called), to build the layers it returns.

PyTorch and pylstm share one layout (W_ih (4H, I), W_hh (4H, R), b_ih, b_hh
(4H), W_hr (P, H), gates i, f, g, o), so conversion is a copy. Keras stores
``kernel`` (I, 4H) and ``recurrent_kernel`` (H, 4H) with gates i, f, c, o
(Keras' c is torch's g) and one ``bias`` (4H); so W_ih = kernel.T,
W_hh = recurrent_kernel.T, b_ih = bias, b_hh = 0 (and to Keras, bias = b_ih + b_hh).
"""

from __future__ import annotations

from collections.abc import Sequence

from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._checks import float_dtype as _float_dtype
from ._checks import import_optional
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


def _keras_kind(layer: Any) -> str:
    """The Keras class a layer is (or derives from) among those from_keras
    knows, else its own class name. Read from the class names, so keras need
    not be imported."""
    names = [c.__name__ for c in type(layer).__mro__]
    for kind in ("LSTM", "Bidirectional", "Dropout", "InputLayer", "Sequential"):
        if kind in names:
            return kind
    return type(layer).__name__


def _not_lstm(layer: Any, where: str) -> ValueError:
    return ValueError(f"{where}: a Keras {type(layer).__name__} layer "
                      f"({getattr(layer, 'name', '?')!r}), not an LSTM; pylstm imports only "
                      "LSTM and Bidirectional(LSTM) layers")


def _keras_lstm_parts(layer: Any, where: str) -> tuple[int, bool, list[NDArray[Any]]]:
    """(units, use_bias, weights list) of a keras LSTM layer, after checking it."""
    if _keras_kind(layer) != "LSTM":
        raise _not_lstm(layer, where)
    for attr, want in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        fn = getattr(layer, attr, None)
        name = getattr(fn, "__name__", str(fn))
        if name != want:
            raise ValueError(f"{where}: {attr}={name!r} is not what torch/pylstm compute "
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


def _keras_stack(items: Sequence[Any], where: str) -> tuple[list[tuple[Any, str]], float]:
    """The recurrent layers of a list or Sequential of Keras layers, each with
    its name for messages, and the rate of the Dropout layers between them
    (pylstm's dropout); anything else is refused, naming the layer."""
    recurrent: list[tuple[Any, str]] = []
    rates: set[float] = set()
    pending: float | None = None
    for k, layer in enumerate(items):
        at = f"{where}[{k}]"
        kind = _keras_kind(layer)
        if kind == "InputLayer":
            continue
        if kind == "Dropout":
            if not recurrent or pending is not None:
                raise ValueError(f"{at}: a Dropout ({layer.name!r}) that does not sit between "
                                 "two recurrent layers; pylstm's dropout applies only to the "
                                 "output of every stacked layer but the last")
            pending = float(layer.rate)
            continue
        if kind not in ("LSTM", "Bidirectional"):
            raise _not_lstm(layer, at)
        if pending is not None:
            rates.add(pending)
            pending = None
        elif recurrent:
            rates.add(0.0)
        recurrent.append((layer, at))
    if pending is not None:
        raise ValueError(f"{where}: a Dropout after the last recurrent layer; pylstm's dropout "
                         "applies only between stacked layers")
    if not recurrent:
        raise ValueError(f"{where}: no LSTM or Bidirectional(LSTM) layer")
    if len(rates) > 1:
        raise ValueError(f"{where}: Dropout rates {sorted(rates)} between the layers differ; "
                         "pylstm uses one dropout probability for every layer")
    return recurrent, rates.pop() if rates else 0.0


def from_keras(layer_or_weights: Any, *, bidirectional: bool = False, use_bias: bool = True,
               dtype: DTypeLike | None = None, batch_first: bool = True) -> LSTM:
    """A pylstm.LSTM with the weights of Keras LSTM layers.

    Parameters
    ----------
    layer_or_weights : one of
        - a ``keras.layers.LSTM``;
        - a ``keras.layers.Bidirectional`` wrapping one (merge_mode "concat",
          Keras' default, is pylstm's output layout [forward, reverse]);
        - a list of such layers, or a ``keras.Sequential`` made of them,
          stacked: layer l reads layer l-1's output (all unidirectional or
          all bidirectional, same units); ``Dropout`` layers between them,
          all with one rate, become pylstm's ``dropout`` (what
          ``to_keras`` writes);
        - the list ``layer.get_weights()`` returns: [kernel, recurrent_kernel,
          bias] (or without bias when use_bias=False), twice (forward then
          backward) when bidirectional=True.
        Any other layer (GRU, SimpleRNN, Dense, ...) is refused with a
        ValueError naming it.
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
    ``lengths=`` argument. Keras' one bias becomes ``b_ih`` (``b_hh`` is 0).
    Keras' ``dropout`` / ``recurrent_dropout`` and ``stateful`` have no
    equivalent and are not carried over.
    """
    items = layer_or_weights
    dropout = 0.0
    if _keras_kind(items) == "Sequential":
        layers, dropout = _keras_stack(items.layers, "model.layers")
    elif "Model" in (c.__name__ for c in type(items).__mro__):  # a functional Keras model
        bad = [x for x in items.layers
               if _keras_kind(x) not in ("LSTM", "Bidirectional", "Dropout", "InputLayer")]
        raise ValueError(
            f"layer_or_weights: a Keras functional model ({items.name!r}); pylstm imports "
            "a Sequential, or its LSTM layers passed in order as a list"
            + (f" (it also holds {bad[0].name!r}, a {type(bad[0]).__name__} layer, which "
               "pylstm cannot import)" if bad else ""))
    elif isinstance(items, (list, tuple)) and items and all(
            hasattr(x, "get_weights") for x in items):
        layers, dropout = _keras_stack(items, "layers")
    elif hasattr(items, "get_weights"):
        layers = [(items, "layer")]
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
        for layer, at in layers:
            if _keras_kind(layer) == "Bidirectional":
                if getattr(layer, "merge_mode", "concat") != "concat":
                    raise ValueError(f"{at}: Bidirectional merge_mode="
                                     f"{layer.merge_mode!r}; pylstm concatenates [forward, "
                                     "reverse] (merge_mode='concat')")
                fwd, bwd = layer.forward_layer, layer.backward_layer
                u1, b1, w1 = _keras_lstm_parts(fwd, f"{at}.forward_layer")
                u2, b2, w2 = _keras_lstm_parts(bwd, f"{at}.backward_layer")
                if getattr(fwd, "go_backwards", False) or not getattr(bwd, "go_backwards", True):
                    raise ValueError(f"{at}: expected a forward and a go_backwards layer")
                if (u1, b1) != (u2, b2):
                    raise ValueError(f"{at}: directions differ in units or use_bias")
                directions.append([_keras_direction(w1, b1, f"{at}.forward_layer"),
                                   _keras_direction(w2, b2, f"{at}.backward_layer")])
                kinds.add((True, u1, b1))
            else:
                u, b, w = _keras_lstm_parts(layer, at)
                directions.append([_keras_direction(w, b, at)])
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
                 dropout=dropout, bidirectional=bidirectional, dtype=dtype)
    state = {}
    for layer, dirs in enumerate(directions):
        for d, params in enumerate(dirs):
            for name, value in params.items():
                state[f"{name}_l{layer}" + ("_reverse" if d else "")] = value
    model.load_state_dict(state)  # checks every shape (e.g. layer l's input size)
    return model


def to_keras(model: LSTM, *, return_state: bool = False) -> Any:
    """Keras layers computing what a pylstm.LSTM computes, with its weights.

    Parameters
    ----------
    model : pylstm.LSTM
        Any configuration but ``proj_size > 0``: Keras' LSTM has no
        projection, so that raises ValueError.
    return_state : bool, default False
        For a one-layer model: the layer also returns its final states, as
        Keras' ``return_state=True`` does (``[output, h, c]``, and for a
        bidirectional one ``[output, h_fwd, c_fwd, h_bwd, c_bwd]``, which
        are ``h_n[0], c_n[0], h_n[1], c_n[1]`` of pylstm).

    Returns
    -------
    keras.layers.LSTM, keras.layers.Bidirectional or keras.Sequential
        Built and holding the weights, in the model's dtype:

        - one layer: an ``LSTM(hidden_size, return_sequences=True)``, or a
          ``Bidirectional`` of one with ``merge_mode="concat"`` (pylstm's
          [forward, reverse] output);
        - several layers: a ``keras.Sequential`` of them (input shape
          ``(None, input_size)``: any length), with ``Dropout(dropout)``
          between the layers when the model has dropout (training only, as
          in pylstm).

        Called on x of shape (B, T, input_size) it returns pylstm's
        ``output`` in the batch-major layout, (B, T, D * hidden_size). Keras
        is always batch-major: for a model with ``batch_first=False`` pass
        ``x.transpose(1, 0, 2)`` of what pylstm takes. Keras' one bias
        holds ``b_ih + b_hh``; kernel is ``W_ih.T`` and recurrent_kernel
        ``W_hh.T`` (Keras' gate order i, f, c, o is torch's i, f, g, o).

    Examples
    --------
    >>> import os; os.environ.setdefault("KERAS_BACKEND", "torch")  # doctest: +SKIP
    >>> layer = pylstm.interop.to_keras(pylstm.LSTM(3, 8, seed=0))  # doctest: +SKIP
    >>> layer(np.zeros((2, 5, 3), np.float32)).shape  # doctest: +SKIP
    (2, 5, 8)
    """
    if not isinstance(model, LSTM):
        raise TypeError(f"model: expected a pylstm.LSTM, got {type(model).__name__}")
    if model.proj_size:
        raise ValueError(f"model: proj_size={model.proj_size}; Keras' LSTM layer has no "
                         "projection (W_hr), so a model with proj_size > 0 cannot be expressed "
                         "in Keras")
    if return_state and model.num_layers > 1:
        raise ValueError(f"return_state: only for a one-layer model (a keras.Sequential passes "
                         f"one tensor between layers), got num_layers={model.num_layers}")
    keras = import_optional("keras", "to_keras needs Keras 3: pip install keras (and a "
                            "backend: torch, jax or tensorflow, chosen by KERAS_BACKEND)")
    state = model.state_dict()
    dtype = str(model.dtype)
    H, D = model.hidden_size, model.num_directions

    def weights(sfx: str) -> list[np.ndarray]:
        w = [state["weight_ih" + sfx].T, state["weight_hh" + sfx].T]
        if model.bias:
            w.append(state["bias_ih" + sfx] + state["bias_hh" + sfx])
        return w

    layers = []
    for k in range(model.num_layers):
        lstm = keras.layers.LSTM(H, use_bias=model.bias, return_sequences=True,
                                 return_state=return_state, dtype=dtype)
        layer = (keras.layers.Bidirectional(lstm, merge_mode="concat", dtype=dtype)
                 if model.bidirectional else lstm)
        layer.build((None, None, model.input_size if k == 0 else D * H))
        w = weights(f"_l{k}")
        if model.bidirectional:
            w += weights(f"_l{k}_reverse")
        layer.set_weights(w)
        layers.append(layer)
    if model.num_layers == 1:
        return layers[0]
    stack = [keras.Input((None, model.input_size), dtype=dtype), layers[0]]
    for layer in layers[1:]:
        if model.dropout:
            stack.append(keras.layers.Dropout(model.dropout, dtype=dtype))
        stack.append(layer)
    return keras.Sequential(stack)
