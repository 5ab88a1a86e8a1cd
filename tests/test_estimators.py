"""LSTMRegressor / LSTMClassifier: they learn small tasks, handle variable lengths
and per-step targets, follow scikit-learn's conventions and pickle."""
import inspect
import io
import pickle

import numpy as np
import pytest

import pylstm
from pylstm import _progress


def regression_data(n=160, T=10, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F)).astype(np.float32)
    return X, X[:, :, 0].sum(axis=1) + 5.0          # the offset checks target scaling


def ragged(n=120, seed=0, F=2):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(1, 13)), F)) for _ in range(n)]


def test_regressor_learns_a_running_sum():
    X, y = regression_data()
    est = pylstm.LSTMRegressor(hidden_size=16, epochs=15, random_state=0).fit(X, y)
    assert est.score(X, y) > 0.95
    assert est.predict(X).shape == (160,)
    assert len(est.loss_curve_) == est.n_epochs_ == 15
    assert est.loss_curve_[-1] < 0.2 * est.loss_curve_[0]
    assert est.validation_scores_ is None and est.n_features_in_ == 3


def test_regressor_multi_output_and_r2_matches_the_definition():
    X, y = regression_data(n=100)
    Y = np.stack([y, -2 * y], axis=1).astype(np.float64)
    est = pylstm.LSTMRegressor(hidden_size=8, epochs=3, random_state=1).fit(X, Y)
    pred = est.predict(X)
    assert pred.shape == (100, 2) and est.n_outputs_ == 2
    r2 = [1 - np.sum((Y[:, j] - pred[:, j]) ** 2) / np.sum((Y[:, j] - Y[:, j].mean()) ** 2)
          for j in range(2)]
    assert est.score(X, Y) == pytest.approx(np.mean(r2), abs=1e-9)


def test_classifier_learns_the_sign_of_a_mean_bidirectional():
    X, _ = regression_data(n=200, seed=2)
    labels = np.where(X[:, :, 1].mean(axis=1) > 0, "up", "down")
    est = pylstm.LSTMClassifier(hidden_size=16, epochs=15, bidirectional=True,
                                random_state=0).fit(X, labels)
    assert list(est.classes_) == ["down", "up"]
    assert est.score(X, labels) > 0.95
    proba = est.predict_proba(X)
    assert proba.shape == (200, 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])


def test_many_to_one_reads_each_sequences_last_real_step():
    """Padding must not change a sequence's prediction: the estimator reads h_n
    (the state at t = len-1 forward, t = 0 reverse), which equals gathering the
    LSTM output there."""
    Xs = ragged(40, seed=3)
    y = np.array([s[:, 0].sum() for s in Xs])
    est = pylstm.LSTMRegressor(hidden_size=8, num_layers=2, bidirectional=True, epochs=2,
                               dtype="float64", random_state=0).fit(Xs, y)
    one_by_one = np.array([est.predict([s])[0] for s in Xs])
    assert np.allclose(est.predict(Xs), one_by_one, atol=1e-12)
    # the gather, by hand
    T = max(len(s) for s in Xs)
    x = np.zeros((T, len(Xs), 2))
    for i, s in enumerate(Xs):
        x[:len(s), i] = s
    lengths = np.array([len(s) for s in Xs])
    out, _ = est.lstm_(x, lengths=lengths)
    H = est.hidden_size
    feat = np.concatenate([out[lengths - 1, np.arange(len(Xs)), :H], out[0, :, H:]], axis=1)
    by_hand = est.head_(feat)[:, 0] * est.y_scale_[0] + est.y_mean_[0]
    assert np.allclose(est.predict(Xs), by_hand, atol=1e-12)


def test_per_step_targets_with_variable_lengths():
    Xs = ragged(150, seed=4)
    ys = [np.cumsum(s[:, 0]) for s in Xs]
    est = pylstm.LSTMRegressor(hidden_size=16, epochs=12, random_state=0).fit(Xs, ys)
    assert est.per_step_
    pred = est.predict(Xs)
    assert isinstance(pred, list) and [len(p) for p in pred] == [len(s) for s in Xs]
    assert est.score(Xs, ys) > 0.9
    labels = [(s[:, 1] > 0).astype(int) for s in Xs]
    clf = pylstm.LSTMClassifier(hidden_size=16, epochs=8, random_state=0).fit(Xs, labels)
    assert clf.score(Xs, labels) > 0.95
    assert clf.predict_proba(Xs[:2])[1].shape == (len(Xs[1]), 2)


def test_padding_does_not_reach_the_per_step_loss():
    """Garbage targets on padding steps change nothing."""
    X, _ = regression_data(n=30, T=6)
    lengths = np.random.default_rng(0).integers(1, 7, 30)
    seqs = [X[i, :L] for i, L in enumerate(lengths)]
    ys = [s[:, 0] for s in seqs]
    a = pylstm.LSTMRegressor(hidden_size=4, epochs=2, random_state=0).fit(seqs, ys)
    full = np.full((30, 6), 1e6)
    for i, t in enumerate(ys):
        full[i, :len(t)] = t
    b_y = [full[i, :L] for i, L in enumerate(lengths)]
    b = pylstm.LSTMRegressor(hidden_size=4, epochs=2, random_state=0).fit(seqs, b_y)
    assert all(np.array_equal(p, q) for p, q in zip(a.predict(seqs), b.predict(seqs)))


def test_per_step_flag_settles_the_n_by_T_ambiguity():
    X, _ = regression_data(n=20, T=4)
    Y = X[:, :, 0]                                       # (n, T)
    assert pylstm.LSTMRegressor(hidden_size=4, epochs=1).fit(X, Y).predict(X).shape == (20, 4)
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=1, per_step=False).fit(X, Y)
    assert not est.per_step_ and est.n_outputs_ == 4


def test_early_stopping_records_validation_scores_and_keeps_the_best():
    X, y = regression_data(n=120)
    est = pylstm.LSTMRegressor(hidden_size=8, epochs=40, early_stopping=True,
                               n_iter_no_change=2, tol=0.5, random_state=0).fit(X, y)
    assert est.n_epochs_ < 40
    assert len(est.validation_scores_) == len(est.history_["val_loss"]) == est.n_epochs_
    best = est.best_epoch_
    assert est.history_["val_loss"][best] == min(est.history_["val_loss"])
    assert est.best_validation_score_ == est.validation_scores_[best]


def test_same_random_state_same_model_and_sgd_works():
    X, y = regression_data(n=40)
    kw = dict(hidden_size=4, epochs=2, optimizer="sgd", lr=0.05, random_state=3)
    a = pylstm.LSTMRegressor(**kw).fit(X, y)
    b = pylstm.LSTMRegressor(**kw).fit(X, y)
    assert np.array_equal(a.predict(X), b.predict(X))


def test_get_params_set_params_follow_the_constructor():
    est = pylstm.LSTMClassifier(hidden_size=7, lr=0.5)
    names = [n for n in inspect.signature(pylstm.LSTMClassifier.__init__).parameters
             if n != "self"]
    params = est.get_params()
    assert sorted(params) == sorted(names)
    assert params["hidden_size"] == 7 and params["lr"] == 0.5
    assert est.set_params(epochs=3, bidirectional=True) is est
    assert est.epochs == 3 and est.bidirectional
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(hiden_size=3)
    assert repr(est) == "LSTMClassifier(hidden_size=7, bidirectional=True, epochs=3, lr=0.5)"
    assert not hasattr(est, "lstm_")            # __init__ only stores


@pytest.mark.parametrize("bad, match", [(dict(hidden_size=0), "hidden_size"),
                                        (dict(optimizer="rmsprop"), "optimizer"),
                                        (dict(lr=-1.0), "lr"),
                                        (dict(validation_fraction=1.5), "validation_fraction")])
def test_fit_validates_parameters(bad, match):
    X, y = regression_data(n=10)
    with pytest.raises(ValueError, match=match):
        pylstm.LSTMRegressor(**bad).fit(X, y)


def test_fit_and_predict_validate_data():
    X, y = regression_data(n=10)
    with pytest.raises(ValueError, match="y"):
        pylstm.LSTMRegressor().fit(X, y[:5])
    with pytest.raises(ValueError, match="X"):
        pylstm.LSTMRegressor().fit(np.zeros((3, 4, 2, 1)), y[:3])
    with pytest.raises(ValueError, match="classes"):
        pylstm.LSTMClassifier().fit(X, np.zeros(10))
    with pytest.raises(AttributeError, match="not fitted"):
        pylstm.LSTMRegressor().predict(X)
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :, :2])


def test_fitted_estimators_pickle():
    X, y = regression_data(n=60)
    for est, target in ((pylstm.LSTMRegressor(hidden_size=8, epochs=2), y),
                        (pylstm.LSTMClassifier(hidden_size=8, epochs=2), y > 5)):
        est.fit(X, target)
        clone = pickle.loads(pickle.dumps(est))
        assert np.array_equal(clone.predict(X), est.predict(X))
        assert clone.get_params() == est.get_params()
        clone.fit(X[:30], target[:30])                  # still trainable


def test_verbose_prints_a_progress_bar_without_tqdm(monkeypatch):
    buf = io.StringIO()
    real = _progress.progress
    monkeypatch.setattr("pylstm.estimators.progress",
                        lambda *a, **k: real(*a, **dict(k, file=buf, use_tqdm=False)))
    X, y = regression_data(n=40)
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=2, batch_size=10, verbose=True,
                               validation_fraction=0.25).fit(X, y)
    lines = buf.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 3                  # one line per epoch
    for epoch, line in enumerate(lines[:2]):
        last = line.split("\r")[-1]                             # what stays on screen
        assert f"epoch {epoch + 1}/2" in last and "3/3" in last and "seq_s=" in last
        # the epoch's mean loss (not the last batch's) and the validation numbers
        assert f"loss={est.history_['loss'][epoch]:.4g}," in last
        assert f"val_loss={est.history_['val_loss'][epoch]:.4g}," in last
        assert f"val_score={est.history_['val_score'][epoch]:.4g}]" in last


def test_sklearn_clone_and_cross_val_score():
    pytest.importorskip("sklearn", reason="scikit-learn is optional: pip install scikit-learn")
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.model_selection import cross_val_score
    X, y = regression_data(n=90)
    reg = pylstm.LSTMRegressor(hidden_size=8, epochs=20, random_state=0)
    c = clone(reg)
    assert c is not reg and c.get_params() == reg.get_params()
    assert is_regressor(reg) and is_classifier(pylstm.LSTMClassifier())
    assert np.mean(cross_val_score(reg, X, y, cv=3)) > 0.5
    clf = pylstm.LSTMClassifier(hidden_size=8, epochs=20, random_state=0)
    assert np.mean(cross_val_score(clf, X, y > 5, cv=3)) > 0.7
