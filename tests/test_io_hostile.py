"""pylstm.load on hostile or odd files and pylstm.save under concurrency and
failure (issue 12: "Hostile or odd files", "Saving").

Each hand-made file below once hung, exhausted memory or raised the wrong
exception; it must now be refused by a ValueError naming the file and the
problem, before the model it describes is allocated. pytest-timeout is not
available, so the files are small and the tests assert the error itself: had a
check been missing they would hang or allocate gigabytes rather than pass.
Every hostile file is also given to the C library's loader
(_core.handle_load, pylstm_model_load), which must refuse it too: Python's
load and C's follow one set of rules.
"""
import json
import os
import stat
import struct
import subprocess
import sys
import threading
import tracemalloc
import warnings

import numpy as np
import pytest

import pylstm
from pylstm import _core
from pylstm import io as pio


def st_bytes(tensors, pylstm_meta=None):
    """A valid safetensors container holding `tensors` (name -> array) and,
    if given, the text `pylstm_meta` as the "pylstm" metadata entry."""
    header, off, data = {}, 0, b""
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        header[name] = {"dtype": {"f4": "F32", "f8": "F64", "i4": "I32"}[a.dtype.str[1:]],
                        "shape": list(a.shape),
                        "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        data += a.astype(a.dtype.newbyteorder("<")).tobytes()
    if pylstm_meta is not None:
        header["__metadata__"] = {"pylstm": pylstm_meta}
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + data


def meta(**cfg):
    return json.dumps({"class": "LSTM", "input_size": 1, "hidden_size": 1, **cfg})


def w(*shape):
    return np.zeros(shape, np.float32)


ONE_LAYER = {"weight_ih_l0": w(4, 1), "weight_hh_l0": w(4, 1), "bias_ih_l0": w(4),
             "bias_hh_l0": w(4)}

# name -> (file bytes, regex the ValueError must match)
HOSTILE = {
    # the list
    "num_layers 10**8": (st_bytes({"weight_ih_l0": w(4, 1), "weight_hh_l0": w(4, 1)},
                                  meta(num_layers=10**8, bias=False)),
                         "it has 200000000 parameters, the file holds 2 tensors"),
    "tensor named bias_ih_l100000000": (
        st_bytes({**ONE_LAYER, "bias_ih_l100000000": w(4)}),
        "tensor 'bias_ih_l100000000' names layer '100000000', but the file holds only 5 "
        "tensors"),
    "claims LSTM(4096, 32768)": (
        st_bytes(ONE_LAYER, meta(input_size=4096, hidden_size=32768)),
        r"weight_ih_l0 has shape \(4, 1\), expected \(131072, 4096\)"),
    "metadata nested 100000 deep": (st_bytes(ONE_LAYER, "[" * 100000),
                                    "pylstm metadata longer than 4096 characters"),
    # nesting that fits in the length is refused without recursing into it
    "metadata nested 4000 deep": (st_bytes(ONE_LAYER, "[" * 4000), "not a flat JSON object"),
    "metadata value nested": (st_bytes(ONE_LAYER, '{"class": "LSTM", "input_size": '
                                       + "[" * 1500 + "]" * 1500 + "}"),
                              "not a flat JSON object"),
    "dtype garbage": (st_bytes(ONE_LAYER, meta(dtype="garbage")),
                      "bad pylstm metadata: dtype: expected \"float32\" or \"float64\""),
    # more of the same kind
    "metadata too long": (st_bytes(ONE_LAYER, meta(pad=" " * 5000)), "longer than 4096"),
    "repeated metadata key": (st_bytes(ONE_LAYER, '{"class": "LSTM", "input_size": 1, '
                                       '"hidden_size": 1, "hidden_size": 1}'),
                              "repeated keys \\['hidden_size'\\]"),
    "size a bool": (st_bytes(ONE_LAYER, meta(input_size=True)),
                    "input_size: expected an integer, got True"),
    "size a float": (st_bytes(ONE_LAYER, meta(hidden_size=1.0)),
                     "hidden_size: expected an integer, got 1.0"),
    "size a string": (st_bytes(ONE_LAYER, meta(num_layers="1")),
                      "num_layers: expected an integer"),
    "size zero": (st_bytes(ONE_LAYER, meta(hidden_size=0)),
                  "hidden_size: expected an integer >= 1"),
    "size 4000 digits": (st_bytes(ONE_LAYER, '{"class": "LSTM", "input_size": 1, '
                                  '"hidden_size": ' + "9" * 4000 + "}"),
                         r"it has 4 parameters|expected \("),
    "proj_size = hidden_size": (st_bytes(ONE_LAYER, meta(hidden_size=1, proj_size=1)),
                                "proj_size: has to be smaller than hidden_size"),
    "bias a number": (st_bytes(ONE_LAYER, meta(bias=1)), "bias: expected true or false"),
    "dropout NaN": (st_bytes(ONE_LAYER, meta(dropout=float("nan"))), "dropout: expected"),
    "dropout 2": (st_bytes(ONE_LAYER, meta(dropout=2)), "dropout: expected a number in"),
    "class a list": (st_bytes(ONE_LAYER, '{"class": ["LSTM"]}'), "not a flat JSON object"),
    "class GRU": (st_bytes(ONE_LAYER, json.dumps({"class": "GRU"})), "names no LSTM"),
    "cell with num_layers": (st_bytes(ONE_LAYER, meta(**{"class": "LSTMCell"}, num_layers=1)),
                             "unexpected pylstm metadata keys \\['num_layers'\\]"),
    "metadata not an object": (st_bytes(ONE_LAYER, "1"), "names no LSTM"),
    "dtype not the tensors'": (st_bytes(ONE_LAYER, meta(dtype="float64")),
                               "metadata says dtype float64, tensors are float32"),
    "extra tensor": (st_bytes({**ONE_LAYER, "extra": w(1)}, meta()),
                     "it has 4 parameters, the file holds 5 tensors"),
    "a tensor renamed": (st_bytes({**{k: v for k, v in ONE_LAYER.items() if k != "bias_hh_l0"},
                                   "bias_hh_l9": w(4)}, meta()),
                         "missing keys \\['bias_hh_l0'\\]"),
    "bias 2-D": (st_bytes({**ONE_LAYER, "bias_ih_l0": w(4, 1)}, meta()),
                 r"bias_ih_l0 has shape \(4, 1\), expected \(4,\)"),
    "layer index with leading zero": (st_bytes({**ONE_LAYER, "weight_ih_l01": w(4, 1)}),
                                      "do not form the state dict"),
    "non-ASCII layer digit": (st_bytes({**ONE_LAYER, "weight_ih_l\u0661": w(4, 1)}),
                              "do not form the state dict"),
    "layer missing between": (st_bytes({"weight_ih_l0": w(4, 1), "weight_hh_l0": w(4, 1),
                                        "weight_ih_l2": w(4, 1)}),
                              "it has 6 parameters, the file holds 3 tensors"),
    "I32 tensor": (st_bytes({**ONE_LAYER, "bias_hh_l0": np.zeros(4, np.int32)}), "dtype I32"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_refused_naming_file_and_problem(tmp_path, name):
    data, match = HOSTILE[name]
    p = tmp_path / "hostile.safetensors"
    p.write_bytes(data)
    with pytest.raises(ValueError, match=match) as info:
        pylstm.load(p)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_c_loader_refuses_every_hostile_file_too(tmp_path, name):
    p = tmp_path / "hostile.safetensors"
    p.write_bytes(HOSTILE[name][0])
    with pytest.raises(ValueError, match="not a safetensors file of an LSTM"):
        _core.handle_load(str(p))


def test_the_hand_made_files_are_small():
    # What makes the refusals above meaningful: a 10**8-layer or 4 GiB claim
    # in a file of a few hundred bytes.
    assert len(HOSTILE["num_layers 10**8"][0]) < 400
    assert len(HOSTILE["claims LSTM(4096, 32768)"][0]) < 500


def test_a_huge_claim_allocates_nothing_it_describes(tmp_path):
    p = tmp_path / "big.safetensors"
    p.write_bytes(HOSTILE["claims LSTM(4096, 32768)"][0])
    tracemalloc.start()
    try:
        with pytest.raises(ValueError):
            pylstm.load(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the model would be 4 GiB


# Windows has neither FIFOs nor /dev: there the one non-regular case is a
# directory, which test_io covers.
@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                    reason="needs POSIX FIFOs and /dev/zero")
@pytest.mark.parametrize("make", ["fifo", "dev_zero", "dev_null"])
def test_non_regular_files_are_refused_before_reading(tmp_path, make):
    if make == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)  # no writer: opening it for reading would block
    else:
        path = "/dev/zero" if make == "dev_zero" else "/dev/null"
    with pytest.raises(ValueError, match="not a regular file") as info:
        pylstm.load(path)
    assert str(path) in str(info.value)
    # the C reader refuses them unread too (errno EINVAL)
    for c_reader in (_core.handle_load, _core.safetensors_read):
        with pytest.raises(OSError, match="not a regular file"):
            c_reader(str(path))


def test_directory_is_is_a_directory_error(tmp_path):
    with pytest.raises(OSError) as info:
        pylstm.load(tmp_path)
    assert info.value.filename == str(tmp_path)


@pytest.mark.parametrize("cfg", [
    dict(num_layers=1), dict(num_layers=3, bidirectional=True),
    dict(num_layers=2, proj_size=2, bias=False, batch_first=True, dropout=0.25),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_and_c_loaders_agree_on_valid_files(tmp_path, cfg, dtype):
    m = pylstm.LSTM(3, 4, **cfg, dtype=dtype, seed=1)
    p = tmp_path / "m.safetensors"
    pylstm.save(m, p)
    back, h = pylstm.load(p), _core.handle_load(str(p))
    assert (h.num_layers, h.proj_size, h.bidirectional, h.bias, h.batch_first, h.dropout) == \
        (back.num_layers, back.proj_size, back.bidirectional, back.bias, back.batch_first,
         back.dropout)
    for (name, a), (cname, b) in zip(back.state_dict().items(), h.params()):
        assert name == cname and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    for name, a in m.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name], a)


def test_load_state_dict_failure_leaves_the_model_unchanged():
    m = pylstm.LSTM(2, 3, num_layers=2, seed=0)
    before = m.state_dict()
    bad = {n: np.full_like(a, 7.0) for n, a in before.items()}
    last = list(bad)[-1]
    for wrong in (np.zeros(5), "text", [[1, 2], [3]]):
        with pytest.raises((TypeError, ValueError)):
            m.load_state_dict({**bad, last: wrong})
        for n, a in m.state_dict().items():
            np.testing.assert_array_equal(a, before[n])
    with pytest.raises(KeyError):
        m.load_state_dict({n: a for n, a in bad.items() if n != last})
    for n, a in m.state_dict().items():
        np.testing.assert_array_equal(a, before[n])


# ---- save ------------------------------------------------------------------

def models(n):
    return [pylstm.LSTM(3, 4, num_layers=2, seed=s) for s in range(n)]


def equals_one_of(path, candidates):
    back = pylstm.load(path).state_dict()
    return sum(all(np.array_equal(back[k], v) for k, v in c.state_dict().items())
               for c in candidates) == 1


def test_concurrent_saves_from_threads_leave_one_whole_model(tmp_path):
    path = tmp_path / "m.safetensors"
    ms = models(4)
    start = threading.Barrier(len(ms))
    errors = []

    def saver(m):
        try:
            start.wait()
            for _ in range(8):
                pylstm.save(m, path)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=saver, args=(m,)) for m in ms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert equals_one_of(path, ms)
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


SAVER = """
import sys
import pylstm
m = pylstm.LSTM(3, 4, num_layers=2, seed=int(sys.argv[1]))
for _ in range(6):
    pylstm.save(m, sys.argv[2])
"""


def test_concurrent_saves_from_processes_leave_one_whole_model(tmp_path):
    path = tmp_path / "m.safetensors"
    root = os.path.dirname(os.path.dirname(os.path.abspath(pylstm.__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYLSTM_NUM_THREADS": "1"}
    # cwd: `python -c` puts it first on sys.path, and the repository root holds
    # the uncompiled source package, which would shadow an installed pylstm.
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(s), str(path)], env=env,
                              cwd=tmp_path) for s in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    assert equals_one_of(path, models(3))
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt",
                    reason="needs POSIX symlinks")
def test_symlink_at_the_old_temporary_name_is_not_followed(tmp_path):
    path = tmp_path / "m.safetensors"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    link = tmp_path / f"m.safetensors.tmp{os.getpid()}"
    os.symlink(victim, link)
    m = models(1)[0]
    pylstm.save(m, path)
    assert victim.read_bytes() == b"precious"
    assert os.path.islink(link) and os.readlink(link) == str(victim)
    assert equals_one_of(path, [m])
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, victim.name, link.name])


class DiskFull(OSError):
    pass


def test_failure_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    old, new = models(2)
    pylstm.save(old, path)
    before = path.read_bytes()

    def half_write(f, head, tensors):
        f.write(head[: len(head) // 2])
        raise DiskFull(28, "No space left on device")

    monkeypatch.setattr(pio, "_write", half_write)
    with pytest.raises(DiskFull):
        pylstm.save(new, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def test_fsync_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    old, new = models(2)
    pylstm.save(old, path)
    before = path.read_bytes()

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output"):
        pylstm.save(new, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def test_save_into_missing_directory_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        pylstm.save(models(1)[0], tmp_path / "no" / "m.safetensors")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_permissions_new_file_as_open_and_replaced_file_kept(tmp_path):
    mask = os.umask(0o022)
    try:
        path = tmp_path / "new.safetensors"
        pylstm.save(models(1)[0], path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # 0666 less the umask, as open()
        private = tmp_path / "private.safetensors"
        private.write_bytes(b"")
        os.chmod(private, 0o600)
        pylstm.save(models(1)[0], private)
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    finally:
        os.umask(mask)


META_VALUES = [0, 1, 2, 3, -1, -0.0, 1.0, 0.5, True, False, None, "1", "float32", "float64",
               "LSTM", "LSTMCell", 10**30, float("nan")]
META_KEYS = ["class", "input_size", "hidden_size", "num_layers", "bias", "batch_first",
             "dropout", "bidirectional", "proj_size", "dtype", "other"]


def test_python_and_c_loaders_agree_on_altered_metadata(tmp_path):
    # Seeded random edits of what save writes: keys dropped, added or given
    # values of other types and ranges. Each verdict (loads / ValueError) of
    # pylstm.load must be the C loader's.
    rng = np.random.default_rng(12)
    ms = [pylstm.LSTM(2, 2, seed=0), pylstm.LSTMCell(2, 2, seed=0),
          pylstm.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=1, bias=False, seed=0)]
    p = tmp_path / "m.safetensors"
    verdicts = []
    for _ in range(300):
        m = ms[rng.integers(len(ms))]
        cfg = pio._file_config(m)
        for _ in range(rng.integers(0, 3)):
            key = META_KEYS[rng.integers(len(META_KEYS))]
            if rng.random() < 0.3:
                cfg.pop(key, None)
            else:
                cfg[key] = META_VALUES[rng.integers(len(META_VALUES))]
        p.write_bytes(st_bytes(m.state_dict(), json.dumps(cfg)))
        try:
            with warnings.catch_warnings():  # dropout > 0 with one layer warns, as torch does
                warnings.simplefilter("ignore")
                pylstm.load(p)
            py = True
        except ValueError:
            py = False
        try:
            _core.handle_load(str(p))
            c = True
        except ValueError:
            c = False
        assert py == c, json.dumps(cfg)
        verdicts.append(py)
    assert 50 < sum(verdicts) < 250  # both verdicts well represented
