"""LSTM.stream(): stepping equals running the model over the whole sequence."""
import numpy as np
import pytest

import pylstm


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("kw", [dict(), dict(num_layers=3, proj_size=5), dict(bias=False)])
def test_steps_equal_the_sequence_forward(dtype, tol, kw):
    rng = np.random.default_rng(0)
    model = pylstm.LSTM(7, 11, dtype=dtype, seed=1, **kw)
    L, R = model.num_layers, model.proj_size or 11
    x = rng.standard_normal((9, 4, 7)).astype(dtype)
    hx = (rng.standard_normal((L, 4, R)).astype(dtype),
          rng.standard_normal((L, 4, 11)).astype(dtype))
    y, (h, c) = model(x, hx)
    s = model.stream(batch=4)
    s.reset(hx)
    out = np.stack([s.step(x[t]).copy() for t in range(9)])
    assert np.abs(out - y).max() < tol
    assert np.abs(s.state[0] - h).max() < tol and np.abs(s.state[1] - c).max() < tol


def test_unbatched_stream_and_reset():
    model = pylstm.LSTM(3, 4, num_layers=2, seed=0)
    x = np.random.default_rng(1).standard_normal((5, 3))
    y, (h, c) = model(x)
    s = model.stream()
    first = [s.step(xt).copy() for xt in x]
    np.testing.assert_allclose(np.stack(first), y, atol=2e-6)
    assert s.state[0].shape == (2, 4)
    s.reset()
    again = [s.step(xt.tolist()).copy() for xt in x]  # lists are converted
    assert np.array_equal(np.stack(first), np.stack(again))


def test_step_reuses_its_output_buffer():
    s = pylstm.LSTM(4, 4, seed=0).stream(batch=2)
    a = s.step(np.ones((2, 4), np.float32))
    b = s.step(np.ones((2, 4), np.float32))
    assert a is b


def test_refresh_picks_up_new_parameters():
    model = pylstm.LSTM(3, 4, seed=0, dtype=np.float64)
    s = model.stream()
    x = np.ones(3)
    before = s.step(x).copy()
    for p in model.parameters():
        p *= 2
    s.reset()
    assert np.array_equal(s.step(x), before)  # packed at creation
    s.reset()
    s.refresh()
    np.testing.assert_allclose(s.step(x), model(x[None])[0][0], atol=1e-14)


def test_stream_refuses_bad_input():
    with pytest.raises(ValueError, match="unidirectional"):
        pylstm.LSTM(3, 4, bidirectional=True).stream()
    s = pylstm.LSTM(3, 4).stream(batch=2)
    with pytest.raises(ValueError, match="x: expected shape"):
        s.step(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="x: expected a real numeric"):
        s.step(np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="h_0: expected shape"):
        s.reset((np.zeros((1, 3, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(ValueError, match="batch"):
        pylstm.LSTM(3, 4).stream(batch=0)


def test_stream_repr_names_the_model_and_batch():
    model = pylstm.LSTM(3, 4, num_layers=2, seed=0)
    assert repr(model.stream()) == f"Stream({model!r}, batch=None)"
    assert repr(model.stream(batch=5)) == f"Stream({model!r}, batch=5)"
