"""Every entry point checks shape, dtype and byte order; errors name the
argument. References: the same call with the input in the usual form
(native byte order, C order, the model dtype), which must give the same bits,
or a model built the documented other way (load_state_dict)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import pylstm


def swapped(a):
    """a in the other byte order (big-endian on the usual little-endian hosts)."""
    a = np.asarray(a)
    return a.astype(a.dtype.newbyteorder("S"))


def same(a, b):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            same(u, v)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            same(a[k], b[k])
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype.isnative and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


rng = np.random.default_rng(0)
X = rng.standard_normal((5, 2, 3)).astype(np.float32)
H0 = rng.standard_normal((1, 2, 4)).astype(np.float32)
C0 = rng.standard_normal((1, 2, 4)).astype(np.float32)
DY = rng.standard_normal((5, 2, 4)).astype(np.float32)
LENGTHS = np.array([5, 3], np.int64)


def lstm_call(conv, escaped=False):
    m = pylstm.LSTM(3, 4, seed=1)
    if escaped:
        m.parameters()
    return m(conv(X), (conv(H0), conv(C0)), lengths=conv(LENGTHS))


def lstm_prepared(conv):
    m = pylstm.LSTM(3, 4, seed=1)
    m(X)  # prepares the handle: arrays in the usual form then take the fast path
    return [m(conv(X), (conv(H0), conv(C0))), m(conv(np.ascontiguousarray(X[:, 0])))]


def lstm_train(conv):
    m = pylstm.LSTM(3, 4, seed=1)
    y, (h, c), cache = m.forward_train(conv(X), (conv(H0), conv(C0)), lengths=conv(LENGTHS))
    back = m.backward(cache, conv(DY), conv(H0), conv(C0))
    return [y, h, c, back, m.grads]


def lstm_gates(conv):
    return pylstm.LSTM(3, 4, seed=1).gates(conv(X), lengths=conv(LENGTHS))


def cell(conv):
    m = pylstm.LSTMCell(3, 4, seed=1)
    out = m(conv(X[0]), (conv(H0[0]), conv(C0[0])))
    h, c, cache = m.forward_train(conv(X[0]), (conv(H0[0]), conv(C0[0])))
    return [out, h, c, m.backward(cache, conv(DY[0]), conv(C0[0])), m.grads]


def stream(conv):
    s = pylstm.LSTM(3, 4, seed=1).stream(batch=2)
    s.reset((conv(H0), conv(C0)))
    return [s.step(conv(x)).copy() for x in X] + [s.state]


def state_dict(conv):
    m = pylstm.LSTM(3, 4, seed=2)
    m.load_state_dict({k: conv(v) for k, v in pylstm.LSTM(3, 4, seed=1).state_dict().items()})
    return [m(X), m.state_dict()]


def attribute(conv):
    m = pylstm.LSTM(3, 4, seed=2)
    for k, v in pylstm.LSTM(3, 4, seed=1).state_dict().items():
        setattr(m, k, conv(v))
    return [m(X), m.state_dict()]


def linear(conv):
    m = pylstm.Linear(3, 4, seed=1)
    y, cache = m.forward_train(conv(X))
    return [m(conv(X)), y, m.backward(cache, conv(DY)), m.grads]


def losses(conv):
    labels = np.array([[0, 3], [1, 2], [3, 3], [0, 0], [2, 1]], np.int64)
    return [pylstm.losses.mse(conv(X[..., :2]), conv(DY[..., :2])),
            pylstm.losses.cross_entropy(conv(DY), conv(labels))]


ENTRY_POINTS = {"lstm": lstm_call, "lstm_escaped": lambda conv: lstm_call(conv, escaped=True),
                "lstm_prepared": lstm_prepared,
                "lstm_train": lstm_train, "gates": lstm_gates, "cell": cell, "stream": stream,
                "state_dict": state_dict, "attribute": attribute, "linear": linear,
                "losses": losses}
FORMS = {"other_byte_order": swapped, "fortran": np.asfortranarray,
         "list": lambda a: np.asarray(a).tolist()}
# losses compute in the dtype they are given, so a list (float64) is another input there
CASES = [(e, f) for e in ENTRY_POINTS for f in FORMS if (e, f) != ("losses", "list")]


@pytest.mark.parametrize("entry,form", CASES)
def test_every_entry_point_converts_input_like_the_usual_form(entry, form):
    # Issue 12: big-endian (>f4) input was misread by the stream step.
    call = ENTRY_POINTS[entry]
    same(call(FORMS[form]), call(lambda a: a))


def test_stream_step_checks_the_shape_not_only_the_size():
    # Issue 12: stream(batch=2).step(x) took a (3, 2) array as (2, 3).
    s = pylstm.LSTM(3, 4, seed=1).stream(batch=2)
    with pytest.raises(ValueError, match=r"x: expected shape \(2, 3\), got \(3, 2\)"):
        s.step(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"x: expected shape \(2, 3\), got \(6,\)"):
        s.step(np.zeros(6, np.float32))
    u = pylstm.LSTM(3, 4, seed=1).stream()
    with pytest.raises(ValueError, match=r"x: expected shape \(3,\), got \(1, 3\)"):
        u.step(np.zeros((1, 3), np.float32))
    # the refused steps changed no state
    assert not np.any(s.state[0]) and not np.any(u.state[0])
    big = s.step(swapped(X[0])).copy()
    s.reset()
    same(big, s.step(X[0]))


@pytest.mark.parametrize("make,name,shape", [
    (lambda: pylstm.LSTM(3, 4, seed=1), "weight_hh_l0", (16, 4)),
    (lambda: pylstm.LSTMCell(3, 4, seed=1), "weight_ih", (16, 3)),
    (lambda: pylstm.Linear(3, 4, seed=1), "weight", (4, 3)),
])
def test_parameter_assignment_is_validated_and_takes_effect(make, name, shape):
    m, ref = make(), make()
    x = X[0] if not isinstance(m, pylstm.LSTM) else X
    base = rng.standard_normal((shape[0], 2 * shape[1])).astype(np.float64)
    value = base[:, ::2]  # strided, float64, not contiguous
    setattr(m, name, value)
    sd = ref.state_dict()
    sd[name] = value.astype(np.float32)
    ref.load_state_dict(sd)
    same(m(x), ref(x))
    same(m.state_dict(), ref.state_dict())
    before = m.state_dict()
    with pytest.raises(ValueError, match=rf"{name}: expected shape \({shape[0]}, {shape[1]}\)"):
        setattr(m, name, np.zeros((shape[1], shape[0])))
    with pytest.raises(TypeError, match=f"{name}: expected a real numeric array"):
        setattr(m, name, np.zeros(shape, np.complex64))
    same(m.state_dict(), before)  # refused assignments change nothing
    nan = np.full(shape, np.nan, np.float32)  # NaN is a value like any other
    setattr(m, name, nan)
    assert np.isnan(m.state_dict()[name]).all()
    out = m(x)
    assert np.isnan(out[0] if isinstance(out, tuple) else out).any()


@pytest.mark.parametrize("make,match", [
    (lambda: pylstm.LSTM(3, 2**62), "hidden_size=4611686018427387904"),
    (lambda: pylstm.LSTM(2**62, 3), "input_size=4611686018427387904"),
    (lambda: pylstm.LSTM(3, 2**31, num_layers=2**13), "num_layers=8192"),
    (lambda: pylstm.LSTM(1, 1, num_layers=2**62), "num_layers: expected an integer <= 10000"),
    (lambda: pylstm.LSTM(1, 1, num_layers=10_001), "num_layers: expected an integer <= 10000"),
    (lambda: pylstm.LSTMCell(3, 2**62), "hidden_size=4611686018427387904"),
    (lambda: pylstm.Linear(2**40, 2**40), "in_features=1099511627776"),
])
def test_absurd_sizes_are_refused_naming_them(make, match):
    # Issue 12: LSTM(3, 2**62) raised NumPy's "Maximum allowed dimension
    # exceeded"; LSTM(1, 1, num_layers=2**62) kept allocating.
    with pytest.raises(ValueError, match=match):
        make()


def test_numpy_integers_are_accepted_where_ints_are():
    m = pylstm.LSTM(np.int64(3), np.int32(5), num_layers=np.uint8(2), proj_size=np.int16(2),
                    seed=1)
    ref = pylstm.LSTM(3, 5, num_layers=2, proj_size=2, seed=1)
    assert type(m.hidden_size) is int and type(m.num_layers) is int
    same(m(X), ref(X))
    same(pylstm.LSTMCell(np.int64(3), np.int64(4), seed=1)(X[0]),
         pylstm.LSTMCell(3, 4, seed=1)(X[0]))
    same(pylstm.LSTM(3, 4, seed=1).stream(batch=np.int64(2)).step(X[0]),
         pylstm.LSTM(3, 4, seed=1).stream(batch=2).step(X[0]))


@pytest.mark.parametrize("bad", [True, np.True_, 2.0, np.float64(2), "2", None])
def test_sizes_refuse_bools_floats_and_strings(bad):
    with pytest.raises(TypeError, match="hidden_size: expected an integer"):
        pylstm.LSTM(3, bad)


@pytest.fixture
def restore_threads():
    n = pylstm.get_num_threads()
    yield
    pylstm.set_num_threads(n)


def test_set_num_threads_takes_numpy_integers(restore_threads):
    # Issue 12: set_num_threads(np.int64(2)) was refused.
    for n in (np.int64(2), np.int32(1), np.uint8(2)):
        pylstm.set_num_threads(n)
        assert pylstm.get_num_threads() == int(n)
    for bad in (True, np.True_, 2.0, np.float64(2), "2"):
        with pytest.raises(TypeError, match="n: expected an integer"):
            pylstm.set_num_threads(bad)


def import_with_threads(value):
    env = dict(os.environ, PYLSTM_NUM_THREADS=value)
    return subprocess.run([sys.executable, "-c",
                           "import os, pylstm; print(pylstm.get_num_threads(), "
                           "len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') "
                           "else os.cpu_count())"],
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=os.path.dirname(__file__))


@pytest.mark.parametrize("value,expect", [("abc", "default"), ("2.5", "default"), ("0", 1),
                                          ("-3", 1), ("1000", 64)])
def test_bad_pylstm_num_threads_warns_and_import_works(value, expect):
    # Issue 12: PYLSTM_NUM_THREADS=abc made `import pylstm` fail with
    # "invalid literal for int()".
    r = import_with_threads(value)
    assert r.returncode == 0, r.stderr
    assert "RuntimeWarning: PYLSTM_NUM_THREADS: expected an integer 1..64" in r.stderr
    assert repr(value) in r.stderr
    got, cores = map(int, r.stdout.split())
    assert got == (max(1, min(64, cores)) if expect == "default" else expect)


def test_good_pylstm_num_threads_is_used_silently():
    r = import_with_threads("1")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.split()[0] == "1"
