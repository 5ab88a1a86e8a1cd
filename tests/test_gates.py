"""model.gates() against a NumPy re-computation of the LSTM equations from the
state dict (source document: f, i, g, o, c_t = f*c + i*g, h_t = o*tanh(c_t))."""
import numpy as np
import pytest

import pylstm


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_lstm(sd, x, L, D, H, P, lengths):
    """Per (layer, direction) dicts of i, f, g, o, c, h (T, B, .), padding zeroed."""
    T, B, _ = x.shape
    R = P or H
    out, inp = [], x
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            W_ih, W_hh = sd["weight_ih" + sfx], sd["weight_hh" + sfx]
            b = sd.get("bias_ih" + sfx, 0) + sd.get("bias_hh" + sfx, 0)
            h, c = np.zeros((B, R)), np.zeros((B, H))
            rec = {k: np.zeros((T, B, R if k == "h" else H)) for k in "ifgoch"}
            for t in (range(T - 1, -1, -1) if d else range(T)):
                z = inp[t] @ W_ih.T + h @ W_hh.T + b
                i, f = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H])
                g, o = np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
                c_new = f * c + i * g
                h_new = o * np.tanh(c_new)
                if P:
                    h_new = h_new @ sd["weight_hr" + sfx].T
                real = (t < lengths)[:, None]
                c, h = np.where(real, c_new, c), np.where(real, h_new, h)
                for k, v in zip("ifgoch", (i, f, g, o, c, h)):
                    rec[k][t] = np.where(real, v, 0)
            out.append(rec)
            outs.append(rec["h"])
        inp = np.concatenate(outs, axis=2)
    return out


@pytest.mark.parametrize("L,bidir,P,use_lengths", [(1, False, 0, False), (2, True, 0, True),
                                                    (2, False, 2, True), (3, True, 3, False)])
def test_gates_equal_numpy_recomputation(L, bidir, P, use_lengths):
    rng = np.random.default_rng(L)
    model = pylstm.LSTM(3, 5, num_layers=L, bidirectional=bidir, proj_size=P, dtype=np.float64,
                        seed=4)
    x = rng.standard_normal((6, 4, 3))
    lengths = np.array([6, 2, 5, 1]) if use_lengths else np.full(4, 6)
    got = model.gates(x, lengths=lengths if use_lengths else None)
    want = numpy_lstm(model.state_dict(), x, L, 2 if bidir else 1, 5, P, lengths)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert set(g) == set("ifgoch")
        for k in g:
            np.testing.assert_allclose(g[k], w[k], atol=1e-12, err_msg=k)


def test_gates_of_batch_first_and_unbatched_input_are_time_major():
    model = pylstm.LSTM(2, 3, batch_first=True, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 7, 2)).astype(np.float32)
    g = model.gates(x)
    assert g[0]["i"].shape == (7, 4, 3)
    y, _ = model(x)
    np.testing.assert_array_equal(g[0]["h"], y.transpose(1, 0, 2))
    assert pylstm.LSTM(2, 3, seed=0).gates(x[0])[0]["c"].shape == (7, 1, 3)


def test_forget_bias_fills_the_forget_slice():
    m = pylstm.LSTM(2, 3, num_layers=2, bidirectional=True, forget_bias=1.0, seed=0)
    for name, p in m.named_parameters():
        if name.startswith("bias_ih"):
            assert np.all(p[3:6] == 1.0)
        if name.startswith("bias_hh"):
            assert np.all(p[3:6] == 0.0)
    with pytest.raises(ValueError, match="forget_bias"):
        pylstm.LSTM(2, 3, bias=False, forget_bias=1.0)
