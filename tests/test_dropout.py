"""Dropout between layers: the mask rate and the 1/(1-p) scaling, observed
exactly through a second layer whose weights make it an invertible read-out
of its input; and inference never drops."""
import numpy as np
import pytest

import pylstm


def readout_model(p, H=6, seed=0):
    """Two layers; layer 1 copies its input x_j into h_j = tanh(tanh(x_j)):
    i = o = 1 and f = 0 exactly in float64 (sigmoid of +-1000), g = tanh(x)."""
    m = pylstm.LSTM(3, H, num_layers=2, dropout=p, dtype=np.float64, seed=seed)
    sd = m.state_dict()
    sd["weight_hh_l1"][:] = 0
    w = np.zeros((4 * H, H))
    w[2 * H:3 * H] = np.eye(H)
    sd["weight_ih_l1"][:] = w
    b = np.zeros(4 * H)
    b[:H], b[H:2 * H], b[3 * H:] = 1000, -1000, 1000
    sd["bias_ih_l1"][:] = b
    sd["bias_hh_l1"][:] = 0
    m.load_state_dict(sd)
    return m


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_mask_rate_and_scaling(p):
    m = readout_model(p)
    first = pylstm.LSTM(3, 6, dtype=np.float64)
    first.load_state_dict({k[:-1] + "0": v for k, v in m.state_dict().items() if k.endswith("l0")})
    x = np.random.default_rng(1).standard_normal((200, 20, 3))
    y0, _ = first(x)
    y1, _, _ = m.forward_train(x)
    seen = np.arctanh(np.arctanh(y1))  # layer 1's input after dropout
    ratio = seen / y0
    dropped = seen == 0
    n = dropped.size
    assert abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(ratio[~dropped], 1 / (1 - p), rtol=1e-6)


def test_inference_never_drops_and_training_is_seeded():
    m = readout_model(0.5, seed=3)
    x = np.random.default_rng(2).standard_normal((10, 4, 3))
    a, _ = m(x)
    b, _ = m(x)
    assert np.array_equal(a, b)
    y1, _, _ = m.forward_train(x)
    y2, _, _ = m.forward_train(x)
    assert not np.array_equal(y1, y2)  # fresh masks per call
    m2 = readout_model(0.5, seed=3)
    z1, _, _ = m2.forward_train(x)
    assert np.array_equal(y1, z1)  # same seed, same sequence of masks


def test_dropout_one_zeroes_the_next_layers_input():
    m = readout_model(1.0)
    y, _, _ = m.forward_train(np.ones((4, 2, 3)))
    assert not y.any()
