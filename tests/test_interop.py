"""pylstm.interop: torch.nn.LSTM / LSTMCell -> pylstm -> torch round trips,
training in pylstm then running in torch, and Keras LSTM / Bidirectional(LSTM)
weights giving Keras' outputs and states."""
import os

os.environ["KERAS_BACKEND"] = "torch"  # keras reads it at import; torch is installed for tests

import numpy as np
import pytest
from conftest import torch_or_skip

import pylstm
from pylstm.interop import from_keras, from_torch, to_torch_state_dict

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
