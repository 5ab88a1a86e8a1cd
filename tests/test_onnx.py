"""pylstm.to_onnx / from_onnx: graphs run in onnxruntime against pylstm, and
graphs written by torch.onnx.export rebuilt as pylstm models."""

import itertools
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pylstm

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install .[test]")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install .[test]")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from pylstm.onnx import from_onnx, to_onnx  # noqa: E402

TOL = {"float32": 1e-5, "float64": 1e-12}
# The largest differences seen, per dtype; printed after the module's tests (pytest -s).
WORST = {"float32": 0.0, "float64": 0.0}


@pytest.fixture(scope="module", autouse=True)
def report_worst_errors():
    yield
    print(f"\nworst ONNX-vs-pylstm error: float32 {WORST['float32']:.3g}, "
          f"float64 {WORST['float64']:.3g}")


def session(proto_or_path):
    src = proto_or_path if isinstance(proto_or_path, str) else proto_or_path.SerializeToString()
    return ort.InferenceSession(src, providers=["CPUExecutionProvider"])


def close(got, want, dtype, what=""):
    """Absolute-or-relative closeness at the dtype's tolerance; records the worst error."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    assert got.dtype == want.dtype, what
    err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))) if want.size else 0.0
    key = np.dtype(dtype).name
    WORST[key] = max(WORST[key], err)
    assert err <= TOL[key], f"{what}: error {err:.3g} > {TOL[key]}"


def lstm_inputs(m, T, B, rng, lengths, state):
    x = rng.standard_normal((B, T, m.input_size) if m.batch_first else (T, B, m.input_size))
    feeds = {"x": x.astype(m.dtype)}
    hx = lens = None
    if state:
        LD = m.num_layers * m.num_directions
        hx = (rng.standard_normal((LD, B, m.proj_size or m.hidden_size)).astype(m.dtype),
              rng.standard_normal((LD, B, m.hidden_size)).astype(m.dtype))
        feeds["h0"], feeds["c0"] = hx
    if lengths:
        lens = rng.integers(1, T + 1, B)
        feeds["lengths"] = lens
    return feeds, hx, lens


def check_lstm_in_ort(m, path, rng, shapes, lengths=False, state=False):
    sess = session(str(path))
    for T, B in shapes:
        feeds, hx, lens = lstm_inputs(m, T, B, rng, lengths, state)
        got = sess.run(["output", "h_n", "c_n"], feeds)
        out, (h_n, c_n) = m(feeds["x"], hx, lengths=lens)
        for name, g, w in zip(("output", "h_n", "c_n"), got, (out, h_n, c_n)):
            close(g, w, m.dtype, f"{name} at T={T}, B={B}")


GRID = list(itertools.product((1, 2, 3), (False, True), (False, True), (False, True),
                              (False, True), (0, 2)))


@pytest.mark.parametrize("layers,bidirectional,bias,batch_first,lengths,proj", GRID)
def test_lstm_grid_runs_in_onnxruntime_with_pylstms_numbers(
        tmp_path, layers, bidirectional, bias, batch_first, lengths, proj):
    m = pylstm.LSTM(3, 4, layers, bias=bias, batch_first=batch_first,
                    bidirectional=bidirectional, proj_size=proj, seed=layers)
    path = tmp_path / "m.onnx"
    to_onnx(m, path, with_lengths=lengths)
    onnx.checker.check_model(str(path), full_check=True)
    # One file, two sequence lengths and two batch sizes (T = 1 included).
    check_lstm_in_ort(m, path, np.random.default_rng(0), [(5, 3), (1, 2)], lengths=lengths)
    back = from_onnx(path)
    assert repr(back) == repr(m)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v, err_msg=k)


@pytest.mark.parametrize("layers,bidirectional,lengths,proj",
                         list(itertools.product((1, 2), (False, True), (False, True), (0, 2))))
def test_float64_runs_as_scan_in_onnxruntime(layers, bidirectional, lengths, proj):
    m = pylstm.LSTM(3, 4, layers, bidirectional=bidirectional, proj_size=proj,
                    dtype=np.float64, seed=3)
    proto = to_onnx(m, None, with_lengths=lengths, with_state=True)
    assert "LSTM" not in {n.op_type for n in proto.graph.node}  # ORT's LSTM is float32 only
    rng = np.random.default_rng(1)
    sess = session(proto)
    for T, B in [(4, 3), (2, 1)]:
        feeds, hx, lens = lstm_inputs(m, T, B, rng, lengths, True)
        out, (h_n, c_n) = m(feeds["x"], hx, lengths=lens)
        for g, w in zip(sess.run(None, feeds), (out, h_n, c_n)):
            close(g, w, np.float64)
    back = from_onnx(proto)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v, err_msg=k)


@pytest.mark.parametrize("layers,bidirectional,batch_first,lengths,proj", [
    (1, False, False, False, 0), (2, True, True, True, 0), (2, True, False, True, 3),
    (3, False, True, True, 1)])
def test_initial_state_inputs(tmp_path, layers, bidirectional, batch_first, lengths, proj):
    m = pylstm.LSTM(2, 5, layers, batch_first=batch_first, bidirectional=bidirectional,
                    proj_size=proj, seed=7)
    path = tmp_path / "m.onnx"
    proto = to_onnx(m, path, with_state=True, with_lengths=lengths)
    names = [i.name for i in proto.graph.input]
    assert names == ["x", "h0", "c0"] + (["lengths"] if lengths else [])
    check_lstm_in_ort(m, path, np.random.default_rng(2), [(6, 4), (3, 1)], lengths=lengths,
                      state=True)


def test_inputs_and_outputs_have_torchs_shapes_with_named_dynamic_dims():
    m = pylstm.LSTM(3, 6, 2, batch_first=True, bidirectional=True, proj_size=2)
    proto = to_onnx(m, None, with_state=True, with_lengths=True)

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    shapes = {v.name: dims(v) for v in list(proto.graph.input) + list(proto.graph.output)}
    assert shapes == {"x": ["B", "T", 3], "h0": [4, "B", 2], "c0": [4, "B", 6],
                      "lengths": ["B"], "output": ["B", "T", 4], "h_n": [4, "B", 2],
                      "c_n": [4, "B", 6]}
    assert proto.graph.input[3].type.tensor_type.elem_type == TensorProto.INT64


@pytest.mark.parametrize("opset", [13, 21])
@pytest.mark.parametrize("proj", [0, 2])
def test_other_opsets(opset, proj):
    m = pylstm.LSTM(3, 4, 2, bidirectional=True, proj_size=proj, seed=0)
    proto = to_onnx(m, None, opset=opset, with_lengths=True)
    assert proto.opset_import[0].version == opset
    rng = np.random.default_rng(4)
    feeds, _, lens = lstm_inputs(m, 4, 3, rng, True, False)
    out, (h_n, c_n) = m(feeds["x"], lengths=lens)
    for g, w in zip(session(proto).run(None, feeds), (out, h_n, c_n)):
        close(g, w, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_one_step(dtype, bias):
    cell = pylstm.LSTMCell(3, 5, bias=bias, dtype=dtype, seed=2)
    proto = to_onnx(cell, None)
    sess = session(proto)
    rng = np.random.default_rng(5)
    for B in (1, 4):
        x, h, c = (rng.standard_normal((B, k)).astype(dtype) for k in (3, 5, 5))
        h1, c1 = cell(x, (h, c))
        got = sess.run(["h1", "c1"], {"x": x, "h0": h, "c0": c})
        close(got[0], h1, dtype)
        close(got[1], c1, dtype)
    back = from_onnx(proto)
    assert isinstance(back, pylstm.LSTMCell)
    for k, v in cell.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v, err_msg=k)


def test_round_trip_keeps_dropout_and_float64_projection():
    m = pylstm.LSTM(2, 5, 3, dropout=0.25, bidirectional=True, proj_size=3, dtype=np.float64,
                    seed=4)
    back = from_onnx(to_onnx(m, None).SerializeToString())
    assert (back.dropout, back.proj_size, back.dtype) == (0.25, 3, np.float64)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v, err_msg=k)


@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_node_graph_without_pylstms_metadata_is_read_like_torchs(batch_first):
    m = pylstm.LSTM(3, 4, 2, bias=False, batch_first=batch_first, bidirectional=True, seed=5)
    proto = to_onnx(m, None)
    del proto.metadata_props[:]
    back = from_onnx(proto)
    assert repr(back) == repr(m)
    x = np.random.default_rng(3).standard_normal((2, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(back(x)[0], m(x)[0])


def test_scan_graph_without_pylstms_metadata_is_refused_by_name():
    proto = to_onnx(pylstm.LSTM(3, 4, proj_size=2), None)
    del proto.metadata_props[:]
    with pytest.raises(ValueError, match=r"cannot map node (Transpose|MatMul|Scan) '"):
        from_onnx(proto)


# ---- estimators ----------------------------------------------------------------


def ragged(rng, n, F):
    X = [rng.standard_normal((int(rng.integers(1, 7)), F)) for _ in range(n)]
    lens = np.array([len(s) for s in X])
    Xp = np.zeros((n, lens.max(), F))
    for i, s in enumerate(X):
        Xp[i, :len(s)] = s
    return X, Xp, lens


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("target", ["one", "multi", "per_step"])
def test_regressor_prediction(dtype, target):
    rng = np.random.default_rng(6)
    X, Xp, lens = ragged(rng, 24, 2)
    y = {"one": rng.standard_normal(24), "multi": rng.standard_normal((24, 2)),
         "per_step": [rng.standard_normal(n) for n in lens]}[target]
    est = pylstm.LSTMRegressor(hidden_size=4, num_layers=2, bidirectional=target == "multi",
                               epochs=2, dtype=dtype, random_state=0).fit(X, y)
    proto = to_onnx(est, None, with_lengths=True)
    assert [o.name for o in proto.graph.output] == ["prediction"]
    (got,) = session(proto).run(None, {"X": Xp.astype(dtype), "lengths": lens})
    want = est.predict(X)
    if target == "per_step":  # a list of (T_i,) arrays; ONNX pads past each length
        assert got.shape == Xp.shape[:2]
        got, want = np.concatenate([g[:n] for g, n in zip(got, lens)]), np.concatenate(want)
    scale = float(np.max(est.y_scale_))  # predictions are raw outputs times y_scale_
    close(got / scale, want / scale, np.dtype(dtype).type)


@pytest.mark.parametrize("labels", ["strings", "integers", "floats"])
@pytest.mark.parametrize("per_step", [False, True])
def test_classifier_label_and_probabilities(labels, per_step):
    rng = np.random.default_rng(8)
    X, Xp, lens = ragged(rng, 30, 3)
    pool = {"strings": np.array(["cat", "dog", "eel"]), "integers": np.array([-1, 4, 9]),
            "floats": np.array([-1.0, 2.0, 7.0])}[labels]  # integral: others are continuous
    y = [pool[rng.integers(0, 3, n)] for n in lens] if per_step else pool[rng.integers(0, 3, 30)]
    est = pylstm.LSTMClassifier(hidden_size=5, bidirectional=True, epochs=3,
                                random_state=1).fit(X, y)
    proto = to_onnx(est, None, with_lengths=True)
    sess = session(proto)
    assert [o.name for o in sess.get_outputs()] == ["label", "probabilities"]
    label, proba = sess.run(None, {"X": Xp.astype(np.float32), "lengths": lens})
    want_label, want_proba = est.predict(X), est.predict_proba(X)
    if per_step:
        label = [g[:n] for g, n in zip(label, lens)]
        proba = [g[:n] for g, n in zip(proba, lens)]
        label, want_label = np.concatenate(label), np.concatenate(want_label)
        proba, want_proba = np.concatenate(proba), np.concatenate(want_proba)
    np.testing.assert_array_equal(label.astype(want_label.dtype), want_label)
    close(proba, want_proba, np.float32)


def test_estimator_without_lengths_input_equals_predict_on_an_array():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((12, 5, 2))
    est = pylstm.LSTMClassifier(hidden_size=3, epochs=2, random_state=0).fit(X, rng.integers(
        0, 2, 12))
    (label, proba) = session(to_onnx(est, None)).run(None, {"X": X.astype(np.float32)})
    np.testing.assert_array_equal(label, est.predict(X))
    close(proba, est.predict_proba(X), np.float32)


def test_lengths_are_torchs_packed_sequences():
    """Against torch itself: pack_padded_sequence, both directions, two layers."""
    torch = pytest.importorskip("torch", reason="needs torch: pip install .[test]")
    torch.manual_seed(3)
    tm = torch.nn.LSTM(3, 4, 2, bidirectional=True, batch_first=True)
    x = torch.randn(4, 6, 3)
    lens = torch.tensor([6, 2, 5, 1])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True,
                                                     enforce_sorted=False)
    out, (h_n, c_n) = tm(packed)
    out = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=6)[0]
    proto = to_onnx(pylstm.LSTM.from_torch(tm), None, with_lengths=True)
    got = session(proto).run(None, {"x": x.numpy(), "lengths": lens.numpy().astype(np.int64)})
    for g, w in zip(got, (out, h_n, c_n)):
        close(g, w.detach().numpy(), np.float32)


# ---- import from torch's exporters ---------------------------------------------


def torch_export(torch, module, x, path, dynamo, hx=None):
    args = (x,) if hx is None else (x, hx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=dynamo, verbose=False)


@pytest.mark.parametrize("layers,bidirectional,bias,batch_first,dtype", [
    (1, False, True, False, "float32"), (1, True, False, True, "float32"),
    (2, False, True, True, "float64"), (2, True, True, False, "float32"),
    (3, True, False, True, "float32")])
def test_from_torch_onnx_export(tmp_path, layers, bidirectional, bias, batch_first, dtype):
    torch = pytest.importorskip("torch", reason="needs torch: pip install .[test]")
    torch.manual_seed(layers)
    tdt = getattr(torch, dtype)
    m = torch.nn.LSTM(3, 4, layers, bias=bias, batch_first=batch_first,
                      bidirectional=bidirectional).to(tdt)
    x = torch.randn((2, 5, 3) if batch_first else (5, 2, 3), dtype=tdt)
    torch_export(torch, m, x, tmp_path / "t.onnx", dynamo=False)
    p = from_onnx(tmp_path / "t.onnx")
    assert (p.num_layers, p.bidirectional, p.bias, p.batch_first, p.dtype) == (
        layers, bidirectional, bias, batch_first, np.dtype(dtype))
    x2 = torch.randn((3, 7, 3) if batch_first else (7, 3, 3), dtype=tdt)
    out, (h_n, c_n) = m(x2)
    got, (gh, gc) = p(x2.numpy())
    for g, w in ((got, out), (gh, h_n), (gc, c_n)):
        close(g, w.detach().numpy(), np.dtype(dtype).type)


def test_from_torch_onnx_export_with_initial_state(tmp_path):
    torch = pytest.importorskip("torch", reason="needs torch: pip install .[test]")
    torch.manual_seed(0)
    m = torch.nn.LSTM(2, 3, 2, bidirectional=True)
    x, hx = torch.randn(4, 2, 2), (torch.randn(4, 2, 3), torch.randn(4, 2, 3))
    torch_export(torch, m, x, tmp_path / "t.onnx", dynamo=False, hx=hx)
    p = from_onnx(str(tmp_path / "t.onnx"))
    out, _ = m(x, hx)
    close(p(x.numpy(), tuple(h.numpy() for h in hx))[0], out.detach().numpy(), np.float32)


@pytest.mark.parametrize("bidirectional,batch_first", [(True, True), (False, False)])
def test_from_torch_dynamo_export(tmp_path, bidirectional, batch_first):
    torch = pytest.importorskip("torch", reason="needs torch: pip install .[test]")
    pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    torch.manual_seed(1)
    m = torch.nn.LSTM(3, 4, 2, batch_first=batch_first, bidirectional=bidirectional)
    x = torch.randn(2, 5, 3)
    torch_export(torch, m, x, tmp_path / "t.onnx", dynamo=True)
    p = from_onnx(tmp_path / "t.onnx")
    assert (p.num_layers, p.bidirectional, p.batch_first) == (2, bidirectional, batch_first)
    out, (h_n, c_n) = m(x)
    got, (gh, gc) = p(x.numpy())
    for g, w in ((got, out), (gh, h_n), (gc, c_n)):
        close(g, w.detach().numpy(), np.float32)


# ---- errors ----------------------------------------------------------------------


def one_node_graph(op_type, name, inits, hidden=3, **attrs):
    node = helper.make_node(op_type, ["x"] + [t.name for t in inits], ["y", "y_h"], name=name,
                            hidden_size=hidden, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["T", "B", 2])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_gru_node_is_refused_by_name():
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((1, 9, 2)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal((1, 9, 3)).astype(np.float32), "R")]
    with pytest.raises(ValueError, match=r"GRU 'my_gru'"):
        from_onnx(one_node_graph("GRU", "my_gru", inits))


def lstm_inits(rng):
    inits = [numpy_helper.from_array(rng.standard_normal((1, 12, 2)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal((1, 12, 3)).astype(np.float32), "R")]
    return inits


@pytest.mark.parametrize("attrs,match", [
    ({"direction": "reverse"}, "direction='reverse'"),
    ({"clip": 5.0}, "clip"),
    ({"input_forget": 1}, "input_forget"),
    ({"activations": ["Relu", "Tanh", "Tanh"]}, "activations"),
])
def test_lstm_node_options_pylstm_lacks_are_refused_by_name(attrs, match):
    proto = one_node_graph("LSTM", "odd_lstm", lstm_inits(np.random.default_rng(0)), **attrs)
    with pytest.raises(ValueError, match=rf"LSTM 'odd_lstm'.*{match}"):
        from_onnx(proto)


def test_lstm_nodes_that_are_not_stacked_are_refused_by_name():
    """Two LSTM nodes reading the same input are not a 2-layer LSTM."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((1, 12, 3)).astype(np.float32), n)
             for n in ("W", "R")]
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], [f"y{k}"], name=f"side_{k}",
                              hidden_size=3) for k in (1, 2)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["T", "B", 3])], [helper.make_tensor_value_info(
            f"y{k}", TensorProto.FLOAT, ["T", 1, "B", 3]) for k in (1, 2)], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ValueError, match=r"LSTM 'side_2' does not read the output of .*"
                                         r"'side_1'"):
        from_onnx(proto)


def test_malformed_pylstm_metadata_is_a_value_error():
    proto = to_onnx(pylstm.LSTM(2, 3), None)
    onnx.helper.set_model_props(proto, {"pylstm": '{"kind": "LSTM", "input_size": 2}'})
    with pytest.raises(ValueError, match="metadata does not describe a pylstm LSTM"):
        from_onnx(proto)


def test_computation_after_the_lstm_is_refused_by_name(tmp_path):
    torch = pytest.importorskip("torch", reason="needs torch: pip install .[test]")

    class WithHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = torch.nn.LSTM(2, 3), torch.nn.Linear(3, 1)

        def forward(self, x):
            return self.head(self.lstm(x)[0])

    torch_export(torch, WithHead(), torch.randn(4, 1, 2), tmp_path / "h.onnx", dynamo=False)
    with pytest.raises(ValueError, match=r"cannot map node (MatMul|Gemm|Add) "):
        from_onnx(tmp_path / "h.onnx")


def test_bad_arguments():
    m = pylstm.LSTM(2, 3)
    with pytest.raises(ValueError, match="opset"):
        to_onnx(m, None, opset=7)
    with pytest.raises(TypeError, match="model: expected a pylstm.LSTM"):
        to_onnx(pylstm.Linear(2, 3), None)
    with pytest.raises(ValueError, match="not fitted"):
        to_onnx(pylstm.LSTMRegressor(), None)
    with pytest.raises(ValueError, match="with_lengths"):
        to_onnx(pylstm.LSTMCell(2, 3), None, with_lengths=True)
    with pytest.raises(TypeError, match="path_or_model"):
        from_onnx(12)
    est = pylstm.LSTMRegressor(hidden_size=2, epochs=1).fit(np.zeros((4, 3, 1)), np.arange(4.0))
    with pytest.raises(ValueError, match="LSTMRegressor"):
        from_onnx(to_onnx(est, None))


def test_importing_pylstm_does_not_import_onnx():
    code = ("import sys, pylstm; assert 'onnx' not in sys.modules; "
            "f = pylstm.to_onnx; assert 'onnx' not in sys.modules; "
            "import pylstm.onnx; assert f is pylstm.onnx.to_onnx")
    # From the tests' folder: at the repository root `python -c` would import
    # the uncompiled source package instead of the installed one.
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(__file__))


