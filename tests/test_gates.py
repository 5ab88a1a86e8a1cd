"""model.gates() against the NumPy re-computation of the LSTM equations in
tests/reference.py (i, f, g, o; c_t = f*c + i*g, h_t = o*tanh(c_t))."""
import numpy as np
import pytest

import pylstm
import reference


@pytest.mark.parametrize("L,bidir,P,use_lengths", [(1, False, 0, False), (2, True, 0, True),
                                                    (2, False, 2, True), (3, True, 3, False)])
def test_gates_equal_numpy_recomputation(L, bidir, P, use_lengths):
    rng = np.random.default_rng(L)
    model = pylstm.LSTM(3, 5, num_layers=L, bidirectional=bidir, proj_size=P, dtype=np.float64,
                        seed=4)
    x = rng.standard_normal((6, 4, 3))
    lengths = np.array([6, 2, 5, 1]) if use_lengths else np.full(4, 6)
    got = model.gates(x, lengths=lengths if use_lengths else None)
    ref = reference.LSTM(model.state_dict(), num_layers=L, bidirectional=bidir, proj_size=P)
    ref.forward(x, lengths=lengths)
    want = ref.trace()
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
