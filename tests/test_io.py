"""pylstm.save / pylstm.load (safetensors): round trips over every option of
LSTM and LSTMCell in both dtypes, interchange with the safetensors package and
torch in both directions, and hostile files, which must raise ValueError
(OSError only when the file cannot be opened) without returning a model."""
import itertools
import json
import os
import struct

import numpy as np
import pytest
from conftest import sample, torch_or_skip

import pylstm
from pylstm import _core

GRID = list(itertools.product(
    [True, False],            # bias
    [False, True],            # batch_first
    [False, True],            # bidirectional
    [0, 2],                   # proj_size
    [1, 3],                   # num_layers
    [np.float32, np.float64],
))


@pytest.mark.parametrize("bias,batch_first,bidir,proj,layers,dtype", GRID)
def test_lstm_round_trip_gives_identical_model(tmp_path, bias, batch_first, bidir, proj, layers,
                                               dtype):
    m = pylstm.LSTM(4, 5, num_layers=layers, bias=bias, batch_first=batch_first,
                    dropout=0.25 if layers > 1 else 0.0, bidirectional=bidir, proj_size=proj,
                    dtype=dtype, seed=1)
    path = tmp_path / "m.safetensors"
    pylstm.save(m, path)
    m2 = pylstm.load(path)
    assert type(m2) is pylstm.LSTM and repr(m2) == repr(m)
    assert m2.dtype == m.dtype and m2.dropout == m.dropout
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert list(sd) == list(sd2)
    for k in sd:
        assert sd2[k].dtype == dtype and np.array_equal(sd[k], sd2[k])
    x = sample(m)
    y, (h, c) = m(x)
    y2, (h2, c2) = m2(x)
    assert np.array_equal(y, y2) and np.array_equal(h, h2) and np.array_equal(c, c2)


@pytest.mark.parametrize("name", ["modèle €.safetensors", "модель.safetensors",
                                  "模型.safetensors"])
def test_path_with_non_ascii_characters_round_trips(tmp_path, name):
    # The core opens the file from its UTF-8 name: on Windows through _wfopen,
    # since fopen there reads names in the ANSI code page (the wheel tests run
    # this on Windows).
    m = pylstm.LSTM(3, 4, seed=3)
    path = tmp_path / name
    pylstm.save(m, path)
    m2 = pylstm.load(path)
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert list(sd) == list(sd2) and all(np.array_equal(sd[k], sd2[k]) for k in sd)


def test_bytes_path_round_trips(tmp_path):
    # save built its temporary name with an f-string, which a bytes path broke
    m = pylstm.LSTM(3, 4, seed=5)
    path = os.fsencode(tmp_path / "bytes.safetensors")
    pylstm.save(m, path)
    assert np.array_equal(pylstm.load(path).state_dict()["weight_ih_l0"],
                          m.state_dict()["weight_ih_l0"])


@pytest.mark.parametrize("bias,dtype", list(itertools.product([True, False],
                                                              [np.float32, np.float64])))
def test_cell_round_trip_gives_identical_cell(tmp_path, bias, dtype):
    m = pylstm.LSTMCell(3, 7, bias=bias, dtype=dtype, seed=2)
    pylstm.save(m, tmp_path / "c.safetensors")
    m2 = pylstm.load(str(tmp_path / "c.safetensors"))
    assert type(m2) is pylstm.LSTMCell and repr(m2) == repr(m)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(dtype)
    for a, b in zip(m(x), m2(x)):
        assert np.array_equal(a, b)


def test_file_layout_follows_the_spec(tmp_path):
    m = pylstm.LSTM(3, 4, proj_size=2, seed=0)
    path = tmp_path / "m.safetensors"
    pylstm.save(m, path)
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0 and raw[8:9] == b"{"
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    assert meta["format"] == "pt"
    cfg = json.loads(meta["pylstm"])
    assert cfg == {"class": "LSTM", "input_size": 3, "hidden_size": 4, "num_layers": 1,
                   "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False,
                   "proj_size": 2, "dtype": "float32"}
    assert set(header) == set(m.state_dict())
    for name, arr in m.state_dict().items():
        b, e = header[name]["data_offsets"]
        assert header[name]["dtype"] == "F32" and header[name]["shape"] == list(arr.shape)
        assert np.array_equal(np.frombuffer(raw[8 + n + b:8 + n + e], "<f4").reshape(arr.shape),
                              arr)


def test_save_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="model"):
        pylstm.save({"weight_ih_l0": np.zeros((4, 1))}, tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())


# ---- the safetensors package and torch -------------------------------------

def torch_lstm(model, torch):
    t = torch.nn.LSTM(model.input_size, model.hidden_size, num_layers=model.num_layers,
                      bias=model.bias, batch_first=model.batch_first,
                      bidirectional=model.bidirectional, proj_size=model.proj_size)
    return t.double() if model.dtype == np.float64 else t


@pytest.mark.parametrize("bidir,proj,dtype", [(False, 0, np.float32), (True, 2, np.float32),
                                              (True, 0, np.float64), (False, 3, np.float64)])
def test_saved_file_loads_into_torch(tmp_path, bidir, proj, dtype):
    torch = torch_or_skip()
    st_torch = pytest.importorskip("safetensors.torch",
                                   reason="safetensors: pip install .[test]")
    m = pylstm.LSTM(4, 6, num_layers=2, bidirectional=bidir, proj_size=proj, dtype=dtype,
                    seed=3)
    pylstm.save(m, tmp_path / "m.safetensors")
    sd = st_torch.load_file(str(tmp_path / "m.safetensors"))
    t = torch_lstm(m, torch)
    t.load_state_dict(sd)  # strict: same names, shapes
    x = sample(m)
    with torch.no_grad():
        yt, (ht, ct) = t(torch.from_numpy(x))
    y, (h, c) = m(x)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, yt.numpy(), atol=tol)
    np.testing.assert_allclose(h, ht.numpy(), atol=tol)
    np.testing.assert_allclose(c, ct.numpy(), atol=tol)


@pytest.mark.parametrize("bias,bidir,proj,layers,dtype", [
    (True, False, 0, 1, np.float32), (False, True, 0, 2, np.float32),
    (True, True, 2, 3, np.float64), (False, False, 3, 2, np.float64)])
def test_torch_file_loads_with_inferred_architecture(tmp_path, bias, bidir, proj, layers, dtype):
    torch = torch_or_skip()
    st_torch = pytest.importorskip("safetensors.torch",
                                   reason="safetensors: pip install .[test]")
    torch.manual_seed(0)
    t = torch.nn.LSTM(5, 4, num_layers=layers, bias=bias, bidirectional=bidir,
                      proj_size=proj)
    t = t.double() if dtype == np.float64 else t
    st_torch.save_file(t.state_dict(), str(tmp_path / "t.safetensors"))
    m = pylstm.load(tmp_path / "t.safetensors")
    assert (m.input_size, m.hidden_size, m.num_layers, m.bias, m.bidirectional,
            m.proj_size, m.dtype) == (5, 4, layers, bias, bidir, proj, np.dtype(dtype))
    x = sample(m)
    with torch.no_grad():
        yt, (ht, ct) = t(torch.from_numpy(x))
    y, (h, c) = m(x)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, yt.numpy(), atol=tol)
    np.testing.assert_allclose(h, ht.numpy(), atol=tol)
    np.testing.assert_allclose(c, ct.numpy(), atol=tol)


@pytest.mark.parametrize("bias", [True, False])
def test_torch_cell_file_loads(tmp_path, bias):
    torch = torch_or_skip()
    st_torch = pytest.importorskip("safetensors.torch",
                                   reason="safetensors: pip install .[test]")
    t = torch.nn.LSTMCell(3, 5, bias=bias)
    st_torch.save_file(t.state_dict(), str(tmp_path / "c.safetensors"))
    m = pylstm.load(tmp_path / "c.safetensors")
    assert type(m) is pylstm.LSTMCell and m.bias == bias
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    with torch.no_grad():
        ht, ct = t(torch.from_numpy(x))
    h, c = m(x)
    np.testing.assert_allclose(h, ht.numpy(), atol=1e-6)
    np.testing.assert_allclose(c, ct.numpy(), atol=1e-6)


def test_reader_agrees_with_safetensors_numpy(tmp_path):
    st_np = pytest.importorskip("safetensors.numpy", reason="safetensors: pip install .[test]")
    rng = np.random.default_rng(0)
    tensors = {"a": rng.standard_normal((3, 4)).astype(np.float32),
               "scalar": np.array(2.5, np.float64), "empty": np.zeros((0, 5), np.float32),
               "\u00e9\u6f22\U0001f600": rng.standard_normal(7)}
    st_np.save_file(tensors, str(tmp_path / "n.safetensors"), metadata={"k": "v\u00e9"})
    got, meta = _core.safetensors_read(str(tmp_path / "n.safetensors"))
    assert meta == {"k": "v\u00e9"} and set(got) == set(tensors)
    for k, v in tensors.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape
        assert np.array_equal(got[k], v)


# ---- hostile and wrong files ------------------------------------------------

def build(header, data=b"", n=None):
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(head) if n is None else n) + head + data


def small_file(tmp_path):
    m = pylstm.LSTMCell(1, 1, seed=0)
    pylstm.save(m, tmp_path / "s.safetensors")
    return (tmp_path / "s.safetensors").read_bytes()


def test_every_truncation_is_a_value_error(tmp_path):
    raw = small_file(tmp_path)
    p = tmp_path / "t.safetensors"
    for cut in range(len(raw)):
        p.write_bytes(raw[:cut])
        with pytest.raises(ValueError):
            pylstm.load(p)


def test_appended_bytes_are_a_value_error(tmp_path):
    p = tmp_path / "t.safetensors"
    p.write_bytes(small_file(tmp_path) + b"\0")
    with pytest.raises(ValueError, match="not a valid safetensors"):
        pylstm.load(p)


F32 = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
HOSTILE = {
    "header longer than file": build({"a": F32}, b"\0" * 4, n=10**6),
    "huge header length": build({"a": F32}, b"\0" * 4, n=2**64 - 1),
    "header over the cap": build({"a": F32}, b"\0" * 4, n=100_000_001),
    "not JSON": build(b"{not json}"),
    "header not an object": build(b"[1, 2]      "),
    "leading space": build(b" " + json.dumps({"a": F32}).encode(), b"\0" * 4),
    "offsets past data": build({"a": {**F32, "data_offsets": [0, 8]}}, b"\0" * 4),
    "shape/size mismatch": build({"a": {**F32, "shape": [2]}}, b"\0" * 4),
    "overflowing shape": build({"a": {**F32, "shape": [2**32, 2**32, 2**32]}}, b"\0" * 4),
    "negative shape": build({"a": {**F32, "shape": [-1]}}, b"\0" * 4),
    "float offsets": build({"a": {**F32, "data_offsets": [0.0, 4.0]}}, b"\0" * 4),
    "overlap": build({"a": F32, "b": F32}, b"\0" * 4),
    "hole": build({"a": {**F32, "data_offsets": [4, 8]}}, b"\0" * 8),
    "unknown dtype": build({"a": {**F32, "dtype": "F31"}}, b"\0" * 4),
    "duplicate names": build(b'{"a":' + json.dumps(F32).encode() + b',"a":'
                             + json.dumps(F32).encode() + b"}", b"\0" * 4),
    "non-UTF-8 name": build(b'{"\xff":' + json.dumps(F32).encode() + b"}", b"\0" * 4),
    "deep nesting": build(b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"),
    "metadata not strings": build({"__metadata__": {"pylstm": {"class": "LSTM"}}}),
    "9 dims": build({"a": {**F32, "shape": [1] * 9}}, b"\0" * 4),
    "empty file": b"",
    "seven bytes": b"\x02\0\0\0\0\0\0",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_a_value_error(tmp_path, name):
    p = tmp_path / "h.safetensors"
    p.write_bytes(HOSTILE[name])
    with pytest.raises(ValueError, match="not a valid safetensors"):
        pylstm.load(p)
    with pytest.raises(ValueError):
        _core.safetensors_parse(HOSTILE[name])


def test_random_mutations_never_crash(tmp_path):
    raw = bytearray(small_file(tmp_path))
    rng = np.random.default_rng(0)
    for _ in range(3000):
        m = bytearray(raw)
        for at in rng.integers(0, len(m), size=rng.integers(1, 4)):
            m[at] = int(rng.integers(0, 256))
        try:
            _core.safetensors_parse(bytes(m))
        except ValueError:
            pass


@pytest.mark.parametrize("header,data,match", [
    ({"weight_ih": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4,
     "'weight_ih' has dtype F16"),
    ({"a": {"dtype": "F32", "shape": [4, 1], "data_offsets": [0, 16]}}, b"\0" * 16,
     "do not form the state dict"),
    ({"weight_ih_l0": {"dtype": "F32", "shape": [3, 1], "data_offsets": [0, 12]},
      "weight_hh_l0": {"dtype": "F32", "shape": [3, 1], "data_offsets": [12, 24]}}, b"\0" * 24,
     "4\\*hidden_size"),
    ({"weight_ih_l0": {"dtype": "F32", "shape": [4, 1], "data_offsets": [0, 16]}}, b"\0" * 16,
     "do not form"),
    ({"weight_ih_l0": {"dtype": "F32", "shape": [4, 1], "data_offsets": [0, 16]},
      "weight_hh_l0": {"dtype": "F32", "shape": [4, 1], "data_offsets": [16, 32]},
      "weight_ih_l2": {"dtype": "F32", "shape": [4, 1], "data_offsets": [32, 48]}},
     b"\0" * 48, "does not match LSTM"),
    ({"weight_ih": {"dtype": "F32", "shape": [4, 1], "data_offsets": [0, 16]},
      "weight_hh": {"dtype": "F64", "shape": [4, 1], "data_offsets": [16, 48]}},
     b"\0" * 48, "mixed dtypes"),
    ({"__metadata__": {"pylstm": "{bad"}}, b"", "unreadable pylstm metadata"),
    ({"__metadata__": {"pylstm": json.dumps({"class": "GRU"})}}, b"", "names no LSTM"),
    ({"__metadata__": {"pylstm": json.dumps({"class": "LSTM", "input_size": 1,
                                             "hidden_size": 1, "evil": 1})}}, b"",
     "unexpected pylstm metadata"),
    ({"__metadata__": {"pylstm": json.dumps({"class": "LSTM", "input_size": "1",
                                             "hidden_size": 1})}}, b"",
     "bad pylstm metadata: input_size: expected an integer"),
    ({"__metadata__": {"pylstm": json.dumps({"class": "LSTMCell", "input_size": 1,
                                             "hidden_size": 1, "dtype": "float32"})}}, b"",
     "it has 4 parameters, the file holds 0 tensors"),
])
def test_wrong_contents_are_value_errors(tmp_path, header, data, match):
    p = tmp_path / "w.safetensors"
    p.write_bytes(build(header, data))
    with pytest.raises(ValueError, match=match):
        pylstm.load(p)


def test_metadata_dtype_must_match_tensors(tmp_path):
    m = pylstm.LSTMCell(2, 2, seed=0)
    pylstm.save(m, tmp_path / "c.safetensors")
    tensors, meta = _core.safetensors_read(str(tmp_path / "c.safetensors"))
    cfg = json.loads(meta["pylstm"])
    cfg["dtype"] = "float64"
    header, off, data = {"__metadata__": {"pylstm": json.dumps(cfg)}}, 0, b""
    for k, v in tensors.items():
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}
        off += v.nbytes
        data += v.tobytes()
    (tmp_path / "d.safetensors").write_bytes(build(header, data))
    with pytest.raises(ValueError, match="metadata says dtype float64"):
        pylstm.load(tmp_path / "d.safetensors")


def test_missing_file_and_directory_are_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        pylstm.load(tmp_path / "nope.safetensors")
    with pytest.raises(OSError):  # IsADirectoryError on POSIX, PermissionError on Windows
        pylstm.load(tmp_path)
    with pytest.raises(OSError):
        _core.safetensors_read(str(tmp_path / "nope.safetensors"))
    with pytest.raises(OSError):
        _core.safetensors_read(str(tmp_path))


def test_failed_save_leaves_existing_file_intact(tmp_path):
    p = tmp_path / "m.safetensors"
    m = pylstm.LSTM(2, 3, seed=0)
    pylstm.save(m, p)
    before = p.read_bytes()
    with pytest.raises(TypeError):
        pylstm.save(object(), p)
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["m.safetensors"]
