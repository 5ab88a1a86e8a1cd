"""Property tests (hypothesis): invariants that need no reference
implementation, over small random configurations and inputs.

Each property compares pylstm with itself along two different paths that must
agree: lengths equal to T against no lengths, a batch against its rows run
one at a time, a bidirectional layer's reverse half against a forward-only
layer on the time-reversed input, one run against two runs chained through
(h_n, c_n), save then load against the model saved. Random byte mutations of
a saved file must load or raise ValueError, nothing else.
"""
import numpy as np
import pytest

hypothesis = pytest.importorskip(
    "hypothesis", reason="property tests need hypothesis: pip install hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import pylstm  # noqa: E402

# Few, small examples: the file runs in seconds; the fuzzers in tests/fuzz/
# cover the file reader at volume.
SETTINGS = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def configs(draw, bidirectional=None):
    """Constructor arguments of a small LSTM."""
    H = draw(st.integers(1, 6))
    return dict(
        input_size=draw(st.integers(1, 5)),
        hidden_size=H,
        num_layers=draw(st.integers(1, 3)),
        proj_size=draw(st.integers(0, H - 1)),
        bias=draw(st.booleans()),
        bidirectional=(draw(st.booleans()) if bidirectional is None else bidirectional),
        dtype=draw(DTYPES),
    )


def model_and_input(cfg, T, B, seed):
    """A model with random parameters (scaled so the gates are not
    saturated) and an input x of shape (T, B, I)."""
    rng = np.random.default_rng(seed)
    m = pylstm.LSTM(**cfg)
    m.load_state_dict({k: rng.standard_normal(v.shape).astype(v.dtype)
                       for k, v in m.state_dict().items()})
    x = rng.standard_normal((T, B, cfg["input_size"])).astype(cfg["dtype"])
    return m, x


def rtol(dtype):
    """The same arithmetic summed in another order (the matrix product's
    blocking depends on the batch): a few ulps of the dtype."""
    return 1e-5 if dtype == np.float32 else 1e-12


seeds = st.integers(0, 2**32 - 1)


@SETTINGS
@given(cfg=configs(), T=st.integers(1, 5), B=st.integers(1, 4), seed=seeds)
def test_lengths_all_T_equal_no_lengths(cfg, T, B, seed):
    m, x = model_and_input(cfg, T, B, seed)
    y0, (h0, c0) = m(x)
    y1, (h1, c1) = m(x, lengths=np.full(B, T))
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(h1, h0)
    np.testing.assert_array_equal(c1, c0)


@SETTINGS
@given(cfg=configs(), T=st.integers(1, 5), B=st.integers(2, 5), seed=seeds,
       with_lengths=st.booleans())
def test_batch_equals_its_rows_run_one_by_one(cfg, T, B, seed, with_lengths):
    m, x = model_and_input(cfg, T, B, seed)
    lengths = np.random.default_rng(seed).integers(1, T + 1, B) if with_lengths else None
    y, (h, c) = m(x, lengths=lengths)
    for b in range(B):
        kw = {"lengths": lengths[b:b + 1]} if with_lengths else {}
        yb, (hb, cb) = m(x[:, b:b + 1], **kw)
        tol = rtol(cfg["dtype"])
        np.testing.assert_allclose(yb[:, 0], y[:, b], rtol=tol, atol=tol)
        np.testing.assert_allclose(hb[:, 0], h[:, b], rtol=tol, atol=tol)
        np.testing.assert_allclose(cb[:, 0], c[:, b], rtol=tol, atol=tol)
    if with_lengths:  # past its length a row's output is zero
        pad = np.arange(T)[:, None] >= lengths[None, :]
        assert not y[pad].any()


@SETTINGS
@given(cfg=configs(bidirectional=True), T=st.integers(1, 5), B=st.integers(1, 3), seed=seeds)
def test_reverse_direction_is_forward_on_reversed_input(cfg, T, B, seed):
    # One bidirectional layer: its reverse half on x is a forward-only layer
    # with the _reverse weights on x reversed in time, then reversed back.
    cfg = dict(cfg, num_layers=1)
    m, x = model_and_input(cfg, T, B, seed)
    fwd = pylstm.LSTM(**dict(cfg, bidirectional=False))
    fwd.load_state_dict({k[:-len("_reverse")]: v for k, v in m.state_dict().items()
                         if k.endswith("_reverse")})
    y, (h, c) = m(x)
    yr, (hr, cr) = fwd(x[::-1])
    R = cfg["proj_size"] or cfg["hidden_size"]
    tol = rtol(cfg["dtype"])
    np.testing.assert_allclose(y[:, :, R:], yr[::-1], rtol=tol, atol=tol)
    np.testing.assert_allclose(h[1], hr[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(c[1], cr[0], rtol=tol, atol=tol)
    # and the forward half is the forward-only layer with the other weights
    fwd.load_state_dict({k: v for k, v in m.state_dict().items() if not k.endswith("_reverse")})
    yf, _ = fwd(x)
    np.testing.assert_allclose(y[:, :, :R], yf, rtol=tol, atol=tol)


@SETTINGS
@given(cfg=configs(bidirectional=False), T1=st.integers(1, 4), T2=st.integers(1, 4),
       B=st.integers(1, 3), seed=seeds)
def test_two_runs_chained_through_the_state_equal_one_run(cfg, T1, T2, B, seed):
    m, x = model_and_input(cfg, T1 + T2, B, seed)
    y, (h, c) = m(x)
    y1, hx = m(x[:T1])
    y2, (h2, c2) = m(x[T1:], hx)
    tol = rtol(cfg["dtype"])
    np.testing.assert_allclose(np.concatenate([y1, y2]), y, rtol=tol, atol=tol)
    np.testing.assert_allclose(h2, h, rtol=tol, atol=tol)
    np.testing.assert_allclose(c2, c, rtol=tol, atol=tol)


@SETTINGS
@given(cfg=configs(), batch_first=st.booleans(), seed=seeds)
def test_save_load_round_trip_is_exact(tmp_path_factory, cfg, batch_first, seed):
    m, x = model_and_input(dict(cfg), 3, 2, seed)
    m.batch_first = batch_first
    path = tmp_path_factory.mktemp("rt") / "m.safetensors"
    pylstm.save(m, path)
    back = pylstm.load(path)
    assert type(back) is type(m) and back.dtype == m.dtype
    assert back.batch_first == m.batch_first
    a, b = m.state_dict(), back.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(a[k], b[k])
    xin = x.transpose(1, 0, 2) if batch_first else x
    np.testing.assert_array_equal(back(xin)[0], m(xin)[0])
    # and saving the loaded model writes the same bytes
    path2 = path.with_name("again.safetensors")
    pylstm.save(back, path2)
    assert path2.read_bytes() == path.read_bytes()


@st.composite
def mutations(draw, size):
    """A list of edits of a file of `size` bytes: byte flips and overwrites
    anywhere (the 8-byte length and the JSON header most often), insertions,
    deletions, and a truncation."""
    head = min(size, 400)
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        pos = draw(st.one_of(st.integers(0, head - 1), st.integers(0, size - 1)))
        edits.append((kind, pos, draw(st.integers(0, 255))))
    return edits


def apply(data, edits):
    data = bytearray(data)
    for kind, pos, value in edits:
        pos = min(pos, max(len(data) - 1, 0))
        if kind == "flip" and data:
            data[pos] ^= 1 << (value % 8)
        elif kind == "set" and data:
            data[pos] = value
        elif kind == "insert":
            data[pos:pos] = bytes([value]) * (1 + value % 3)
        elif kind == "delete":
            del data[pos:pos + 1 + value % 8]
        elif kind == "truncate":
            del data[pos:]
    return bytes(data)


SAVED = {}


def saved_file(tmp_path_factory, which):
    """The bytes pylstm.save writes for a few small models (made once)."""
    if which not in SAVED:
        models = {
            "lstm": pylstm.LSTM(2, 3, num_layers=2, proj_size=2, bidirectional=True),
            "cell": pylstm.LSTMCell(2, 3, dtype=np.float64),
        }
        path = tmp_path_factory.mktemp("saved") / f"{which}.safetensors"
        pylstm.save(models[which], path)
        SAVED[which] = path.read_bytes()
    return SAVED[which]


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["lstm", "cell"]), data=st.data())
def test_mutated_file_loads_or_raises_value_error(tmp_path_factory, which, data):
    original = saved_file(tmp_path_factory, which)
    mutated = apply(original, data.draw(mutations(len(original))))
    path = tmp_path_factory.mktemp("mut") / "m.safetensors"
    path.write_bytes(mutated)
    try:
        m = pylstm.load(path)
    except ValueError as e:
        assert str(path) in str(e)
        return
    # It loaded: the model must be whole and usable.
    assert m.state_dict()
    x = np.zeros((2, 1, m.input_size), m.dtype) if isinstance(m, pylstm.LSTM) \
        else np.zeros((1, m.input_size), m.dtype)
    m(x)
