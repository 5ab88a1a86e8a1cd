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


# ---- pylstm.Dropout, the layer -----------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_layer_mask_rate_scaling_and_backward(p, dtype):
    layer = pylstm.Dropout(p, seed=1)
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 1.5, (200, 300)).astype(dtype)  # no zeros: a zero output is a drop
    y, cache = layer.forward_train(x)
    assert y.dtype == dtype and cache.mask.dtype == bool
    kept = y != 0
    assert np.array_equal(kept, cache.mask)
    # 60000 Bernoulli(1-p) draws: the kept fraction within 5 standard deviations
    n = x.size
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], x[kept] / dtype(1 - p), rtol=1e-6)
    dy = rng.standard_normal(x.shape).astype(dtype)
    dx = layer.backward(cache, dy)
    np.testing.assert_allclose(dx, np.where(kept, dy / (1 - p), 0), rtol=1e-6, atol=0)
    # masks are fresh per call, and the same seed repeats them
    assert not np.array_equal(layer.forward_train(x)[1].mask, cache.mask)
    assert np.array_equal(pylstm.Dropout(p, seed=1).forward_train(x)[1].mask, cache.mask)


def test_dropout_layer_masks_are_independent_of_position():
    """Each element is kept with the same probability: the kept count per
    column of many draws is within 5 standard deviations of its mean."""
    layer = pylstm.Dropout(0.3, seed=0)
    counts = sum(layer.forward_train(np.ones((50, 40)))[1].mask.astype(int)
                 for _ in range(100))
    per_column = counts.sum(axis=0)  # 5000 draws each
    assert np.all(np.abs(per_column - 3500) < 5 * np.sqrt(5000 * 0.21))


def test_dropout_layer_edge_probabilities_and_inference():
    x = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    zero = pylstm.Dropout(0.0, seed=0)
    y, cache = zero.forward_train(x)
    assert np.array_equal(y, x) and cache.mask.all()
    assert np.array_equal(zero.backward(cache, 2 * x), 2 * x)
    layer = pylstm.Dropout(1.0, seed=0)
    y, cache = layer.forward_train(x)
    assert not y.any() and not cache.mask.any() and np.all(np.isfinite(y))
    d = layer.backward(cache, np.ones_like(x))
    assert not d.any() and np.all(np.isfinite(d))
    half = pylstm.Dropout(0.5, seed=0)
    assert half(x) is x  # inference: the input itself, never dropped or scaled
    assert half.state_dict() == {} and repr(half) == "Dropout(p=0.5)"
    assert half(np.array([1, 2])).dtype == np.float64


@pytest.mark.parametrize("p", [-0.1, 1.5, True, "0.5", float("nan")])
def test_dropout_layer_refuses_a_bad_probability(p):
    with pytest.raises(ValueError, match="p: dropout probability has to be between 0 and 1"):
        pylstm.Dropout(p)


def test_dropout_layer_refuses_bad_input_and_caches():
    layer = pylstm.Dropout(0.5, seed=0)
    with pytest.raises(TypeError, match="input: expected a real numeric array"):
        layer.forward_train(np.array(["a"]))
    _, cache = layer.forward_train(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"d_out: expected shape \(2, 3\)"):
        layer.backward(cache, np.ones(3))
    with pytest.raises(ValueError, match="cache"):
        pylstm.Dropout(0.5).backward(cache, np.ones((2, 3)))


def test_dropout_layer_sits_in_an_optimiser_module_list():
    drop, head = pylstm.Dropout(0.5, seed=0), pylstm.Linear(3, 1, seed=0)
    opt = pylstm.Adam([drop, head], lr=0.1)
    y, cd = drop.forward_train(np.ones((4, 3)))
    _, ch = head.forward_train(y)
    before = head.weight.copy()
    drop.backward(cd, head.backward(ch, np.ones((4, 1))))
    opt.step()
    assert not np.array_equal(head.weight, before)
