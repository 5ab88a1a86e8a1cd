"""pylstm.plot draws what the model computes in the model's own layout: a
batch-first LSTM, a fitted estimator (batch-first (n, T, F) data, ragged
lists), compared with LSTM.gates on time-major input; and the loss curve of
an estimator is labelled per epoch."""
import numpy as np
import pytest

import pylstm

pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install matplotlib")


def drawn(fig, col=0, row=1):
    """The array of the image in a row of a column of gates' grid (row 0 the
    input, rows 1..6 i f g o c h)."""
    images = [ax for ax in fig.axes if ax.images]
    ncols = len(images) // 7
    return np.asarray(images[row * ncols + col].images[0].get_array())


def test_gates_of_a_batch_first_lstm_match_its_time_major_twin():
    tm = pylstm.LSTM(3, 4, seed=0)
    bf = pylstm.LSTM(3, 4, batch_first=True, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))     # (T, B, I)
    want = tm.gates(x)[0]["f"][:, 1, :].T                        # (units, T)
    got = drawn(pylstm.plot.gates(bf, x.transpose(1, 0, 2), sample=1), row=2)
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gates_of_a_fitted_estimator_read_its_batch_first_input():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 6, 2))                           # (n, T, F)
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=1, random_state=0).fit(X, X[:, -1, 0])
    fig = pylstm.plot.gates(est, X, sample=2)
    want = est.lstm_.gates(X.transpose(1, 0, 2))[0]["i"][:, 2, :].T
    got = drawn(fig, row=1)
    assert got.shape == (4, 6)                                   # T = 6 steps, not n = 3
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(drawn(fig, row=0), X[2].T, rtol=1e-6)
    with pytest.raises(ValueError, match="sample"):
        pylstm.plot.gates(est, X, sample=3)


def test_gates_of_an_estimator_on_ragged_sequences_draw_the_real_steps():
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((T, 2)) for T in (5, 3, 7)]
    est = pylstm.LSTMClassifier(hidden_size=3, epochs=1, random_state=0).fit(seqs, [0, 1, 0])
    got = drawn(pylstm.plot.gates(est, seqs, sample=1), row=1)
    want = est.lstm_.gates(seqs[1][:, None, :])[0]["i"][:, 0, :].T
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gates_refuse_an_unfitted_estimator_and_other_objects():
    with pytest.raises(ValueError, match="not fitted"):
        pylstm.plot.gates(pylstm.LSTMRegressor(), np.zeros((2, 3, 1)))
    with pytest.raises(TypeError, match="model: expected a pylstm.LSTM"):
        pylstm.plot.gates(object(), np.zeros((2, 3, 1)))
    est = pylstm.LSTMRegressor(hidden_size=2, epochs=1).fit(np.zeros((2, 3, 2)), [0.0, 1.0])
    with pytest.raises(ValueError, match="x: expected the estimator's input"):
        pylstm.plot.gates(est, np.zeros((2, 3, 2, 1)))


def test_loss_curve_of_an_estimator_is_per_epoch(tmp_path):
    X = np.random.default_rng(3).standard_normal((8, 4, 1))
    est = pylstm.LSTMRegressor(hidden_size=3, epochs=5, random_state=0).fit(X, X[:, 0, 0])
    fig = pylstm.plot.loss_curve(est, path=tmp_path / "loss.png")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch"
    xs, ys = ax.lines[0].get_data()
    assert list(xs) == [1, 2, 3, 4, 5] and np.allclose(ys, est.loss_curve_)
    assert (tmp_path / "loss.png").stat().st_size > 0
    assert pylstm.plot.loss_curve([3.0, 2.0, 1.0]).axes[0].get_xlabel() == "step"
    with pytest.raises(ValueError, match="not fitted"):
        pylstm.plot.loss_curve(pylstm.LSTMRegressor())
