"""Thread count: results are bit-identical for 1 and 2 threads, on shapes big
enough for the core to split its products and gate loops between threads."""
import numpy as np
import pytest

import pylstm


@pytest.fixture
def restore_threads():
    n = pylstm.get_num_threads()
    yield
    pylstm.set_num_threads(n)


def run(model, x, lengths):
    y, (h, c), cache = model.forward_train(x, lengths=lengths)
    model.zero_grad()
    dx, (dh, dc) = model.backward(cache, np.cos(y), np.sin(h), np.cos(c))
    return [y, h, c, dx, dh, dc] + [g.copy() for g in model.grads.values()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H,T,B,kw", [
    (96, 7, 24, dict()),
    (96, 7, 24, dict(num_layers=2, bidirectional=True, proj_size=40)),
    # with projection and too few rows to split the batch (4 < 2 x 4): a job
    # per step over each step's units (the backward's gate derivatives in
    # one part, then, at B x 4H >= 16384, in two)
    (128, 6, 4, dict(num_layers=2, proj_size=64)),
    (1024, 3, 4, dict(proj_size=64)),
    (530, 4, 24, dict()),  # R above the GEMM's depth block (512)
    # weight gradients of 200 rows split 120 / 80 (rows go in multiples of
    # 24); the second part ends in 2 rows past AVX2's 6-row tiles
    (50, 20, 24, dict()),
    # a batch of one: each thread's one-row product over its slice of W_hh,
    # both directions, the threads in one job for all steps
    (64, 30, 1, dict(num_layers=2, bidirectional=True)),
    (100, 9, 3, dict())])
def test_results_are_identical_for_any_thread_count(restore_threads, dtype, H, T, B, kw):
    rng = np.random.default_rng(0)
    model = pylstm.LSTM(50, H, dtype=dtype, seed=0, **kw)
    x = rng.standard_normal((T, B, 50)).astype(dtype)
    lengths = rng.integers(1, x.shape[0] + 1, size=B)
    pylstm.set_num_threads(1)
    one = run(model, x, lengths)
    inf1 = model(x, lengths=lengths)[0]
    plain1 = model(x)  # without lengths: h_t kept in y's rows
    pylstm.set_num_threads(2)
    two = run(model, x, lengths)
    inf2 = model(x, lengths=lengths)[0]
    plain2 = model(x)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)
    assert np.array_equal(inf1, inf2)
    for a, b in zip([plain1[0], *plain1[1]], [plain2[0], *plain2[1]]):
        assert np.array_equal(a, b)


def test_set_num_threads_checks_its_argument(restore_threads):
    with pytest.raises(ValueError, match="n: expected 1..64"):
        pylstm.set_num_threads(0)
    with pytest.raises(TypeError, match="n: expected an integer"):
        pylstm.set_num_threads(1.5)
    pylstm.set_num_threads(2)
    assert pylstm.get_num_threads() == 2
    assert pylstm.gemm_kernel() in ("avx512", "avx2", "neon", "ref")
