"""ONNX export and import: ``to_onnx`` writes a graph onnxruntime runs with
pylstm's numbers, ``from_onnx`` rebuilds an LSTM from torch's or pylstm's graphs.

The ``onnx`` package is imported inside the functions (``pip install 'pylstm[onnx]'``).

What the exported graphs hold
-----------------------------
- float32 without projection: one ONNX ``LSTM`` node per layer (both
  directions in one node), its weights reordered from pylstm's gates
  i, f, g, o to ONNX's i, o, f, c, ``B`` = [b_ih, b_hh] concatenated. Between
  layers the ``(T, D, B, H)`` output is transposed and reshaped to
  ``(T, B, D*H)``, as torch's exporter does.
- ``proj_size > 0`` (the ONNX LSTM operator has no projection) and float64
  (onnxruntime's CPU LSTM kernel runs float32 only: "LSTM operator does not
  support double yet"): per layer and direction one ``Scan`` whose body is
  the LSTM step in elementary operators (MatMul, Add, Split, Sigmoid, Tanh,
  Mul, and Less/Where for lengths); the input projection of all steps is
  one MatMul before the Scan. Parameters are initializers under torch's
  names and shapes (``weight_ih_l0`` ...), transposed inside the graph.
- The configuration is stored as JSON in the model's ``metadata_props``
  under ``pylstm``; ``from_onnx`` reads it back.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._checks import import_optional
from .cell import LSTMCell
from .estimators import LSTMClassifier, LSTMRegressor
from .lstm import LSTM

if TYPE_CHECKING:
    import onnx

__all__ = ["to_onnx", "from_onnx"]

DEFAULT_OPSET = 17  # from 2022: runtimes of recent years run it
MIN_OPSET = 13      # Split/Unsqueeze take their sizes as inputs, Softmax works on one axis
_META_KEY = "pylstm"
# pylstm/torch gate blocks are i, f, g, o; ONNX's are i, o, f, c (c is torch's g).
_TO_ONNX_GATES = (0, 3, 1, 2)
_FROM_ONNX_GATES = (0, 2, 3, 1)


def _import_onnx() -> Any:
    return import_optional("onnx", "pylstm.to_onnx / from_onnx need the onnx package: "
                           "pip install 'pylstm[onnx]'")


def _reorder(w: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """The four gate blocks of w's first axis in the given order."""
    blocks = np.split(w, 4, axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


class _Graph:
    """Collects nodes and initializers of one ONNX graph, with fresh names."""

    def __init__(self, onnx: Any, dtype: np.dtype, prefix: str = "") -> None:
        self.onnx = onnx
        self.dtype = np.dtype(dtype)
        self.tp = onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes: List[Any] = []
        self.inits: List[Any] = []
        self.prefix = prefix
        self.count = 0
        self.int_consts: Dict[Tuple[int, ...], str] = {}

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}{hint}_{self.count}"

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1,
           name: Optional[str] = None, out: Optional[str] = None, **attrs: Any) -> Any:
        """Adds a node; returns its output name (or the list of them when n_out > 1).

        out names the (single) output, e.g. a graph output; otherwise names are fresh."""
        node_name = name or self.name(op_type)
        outs = [out] if out else [f"{node_name}_out{k}" if n_out > 1 else f"{node_name}_out"
                                  for k in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outs,
                                                     name=node_name, **attrs))
        return outs if n_out > 1 else outs[0]

    def init(self, array: np.ndarray, name: Optional[str] = None) -> str:
        """An initializer holding array (named name, or a fresh name)."""
        name = name or self.name("const")
        self.inits.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 initializer (shape and axis arguments), one per distinct value."""
        key = tuple(values)
        if key not in self.int_consts:
            self.int_consts[key] = self.init(np.asarray(values, np.int64))
        return self.int_consts[key]

    def scalar(self, value: float) -> str:
        return self.init(np.asarray(value, self.dtype))

    def zeros(self, batch: str, width: int) -> str:
        """Zeros of shape (B, width) in the graph's dtype; batch is the 1-D [B]."""
        shape = self.op("Concat", [batch, self.ints([width])], axis=0)
        value = self.onnx.helper.make_tensor("value", self.tp, [1], [0])
        return self.op("ConstantOfShape", [shape], value=value)

    def concat(self, parts: Sequence[str], axis: int) -> str:
        return self.op("Concat", parts, axis=axis) if len(parts) > 1 else parts[0]

    def transpose_init(self, name: str) -> str:
        return self.op("Transpose", [name], perm=[1, 0])


# ---- the LSTM step in elementary operators --------------------------------


def _step(g: _Graph, gates: str, c: str, H: int, w_hr_t: Optional[str]) -> Tuple[str, str]:
    """(h', c') from pre-activations (B, 4H) in torch's order and c (B, H)."""
    i, f, gg, o = g.op("Split", [gates, g.ints([H] * 4)], n_out=4, axis=1)
    i, f, o = (g.op("Sigmoid", [v]) for v in (i, f, o))
    gg = g.op("Tanh", [gg])
    c_new = g.op("Add", [g.op("Mul", [f, c]), g.op("Mul", [i, gg])])
    h_new = g.op("Mul", [o, g.op("Tanh", [c_new])])
    if w_hr_t is not None:
        h_new = g.op("MatMul", [h_new, w_hr_t])
    return h_new, c_new


def _vi(onnx: Any, name: str, tp: int, shape: Optional[Sequence[Any]]) -> Any:
    return onnx.helper.make_tensor_value_info(name, tp, shape)


def _scan_direction(g: _Graph, x: str, names: Dict[str, str], H: int, h0: str, c0: str,
                    lengths: Optional[str], steps: Optional[str], reverse: bool,
                    tag: str) -> Tuple[str, str, str]:
    """One direction of one layer as a Scan: (y (T, B, R), h_n (B, R), c_n (B, H))."""
    onnx = g.onnx
    w_ih_t = g.transpose_init(names["weight_ih"])
    w_hh_t = g.transpose_init(names["weight_hh"])
    xp = g.op("MatMul", [x, w_ih_t])
    if "bias_ih" in names:
        xp = g.op("Add", [xp, g.op("Add", [names["bias_ih"], names["bias_hh"]])])
    w_hr_t = g.transpose_init(names["weight_hr"]) if "weight_hr" in names else None

    body = _Graph(onnx, g.dtype, prefix=f"{tag}_")
    h_in, c_in, xp_t, t = (f"{tag}_h", f"{tag}_c", f"{tag}_xp", f"{tag}_t")
    gates = body.op("Add", [xp_t, body.op("MatMul", [h_in, w_hh_t])])
    h_new, c_new = _step(body, gates, c_in, H, w_hr_t)
    inputs = [_vi(onnx, h_in, g.tp, None), _vi(onnx, c_in, g.tp, None),
              _vi(onnx, xp_t, g.tp, None)]
    if lengths is not None:
        # Steps at or past a sequence's length keep the state and output zeros.
        # Scanning in reverse, those steps come first and leave (h0, c0) as
        # they are: the reverse direction starts at each sequence's last real
        # step, as torch's packed sequences do.
        inputs.append(_vi(onnx, t, onnx.TensorProto.INT64, []))
        live = body.op("Unsqueeze", [body.op("Less", [t, lengths]), body.ints([1])])
        h_out = body.op("Where", [live, h_new, h_in])
        c_out = body.op("Where", [live, c_new, c_in])
        y_t = body.op("Where", [live, h_new, body.scalar(0.0)])
    else:
        h_out, c_out = h_new, c_new
        y_t = body.op("Identity", [h_new])  # a value cannot be two of the body's outputs
    body_graph = onnx.helper.make_graph(
        body.nodes, f"{tag}_body", inputs,
        [_vi(onnx, n, g.tp, None) for n in (h_out, c_out, y_t)], body.inits)
    scan_in = [xp] + ([steps] if lengths is not None and steps is not None else [])
    # Scanning in reverse reads xp (and the step index) from T-1 down to 0 and
    # stores each y_t back at its own t.
    direction = [1 if reverse else 0] * len(scan_in)
    h_n, c_n, y = g.op("Scan", [h0, c0] + scan_in, n_out=3, name=tag, body=body_graph,
                       num_scan_inputs=len(scan_in), scan_input_directions=direction,
                       scan_output_directions=[1 if reverse else 0])
    return y, h_n, c_n


def _param_names(layer: int, d: int, model: LSTM) -> Dict[str, str]:
    """{"weight_ih": "weight_ih_l0_reverse", ...}: the parameters of one layer and direction."""
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if model.bias else []) \
        + (["weight_hr"] if model.proj_size else [])
    return {n: n + sfx for n in names}


def _lstm_node_layer(g: _Graph, model: LSTM, state: Dict[str, np.ndarray], layer: int,
                     x: str, h0: Optional[str], c0: Optional[str],
                     seq_lens: Optional[str]) -> Tuple[str, str, str]:
    """One layer as an ONNX LSTM node: (y (T, B, D*H), h_n (D, B, H), c_n (D, B, H))."""
    D, H = model.num_directions, model.hidden_size
    per = [{k: state[n] for k, n in _param_names(layer, d, model).items()} for d in range(D)]

    def stacked(parts: Sequence[np.ndarray], name: str) -> str:
        return g.init(np.stack([_reorder(p, _TO_ONNX_GATES) for p in parts]), name)

    W = stacked([p["weight_ih"] for p in per], f"W_l{layer}")
    R = stacked([p["weight_hh"] for p in per], f"R_l{layer}")
    B = ""
    if model.bias:  # ONNX's B is [Wb, Rb]: b_ih then b_hh, each in gate order i, o, f, c
        B = g.init(np.stack([np.concatenate([_reorder(p["bias_ih"], _TO_ONNX_GATES),
                                             _reorder(p["bias_hh"], _TO_ONNX_GATES)])
                             for p in per]), f"B_l{layer}")
    init_h = init_c = ""
    if h0 is not None and c0 is not None:
        lo, hi, axis = g.ints([layer * D]), g.ints([(layer + 1) * D]), g.ints([0])
        init_h = g.op("Slice", [h0, lo, hi, axis])
        init_c = g.op("Slice", [c0, lo, hi, axis])
    # ONNX runtimes treat sequence_lens as torch's packed sequences: zeros past
    # each length, and the reverse direction starts at each last real step.
    y4, h_n, c_n = g.op("LSTM", [x, W, R, B, seq_lens or "", init_h, init_c], n_out=3,
                        name=f"lstm_l{layer}", hidden_size=H,
                        direction="bidirectional" if D == 2 else "forward")
    y = g.op("Reshape", [g.op("Transpose", [y4], perm=[0, 2, 1, 3]), g.ints([0, 0, D * H])])
    return y, h_n, c_n


def _scan_layer(g: _Graph, model: LSTM, state: Dict[str, np.ndarray], layer: int, x: str,
                h0: Optional[str], c0: Optional[str], lengths: Optional[str],
                steps: Optional[str], batch: str) -> Tuple[str, str, str]:
    """One layer as a Scan per direction: (y (T, B, D*R), h_n (D, B, R), c_n (D, B, H))."""
    D, H, R = model.num_directions, model.hidden_size, model._R
    ys, hs, cs = [], [], []
    for d in range(D):
        names = _param_names(layer, d, model)
        for n in names.values():
            g.init(state[n], n)
        if h0 is not None and c0 is not None:
            k = g.init(np.asarray(layer * D + d, np.int64))
            hd, cd = g.op("Gather", [h0, k], axis=0), g.op("Gather", [c0, k], axis=0)
        else:
            hd, cd = g.zeros(batch, R), g.zeros(batch, H)
        tag = f"scan_l{layer}" + ("_reverse" if d else "")
        y, h_d, c_d = _scan_direction(g, x, names, H, hd, cd, lengths, steps, bool(d), tag)
        ys.append(y)
        hs.append(g.op("Unsqueeze", [h_d, g.ints([0])]))
        cs.append(g.op("Unsqueeze", [c_d, g.ints([0])]))
    return g.concat(ys, 2), g.concat(hs, 0), g.concat(cs, 0)


def _lstm_layers(g: _Graph, model: LSTM, state: Dict[str, np.ndarray], x: str,
                 h0: Optional[str], c0: Optional[str],
                 lengths: Optional[str]) -> Tuple[str, str, str]:
    """All layers on time-major x (T, B, I): (output (T, B, D*R), h_n, c_n)."""
    use_scan = bool(model.proj_size) or g.dtype != np.float32
    shape = g.op("Shape", [x])
    batch = g.op("Slice", [shape, g.ints([1]), g.ints([2])])
    steps = seq_lens = None
    if lengths is not None and use_scan:  # the step index each Scan compares with lengths
        T = g.op("Squeeze", [g.op("Slice", [shape, g.ints([0]), g.ints([1])]), g.ints([0])])
        steps = g.op("Range", [g.init(np.asarray(0, np.int64)), T,
                               g.init(np.asarray(1, np.int64))])
    elif lengths is not None:
        seq_lens = g.op("Cast", [lengths], to=g.onnx.TensorProto.INT32)
    hs, cs = [], []
    for layer in range(model.num_layers):
        if use_scan:
            x, h_n, c_n = _scan_layer(g, model, state, layer, x, h0, c0, lengths, steps, batch)
        else:
            x, h_n, c_n = _lstm_node_layer(g, model, state, layer, x, h0, c0, seq_lens)
        hs.append(h_n)
        cs.append(c_n)
    return x, g.concat(hs, 0), g.concat(cs, 0)


# ---- what each kind of model exports ---------------------------------------


def _lstm_config(model: LSTM) -> Dict[str, Any]:
    return {"kind": "LSTM", "input_size": model.input_size, "hidden_size": model.hidden_size,
            "num_layers": model.num_layers, "bias": model.bias,
            "batch_first": model.batch_first, "bidirectional": model.bidirectional,
            "proj_size": model.proj_size, "dropout": model.dropout,
            "dtype": np.dtype(model.dtype).name}


def _export_lstm(g: _Graph, model: LSTM, with_state: bool,
                 with_lengths: bool) -> Tuple[List[Any], List[Any], Dict[str, Any]]:
    onnx = g.onnx
    I, H, R = model.input_size, model.hidden_size, model._R
    LD, DR = model.num_layers * model.num_directions, model.num_directions * model._R
    bf = model.batch_first
    inputs = [_vi(onnx, "x", g.tp, ["B", "T", I] if bf else ["T", "B", I])]
    x = g.op("Transpose", ["x"], perm=[1, 0, 2]) if bf else "x"
    h0 = c0 = lengths = None
    if with_state:
        inputs += [_vi(onnx, "h0", g.tp, [LD, "B", R]), _vi(onnx, "c0", g.tp, [LD, "B", H])]
        h0, c0 = "h0", "c0"
    if with_lengths:
        inputs.append(_vi(onnx, "lengths", onnx.TensorProto.INT64, ["B"]))
        lengths = "lengths"
    state = model.state_dict()  # one consistent copy (it holds the parameter lock)
    y, h_n, c_n = _lstm_layers(g, model, state, x, h0, c0, lengths)
    if bf:
        y = g.op("Transpose", [y], perm=[1, 0, 2])
    for src, dst in ((y, "output"), (h_n, "h_n"), (c_n, "c_n")):
        g.op("Identity", [src], out=dst)
    outputs = [_vi(onnx, "output", g.tp, ["B", "T", DR] if bf else ["T", "B", DR]),
               _vi(onnx, "h_n", g.tp, [LD, "B", R]), _vi(onnx, "c_n", g.tp, [LD, "B", H])]
    return inputs, outputs, _lstm_config(model)


def _export_cell(g: _Graph, cell: LSTMCell) -> Tuple[List[Any], List[Any], Dict[str, Any]]:
    onnx = g.onnx
    I, H = cell.input_size, cell.hidden_size
    inputs = [_vi(onnx, "x", g.tp, ["B", I]), _vi(onnx, "h0", g.tp, ["B", H]),
              _vi(onnx, "c0", g.tp, ["B", H])]
    state = cell.state_dict()
    for n, a in state.items():
        g.init(a, n)
    gates = g.op("Add", [g.op("MatMul", ["x", g.transpose_init("weight_ih")]),
                         g.op("MatMul", ["h0", g.transpose_init("weight_hh")])])
    if cell.bias:
        gates = g.op("Add", [gates, g.op("Add", ["bias_ih", "bias_hh"])])
    h1, c1 = _step(g, gates, "c0", H, None)
    for src, dst in ((h1, "h1"), (c1, "c1")):
        g.op("Identity", [src], out=dst)
    outputs = [_vi(onnx, "h1", g.tp, ["B", H]), _vi(onnx, "c1", g.tp, ["B", H])]
    config = {"kind": "LSTMCell", "input_size": I, "hidden_size": H, "bias": cell.bias,
              "dtype": np.dtype(cell.dtype).name}
    return inputs, outputs, config


def _class_values(classes: np.ndarray) -> np.ndarray:
    """classes_ as an array ONNX can hold (numbers, booleans or strings)."""
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64) if classes.dtype.kind != "b" else classes
    if classes.dtype.kind == "f":
        return classes
    if classes.dtype.kind == "U" or all(isinstance(c, str) for c in classes):
        return np.array([str(c) for c in classes], dtype=object)
    raise ValueError(f"model: classes_ of dtype {classes.dtype} ({list(classes)[:3]}...) "
                     "cannot be ONNX tensor values; use numbers or strings as labels")


def _export_estimator(g: _Graph, est: Union[LSTMRegressor, LSTMClassifier],
                      with_lengths: bool) -> Tuple[List[Any], List[Any], Dict[str, Any]]:
    onnx = g.onnx
    lstm, head = est.lstm_, est.head_
    F, D, H = est.n_features_in_, lstm.num_directions, lstm.hidden_size
    per_step = bool(est.per_step_)
    inputs = [_vi(onnx, "X", g.tp, ["N", "T", F])]
    lengths = None
    if with_lengths:
        inputs.append(_vi(onnx, "lengths", onnx.TensorProto.INT64, ["N"]))
        lengths = "lengths"
    state = lstm.state_dict()
    y, h_n, _ = _lstm_layers(g, lstm, state, g.op("Transpose", ["X"], perm=[1, 0, 2]),
                             None, None, lengths)
    if per_step:
        feat = g.op("Transpose", [y], perm=[1, 0, 2])                      # (N, T, D*H)
    else:
        # The last layer's h_n: the forward state at each sequence's last real
        # step and the reverse state at t = 0, as the estimators read it.
        LD = lstm.num_layers * D
        last = g.op("Slice", [h_n, g.ints([LD - D]), g.ints([LD]), g.ints([0])])
        feat = g.op("Reshape", [g.op("Transpose", [last], perm=[1, 0, 2]), g.ints([0, D * H])])
    hs = head.state_dict()
    z = g.op("MatMul", [feat, g.transpose_init(g.init(hs["weight"], "head_weight"))])
    if "bias" in hs:
        z = g.op("Add", [z, g.init(hs["bias"], "head_bias")])
    lead = ["N", "T"] if per_step else ["N"]
    k = head.out_features
    config = {"kind": type(est).__name__, "per_step": per_step, "n_features_in": F,
              "lstm": _lstm_config(lstm)}
    z64 = g.op("Cast", [z], to=onnx.TensorProto.DOUBLE)
    if isinstance(est, LSTMClassifier):
        classes = _class_values(np.asarray(est.classes_))
        codes = g.op("ArgMax", [z], axis=-1, keepdims=0)
        g.op("Gather", [g.init(classes, "classes"), codes], axis=0, out="label")
        g.op("Softmax", [z64], axis=-1, out="probabilities")
        label_tp = onnx.helper.np_dtype_to_tensor_dtype(classes.dtype) \
            if classes.dtype != object else onnx.TensorProto.STRING
        outputs = [_vi(onnx, "label", label_tp, lead),
                   _vi(onnx, "probabilities", onnx.TensorProto.DOUBLE, lead + [k])]
    else:
        pred = g.op("Add", [g.op("Mul", [z64, g.init(np.asarray(est.y_scale_, np.float64))]),
                            g.init(np.asarray(est.y_mean_, np.float64))])
        # predict() drops the output axis for a 1-D (per step: 2-D) y; ask it.
        squeeze = np.ndim(est.predict(np.zeros((1, 1, F)))) == len(lead)
        if squeeze:
            pred = g.op("Squeeze", [pred, g.ints([-1])])
        g.op("Identity", [pred], out="prediction")
        outputs = [_vi(onnx, "prediction", onnx.TensorProto.DOUBLE,
                       lead if squeeze else lead + [k])]
    return inputs, outputs, config


def to_onnx(model: Union[LSTM, LSTMCell, LSTMRegressor, LSTMClassifier],
            path: Union[str, "os.PathLike[str]", None], *, opset: Optional[int] = None,
            with_state: bool = False, with_lengths: bool = False) -> "onnx.ModelProto":
    """Writes a model as an ONNX graph that onnxruntime runs with pylstm's numbers.

    Parameters
    ----------
    model : pylstm.LSTM, pylstm.LSTMCell, or a fitted LSTMRegressor / LSTMClassifier
    path : str or path-like, or None
        Where to write the ``.onnx`` file; None writes nothing (the model is
        returned either way).
    opset : int, optional
        The ai.onnx opset, 13 or newer (default 17).
    with_state : bool, default False
        LSTM only: adds the inputs ``h0`` (L*D, B, R) and ``c0`` (L*D, B, H),
        torch's ``hx``. Without them the graph starts from zeros.
    with_lengths : bool, default False
        LSTM and estimators: adds the input ``lengths``, int64 (B,), each in
        1..T: outputs past a sequence's length are zero and ``h_n``/``c_n``
        hold its last real step (torch's packed sequences).

    Returns
    -------
    onnx.ModelProto

    Notes
    -----
    The graph's inputs and outputs (B and T are dynamic):

    - LSTM: ``x`` (T, B, I), or (B, T, I) when batch_first, [``h0``, ``c0``]
      [``lengths``] -> ``output`` (T, B, D*R) (or batch first), ``h_n``
      (L*D, B, R), ``c_n`` (L*D, B, H), in the model's dtype; R is proj_size
      or hidden_size, D is 2 when bidirectional.
    - LSTMCell: ``x`` (B, I), ``h0``, ``c0`` (B, H) -> ``h1``, ``c1`` (B, H).
    - LSTMRegressor: ``X`` (N, T, n_features) in the estimator's dtype
      [``lengths``] -> ``prediction``, float64, shaped as ``predict``'s result
      for an array X.
    - LSTMClassifier: ``X`` [``lengths``] -> ``label`` (N,) (per step: (N, T))
      holding values of ``classes_``, and ``probabilities`` float64
      (N, n_classes) (per step: (N, T, n_classes)): ``predict`` and
      ``predict_proba``. For per-step estimators with lengths, the results
      past each length are those of the head on a zero state: ignore them.
    """
    onnx = _import_onnx()
    if opset is None:
        opset = DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset: expected an integer in {MIN_OPSET}..{newest}, got {opset!r}")
    if isinstance(model, LSTM):
        g = _Graph(onnx, model.dtype)
        inputs, outputs, config = _export_lstm(g, model, bool(with_state), bool(with_lengths))
    elif isinstance(model, LSTMCell):
        if with_lengths:
            raise ValueError("with_lengths: an LSTMCell runs one step; it has no lengths")
        g = _Graph(onnx, model.dtype)
        inputs, outputs, config = _export_cell(g, model)
    elif isinstance(model, (LSTMRegressor, LSTMClassifier)):
        if with_state:
            raise ValueError("with_state: estimators always start from a zero state")
        if not hasattr(model, "lstm_"):
            raise ValueError(f"model: this {type(model).__name__} is not fitted yet; "
                             "call fit first")
        g = _Graph(onnx, model.lstm_.dtype)
        inputs, outputs, config = _export_estimator(g, model, bool(with_lengths))
    else:
        raise TypeError(f"model: expected a pylstm.LSTM, LSTMCell, LSTMRegressor or "
                        f"LSTMClassifier, got {type(model).__name__}")
    graph = onnx.helper.make_graph(g.nodes, f"pylstm_{config['kind']}", inputs, outputs,
                                   g.inits)
    opsets = [onnx.helper.make_opsetid("", int(opset))]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="pylstm",
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets))
    from . import __version__
    proto.producer_version = __version__
    onnx.helper.set_model_props(proto, {_META_KEY: json.dumps(config)})
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


# ---- import ----------------------------------------------------------------

# Operators torch's exporters put around LSTM nodes: they move and reshape
# data or compute shapes, nothing pylstm.LSTM would have to compute.
_GLUE = frozenset({"Transpose", "Squeeze", "Unsqueeze", "Reshape", "Concat", "Slice", "Shape",
                   "Gather", "Constant", "ConstantOfShape", "Identity", "Cast", "Expand",
                   "Split", "Range", "Size", "Dropout", "Flatten"})


def _describe(node: Any, index: int) -> str:
    name = node.name or f"#{index} (unnamed)"
    return f"node {node.op_type} {name!r}"


def _load(onnx: Any, path_or_model: Any) -> Any:
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model
    if isinstance(path_or_model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(path_or_model))
    if isinstance(path_or_model, (str, os.PathLike)):
        return onnx.load(os.fspath(path_or_model))
    raise TypeError(f"path_or_model: expected a path, bytes or an onnx.ModelProto, "
                    f"got {type(path_or_model).__name__}")


def _constants(onnx: Any, graph: Any) -> Dict[str, np.ndarray]:
    """Values known without running the graph: initializers and Constant nodes."""
    out = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = onnx.numpy_helper.to_array(a.t)
    return out


def _lstm_node(onnx: Any, node: Any, index: int,
               consts: Dict[str, np.ndarray]) -> Tuple[int, int, int, List[Dict[str, np.ndarray]]]:
    """(input_size, hidden_size, layout, per-direction torch parameters) of an LSTM node."""
    what = _describe(node, index)
    attrs: Dict[str, Any] = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in ("forward", "bidirectional"):
        raise ValueError(f"from_onnx: {what} has direction={direction!r}; pylstm.LSTM runs "
                         "'forward' or 'bidirectional' layers")
    D = 2 if direction == "bidirectional" else 1
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    if acts and [a.lower() for a in acts] != ["sigmoid", "tanh", "tanh"] * D:
        raise ValueError(f"from_onnx: {what} uses activations {acts}; pylstm.LSTM computes "
                         "Sigmoid, Tanh, Tanh")
    for bad in ("clip", "activation_alpha", "activation_beta"):
        if bad in attrs:
            raise ValueError(f"from_onnx: {what} sets {bad!r}, which pylstm.LSTM does not have")
    if attrs.get("input_forget", 0):
        raise ValueError(f"from_onnx: {what} sets input_forget=1 (coupled input and forget "
                         "gates), which pylstm.LSTM does not compute")
    if len(node.input) > 7 and node.input[7]:
        raise ValueError(f"from_onnx: {what} has peephole weights P, which pylstm.LSTM "
                         "does not have")
    for k, role in ((1, "W"), (2, "R")):
        if len(node.input) <= k or node.input[k] not in consts:
            raise ValueError(f"from_onnx: {what}: its weights {role} are not a constant "
                             "(an initializer or a Constant node)")
    W, Rw = consts[node.input[1]], consts[node.input[2]]
    B = consts.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    if len(node.input) > 3 and node.input[3] and B is None:
        raise ValueError(f"from_onnx: {what}: its bias B is not a constant")
    H = int(attrs["hidden_size"]) if "hidden_size" in attrs else int(Rw.shape[-1])
    if W.ndim != 3 or W.shape[:2] != (D, 4 * H) or Rw.shape != (D, 4 * H, H) \
            or (B is not None and B.shape != (D, 8 * H)):
        raise ValueError(f"from_onnx: {what}: expected W (D={D}, 4H={4 * H}, I), "
                         f"R ({D}, {4 * H}, {H}) and B ({D}, {8 * H}), got W {W.shape}, "
                         f"R {Rw.shape}" + ("" if B is None else f", B {B.shape}"))
    dirs = []
    for d in range(D):
        p = {"weight_ih": _reorder(W[d], _FROM_ONNX_GATES),
             "weight_hh": _reorder(Rw[d], _FROM_ONNX_GATES)}
        if B is not None:
            p["bias_ih"] = _reorder(B[d, :4 * H], _FROM_ONNX_GATES)
            p["bias_hh"] = _reorder(B[d, 4 * H:], _FROM_ONNX_GATES)
        dirs.append(p)
    return int(W.shape[2]), H, int(attrs.get("layout", 0)), dirs


def _fill_state(dirs: List[Dict[str, np.ndarray]], layer: int, bias: bool,
                state: Dict[str, np.ndarray]) -> None:
    for d, p in enumerate(dirs):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        for n, a in p.items():
            state[n + sfx] = a
        if bias and "bias_ih" not in p:  # a layer without B among layers with one
            state["bias_ih" + sfx] = np.zeros(p["weight_ih"].shape[0], p["weight_ih"].dtype)
            state["bias_hh" + sfx] = np.zeros(p["weight_ih"].shape[0], p["weight_ih"].dtype)


def _from_pylstm(onnx: Any, graph: Any, config: Dict[str, Any],
                 consts: Dict[str, np.ndarray]) -> Union[LSTM, LSTMCell]:
    """A model to_onnx wrote: configuration from the metadata, weights by name."""
    kind = config.get("kind")
    if kind not in ("LSTM", "LSTMCell"):
        raise ValueError(f"from_onnx: the graph holds a pylstm {kind}; from_onnx rebuilds "
                         "LSTM and LSTMCell graphs only")
    try:
        sizes = (config["input_size"], config["hidden_size"])
        if kind == "LSTMCell":
            model: Union[LSTM, LSTMCell] = LSTMCell(*sizes, bias=config["bias"],
                                                    dtype=config["dtype"])
        else:
            model = LSTM(*sizes, dtype=config["dtype"], **{k: config[k] for k in (
                "num_layers", "bias", "batch_first", "bidirectional", "proj_size", "dropout")})
    except (KeyError, TypeError) as e:
        raise ValueError(f"from_onnx: the graph's {_META_KEY!r} metadata does not describe a "
                         f"pylstm {kind} ({type(e).__name__}: {e})") from None
    state: Dict[str, np.ndarray] = {}
    for index, node in enumerate(graph.node):
        if node.op_type == "LSTM" and node.name.startswith("lstm_l"):
            _, _, _, dirs = _lstm_node(onnx, node, index, consts)
            _fill_state(dirs, int(node.name[len("lstm_l"):]), bool(config["bias"]), state)
    for n in model.state_dict():
        if n not in state:
            if n not in consts:
                raise ValueError(f"from_onnx: the graph has no parameter {n!r} "
                                 "(neither an initializer nor an LSTM node for its layer)")
            state[n] = consts[n]
    model.load_state_dict(state)
    return model


def _data_path(graph: Any, name: str) -> Tuple[str, List[Any]]:
    """Follows a value back through data-movement nodes (their first input):
    (the graph input or LSTM output it starts from, the nodes on the way)."""
    producers = {o: n for n in graph.node for o in n.output}
    path = []
    while name in producers and producers[name].op_type != "LSTM":
        path.append(producers[name])
        if not producers[name].input:
            break
        name = producers[name].input[0]
    return name, path


def _batch_first(graph: Any, first: Any, layout: int) -> bool:
    """Whether the first LSTM node reads a graph input through Transpose(perm=[1, 0, 2])."""
    if layout == 1:
        return True
    _, path = _data_path(graph, first.input[0])
    transposes = [[list(a.ints) for a in n.attribute if a.name == "perm"]
                  for n in path if n.op_type == "Transpose"]
    return transposes == [[[1, 0, 2]]]


def from_onnx(path_or_model: Any) -> Union[LSTM, LSTMCell]:
    """A pylstm.LSTM with the layers and weights of an ONNX graph.

    Parameters
    ----------
    path_or_model : str, path-like, bytes or onnx.ModelProto
        A graph written by ``to_onnx`` (an LSTM, returned as pylstm.LSTM, or an
        LSTMCell, returned as pylstm.LSTMCell), or one of stacked ONNX LSTM
        nodes as torch.onnx.export writes for torch.nn.LSTM (either exporter):
        gates i, o, f, c; both directions in one node; Transpose, Reshape,
        Squeeze, Concat, Slice and shape computations around them.

    Returns
    -------
    pylstm.LSTM (or pylstm.LSTMCell for a cell graph to_onnx wrote), with the
    graph's numbers; dtype from the weights. ``batch_first`` is True when the
    first LSTM node reads a graph input through Transpose(perm=[1, 0, 2]) or
    uses layout=1. Dropout and proj_size are not in torch's graphs (torch
    cannot export projection): they are 0.

    Raises
    ------
    ValueError
        Naming the node (operator and name) that pylstm.LSTM cannot compute:
        another recurrent operator (GRU, RNN), other computation (a MatMul
        head, activations), an LSTM node with peepholes, clip, input_forget,
        other activations or direction="reverse" alone, or weights that are
        not constants.
    """
    onnx = _import_onnx()
    proto = _load(onnx, path_or_model)
    graph = proto.graph
    consts = _constants(onnx, graph)
    meta = {p.key: p.value for p in proto.metadata_props}
    if _META_KEY in meta:
        return _from_pylstm(onnx, graph, json.loads(meta[_META_KEY]), consts)
    layers = []
    for index, node in enumerate(graph.node):
        if node.op_type == "LSTM" and node.domain in ("", "ai.onnx"):
            layers.append((node, index) + _lstm_node(onnx, node, index, consts))
        elif node.op_type not in _GLUE or node.domain not in ("", "ai.onnx"):
            raise ValueError(f"from_onnx: cannot map {_describe(node, index)} to a pylstm.LSTM "
                             "(only LSTM nodes and the data movement around them are read)")
    if not layers:
        raise ValueError("from_onnx: the graph has no LSTM node")
    first_node, _, I, H, layout, dirs0 = layers[0]
    D = len(dirs0)
    bias = any("bias_ih" in p for *_, dirs in layers for p in dirs)
    state: Dict[str, np.ndarray] = {}
    for layer, (node, index, in_size, h, lay, dirs) in enumerate(layers):
        what = _describe(node, index)
        if h != H or len(dirs) != D or lay != layout:
            raise ValueError(f"from_onnx: {what} (hidden_size={h}, {len(dirs)} directions, "
                             f"layout={lay}) differs from the first LSTM node (hidden_size={H}, "
                             f"{D} directions, layout={layout}); pylstm.LSTM stacks equal layers")
        if layer and in_size != D * H:
            raise ValueError(f"from_onnx: {what} reads {in_size} features; stacked on the "
                             f"layer before it, it should read {D * H}")
        source, _ = _data_path(graph, node.input[0])
        if layer and source != layers[layer - 1][0].output[0]:
            raise ValueError(f"from_onnx: {what} does not read the output of the LSTM node "
                             f"before it ({_describe(layers[layer - 1][0], layers[layer - 1][1])})"
                             "; pylstm.LSTM stacks layers one on the other")
        if not layer and source not in {i.name for i in graph.input}:
            raise ValueError(f"from_onnx: {what}, the first LSTM node, does not read a graph "
                             "input")
        _fill_state(dirs, layer, bias, state)
    dtypes = {a.dtype for a in state.values()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
        raise ValueError(f"from_onnx: expected float32 or float64 weights, got "
                         f"{sorted(str(d) for d in dtypes)}")
    model = LSTM(I, H, num_layers=len(layers), bias=bias,
                 batch_first=_batch_first(graph, first_node, layout),
                 bidirectional=D == 2, dtype=dtypes.pop())
    model.load_state_dict(state)
    return model
