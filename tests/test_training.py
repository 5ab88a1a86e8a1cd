"""Training controls of LSTMRegressor / LSTMClassifier: validation and history_,
early stopping on the validation loss, warm_start, partial_fit, sample_weight,
class_weight and learning-rate schedules. Each test recomputes what the
estimator reports from public outputs (predict, predict_proba), from repeated
data, or from closed-form formulas."""
import math

import numpy as np
import pytest

import pylstm
from pylstm.optim import OneCycleLR
from conftest import torch_or_skip

F64 = dict(dtype="float64", hidden_size=5)


def data(n=48, T=6, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F))
    return X, X[:, :, 0].sum(axis=1) + 0.3 * X[:, -1, 1] + 2.0


def ragged(n=30, F=2, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((int(rng.integers(1, 8)), F)) for _ in range(n)]
    return X, [np.cumsum(x[:, 0]) for x in X]


def labels_of(y):
    return np.where(y > np.median(y), "hi", "lo")


def mse_std(est, X, y, w=None):
    """The regressor's loss recomputed from predict: the weighted MSE of the
    standardised targets."""
    r = (est.predict(X) - y) / est.y_scale_
    return float(np.average(r ** 2, weights=w))


def xent(est, X, y, w=None):
    """The classifier's loss recomputed from predict_proba."""
    p = est.predict_proba(X)
    codes = np.searchsorted(est.classes_, y)
    return float(np.average(-np.log(p[np.arange(len(y)), codes]), weights=w))


def params(est):
    return np.concatenate([p.ravel() for m in (est.lstm_, est.head_) for p in m.parameters()])


# ---- validation, history_, the epoch loss ---------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
def test_val_loss_and_val_score_are_those_of_the_held_out_data(weighted):
    X, y = data()
    Xv, yv = data(n=20, seed=1)
    wv = np.random.default_rng(2).integers(1, 4, 20).astype(float) if weighted else None
    vd = (Xv, yv, wv) if weighted else (Xv, yv)
    reg = pylstm.LSTMRegressor(epochs=4, random_state=0, **F64).fit(X, y, validation_data=vd)
    assert {k: len(v) for k, v in reg.history_.items()} == dict(loss=4, lr=4, val_loss=4,
                                                                 val_score=4)
    assert reg.n_epochs_ == 4 and reg.loss_curve_ is reg.history_["loss"]
    assert reg.history_["val_loss"][-1] == pytest.approx(mse_std(reg, Xv, yv, wv), rel=1e-10)
    assert reg.validation_scores_[-1] == pytest.approx(reg.score(Xv, yv, wv), rel=1e-12)

    clf = pylstm.LSTMClassifier(epochs=3, random_state=0, **F64)
    clf.fit(X, labels_of(y), validation_data=(Xv, labels_of(yv)) + ((wv,) if weighted else ()))
    assert clf.history_["val_loss"][-1] == pytest.approx(xent(clf, Xv, labels_of(yv), wv),
                                                         rel=1e-10)
    assert clf.history_["val_score"][-1] == clf.score(Xv, labels_of(yv), wv)


def test_validation_fraction_holds_data_out_and_none_means_no_validation():
    X, y = data(n=40)
    est = pylstm.LSTMRegressor(epochs=2, validation_fraction=0.25, random_state=0, **F64)
    est.fit(X, y)
    assert len(est.history_["val_loss"]) == 2 and est.validation_scores_ is not None
    plain = pylstm.LSTMRegressor(epochs=2, random_state=0, **F64).fit(X, y)
    assert set(plain.history_) == {"loss", "lr"} and plain.validation_scores_ is None
    # early_stopping alone holds out 10% (scikit-learn's default)
    es = pylstm.LSTMRegressor(epochs=2, early_stopping=True, random_state=0, **F64).fit(X, y)
    assert len(es.history_["val_loss"]) == es.n_epochs_


@pytest.mark.parametrize("per_step", [False, True])
def test_epoch_loss_is_the_mean_over_all_batches_not_the_last(per_step):
    """With a learning rate too small to move the weights, the epoch's loss must
    equal the loss of the whole training set (batches of 16, 16, 16 and 2)."""
    X, y = ragged(n=50) if per_step else data(n=50)
    w = np.random.default_rng(3).integers(1, 5, 50).astype(float)
    kw = dict(epochs=1, batch_size=16, optimizer="sgd", momentum=0.0, lr=1e-300,
              random_state=0, **F64)
    est = pylstm.LSTMRegressor(**kw).fit(X, y, sample_weight=w)
    if per_step:
        pred = est.predict(X)
        r2 = np.concatenate([((p - t) / est.y_scale_) ** 2 for p, t in zip(pred, y)])
        want = np.average(r2, weights=np.repeat(w, [len(t) for t in y]))
    else:
        want = mse_std(est, X, y, w)
    assert est.history_["loss"][0] == pytest.approx(want, rel=1e-10)


# ---- early stopping ----------------------------------------------------------

def test_early_stopping_restores_the_weights_of_the_best_validation_loss():
    """Noise targets: the network overfits the training set and the validation
    loss turns up; the kept weights are those of the epoch with the lowest one."""
    rng = np.random.default_rng(0)
    X, Xv = rng.standard_normal((40, 5, 3)), rng.standard_normal((40, 5, 3))
    y, yv = rng.standard_normal(40), rng.standard_normal(40)
    est = pylstm.LSTMRegressor(hidden_size=16, dtype="float64", epochs=60, lr=0.03,
                               batch_size=8, early_stopping=True, n_iter_no_change=4,
                               random_state=0).fit(X, y, validation_data=(Xv, yv))
    h = est.history_["val_loss"]
    assert est.n_epochs_ < 60 and est.best_epoch_ < est.n_epochs_ - 1
    assert h[est.best_epoch_] == min(h) and min(h) < h[-1]
    assert mse_std(est, Xv, yv) == pytest.approx(h[est.best_epoch_], rel=1e-10)
    assert est.best_validation_score_ == est.history_["val_score"][est.best_epoch_]


# ---- warm_start --------------------------------------------------------------

def test_warm_start_continues_from_the_fitted_weights():
    X, y = data()
    est = pylstm.LSTMRegressor(epochs=15, lr=0.03, random_state=0, **F64).fit(X, y)
    fitted_loss, mean = mse_std(est, X, y), est.y_mean_.copy()
    before = params(est)
    # A learning rate too small to move: the second fit's loss is the fitted
    # model's loss on the data, far below a fresh network's.
    est.set_params(warm_start=True, epochs=1, optimizer="sgd", momentum=0.0, lr=1e-300)
    est.fit(X, y + 100.0)
    assert np.array_equal(params(est), before) and np.array_equal(est.y_mean_, mean)
    assert est.history_["loss"][0] == pytest.approx(mse_std(est, X, y + 100.0), rel=1e-10)
    est.fit(X, y)
    assert est.history_["loss"][0] == pytest.approx(fitted_loss, rel=1e-10)
    cold = pylstm.LSTMRegressor(epochs=1, optimizer="sgd", momentum=0.0, lr=1e-300,
                                random_state=0, **F64).fit(X, y)
    assert cold.history_["loss"][0] > 5 * fitted_loss
    # warm_start=False starts again: the same as a new estimator
    est.set_params(warm_start=False, epochs=2, optimizer="adam", lr=0.01).fit(X, y)
    assert est.n_epochs_ == 2
    new = pylstm.LSTMRegressor(epochs=2, random_state=0, **F64).fit(X, y)
    assert np.array_equal(est.predict(X), new.predict(X))


def test_warm_start_refuses_other_shapes_and_keeps_the_model():
    X, y = data()
    est = pylstm.LSTMClassifier(epochs=1, warm_start=True, random_state=0, **F64)
    est.fit(X, labels_of(y))
    before = params(est)
    with pytest.raises(ValueError, match="features"):
        est.fit(X[:, :, :2], labels_of(y))
    with pytest.raises(ValueError, match="not among the classes"):
        est.fit(X, np.where(y > 0, "hi", "new"))
    with pytest.raises(ValueError, match="warm_start: .*hidden_size"):
        est.set_params(hidden_size=7).fit(X, labels_of(y))
    with pytest.raises(ValueError, match="partial_fit: .*hidden_size"):
        est.partial_fit(X, labels_of(y))
    assert np.array_equal(params(est), before) and est.n_features_in_ == 3
    est.set_params(warm_start=False).fit(X, labels_of(y))           # a new network
    assert est.lstm_.hidden_size == 7


# ---- partial_fit --------------------------------------------------------------

@pytest.mark.parametrize("schedule", [None, "step", "onecycle"])
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_partial_fit_k_times_equals_fit_with_k_epochs(kind, schedule):
    """Same seed, same data: the same shuffles, optimiser state and schedule,
    so the same numbers to the bit."""
    X, y = data()
    kw = dict(epochs=3, batch_size=10, random_state=4, lr_schedule=schedule, **F64)
    if kind == "regressor":
        fitted = pylstm.LSTMRegressor(**kw).fit(X, y)
        inc = pylstm.LSTMRegressor(**kw)
        for _ in range(3):
            inc.partial_fit(X, y)
        out = "predict"
    else:
        y = labels_of(y)
        fitted = pylstm.LSTMClassifier(**kw).fit(X, y)
        inc = pylstm.LSTMClassifier(**kw)
        for _ in range(3):
            inc.partial_fit(X, y, classes=["hi", "lo"])
        out = "predict_proba"
    assert np.array_equal(params(inc), params(fitted))
    assert np.array_equal(getattr(inc, out)(X), getattr(fitted, out)(X))
    assert inc.history_ == fitted.history_ and inc.n_epochs_ == 3


def test_partial_fit_over_chunks_lowers_the_loss():
    X, y = data(n=120)
    est = pylstm.LSTMClassifier(batch_size=20, random_state=0, **F64)
    classes = np.unique(labels_of(y))
    start = None
    for epoch in range(6):
        for chunk in np.array_split(np.arange(120), 3):
            est.partial_fit(X[chunk], labels_of(y)[chunk], classes=classes)
            start = start if start is not None else xent(est, X, labels_of(y))
    assert est.n_epochs_ == 18
    assert xent(est, X, labels_of(y)) < 0.7 * start


def test_partial_fit_after_a_validating_fit_keeps_history_aligned():
    X, y = data(n=40)
    est = pylstm.LSTMRegressor(epochs=2, validation_fraction=0.25, random_state=0, **F64)
    est.fit(X, y).partial_fit(X, y)
    assert {k: len(v) for k, v in est.history_.items()} == dict(loss=3, lr=3, val_loss=3,
                                                                val_score=3)
    assert math.isnan(est.history_["val_loss"][2]) and est.n_epochs_ == 3


def test_partial_fit_checks_classes_and_shapes():
    X, y = data()
    lab = labels_of(y)
    clf = pylstm.LSTMClassifier(**F64)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, lab)
    assert not hasattr(clf, "lstm_")
    with pytest.raises(ValueError, match="balanced"):
        pylstm.LSTMClassifier(class_weight="balanced").partial_fit(X, lab, classes=["hi", "lo"])
    clf.partial_fit(X[:10], lab[:10], classes=["hi", "lo", "mid"])   # a class not yet seen
    assert clf.classes_.tolist() == ["hi", "lo", "mid"]
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, lab, classes=["hi", "lo"])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :, :2], lab)
    before = params(clf)
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, np.where(lab == "hi", "hi", "other"))
    assert np.array_equal(params(clf), before) and clf.n_epochs_ == 1
    reg = pylstm.LSTMRegressor(epochs=1, batch_size=48, lr_schedule="onecycle", **F64)
    reg.partial_fit(X, y)
    with pytest.raises(ValueError, match="onecycle"):   # its one step is spent
        reg.partial_fit(X, y)


# ---- sample_weight ------------------------------------------------------------

@pytest.mark.parametrize("make", ["regressor", "classifier", "per_step"])
def test_sample_weight_of_ones_is_no_weight(make):
    X, y = ragged() if make == "per_step" else data()
    cls = pylstm.LSTMClassifier if make == "classifier" else pylstm.LSTMRegressor
    y = labels_of(y) if make == "classifier" else y
    kw = dict(epochs=2, batch_size=8, random_state=1, **F64)
    a = cls(**kw).fit(X, y)
    b = cls(**kw).fit(X, y, sample_weight=np.ones(len(X)))
    assert np.array_equal(params(a), params(b)) and a.history_ == b.history_


@pytest.mark.parametrize("make", ["regressor", "classifier", "per_step"])
def test_integer_weights_give_the_gradient_of_repeated_sequences(make):
    """One full-batch SGD step (no momentum, no clipping) from the same
    initialisation: the update is -lr * gradient, so equal updates mean equal
    gradients; the loss and the target scaling agree too."""
    X, y = ragged(n=12) if make == "per_step" else data(n=12)
    cls = pylstm.LSTMClassifier if make == "classifier" else pylstm.LSTMRegressor
    y = labels_of(y) if make == "classifier" else y
    w = np.array([2, 1, 0, 3, 1, 1, 4, 0, 1, 2, 1, 1])
    rep = np.repeat(np.arange(12), w)
    pick = (lambda a: [a[i] for i in rep]) if make == "per_step" else (lambda a: a[rep])
    kw = dict(epochs=1, batch_size=100, optimizer="sgd", momentum=0.0, lr=0.5, clip=None,
              random_state=0, **F64)
    start = params(cls(**dict(kw, lr=1e-300)).fit(X, y))
    weighted = cls(**kw).fit(X, y, sample_weight=w)
    repeated = cls(**kw).fit(pick(X), pick(y))
    grad_w, grad_r = (start - params(weighted)) / 0.5, (start - params(repeated)) / 0.5
    assert np.max(np.abs(grad_w)) > 1e-3
    np.testing.assert_allclose(grad_w, grad_r, rtol=1e-9, atol=1e-13)
    assert weighted.history_["loss"][0] == pytest.approx(repeated.history_["loss"][0],
                                                         rel=1e-12)
    if make != "classifier":
        np.testing.assert_allclose(weighted.y_mean_, repeated.y_mean_, rtol=1e-13)
        np.testing.assert_allclose(weighted.y_scale_, repeated.y_scale_, rtol=1e-13)


def test_zero_weights_leave_sequences_out_even_with_minibatches():
    X, y = data(n=40)
    lab = labels_of(y)
    w = np.ones(40)
    w[[3, 17, 39]] = 0
    keep = w > 0
    kw = dict(epochs=3, batch_size=8, random_state=2, **F64)
    a = pylstm.LSTMClassifier(**kw).fit(X, lab, sample_weight=w)
    b = pylstm.LSTMClassifier(**kw).fit(X[keep], lab[keep])
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))     # same batches, bits
    a = pylstm.LSTMRegressor(**kw).fit(X, y, sample_weight=w)
    b = pylstm.LSTMRegressor(**kw).fit(X[keep], y[keep])
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-9)  # scaling: rounding


def test_weighted_scores_equal_scores_on_repeated_data():
    X, y = data(n=30)
    w = np.random.default_rng(5).integers(0, 4, 30)
    rep = np.repeat(np.arange(30), w)
    reg = pylstm.LSTMRegressor(epochs=2, random_state=0, **F64).fit(X, y)
    assert reg.score(X, y, w) == pytest.approx(reg.score(X[rep], y[rep]), rel=1e-12)
    clf = pylstm.LSTMClassifier(epochs=2, random_state=0, **F64).fit(X, labels_of(y))
    assert clf.score(X, labels_of(y), w) == pytest.approx(
        clf.score(X[rep], labels_of(y)[rep]), rel=1e-12)
    Xr, yr = ragged(n=20)
    step = pylstm.LSTMRegressor(epochs=1, random_state=0, **F64).fit(Xr, yr)
    wr = np.arange(20) % 3
    rep = np.repeat(np.arange(20), wr)
    assert step.score(Xr, yr, wr) == pytest.approx(
        step.score([Xr[i] for i in rep], [yr[i] for i in rep]), rel=1e-12)


def test_weighted_r2_is_scikit_learns():
    sklearn = pytest.importorskip("sklearn.metrics", reason="scikit-learn is optional")
    X, y = data(n=30)
    Y = np.stack([y, -y + X[:, 0, 2]], axis=1)
    w = np.random.default_rng(6).random(30)
    reg = pylstm.LSTMRegressor(epochs=2, random_state=0, **F64).fit(X, Y)
    assert reg.score(X, Y, w) == pytest.approx(
        sklearn.r2_score(Y, reg.predict(X), sample_weight=w), rel=1e-12)


@pytest.mark.parametrize("bad,match", [
    (np.ones(5), r"shape \(48,\)"), (-np.ones(48), "non-negative"),
    (np.zeros(48), "positive total"), (np.full(48, np.nan), "finite"),
    (np.array(["a"] * 48), "real numbers")])
def test_bad_sample_weight_is_refused_naming_it(bad, match):
    X, y = data()
    est = pylstm.LSTMRegressor(epochs=1, **F64)
    with pytest.raises((ValueError, TypeError), match="sample_weight: expected.*" + match):
        est.fit(X, y, sample_weight=bad)
    assert not hasattr(est, "lstm_") and not hasattr(est, "n_features_in_")


def test_weighted_losses_equal_losses_over_repeated_rows():
    rng = np.random.default_rng(1)
    z, t = rng.standard_normal((7, 3)), rng.standard_normal((7, 3))
    labels = rng.integers(0, 3, 7)
    w = np.array([0, 1, 2, 3, 1, 0, 2])
    rep = np.repeat(np.arange(7), w)
    loss, d = pylstm.losses.mse(z, t, sample_weight=w[:, None])
    loss_r, d_r = pylstm.losses.mse(z[rep], t[rep])
    assert loss == pytest.approx(loss_r, rel=1e-13)
    want = np.zeros_like(d)
    np.add.at(want, rep, d_r)             # a row's gradient: the sum over its copies
    np.testing.assert_allclose(d, want, rtol=1e-12, atol=1e-15)
    loss, d = pylstm.losses.cross_entropy(z, labels, sample_weight=w)
    loss_r, d_r = pylstm.losses.cross_entropy(z[rep], labels[rep])
    assert loss == pytest.approx(loss_r, rel=1e-13)
    want = np.zeros_like(d)
    np.add.at(want, rep, d_r)
    np.testing.assert_allclose(d, want, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="sample_weight: expected finite non-negative"):
        pylstm.losses.mse(z, t, sample_weight=-w[:, None])
    with pytest.raises(ValueError, match="sample_weight: expected a shape broadcastable"):
        pylstm.losses.cross_entropy(z, labels, sample_weight=w[:3])


def test_weighted_losses_match_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    z, t = rng.standard_normal((4, 6, 3)), rng.standard_normal((4, 6, 3))
    w = rng.random((4, 6, 1))
    loss, d = pylstm.losses.mse(z, t, sample_weight=w)
    tz = torch.tensor(z, requires_grad=True)
    tw = torch.tensor(w).expand(4, 6, 3)
    ref = ((tz - torch.tensor(t)) ** 2 * tw).sum() / tw.sum()
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-13)
    np.testing.assert_allclose(d, tz.grad.numpy(), rtol=1e-12, atol=1e-15)
    labels = rng.integers(0, 3, (4, 6))
    mask = rng.random((4, 6)) > 0.3
    loss, d = pylstm.losses.cross_entropy(z, labels, mask=mask, sample_weight=w[..., 0])
    tz = torch.tensor(z, requires_grad=True)
    per = torch.nn.functional.cross_entropy(tz.reshape(-1, 3), torch.tensor(labels).reshape(-1),
                                            reduction="none")
    tw = torch.tensor(w[..., 0] * mask).reshape(-1)
    ref = (per * tw).sum() / tw.sum()
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-13)
    np.testing.assert_allclose(d, tz.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---- class_weight ---------------------------------------------------------------

def test_balanced_class_weight_is_scikit_learns_formula():
    X, y = data(n=45)
    lab = np.where(y > np.quantile(y, 0.8), "c", np.where(y > np.quantile(y, 0.4), "b", "a"))
    est = pylstm.LSTMClassifier(epochs=1, class_weight="balanced", **F64).fit(X, lab)
    counts = np.array([np.sum(lab == c) for c in est.classes_])
    np.testing.assert_allclose(est.class_weight_, 45 / (3 * counts), rtol=1e-15)
    sklearn_utils = pytest.importorskip("sklearn.utils", reason="scikit-learn is optional")
    np.testing.assert_allclose(est.class_weight_, sklearn_utils.compute_class_weight(
        "balanced", classes=est.classes_, y=lab), rtol=1e-15)


def test_class_weight_counts_real_steps_for_per_step_labels():
    X, y = ragged(n=25)
    lab = [np.where(t > 0, 1, 0) for t in y]
    est = pylstm.LSTMClassifier(epochs=1, class_weight="balanced", **F64).fit(X, lab)
    flat = np.concatenate(lab)
    np.testing.assert_allclose(est.class_weight_, len(flat) / (2 * np.bincount(flat)))


def test_class_weight_dict_equals_the_same_sample_weights():
    X, y = data()
    lab = labels_of(y)
    kw = dict(epochs=2, batch_size=8, random_state=0, **F64)
    a = pylstm.LSTMClassifier(class_weight={"hi": 3.0}, **kw).fit(X, lab)
    b = pylstm.LSTMClassifier(**kw).fit(X, lab, sample_weight=np.where(lab == "hi", 3.0, 1.0))
    assert a.class_weight_.tolist() == [3.0, 1.0]
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    with pytest.raises(ValueError, match="class_weight: label 'mid'"):
        pylstm.LSTMClassifier(class_weight={"mid": 2.0}, **kw).fit(X, lab)
    with pytest.raises(ValueError, match="class_weight"):
        pylstm.LSTMClassifier(class_weight="equal", **kw).fit(X, lab)


# ---- learning-rate schedules from the estimators ------------------------------------

def test_lr_schedule_step_follows_its_closed_form_per_epoch():
    X, y = data(n=20)
    est = pylstm.LSTMRegressor(epochs=9, lr=0.04, lr_schedule="step", random_state=0, **F64)
    est.fit(X, y)                                      # step_size epochs // 3 = 3, gamma 0.1
    np.testing.assert_allclose(est.history_["lr"], 0.04 * 0.1 ** (np.arange(9) // 3),
                               rtol=1e-13)
    est.set_params(lr_schedule="exponential", lr_schedule_params={"gamma": 0.5}).fit(X, y)
    np.testing.assert_allclose(est.history_["lr"], 0.04 * 0.5 ** np.arange(9), rtol=1e-13)


def test_lr_schedule_onecycle_steps_per_batch_like_the_optimiser_schedule():
    X, y = data(n=30)
    est = pylstm.LSTMRegressor(epochs=4, batch_size=10, lr_schedule="onecycle",
                               lr_schedule_params={"pct_start": 0.5}, random_state=0, **F64)
    est.fit(X, y)
    opt = pylstm.Adam(pylstm.Linear(1, 1), lr=est.lr)
    sched = OneCycleLR(opt, max_lr=est.lr, total_steps=12, pct_start=0.5)
    lrs = []
    for _ in range(12):
        lrs.append(opt.lr)
        sched.step()
    assert est.history_["lr"] == lrs[2::3]             # the last batch of each epoch
    assert est.history_["lr"][-1] == pytest.approx(est.lr / 25 / 1e4, rel=1e-9)


def test_lr_schedule_cosine_matches_torch_per_epoch():
    torch = torch_or_skip()
    X, y = data(n=20)
    est = pylstm.LSTMRegressor(epochs=7, lr=0.02, lr_schedule="cosine",
                               lr_schedule_params={"eta_min": 1e-3}, random_state=0, **F64)
    est.fit(X, y)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=1e-3)
    want = []
    for _ in range(7):
        want.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert est.history_["lr"] == want


def test_lr_schedule_plateau_reduces_on_the_validation_loss():
    X, y = data(n=30)
    Xv, yv = data(n=10, seed=9)
    est = pylstm.LSTMRegressor(epochs=12, lr=0.01, lr_schedule="plateau",
                               lr_schedule_params={"patience": 0, "factor": 0.5,
                                                   "threshold": 0.5},
                               random_state=0, **F64).fit(X, y, validation_data=(Xv, yv))
    # threshold 0.5 (relative): no epoch after the first (the baseline) counts as
    # better, so with patience 0 each later epoch halves the lr for the next one.
    want = 0.01 * 0.5 ** np.maximum(np.arange(12) - 1, 0)
    np.testing.assert_allclose(est.history_["lr"], want, rtol=1e-13)


@pytest.mark.parametrize("kw,match", [
    (dict(lr_schedule="linear"), "lr_schedule"),
    (dict(lr_schedule="step", lr_schedule_params={"step": 3}), "lr_schedule_params"),
    (dict(lr_schedule="step", lr_schedule_params=[("step_size", 3)]), "lr_schedule_params"),
    (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(validation_fraction=0.0), "validation_fraction"),
])
def test_training_parameters_are_checked_in_fit(kw, match):
    X, y = data()
    est = pylstm.LSTMRegressor(**kw)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "lstm_")


def test_validation_data_is_checked():
    X, y = data()
    est = pylstm.LSTMRegressor(epochs=1, **F64)
    with pytest.raises(ValueError, match="validation_data"):
        est.fit(X, y, validation_data=X)
    with pytest.raises(ValueError, match="validation_data: X.*features"):
        est.fit(X, y, validation_data=(X[:, :, :2], y))
    with pytest.raises(ValueError, match="validation_data: y"):
        est.fit(X, y, validation_data=(X, y[:5]))
    assert not hasattr(est, "lstm_")


def test_new_parameters_clone_and_pickle():
    sklearn_base = pytest.importorskip("sklearn.base", reason="scikit-learn is optional")
    import pickle
    est = pylstm.LSTMClassifier(lr_schedule="cosine", lr_schedule_params={"eta_min": 1e-4},
                                class_weight={"hi": 2.0}, warm_start=True,
                                validation_fraction=0.2)
    c = sklearn_base.clone(est)
    assert c.get_params() == est.get_params()
    assert c.lr_schedule_params is not est.lr_schedule_params      # deep-copied
    X, y = data()
    fitted = c.set_params(epochs=2).fit(X, labels_of(y))
    again = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert again.history_ == fitted.history_ and math.isfinite(again.history_["val_loss"][0])
    again.partial_fit(X, labels_of(y))                 # the optimiser state came along
    assert again.n_epochs_ == 3
