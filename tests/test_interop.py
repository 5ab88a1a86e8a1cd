"""pylstm.interop: torch.nn.LSTM / LSTMCell -> pylstm -> torch round trips,
training in pylstm then running in torch, and Keras LSTM / Bidirectional(LSTM)
weights giving Keras' outputs and states."""
import os

os.environ["KERAS_BACKEND"] = "torch"  # keras reads it at import; torch is installed for tests

import numpy as np
import pytest
from conftest import torch_or_skip

import pylstm
from pylstm.interop import from_keras, from_torch, to_keras, to_torch_state_dict

# keras 3.15 with NumPy 2 warns about __array__(copy=...) in its own code
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CONFIGS = [
    {"num_layers": 2, "bidirectional": True, "proj_size": 2},
    {"num_layers": 2, "bidirectional": True, "proj_size": 0, "bias": False, "batch_first": True},
    {"num_layers": 1, "bidirectional": False, "proj_size": 3},
    {"num_layers": 3, "bidirectional": False, "proj_size": 0, "dropout": 0.5},
]


def tol(dtype):
    return 1e-12 if dtype == np.float64 else 2e-6


def run_torch(torch, t, x):
    t.eval()  # no dropout: pylstm's __call__ is inference
    with torch.no_grad():
        y, (h, c) = t(torch.from_numpy(x))
    return y.numpy(), h.numpy(), c.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_from_torch_matches_torch(cfg, dtype):
    torch = torch_or_skip()
    torch.manual_seed(0)
    t = torch.nn.LSTM(4, 5, **cfg)
    t = t.double() if dtype == np.float64 else t
    m = pylstm.LSTM.from_torch(t)
    assert (m.num_layers, m.bidirectional, m.proj_size, m.bias, m.batch_first, m.dropout,
            m.dtype) == (t.num_layers, t.bidirectional, t.proj_size, t.bias, t.batch_first,
                         t.dropout, np.dtype(dtype))
    x = np.random.default_rng(0).standard_normal((6, 3, 4)).astype(dtype)
    y, (h, c) = m(x)
    yt, ht, ct = run_torch(torch, t, x)
    np.testing.assert_allclose(y, yt, atol=tol(dtype))
    np.testing.assert_allclose(h, ht, atol=tol(dtype))
    np.testing.assert_allclose(c, ct, atol=tol(dtype))
    assert from_torch(t).state_dict().keys() == t.state_dict().keys()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_to_torch_state_dict_loads_into_torch(cfg, dtype):
    torch = torch_or_skip()
    m = pylstm.LSTM(4, 5, dtype=dtype, seed=7, **cfg)
    t = torch.nn.LSTM(4, 5, **cfg)
    t = t.double() if dtype == np.float64 else t
    sd = m.to_torch_state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    t.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})  # strict
    x = np.random.default_rng(1).standard_normal((6, 3, 4)).astype(dtype)
    y, (h, c) = m(x)
    yt, ht, ct = run_torch(torch, t, x)
    np.testing.assert_allclose(y, yt, atol=tol(dtype))
    np.testing.assert_allclose(h, ht, atol=tol(dtype))
    np.testing.assert_allclose(c, ct, atol=tol(dtype))
    back = pylstm.LSTM.from_torch(t)
    for k, v in m.state_dict().items():
        assert np.array_equal(back.state_dict()[k], v)


def test_state_dict_copies_do_not_alias_the_model():
    m = pylstm.LSTM(2, 3, seed=0)
    sd = to_torch_state_dict(m)
    sd["weight_ih_l0"][...] = 123
    assert not np.any(m.weight_ih_l0 == 123)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_round_trip_with_torch(dtype, bias):
    torch = torch_or_skip()
    t = torch.nn.LSTMCell(3, 4, bias=bias)
    t = t.double() if dtype == np.float64 else t
    m = pylstm.LSTMCell.from_torch(t)
    assert type(m) is pylstm.LSTMCell and m.dtype == dtype and m.bias == bias
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(dtype)
    with torch.no_grad():
        ht, ct = t(torch.from_numpy(x))
    h, c = m(x)
    np.testing.assert_allclose(h, ht.numpy(), atol=tol(dtype))
    np.testing.assert_allclose(c, ct.numpy(), atol=tol(dtype))
    t2 = torch.nn.LSTMCell(3, 4, bias=bias)
    t2 = t2.double() if dtype == np.float64 else t2
    t2.load_state_dict({k: torch.from_numpy(v) for k, v in m.to_torch_state_dict().items()})


def test_from_torch_checks_the_kind_and_dtype():
    torch = torch_or_skip()
    with pytest.raises(TypeError, match="torch.nn.LSTM"):
        pylstm.LSTM.from_torch(torch.nn.LSTMCell(2, 3))
    with pytest.raises(TypeError, match="torch.nn.LSTMCell"):
        pylstm.LSTMCell.from_torch(torch.nn.LSTM(2, 3))
    with pytest.raises(ValueError, match="float32 or float64"):
        from_torch(torch.nn.LSTM(2, 3).half())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trained_in_pylstm_then_torch_and_back(dtype):
    """A few SGD steps in pylstm, then the same numbers from torch and back."""
    torch = torch_or_skip()
    m = pylstm.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2, dtype=dtype, seed=4)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 4, 3)).astype(dtype)
    target = rng.standard_normal((7, 4, 4)).astype(dtype)
    before = m.state_dict()
    losses = []
    for _ in range(5):
        m.zero_grad()
        y, _, cache = m.forward_train(x)
        losses.append(float(np.mean((y - target) ** 2)))
        m.backward(cache, 2 * (y - target) / y.size)
        for p, g in zip(m.parameters(), m.grads.values()):
            p -= 0.5 * g
    assert losses[-1] < losses[0]
    assert not np.array_equal(before["weight_ih_l1_reverse"], m.weight_ih_l1_reverse)
    t = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2)
    t = t.double() if dtype == np.float64 else t
    t.load_state_dict({k: torch.from_numpy(v) for k, v in m.to_torch_state_dict().items()})
    y, (h, c) = m(x)
    yt, ht, ct = run_torch(torch, t, x)
    np.testing.assert_allclose(y, yt, atol=tol(dtype))
    np.testing.assert_allclose(h, ht, atol=tol(dtype))
    np.testing.assert_allclose(c, ct, atol=tol(dtype))
    back = pylstm.LSTM.from_torch(t)
    y2, (h2, c2) = back(x)
    assert np.array_equal(y, y2) and np.array_equal(h, h2) and np.array_equal(c, c2)


# ---- Keras -----------------------------------------------------------------

def keras_or_skip():
    torch_or_skip()
    return pytest.importorskip("keras", reason="keras 3 (torch backend): pip install .[test]")


def to_np(t):
    import keras
    return keras.ops.convert_to_numpy(t)


def randomise(layer, rng):
    """Random weights everywhere, biases included (Keras starts them at 0/1)."""
    layer.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype)
                       for w in layer.get_weights()])


@pytest.mark.parametrize("use_bias", [True, False])
def test_keras_lstm_matches(use_bias):
    keras = keras_or_skip()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 4)).astype(np.float32)  # (B, T, I)
    layer = keras.layers.LSTM(5, use_bias=use_bias, return_sequences=True, return_state=True)
    layer(x)  # builds the weights
    randomise(layer, rng)
    out, h, c = (to_np(v) for v in layer(x))
    m = from_keras(layer)
    assert m.batch_first and m.bias == use_bias and m.hidden_size == 5
    y, (h_n, c_n) = m(x)
    np.testing.assert_allclose(y, out, atol=1e-5)
    np.testing.assert_allclose(h_n[0], h, atol=1e-5)
    np.testing.assert_allclose(c_n[0], c, atol=1e-5)
    # the same from the weight list
    m2 = from_keras(layer.get_weights(), use_bias=use_bias)
    np.testing.assert_allclose(m2(x)[0], out, atol=1e-5)


def test_keras_bidirectional_matches():
    keras = keras_or_skip()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=True, return_state=True))
    layer(x)
    randomise(layer, rng)
    out, fh, fc, bh, bc = (to_np(v) for v in layer(x))
    m = from_keras(layer)
    assert m.bidirectional
    y, (h_n, c_n) = m(x)
    np.testing.assert_allclose(y, out, atol=1e-5)
    np.testing.assert_allclose(h_n[0], fh, atol=1e-5)
    np.testing.assert_allclose(c_n[0], fc, atol=1e-5)
    np.testing.assert_allclose(h_n[1], bh, atol=1e-5)
    np.testing.assert_allclose(c_n[1], bc, atol=1e-5)
    m2 = from_keras(layer.get_weights(), bidirectional=True)
    np.testing.assert_allclose(m2(x)[0], out, atol=1e-5)


def test_keras_stack_and_go_backwards_as_documented():
    keras = keras_or_skip()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    l1 = keras.layers.LSTM(4, return_sequences=True)
    l2 = keras.layers.LSTM(4, return_sequences=True, return_state=True)
    h1 = l1(x)
    l2(h1)
    randomise(l1, rng)
    randomise(l2, rng)
    out, h, c = (to_np(v) for v in l2(l1(x)))
    m = from_keras([l1, l2])
    assert m.num_layers == 2
    y, (h_n, c_n) = m(x)
    np.testing.assert_allclose(y, out, atol=1e-5)
    np.testing.assert_allclose(h_n[1], h, atol=1e-5)
    np.testing.assert_allclose(c_n[1], c, atol=1e-5)
    # go_backwards: feed the reversed sequence; outputs come in that order too
    back = keras.layers.LSTM(4, go_backwards=True, return_sequences=True, return_state=True)
    back(x)
    randomise(back, rng)
    out, h, c = (to_np(v) for v in back(x))
    y, (h_n, _) = from_keras(back)(np.ascontiguousarray(x[:, ::-1]))
    np.testing.assert_allclose(y, out, atol=1e-5)
    np.testing.assert_allclose(h_n[0], h, atol=1e-5)


def test_keras_refuses_what_torch_cannot_compute():
    keras = keras_or_skip()
    x = np.zeros((1, 2, 3), np.float32)
    relu = keras.layers.LSTM(2, activation="relu")
    relu(x)
    with pytest.raises(ValueError, match="activation"):
        from_keras(relu)
    summed = keras.layers.Bidirectional(keras.layers.LSTM(2), merge_mode="sum")
    summed(x)
    with pytest.raises(ValueError, match="merge_mode"):
        from_keras(summed)
    with pytest.raises(ValueError, match="kernel"):
        from_keras([np.zeros((3, 8)), np.zeros((3, 8)), np.zeros(8)])


# ---- to Keras ----------------------------------------------------------------

def keras_tol(dtype):
    return 1e-12 if dtype == np.float64 else 1e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_to_keras_computes_what_pylstm_computes(num_layers, bidirectional, bias, dtype):
    keras_or_skip()
    rng = np.random.default_rng(num_layers * 8 + bidirectional * 4 + bias * 2)
    m = pylstm.LSTM(3, 5, num_layers=num_layers, bias=bias, bidirectional=bidirectional,
                    batch_first=True, dropout=0.25 if num_layers > 1 else 0.0, dtype=dtype,
                    seed=int(rng.integers(1 << 30)))
    # biases of torch's size (keras starts its own at 0/1, so these are not defaults)
    m.load_state_dict({k: rng.uniform(-0.5, 0.5, v.shape) for k, v in m.state_dict().items()})
    k = to_keras(m)
    kind = "Sequential" if num_layers > 1 else "Bidirectional" if bidirectional else "LSTM"
    assert type(k).__name__ == kind
    x = rng.standard_normal((4, 7, 3)).astype(dtype)
    y = to_np(k(x))
    assert y.dtype == dtype
    want, _ = m(x)
    np.testing.assert_allclose(y, want, rtol=0, atol=keras_tol(dtype))
    if num_layers > 1:  # pylstm's dropout between the layers, as Dropout layers
        rates = [layer.rate for layer in k.layers if type(layer).__name__ == "Dropout"]
        assert rates == [0.25] * (num_layers - 1)
    # and back: the same numbers, Keras' one bias in b_ih
    back = from_keras(k)
    assert (back.num_layers, back.bidirectional, back.bias, back.dtype, back.dropout) == \
        (num_layers, bidirectional, bias, dtype, m.dropout)
    sd, sd_back = m.state_dict(), back.state_dict()
    assert sd.keys() == sd_back.keys()
    for name, v in sd.items():
        if name.startswith("bias_ih"):
            np.testing.assert_array_equal(sd_back[name], v + sd[name.replace("_ih", "_hh")])
        elif name.startswith("bias_hh"):
            assert not sd_back[name].any()
        else:
            np.testing.assert_array_equal(sd_back[name], v)
    np.testing.assert_allclose(back(x)[0], want, rtol=0, atol=keras_tol(dtype))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_to_keras_return_state_and_time_major_model(bidirectional):
    keras_or_skip()
    m = pylstm.LSTM(2, 4, bidirectional=bidirectional, seed=3)  # batch_first=False
    x = np.random.default_rng(4).standard_normal((6, 3, 2)).astype(np.float32)  # (T, B, I)
    out, (h_n, c_n) = m(x)
    got = [to_np(v) for v in to_keras(m, return_state=True)(x.transpose(1, 0, 2))]
    want = [out.transpose(1, 0, 2), h_n[0], c_n[0]] + ([h_n[1], c_n[1]] if bidirectional else [])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5)


def test_to_keras_refuses_what_keras_cannot_express():
    keras_or_skip()
    with pytest.raises(ValueError, match="proj_size=2.*no projection"):
        to_keras(pylstm.LSTM(3, 4, proj_size=2))
    with pytest.raises(TypeError, match="model: expected a pylstm.LSTM"):
        to_keras(pylstm.LSTMCell(3, 4))
    with pytest.raises(ValueError, match="return_state: only for a one-layer model"):
        to_keras(pylstm.LSTM(3, 4, num_layers=2), return_state=True)


def test_from_keras_names_layers_that_are_not_lstms():
    keras = keras_or_skip()
    x = np.zeros((1, 2, 3), np.float32)
    for cls in (keras.layers.GRU, keras.layers.SimpleRNN):
        layer = cls(4, name="rnn")
        layer(x)
        with pytest.raises(ValueError, match=f"layer: a Keras {cls.__name__} layer \\('rnn'\\), "
                                             "not an LSTM; pylstm imports only LSTM and "
                                             "Bidirectional\\(LSTM\\)"):
            from_keras(layer)
        wrapped = keras.layers.Bidirectional(cls(4))
        wrapped(x)
        with pytest.raises(ValueError, match=f"layer.forward_layer: a Keras {cls.__name__}"):
            from_keras(wrapped)
        with pytest.raises(ValueError, match=f"layers\\[1\\]: a Keras {cls.__name__}"):
            from_keras([keras.layers.LSTM(4), layer])
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4),
                              keras.layers.Dense(1, name="head")])
    with pytest.raises(ValueError, match="model.layers\\[1\\]: a Keras Dense layer \\('head'\\)"):
        from_keras(model)
    inp = keras.Input((None, 3))
    functional = keras.Model(inp, keras.layers.Dense(1, name="out")(keras.layers.LSTM(4)(inp)))
    with pytest.raises(ValueError, match="a Keras functional model.*'out', a Dense layer"):
        from_keras(functional)
    loose = keras.Sequential([keras.Input((None, 3)), keras.layers.Dropout(0.1),
                              keras.layers.LSTM(4)])
    with pytest.raises(ValueError, match="model.layers\\[0\\]: a Dropout .* between"):
        from_keras(loose)
    uneven = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4, return_sequences=True),
                               keras.layers.Dropout(0.1), keras.layers.LSTM(4,
                                                                            return_sequences=True),
                               keras.layers.LSTM(4)])
    with pytest.raises(ValueError, match="Dropout rates \\[0.0, 0.1\\]"):
        from_keras(uneven)


def test_from_keras_imports_a_sequential_of_lstms():
    keras = keras_or_skip()
    rng = np.random.default_rng(5)
    model = keras.Sequential([
        keras.Input((None, 3)),
        keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)),
        keras.layers.Dropout(0.2),
        keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))])
    for layer in model.layers:
        if layer.get_weights():
            randomise(layer, rng)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    m = from_keras(model)
    assert (m.num_layers, m.bidirectional, m.dropout) == (2, True, pytest.approx(0.2))
    np.testing.assert_allclose(m(x)[0], to_np(model(x)), rtol=0, atol=1e-5)
