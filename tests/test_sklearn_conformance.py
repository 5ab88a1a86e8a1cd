"""scikit-learn conformance: check_estimator on the estimators and SequenceScaler,
the input convention (2-D X = one step per row), DataFrames, scikit-learn's
errors and warnings, SequenceScaler against StandardScaler, pipelines.

Tests that need scikit-learn or pandas skip without them; the others check
the same behaviour with NumPy alone (the wheel's test run)."""
import sys
import warnings

import numpy as np
import pytest

import pylstm
from pylstm.estimators import EXPECTED_FAILED_CHECKS

# Small networks: the whole check_estimator run stays a few seconds. float64:
# check_methods_subset_invariance compares predict on 20 rows with predict row by
# row to 1e-7 absolute, which float32 meets today with little margin (B = 1 and
# B = 20 products round differently: 2e-8 apart), and a B = 1 kernel could widen;
# test_predictions_do_not_depend_on_the_batch checks float32 to its own precision.
SMALL = dict(hidden_size=8, epochs=20, dtype="float64", random_state=0)


def sequences(n=40, T=6, F=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, T, F))


def ragged(n=40, F=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(1, 9)), F)) * [1.0, 3.0, 0.5][:F] + 2.0
            for _ in range(n)]


def sklearn():
    return pytest.importorskip("sklearn", reason="scikit-learn is optional")


def pandas():
    return pytest.importorskip("pandas", reason="pandas is optional")


# ---- check_estimator ------------------------------------------------------

# float64 in one batch (the check data fits in 32), the default float32, and
# mini-batches of 4: the same list of expected failures must hold for each.
MINI = dict(hidden_size=8, epochs=5, batch_size=4, dtype="float64", random_state=0)


@pytest.mark.parametrize("make", [lambda: pylstm.LSTMRegressor(**SMALL),
                                  lambda: pylstm.LSTMClassifier(**SMALL),
                                  lambda: pylstm.LSTMRegressor(hidden_size=8, random_state=0),
                                  lambda: pylstm.LSTMClassifier(hidden_size=8, random_state=0),
                                  lambda: pylstm.LSTMRegressor(**MINI),
                                  lambda: pylstm.LSTMClassifier(**MINI),
                                  lambda: pylstm.SequenceScaler()],
                         ids=["LSTMRegressor", "LSTMClassifier", "LSTMRegressor-float32",
                              "LSTMClassifier-float32", "LSTMRegressor-batch4",
                              "LSTMClassifier-batch4", "SequenceScaler"])
@pytest.mark.filterwarnings("ignore:Estimator .* does not inherit from")
@pytest.mark.filterwarnings("ignore:Skipping check")  # array API checks: SCIPY_ARRAY_API unset
def test_check_estimator_passes(make):
    sklearn()
    from sklearn.utils.estimator_checks import check_estimator
    est = make()
    expected = EXPECTED_FAILED_CHECKS[type(est).__name__]
    assert len(expected) <= 3 and all(isinstance(r, str) and r for r in expected.values())
    results = check_estimator(est, expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 45


def test_expected_failed_checks_names_every_estimator():
    assert set(EXPECTED_FAILED_CHECKS) == {"LSTMRegressor", "LSTMClassifier", "SequenceScaler"}


# ---- the input convention -------------------------------------------------

def test_a_2d_X_is_n_sequences_of_one_step():
    X = sequences(n=30, T=1, F=4)
    y = X[:, 0, 0] - X[:, 0, 2]
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=2, dtype="float64",
                               random_state=0).fit(X[:, 0], y)
    assert est.n_features_in_ == 4 and not est.per_step_
    assert np.array_equal(est.predict(X[:, 0]), est.predict(X))
    twin = pylstm.LSTMRegressor(hidden_size=4, epochs=2, dtype="float64",
                                random_state=0).fit(X, y)
    assert np.array_equal(twin.predict(X), est.predict(X))


def test_a_table_of_another_width_is_an_error_not_another_T():
    X = sequences(n=20, T=5, F=3)
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=1).fit(X, X[:, :, 0].sum(axis=1))
    for bad in (X[:, :, :2], X[:, 0, :2], [s[:, :2] for s in X]):
        with pytest.raises(ValueError, match="X has 2 features, but LSTMRegressor is "
                                             "expecting 3 features as input"):
            est.predict(bad)
    assert est.predict(X[:, :2]).shape == (20,)      # 2 steps of 3 features: fine


def test_a_list_of_1d_arrays_of_different_lengths_says_how_to_give_univariate_series():
    with pytest.raises(ValueError, match=r"\(T_i, 1\)"):
        pylstm.LSTMRegressor().fit([np.zeros(3), np.zeros(4)], [0.0, 1.0])


def test_object_dtype_numbers_and_lists_read_as_numbers():
    X = sequences(n=20, T=3, F=2)
    y = X[:, :, 0].sum(axis=1)
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    assert np.array_equal(est.predict(X.astype(object)), est.predict(X))
    assert np.array_equal(est.predict(X.tolist()), est.predict(X))
    obj = X[:, 0].astype(object)
    obj[0, 0] = {"not": "a number"}
    with pytest.raises(TypeError, match="must be a string or a real number"):
        est.predict(obj)


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-13)])
def test_predictions_do_not_depend_on_the_batch(dtype, rtol):
    """A sequence's prediction is the same alone, in a batch, or in another order."""
    X = sequences(n=300, T=4, F=3, seed=8)               # more than one predict batch
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    clf = pylstm.LSTMClassifier(hidden_size=8, epochs=2, dtype=dtype, random_state=0).fit(X, y)
    full = clf.predict_proba(X)
    one_by_one = np.concatenate([clf.predict_proba(X[i:i + 1]) for i in range(0, 300, 7)])
    np.testing.assert_allclose(full[::7], one_by_one, rtol=rtol, atol=0)
    order = np.random.default_rng(0).permutation(300)
    np.testing.assert_allclose(clf.predict_proba(X[order]), full[order], rtol=rtol, atol=0)


def test_per_step_results_keep_the_list_layout():
    Xs = [s for s in sequences(n=10, T=4, F=2)]          # a list of equal lengths
    ys = [s[:, 0] for s in Xs]
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=1, random_state=0).fit(Xs, ys)
    assert est.per_step_
    pred = est.predict(Xs)
    assert isinstance(pred, list) and all(p.shape == (4,) for p in pred)
    assert np.array_equal(np.stack(pred), est.predict(np.stack(Xs)))


# ---- errors and warnings with scikit-learn's wording -------------------------

def test_unfitted_predict_raises_not_fitted_error():
    for est in (pylstm.LSTMRegressor(), pylstm.LSTMClassifier(), pylstm.SequenceScaler()):
        method = est.predict if hasattr(est, "predict") else est.transform
        with pytest.raises((ValueError, AttributeError), match="is not fitted yet"):
            method(np.zeros((2, 3)))


def test_not_fitted_error_is_sklearns_when_installed():
    sklearn()
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        pylstm.LSTMClassifier().predict_proba(np.zeros((2, 3)))


def test_without_sklearn_the_errors_keep_their_bases(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.exceptions", None)   # import fails
    with pytest.raises(ValueError, match="not fitted") as info:
        pylstm.LSTMRegressor().predict(np.zeros((2, 3)))
    assert isinstance(info.value, AttributeError)
    assert type(info.value).__name__ == "NotFittedError"
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.warns(UserWarning, match="A column-vector y was passed") as rec:
        pylstm.LSTMClassifier(hidden_size=4, epochs=1).fit(X, (X[:, :1] > 0).astype(int))
    assert rec[0].category.__name__ == "DataConversionWarning"


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((0, 3)), ValueError, r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\)"),
    (np.zeros((12, 0)), ValueError, r"0 feature\(s\) \(shape=\(12, 0\)\) while a minimum of 1"),
    (np.zeros((4, 0, 2)), ValueError, r"0 step\(s\)"),
    ([], ValueError, r"0 sample\(s\)"),
    (np.zeros(4), ValueError, "Reshape your data"),
    (np.zeros((4, 3), complex), ValueError, "Complex data not supported"),
    (np.full((4, 3), np.nan), ValueError, "Input X contains NaN"),
    (np.full((4, 2, 3), np.inf), ValueError, "Input X contains infinity"),
    (np.zeros((4, 3), "U1"), TypeError, "expected real numbers"),
    (np.zeros((2, 2, 2, 2)), ValueError, "expected shape"),
])
def test_bad_X_gets_sklearns_wording(bad, error, match):
    y = np.arange(len(bad)) % 2
    for est in (pylstm.LSTMRegressor(), pylstm.LSTMClassifier(), pylstm.SequenceScaler()):
        with pytest.raises(error, match=match):
            est.fit(bad, y)


def test_sparse_X_is_refused_by_name():
    sp = pytest.importorskip("scipy.sparse")
    X = sp.csr_matrix(np.eye(4))
    for est in (pylstm.LSTMRegressor(), pylstm.SequenceScaler()):
        with pytest.raises(TypeError, match="Sparse data was passed for X, but dense data is "
                                            "required"):
            est.fit(X, np.arange(4.0))


def test_y_none_and_continuous_classifier_targets():
    X = sequences(n=20, T=3, F=2)
    with pytest.raises(ValueError, match="LSTMRegressor requires y to be passed, but the "
                                         "target y is None"):
        pylstm.LSTMRegressor().fit(X, None)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        pylstm.LSTMClassifier().fit(X, X[:, 0, 0])
    # integral floats are labels
    clf = pylstm.LSTMClassifier(hidden_size=4, epochs=1).fit(X, (X[:, 0, 0] > 0) * 1.0)
    assert list(clf.classes_) == [0.0, 1.0]
    with pytest.raises(ValueError, match="1 class"):
        pylstm.LSTMClassifier().fit(X, np.ones(20))


def test_a_fit_refused_for_its_targets_leaves_the_fitted_model_unchanged():
    X = sequences(n=20, T=3, F=2)
    y = X[:, 0, 0]
    clf = pylstm.LSTMClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, y > 0)
    reg = pylstm.LSTMRegressor(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    proba, pred = clf.predict_proba(X), reg.predict(X)
    nan = np.where(y > 1, np.nan, y)
    for est, bad, match in ((clf, np.ones(20), "1 class"), (clf, y, "continuous"),
                            (clf, np.where(y > 1, np.nan, 1.0), "Input y contains NaN"),
                            (reg, nan, "Input y contains NaN"),
                            (reg, np.where(y > 1, np.inf, y), "Input y contains infinity")):
        with pytest.raises(ValueError, match=match):
            est.fit(X[:, :, :1], bad)
    assert list(clf.classes_) == [False, True] and clf.n_features_in_ == 2
    assert np.array_equal(clf.predict_proba(X), proba) and np.array_equal(reg.predict(X), pred)
    assert reg.y_mean_.shape == (1,) and reg.n_features_in_ == 2


@pytest.mark.parametrize("T", [1, 5])
def test_classifier_column_y_is_one_label_per_sequence_with_a_warning(T):
    """(n, 1) is a column of labels, even for T = 1 where it also fits (n, T)."""
    X = sequences(n=30, T=T, F=2)
    y = (X[:, -1, 0] > 0).astype(int)
    a = pylstm.LSTMClassifier(hidden_size=4, epochs=2, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="A column-vector y was passed when a 1d array was "
                                         "expected") as rec:
        b = pylstm.LSTMClassifier(hidden_size=4, epochs=2, random_state=0).fit(X, y[:, None])
    assert rec[0].category.__name__ == "DataConversionWarning"
    assert rec[0].filename == __file__
    assert not b.per_step_ and b.predict(X).shape == (30,)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    # per_step=True still takes it as one label per step (T = 1)
    if T == 1:
        c = pylstm.LSTMClassifier(hidden_size=4, epochs=1, per_step=True).fit(X, y[:, None])
        assert c.per_step_ and c.predict(X).shape == (30, 1)


def test_regressor_column_y_is_one_output():
    """The regressor is multi-output, so (n, 1) is one output (as LinearRegression)."""
    X = sequences(n=30, T=4, F=2)
    y = X[:, :, 0].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = pylstm.LSTMRegressor(hidden_size=4, epochs=2, random_state=0).fit(X, y[:, None])
    assert est.predict(X).shape == (30, 1) and est.n_outputs_ == 1


# ---- DataFrames -------------------------------------------------------------

def test_dataframe_columns_become_feature_names():
    pd = pandas()
    X = sequences(n=40, T=1, F=3)[:, 0]
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    y = X[:, 0] - X[:, 1]
    est = pylstm.LSTMRegressor(hidden_size=4, epochs=2, random_state=0).fit(df, y)
    assert est.n_features_in_ == 3
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    assert est.feature_names_in_.dtype == object
    with pytest.warns(UserWarning, match="X does not have valid feature names") as rec:
        plain = est.predict(X)
    assert rec[0].filename == __file__        # the warning points at the caller
    assert np.array_equal(est.predict(df), plain)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        est.predict(df[["b", "a", "c"]])
    # refitting on plain arrays forgets the names
    est.fit(X, y)
    assert not hasattr(est, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but LSTMRegressor was fitted "
                                         "without"):
        est.predict(df)


def test_a_list_of_dataframes_is_ragged_sequences_with_feature_names():
    pd = pandas()
    Xs = ragged(30, F=2, seed=5)
    dfs = [pd.DataFrame(s, columns=["price", "volume"]) for s in Xs]
    y = np.array([s[:, 0].sum() for s in Xs])
    kw = dict(hidden_size=4, epochs=2, dtype="float64", random_state=0)
    est = pylstm.LSTMRegressor(**kw).fit(dfs, y)
    assert list(est.feature_names_in_) == ["price", "volume"]
    assert np.array_equal(est.predict(dfs), pylstm.LSTMRegressor(**kw).fit(Xs, y).predict(Xs))
    renamed = [d.rename(columns={"volume": "qty"}) for d in dfs]
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- qty"):
        est.predict(renamed)
    with pytest.raises(ValueError, match=r"X\[1\]: its column names differ"):
        est.predict([dfs[0], renamed[1]])
    scaler = pylstm.SequenceScaler().fit(dfs)
    assert list(scaler.get_feature_names_out()) == ["price", "volume"]


# ---- SequenceScaler -----------------------------------------------------------

def _numpy_standardise(steps):
    mean, std = steps.mean(axis=0), steps.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


@pytest.mark.parametrize("seed", range(6))
def test_scaler_matches_the_statistics_of_the_stacked_steps(seed):
    """Random sizes (n and F from 1, lengths from 1): the statistics of the
    stacked steps, whether X is a ragged list or padded with lengths."""
    rng = np.random.default_rng(seed)
    n, F = int(rng.integers(1, 30)), int(rng.choice([1, 2, 3, 7]))
    lengths = rng.integers(1, 10, n)
    Xs = [rng.standard_normal((L, F)) * rng.uniform(0.1, 10, F) + rng.uniform(-5, 5, F)
          for L in lengths]
    steps = np.concatenate(Xs)
    mean, std = steps.mean(axis=0), steps.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    sc = pylstm.SequenceScaler().fit(Xs)
    np.testing.assert_allclose(sc.mean_, mean, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(sc.scale_, scale, rtol=1e-13)
    assert sc.n_samples_seen_ == len(steps) and sc.n_features_in_ == F
    out = sc.transform(Xs)
    assert isinstance(out, list) and [o.shape for o in out] == [s.shape for s in Xs]
    np.testing.assert_allclose(np.concatenate(out), (steps - mean) / scale, atol=1e-12)
    back = sc.inverse_transform(out)
    assert all(np.allclose(b, x, atol=1e-12) for b, x in zip(back, Xs))
    padded = np.full((n, int(lengths.max()), F), 1e9)   # padding that must stay out
    for i, x in enumerate(Xs):
        padded[i, :len(x)] = x
    sp = pylstm.SequenceScaler().fit(padded, lengths=lengths)
    np.testing.assert_allclose(sp.mean_, sc.mean_, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(sp.scale_, sc.scale_, rtol=1e-13)


def test_scaler_equals_standard_scaler_on_the_stacked_steps():
    sklearn()
    from sklearn.preprocessing import StandardScaler
    Xs = ragged(50, seed=2)
    Xs[0][:, 1] = 7.0
    steps = np.concatenate(Xs)
    steps[:, 2] = 4.25                        # a constant feature: scale 1 in both
    Xs = np.split(steps, np.cumsum([len(s) for s in Xs])[:-1])
    for kw in (dict(), dict(with_mean=False), dict(with_std=False),
               dict(with_mean=False, with_std=False)):
        ref = StandardScaler(**kw).fit(steps)
        sc = pylstm.SequenceScaler(**kw).fit(Xs)
        for name in ("mean_", "var_", "scale_"):
            a, b = getattr(sc, name), getattr(ref, name)
            assert (a is None) == (b is None), (kw, name)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
        np.testing.assert_allclose(np.concatenate(sc.transform(Xs)), ref.transform(steps),
                                   rtol=1e-12, atol=1e-14)
    assert sc.n_samples_seen_ == ref.n_samples_seen_


def test_scaler_on_padded_arrays_ignores_padding_and_leaves_it_zero():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 7, 25)
    X = rng.standard_normal((25, 6, 2)) * 4 + 1
    pad = np.arange(6)[None, :] >= lengths[:, None]
    X[pad] = 1e6                              # garbage that must not reach the statistics
    sc = pylstm.SequenceScaler().fit(X, lengths=lengths)
    ragged_fit = pylstm.SequenceScaler().fit([X[i, :L] for i, L in enumerate(lengths)])
    assert np.allclose(sc.mean_, ragged_fit.mean_, rtol=1e-14)
    assert np.allclose(sc.scale_, ragged_fit.scale_, rtol=1e-14)
    out = sc.transform(X, lengths=lengths)
    assert out.shape == X.shape and np.all(out[pad] == 0.0)
    assert np.allclose(out[~pad], (X[~pad] - sc.mean_) / sc.scale_)
    assert np.allclose(sc.inverse_transform(out, lengths=lengths)[~pad], X[~pad])
    assert X[pad].min() == 1e6                # the input is not modified
    with pytest.raises(ValueError, match="lengths: expected values in 1..6"):
        sc.transform(X, lengths=lengths + 6)
    with pytest.raises(ValueError, match="lengths: only for a padded 3-D X"):
        sc.transform(list(X), lengths=lengths)


@pytest.mark.parametrize("dtype, out", [(np.float32, np.float32), (np.float64, np.float64),
                                        (np.int32, np.float64)])
def test_scaler_keeps_float_dtypes_and_layouts(dtype, out):
    X = (sequences(n=10, T=4, F=2) * 10).astype(dtype)
    sc = pylstm.SequenceScaler().fit(X)
    assert sc.transform(X).dtype == out and sc.transform(X).shape == (10, 4, 2)
    assert sc.transform(X[:, 0]).shape == (10, 2)       # a table stays a table
    with pytest.raises(ValueError, match="X has 1 features, but SequenceScaler is expecting 2"):
        sc.transform(X[:, :, :1])


def test_scaler_params_follow_the_constructor():
    sc = pylstm.SequenceScaler(with_std=False)
    assert sc.get_params() == {"with_mean": True, "with_std": False}
    assert repr(sc) == "SequenceScaler(with_std=False)"
    assert sc.set_params(with_mean=False) is sc and not sc.with_mean


# ---- pipelines -------------------------------------------------------------------

def test_pipeline_scaler_then_regressor_in_cross_val_score_and_grid_search():
    sklearn()
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    Xs = [s * 50 + 100 for s in ragged(90, F=2, seed=4)]   # badly scaled inputs
    y = np.array([s[:, 0].mean() for s in Xs])
    pipe = make_pipeline(pylstm.SequenceScaler(),
                         pylstm.LSTMRegressor(hidden_size=8, epochs=20, random_state=0))
    scores = cross_val_score(pipe, Xs, y, cv=3)
    assert scores.shape == (3,) and np.mean(scores) > 0.5
    # the pipeline is the scaler and the regressor by hand
    pipe.fit(Xs, y)
    sc = pylstm.SequenceScaler().fit(Xs)
    reg = pylstm.LSTMRegressor(hidden_size=8, epochs=20, random_state=0).fit(sc.transform(Xs), y)
    assert np.array_equal(pipe.predict(Xs), reg.predict(sc.transform(Xs)))
    grid = GridSearchCV(pipe, {"sequencescaler__with_std": [False, True],
                               "lstmregressor__hidden_size": [4, 8]}, cv=2).fit(Xs, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_.predict(Xs[:5]).shape == (5,)


def test_pipeline_with_a_classifier_on_padded_arrays():
    sklearn()
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    X = sequences(n=90, T=5, F=2, seed=6) * [100.0, 0.01] + [50.0, 0.0]
    y = np.where(X[:, :, 0].mean(axis=1) > 50.0, "high", "low")
    pipe = make_pipeline(pylstm.SequenceScaler(),
                         pylstm.LSTMClassifier(hidden_size=8, epochs=20, random_state=0))
    assert np.mean(cross_val_score(pipe, X, y, cv=3)) > 0.8
