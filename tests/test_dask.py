"""Batch inference on a dask.distributed cluster of worker processes: models
and estimators pickled to the workers and mapped over a dask.array chunked
along the sample axis predict exactly what they predict in this process."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="needs dask: pip install .[dask]")
distributed = pytest.importorskip("distributed", reason="needs distributed: pip install .[dask]")

import pylstm  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  env={"PYLSTM_NUM_THREADS": "1"}) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def data(n, T=6, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F)).astype(np.float32)
    return X, X[:, :, 0].sum(axis=1) + 0.5 * X[:, -1, 1]


def test_workers_are_other_processes(client):
    import os
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


def outputs(block, lstm):
    return lstm(block)[0]


def test_lstm_over_time_major_chunks_equals_local(client):
    # (T, B, I) chunked along the batch axis, 2 layers, bidirectional, float64
    lstm = pylstm.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    x = np.random.default_rng(2).standard_normal((7, 45, 3))
    X = da.from_array(x, chunks=(-1, 10, -1))
    out = X.map_blocks(outputs, lstm=lstm, chunks=(X.chunks[0], X.chunks[1], (10,)),
                       dtype=np.float64).compute()
    assert out.shape == (7, 45, 10)
    np.testing.assert_array_equal(out, lstm(x)[0])


def test_estimators_over_sample_chunks_equal_local(client):
    X, y = data(300)
    reg = pylstm.LSTMRegressor(hidden_size=8, epochs=2, random_state=0).fit(X, y)
    clf = pylstm.LSTMClassifier(hidden_size=8, epochs=2, random_state=0).fit(X, y > 0)
    Xd = da.from_array(X, chunks=(64, -1, -1))  # 5 chunks, the last one shorter
    pred = Xd.map_blocks(reg.predict, drop_axis=[1, 2], dtype=np.float64).compute()
    proba = Xd.map_blocks(clf.predict_proba, drop_axis=1, chunks=(Xd.chunks[0], (2,)),
                          dtype=np.float64).compute()
    assert pred.shape == (300,) and proba.shape == (300, 2)
    np.testing.assert_array_equal(pred, reg.predict(X))
    np.testing.assert_array_equal(proba, clf.predict_proba(X))
    assert np.std(pred) > 0  # not a constant that would match anything
