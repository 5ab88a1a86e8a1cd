"""The C model handle from Python, and LSTM's prepared inference path.

- Files written by pylstm.save, and torch-named state dicts written by the
  safetensors package (and from a torch.nn.LSTM when torch is present), load
  through the C loader alone (pylstm_model_load) and run to the Python model's
  numbers; bad files raise.
- LSTM.__call__ runs from a handle prepared once per parameter version: it
  gives exactly the results of the unprepared path, is really taken when it
  should be, and never answers from stale weights: in-place writes after
  parameters()/named_parameters()/attribute reads, attribute assignment,
  load_state_dict, pylstm's optimizers, shallow copies.
- Threads calling one model at once, also across a re-preparation.
"""
import copy
import itertools
import threading

import numpy as np
import pytest
from conftest import TOL, max_err, sample

import pylstm
from pylstm import _core

CONFIGS = list(itertools.product(
    [True, False],            # bias
    [False, True],            # bidirectional
    [0, 2],                   # proj_size
    [1, 2],                   # num_layers
    [np.float32, np.float64],
))


def run_handle(h, x, hx=None, lengths=None):
    """A handle's run on time-major x: (y, h_n, c_n)."""
    T, B, _ = x.shape
    D = 2 if h.bidirectional else 1
    R = h.proj_size or h.hidden_size
    dt = np.float64 if h.f64 else np.float32
    y = np.empty((T, B, D * R), dt)
    hn = np.empty((h.num_layers * D, B, R), dt)
    cn = np.empty((h.num_layers * D, B, h.hidden_size), dt)
    h0, c0 = hx if hx is not None else (None, None)
    h.run(T, B, x, h0, c0, lengths, y, hn, cn, np.empty(h.run_size(T, B), np.uint8))
    return y, hn, cn


def assert_same(a, b):
    (y, (h, c)), (y2, (h2, c2)) = a, b
    assert np.array_equal(y, y2) and np.array_equal(h, h2) and np.array_equal(c, c2)


def unprepared(model):
    """A copy of model that always takes the unprepared path."""
    twin = copy.deepcopy(model)
    twin.parameters()  # escapes: every call reads the arrays
    return twin


def reference(model):
    """A fresh model with model's current weights (its own handle)."""
    ref = pylstm.LSTM(model.input_size, model.hidden_size, model.num_layers, model.bias,
                      model.batch_first, 0.0, model.bidirectional, model.proj_size,
                      dtype=model.dtype)
    ref.load_state_dict(model.state_dict())
    return ref


# ---- files through the C loader ------------------------------------------------

@pytest.mark.parametrize("bias,bidir,proj,layers,dtype", CONFIGS)
def test_saved_lstm_loads_in_c_and_runs_like_python(tmp_path, bias, bidir, proj, layers, dtype):
    m = pylstm.LSTM(4, 5, layers, bias=bias, batch_first=True,
                    dropout=0.5 if layers > 1 else 0.0, bidirectional=bidir, proj_size=proj,
                    dtype=dtype, seed=3)
    path = tmp_path / "m.safetensors"
    pylstm.save(m, path)
    h = _core.handle_load(str(path))
    assert (h.f64, h.input_size, h.hidden_size, h.proj_size, h.num_layers, h.bidirectional,
            h.bias) == (dtype == np.float64, 4, 5, proj, layers, bidir, bias)
    assert h.batch_first and h.dropout == m.dropout  # read from the metadata
    params = h.params()
    sd = m.state_dict()
    assert [n for n, _ in params] == list(sd)
    for name, value in params:
        assert value.dtype == dtype and np.array_equal(value, sd[name])
    x = sample(m, B=4)
    lengths = np.array([5, 2, 4, 1], np.int64)
    hx = (np.full((layers * (1 + bidir), 4, proj or 5), 0.1, dtype),
          np.full((layers * (1 + bidir), 4, 5), -0.2, dtype))
    y, hn, cn = run_handle(h, x, hx, lengths)
    y2, (hn2, cn2) = unprepared(m)(x.transpose(1, 0, 2), hx, lengths=lengths)
    assert np.array_equal(y, y2.transpose(1, 0, 2))
    assert np.array_equal(hn, hn2) and np.array_equal(cn, cn2)


@pytest.mark.parametrize("bias,dtype", list(itertools.product([True, False],
                                                              [np.float32, np.float64])))
def test_saved_cell_loads_as_one_layer_lstm(tmp_path, bias, dtype):
    cell = pylstm.LSTMCell(3, 6, bias=bias, dtype=dtype, seed=4)
    pylstm.save(cell, tmp_path / "c.safetensors")
    h = _core.handle_load(str(tmp_path / "c.safetensors"))
    assert (h.num_layers, h.bidirectional, h.proj_size, h.bias) == (1, False, 0, bias)
    assert [n for n, _ in h.params()] == [n + "_l0" for n in cell.state_dict()]
    x = np.random.default_rng(1).standard_normal((1, 2, 3)).astype(dtype)
    hx = (np.full((1, 2, 6), 0.3, dtype), np.full((1, 2, 6), -0.1, dtype))
    y, hn, cn = run_handle(h, x, hx)
    h1, c1 = cell(x[0], (hx[0][0], hx[1][0]))
    atol = TOL[dtype][0]
    assert max_err(y[0], h1) < atol and max_err(hn[0], h1) < atol and max_err(cn[0], c1) < atol


@pytest.mark.parametrize("bidir,proj,dtype", [(False, 0, np.float32), (True, 2, np.float64),
                                              (True, 0, np.float32)])
def test_torch_named_file_without_metadata_loads_in_c(tmp_path, bidir, proj, dtype):
    st_numpy = pytest.importorskip("safetensors.numpy", reason="pip install safetensors")
    m = pylstm.LSTM(3, 4, 2, bidirectional=bidir, proj_size=proj, dtype=dtype, seed=5)
    st_numpy.save_file(m.state_dict(), str(tmp_path / "t.safetensors"))
    h = _core.handle_load(str(tmp_path / "t.safetensors"))
    assert (h.num_layers, h.bidirectional, h.proj_size, h.batch_first, h.dropout) == \
        (2, bidir, proj, False, 0.0)
    x = sample(m)
    y, hn, cn = run_handle(h, x)
    assert_same((y, (hn, cn)), m(x))


def test_torch_state_dict_loads_in_c_and_matches_torch(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is the reference: pip install .[test]")
    st_torch = pytest.importorskip("safetensors.torch", reason="pip install safetensors")
    torch.manual_seed(0)
    t = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2).double()
    st_torch.save_file(t.state_dict(), str(tmp_path / "torch.safetensors"))
    h = _core.handle_load(str(tmp_path / "torch.safetensors"))
    x = np.random.default_rng(2).standard_normal((4, 2, 3))
    y, hn, cn = run_handle(h, x)
    with torch.no_grad():
        ty, (thn, tcn) = t(torch.from_numpy(x))
    assert max_err(y, ty.numpy()) < 1e-10 and max_err(hn, thn.numpy()) < 1e-10
    assert max_err(cn, tcn.numpy()) < 1e-10


def test_c_loader_refuses_bad_files(tmp_path):
    m = pylstm.LSTM(3, 4, seed=0)
    path = tmp_path / "m.safetensors"
    pylstm.save(m, path)
    data = bytearray(path.read_bytes())
    with pytest.raises(OSError):
        _core.handle_load(str(tmp_path / "missing.safetensors"))
    (tmp_path / "short").write_bytes(bytes(data[:-3]))
    with pytest.raises(ValueError, match="not a safetensors file of an LSTM"):
        _core.handle_load(str(tmp_path / "short"))
    bad = data.replace(b'\\"num_layers\\": 1', b'\\"num_layers\\": 9')
    assert bad != data
    (tmp_path / "bad").write_bytes(bytes(bad))
    with pytest.raises(ValueError):
        _core.handle_load(str(tmp_path / "bad"))
    with pytest.raises(ValueError):
        pylstm.load(tmp_path / "bad")  # the Python loader agrees


# ---- LSTM's prepared path ----------------------------------------------------------

@pytest.mark.parametrize("bias,bidir,proj,layers,dtype", CONFIGS)
def test_prepared_path_equals_unprepared(bias, bidir, proj, layers, dtype):
    m = pylstm.LSTM(4, 5, layers, bias=bias, bidirectional=bidir, proj_size=proj, dtype=dtype,
                    seed=6)
    twin = unprepared(m)
    x = sample(m, B=3)
    assert_same(m(x), twin(x))
    lengths = np.array([5, 1, 3])
    assert_same(m(x, lengths=lengths), twin(x, lengths=lengths))
    hx = tuple(np.random.default_rng(7).standard_normal(a.shape).astype(dtype)
               for a in m(x)[1])
    assert_same(m(x, hx), twin(x, hx))
    y, (hn, cn) = m(x[:, 0])  # unbatched
    y2, (hn2, cn2) = twin(x[:, 0])
    assert np.array_equal(y, y2) and np.array_equal(hn, hn2) and np.array_equal(cn, cn2)
    assert m._prepared_runs == 5 and twin._prepared_runs == 0


def never(*args, **kwargs):
    raise AssertionError("the checked path ran")


def state_like(model, x):
    """A random (h_0, c_0) for input x of model."""
    _, (h, c) = model(x)
    rng = np.random.default_rng(8)
    return tuple(rng.standard_normal(a.shape).astype(model.dtype) for a in (h, c))


@pytest.mark.parametrize("bias,bidir,proj,layers,dtype", CONFIGS)
def test_fast_call_equals_the_checked_call(monkeypatch, bias, bidir, proj, layers, dtype):
    # lstm(x) and lstm(x, hx) with plain arrays skip the Python checks
    # (Handle.call checks in C): same results as the checked path on a copy
    # given Fortran-ordered arrays, fresh writable outputs every call.
    m = pylstm.LSTM(4, 5, layers, bias=bias, bidirectional=bidir, proj_size=proj, dtype=dtype,
                    seed=6)
    checked = reference(m)
    x = sample(m, T=3, B=2)
    m(x)  # prepares the handle
    monkeypatch.setattr(m, "_shapes_in", never)
    for xs in map(np.ascontiguousarray, (x, x[:1], x[:, :1], x[:, 0], x[:1, 0])):
        hx = state_like(checked, xs)
        for args in ((xs,), (xs, hx), (xs, list(hx))):
            got = m(*args)
            want = checked(*(np.asfortranarray(a) if isinstance(a, np.ndarray) else
                             tuple(np.asfortranarray(b) for b in a) for a in args))
            assert_same(got, want)
            y, (h, c) = got
            for a in (y, h, c):
                assert a.flags.c_contiguous and a.flags.writeable and a.flags.owndata
            assert not np.shares_memory(y, m(*args)[0])


def test_fast_call_batch_first_without_a_layout_copy(monkeypatch):
    m = pylstm.LSTM(3, 4, batch_first=True, seed=0)
    twin = unprepared(m)
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    m(x)
    monkeypatch.setattr(m, "_shapes_in", never)
    for xs in map(np.ascontiguousarray, (x[:1], x[:, :1])):  # B or T = 1: no copy needed
        assert_same(m(xs), twin(xs))
    with pytest.raises(AssertionError, match="checked path"):
        m(x)  # B, T > 1: transposed by the checked path


def test_fast_call_leaves_everything_else_to_the_checked_path():
    m = pylstm.LSTM(3, 4, seed=0)
    x = sample(m, T=2, B=2)
    m(x)
    h0 = np.zeros((1, 2, 4), np.float32)
    # shapes, types and containers the fast path does not take: the usual errors
    with pytest.raises(ValueError, match=r"h_0: expected shape \(1, 2, 4\), got \(1, 4\)"):
        m(x, (h0[:, 0], h0))
    with pytest.raises(TypeError, match="hx: expected a tuple"):
        m(x, (h0, h0, h0))
    with pytest.raises(ValueError, match="x: expected last dimension input_size=3"):
        m(x[..., :2])
    with pytest.raises(ValueError, match="x: expected 2-D"):
        m(x[0, 0])
    with pytest.raises(ValueError, match="non-empty"):
        m(x[:0])
    # converted and run: integer input, a float64 state for a float32 model
    y, _ = m(np.ones((2, 2, 3), np.int64), (h0.astype(np.float64), h0))
    assert_same((y, m(np.ones((2, 2, 3), np.float32), (h0, h0))[1]),
                unprepared(m)(np.ones((2, 2, 3), np.float32), (h0, h0)))


def test_prepared_path_batch_first():
    m = pylstm.LSTM(3, 4, batch_first=True, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    assert_same(m(x), unprepared(m)(x))
    assert m._prepared_runs == 1


def test_prepared_handle_is_made_once_per_version():
    m = pylstm.LSTM(3, 4, seed=0)
    x = sample(m)
    m(x)
    first = m._handle
    m(x)
    assert m._handle is first
    m.load_state_dict(m.state_dict())
    m(x)
    assert m._handle is not first and m._prepared_runs == 3


def scaled(model, factor):
    return {k: v * factor for k, v in model.state_dict().items()}


@pytest.mark.parametrize("how", ["parameters", "named_parameters", "attribute"])
def test_in_place_writes_to_escaped_arrays_are_seen(how):
    m = pylstm.LSTM(3, 4, 2, seed=1)
    x = sample(m)
    before = m(x)
    if how == "parameters":
        arrays = m.parameters()
    elif how == "named_parameters":
        arrays = [a for _, a in m.named_parameters()]
    else:
        arrays = [getattr(m, n) for n in m.state_dict()]
    want = reference(m)
    want.load_state_dict(scaled(m, 0.5))
    for a in arrays:
        a *= 0.5
    after = m(x)
    assert not np.array_equal(before[0], after[0])
    assert_same(after, want(x))
    assert m._escaped and m._prepared_runs == 1  # only the call before the escape


def test_arrays_kept_from_before_still_count():
    m = pylstm.LSTM(3, 4, seed=2)
    x = sample(m)
    arrays = m.parameters()
    m(x)
    arrays[0][...] = 0  # long after parameters() returned
    want = reference(m)
    assert_same(m(x), want(x))


def test_attribute_assignment_copies_in_and_bumps_the_version():
    m = pylstm.LSTM(3, 4, seed=3)
    x = sample(m)
    m(x)
    new = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    m.weight_ih_l0 = new
    want = pylstm.LSTM(3, 4, seed=3)
    sd = want.state_dict()
    sd["weight_ih_l0"] = new
    want.load_state_dict(sd)
    assert_same(m(x), want(x))
    assert not m._escaped and m._prepared_runs == 2
    assert np.array_equal(m.state_dict()["weight_ih_l0"], new)
    with pytest.raises(ValueError, match="weight_ih_l0"):
        m.weight_ih_l0 = new[:3]


def test_augmented_attribute_assignment():
    m = pylstm.LSTM(3, 4, seed=4)
    x = sample(m)
    m(x)
    m.bias_hh_l0 += 1.0
    sd = pylstm.LSTM(3, 4, seed=4).state_dict()
    sd["bias_hh_l0"] = sd["bias_hh_l0"] + np.float32(1.0)
    want = reference(m)
    want.load_state_dict(sd)
    assert_same(m(x), want(x))


def test_load_state_dict_is_seen_and_keeps_the_prepared_path():
    m = pylstm.LSTM(3, 4, 2, bidirectional=True, seed=5)
    x = sample(m)
    before = m(x)
    new = scaled(m, -1.0)
    m.load_state_dict(new)
    want = reference(m)
    after = m(x)
    assert not np.array_equal(before[0], after[0])
    assert_same(after, want(x))
    assert m._prepared_runs == 2


@pytest.mark.parametrize("make_opt", [lambda ms: pylstm.SGD(ms, lr=0.1, momentum=0.9),
                                      lambda ms: pylstm.Adam(ms, lr=0.05)],
                         ids=["SGD", "Adam"])
def test_optimizer_steps_are_seen_and_keep_the_prepared_path(make_opt):
    m = pylstm.LSTM(2, 5, 2, proj_size=3, seed=6)
    head = pylstm.Linear(3, 1, seed=6)
    opt = make_opt([m, head])
    x = sample(m, T=6, B=4)
    target = np.random.default_rng(1).standard_normal((4, 1)).astype(np.float32)
    outputs = []
    for _ in range(3):
        out, _, cache = m.forward_train(x)
        pred, hcache = head.forward_train(out[-1])
        d_out = np.zeros_like(out)
        d_out[-1] = head.backward(hcache, 2 * (pred - target) / len(target))
        opt.zero_grad()
        m.backward(cache, d_out)
        opt.step()
        got = m(x)
        assert_same(got, reference(m)(x))
        outputs.append(got[0])
    assert not np.array_equal(outputs[0], outputs[-1])
    assert not m._escaped and m._prepared_runs == 3


def test_shallow_copy_shares_arrays_without_staleness():
    m = pylstm.LSTM(3, 4, seed=7)
    x = sample(m)
    m(x)
    c = copy.copy(m)
    c.load_state_dict(scaled(m, 2.0))  # writes the arrays both share
    assert_same(m(x), reference(c)(x))


def test_deepcopy_and_pickle_keep_working():
    import pickle
    m = pylstm.LSTM(3, 4, seed=8)
    x = sample(m)
    y = m(x)
    for twin in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert_same(twin(x), y)
        assert twin._prepared_runs == 1


def test_stream_still_matches_after_training_writes():
    m = pylstm.LSTM(3, 4, seed=9)
    x = sample(m, T=4, B=2)
    s = m.stream(batch=2)
    m.load_state_dict(scaled(m, 0.5))
    s.refresh()
    steps = np.stack([s.step(x[t]).copy() for t in range(4)])
    assert max_err(steps, m(x)[0]) < TOL[np.float32][0]


# ---- threads ----------------------------------------------------------------------

def test_threads_share_one_prepared_model():
    m = pylstm.LSTM(8, 16, 2, bidirectional=True, seed=10)
    x = sample(m, T=7, B=3)
    m.load_state_dict(scaled(m, 0.9))  # the first calls race to re-prepare
    want = reference(m)(x)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                results.append(m(x))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 80
    for r in results:
        assert_same(r, want)


def test_threads_with_different_shapes_share_the_fast_call_work():
    # The fast call lends one work buffer to one call at a time (grown to the
    # largest size asked); a call that finds it lent out has the core allocate.
    m = pylstm.LSTM(6, 12, 2, proj_size=5, seed=12)
    inputs = [sample(m, seed=k, T=1 + 7 * k, B=1 + k % 3) for k in range(4)]
    m(inputs[0])
    want = [reference(m)(x) for x in inputs]
    errors = []

    def work(k):
        try:
            for _ in range(30):
                assert_same(m(inputs[k]), want[k])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert m._prepared_runs == 1 + 4 * 30


def test_threads_with_concurrent_reloads_end_on_the_last_weights():
    m = pylstm.LSTM(4, 6, seed=11)
    x = sample(m)
    states = [scaled(m, f) for f in (0.5, 1.5)]
    stop = threading.Event()
    errors = []

    def call():
        try:
            while not stop.is_set():
                m(x)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    try:
        for k in range(40):
            m.load_state_dict(states[k % 2])
            m(x)
    finally:
        stop.set()
        t.join()
    assert not errors
    want = reference(m)
    assert np.array_equal(m.state_dict()["weight_ih_l0"], states[1]["weight_ih_l0"])
    assert_same(m(x), want(x))
