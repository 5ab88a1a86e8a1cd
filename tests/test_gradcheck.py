"""Gradients against central finite differences in float64; needs no torch."""
import numpy as np
import pytest

import pylstm
from conftest import central_difference


def loss_and_grads(model, x, hx, lengths, w, reseed=None):
    if reseed is not None:  # same dropout masks on every call
        model._rng = np.random.default_rng(reseed)
    y, (hn, cn), cache = model.forward_train(x, hx, lengths=lengths)
    loss = np.sum(y * w[0]) + np.sum(hn * w[1]) + np.sum(cn * w[2])
    return loss, cache


@pytest.mark.parametrize("kw", [
    dict(),
    dict(bias=False, batch_first=True),
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=2, proj_size=2, bidirectional=True),
    dict(num_layers=3, dropout=0.4),
])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_lstm_gradients_match_finite_differences(kw, use_lengths):
    rng = np.random.default_rng(0)
    model = pylstm.LSTM(3, 4, dtype=np.float64, seed=1, **kw)
    T, B = 5, 3
    x = rng.standard_normal((B, T, 3) if model.batch_first else (T, B, 3))
    L = model.num_layers * model.num_directions
    R = model.proj_size or 4
    hx = (rng.standard_normal((L, B, R)), rng.standard_normal((L, B, 4)))
    lengths = np.array([5, 2, 4]) if use_lengths else None
    reseed = 123 if model.dropout else None
    y, (hn, cn), _ = model.forward_train(x, hx, lengths=lengths)
    w = [rng.standard_normal(a.shape) for a in (y, hn, cn)]

    _, cache = loss_and_grads(model, x, hx, lengths, w, reseed)
    model.zero_grad()
    dx, (dh0, dc0) = model.backward(cache, w[0], w[1], w[2])

    def loss():
        return loss_and_grads(model, x, hx, lengths, w, reseed)[0]

    checks = [(x, dx), (hx[0], dh0), (hx[1], dc0)]
    checks += [(p, model.grads[n]) for n, p in model.named_parameters()]
    for arr, grad in checks:
        for _ in range(4):
            idx = tuple(int(rng.integers(s)) for s in arr.shape)
            num = central_difference(loss, arr, idx)
            assert abs(num - grad[idx]) < 1e-6 * max(1.0, abs(num)), (idx, num, grad[idx])


def test_cell_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    cell = pylstm.LSTMCell(4, 3, dtype=np.float64, seed=2)
    x = rng.standard_normal((2, 4))
    h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    wh, wc = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))

    def loss():
        h1, c1 = cell(x, (h, c))
        return np.sum(h1 * wh) + np.sum(c1 * wc)

    _, _, cache = cell.forward_train(x, (h, c))
    dx, (dh, dc) = cell.backward(cache, wh, wc)
    for arr, grad in [(x, dx), (h, dh), (c, dc)] + [(p, cell.grads[n])
                                                     for n, p in cell.named_parameters()]:
        for idx in np.ndindex(arr.shape):
            assert abs(central_difference(loss, arr, idx) - grad[idx]) < 1e-7, idx


def test_float32_bias_gradient_sums_steps_then_rows():
    # The bias gradient sums dgates over T steps and B rows. Summed per row
    # over the steps and then over the rows, a float32 sum's error grows with
    # T + B terms, not T * B: here (T = 200, B = 64) its largest error
    # against the float64 model's was 3.3e-4 as one sum of all T * B and is
    # 4.5e-5 now, where W_hh's gradient (a GEMM, blocked) errs by 1.1e-5.
    rng = np.random.default_rng(1)
    T, B, I, H = 200, 64, 32, 64
    x, dy = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))
    grads = {}
    for dtype in (np.float32, np.float64):
        model = pylstm.LSTM(I, H, dtype=dtype, seed=3)
        _, _, cache = model.forward_train(x.astype(dtype))
        model.backward(cache, dy.astype(dtype))
        grads[dtype] = model.grads
    for name in ("bias_ih_l0", "bias_hh_l0"):
        err = np.abs(grads[np.float32][name] - grads[np.float64][name]).max()
        assert err < 1e-4, (name, err)
